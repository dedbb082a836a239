"""SynOps counting: spikes times fan-out per synaptic layer."""

from __future__ import annotations

import pytest
import torch

import norse.torch as norse
from norse.torch.utils.synops import SynOpsCounter, count_synops


def test_linear_counts_events_times_out_features():
    torch.manual_seed(0)
    model = norse.SequentialState(torch.nn.Linear(4, 3), norse.LIFCell(), torch.nn.Linear(3, 5))
    x = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0]]) * 40
    with torch.no_grad():
        spikes, _ = model[1](model[0](x))
    with SynOpsCounter(model) as counter:
        model(x)
    result = counter.result()
    assert result.events["0"] == 3 and result.per_layer["0"] == 9
    assert result.fan_out["0"] == 3.0
    assert result.events["2"] == int(spikes.sum()) > 0
    assert result.per_layer["2"] == int(spikes.sum()) * 5
    assert not model[0]._forward_hooks  # hooks are removed on exit


def test_conv_counts_exact_connections_at_the_border():
    conv = torch.nn.Conv2d(1, 2, 3, padding=1)
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 0, 0] = 1.0  # a corner reaches 2x2 output positions per output channel
    x[0, 0, 1, 1] = 1.0  # an inner pixel reaches 3x3
    result = count_synops(conv, x)
    assert result.per_layer == {"Conv2d": 2 * (4 + 9)}
    assert result.events == {"Conv2d": 2}
    strided = torch.nn.Conv1d(2, 3, 2, stride=2, groups=1)
    x1 = torch.ones(1, 2, 6)  # every input reaches exactly one output position
    assert count_synops(strided, x1).total == 12 * 3


def test_sequence_layers_and_delays():
    torch.manual_seed(0)
    model = norse.SequentialState(norse.SynapticDelay(3, 4, max_delay=3), norse.LIF(),
                                  torch.nn.Linear(4, 2))  # fmt: skip
    x = (torch.rand(10, 2, 3) < 0.3).float()
    with torch.no_grad():
        spikes, _ = model[1](model[0](x)[0])
    result = count_synops(model, x)
    assert result.per_layer["0"] == int(x.sum()) * 4
    assert result.per_layer["2"] == int(spikes.sum()) * 2
    assert result.total == result.per_layer["0"] + result.per_layer["2"]


@pytest.mark.parametrize("autapses", [True, False])
def test_recurrent_layers_and_cells_count_input_and_fed_back_spikes(autapses):
    torch.manual_seed(1)
    layer = norse.LIFRecurrent(3, 5, autapses=autapses)
    with torch.no_grad():
        layer.input_weights.mul_(20.0)
    x = (torch.rand(12, 2, 3) < 0.4).float()
    with torch.no_grad():
        z, _ = layer(x)
    assert z.sum() > 0  # the layer spikes, so the recurrent count is checked for real
    result = count_synops(layer, x)
    fan_rec = 5 if autapses else 4
    assert result.per_layer["LIFRecurrent"] == int(x.sum()) * 5
    assert result.per_layer["LIFRecurrent.recurrent"] == int(z[:-1].sum()) * fan_rec
    # the same network as a cell stepped over time counts the same
    cell = norse.LIFRecurrentCell(3, 5, autapses=autapses)
    cell.load_state_dict(layer.state_dict())
    with SynOpsCounter(cell) as counter, torch.no_grad():
        state = None
        for x_t in x:
            _, state = cell(x_t, state=state)
    stepped = counter.result().per_layer
    assert stepped["LIFRecurrentCell"] == result.per_layer["LIFRecurrent"]
    assert stepped["LIFRecurrentCell.recurrent"] == result.per_layer["LIFRecurrent.recurrent"]


def test_counter_accumulates_and_resets():
    lin = torch.nn.Linear(2, 3)
    with SynOpsCounter(lin) as counter:
        for _ in range(4):
            lin(torch.tensor([1.0, 1.0]))
        assert counter.result().total == 4 * 2 * 3
        counter.reset()
        assert counter.result().total == 0


def test_bad_model():
    with pytest.raises(TypeError, match="SynOpsCounter: model must be a torch.nn.Module"):
        SynOpsCounter(lambda x: x)
