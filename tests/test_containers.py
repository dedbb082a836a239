"""Lift / lift, SequentialState, RecurrentSequential, LConv2d and sum_decode."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn

import norse.torch as snn
from norse.torch.functional.decode import sum_decode
from norse.torch.functional.lif import (
    LIFFeedForwardState,
    LIFParameters,
    lif_feed_forward_step,
)
from norse.torch.functional.lift import lift


def _manual_cell_run(cell, x, state=None):
    outs = []
    for x_t in x.unbind(0):
        out, state = cell(x_t, state)
        outs.append(out)
    return torch.stack(outs), state


# ----------------------------------------------------------------------------- Lift
def test_lift_stateless_equals_per_step_module():
    torch.manual_seed(0)
    linear = nn.Linear(3, 2)
    x = torch.randn(6, 4, 3)
    lifted = snn.Lift(linear)
    assert lifted.lifted_module is linear and not lifted.is_stateful
    out = lifted(x)
    assert out.shape == (6, 4, 2)
    torch.testing.assert_close(out, torch.stack([linear(x_t) for x_t in x.unbind(0)]))
    # an (x, state) tuple is unpacked; the state is dropped for a stateless module
    torch.testing.assert_close(lifted((x, "ignored")), out)
    assert all(k.startswith("lifted_module.") for k in lifted.state_dict())


@pytest.mark.parametrize("cell_cls", [snn.LIFCell, snn.LICell])
def test_lift_stateful_carries_the_state(cell_cls):
    torch.manual_seed(0)
    x = torch.rand(10, 2, 5) * 3
    cell = cell_cls()
    lifted = snn.Lift(cell)
    assert lifted.is_stateful
    out, state = lifted(x)
    expected, expected_state = _manual_cell_run(cell, x)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(state.v, expected_state.v)
    # the tuple's state is the initial state: two halves equal the whole run
    first, mid = lifted(x[:4])
    second, last = lifted((x[4:], mid))
    torch.testing.assert_close(torch.cat([first, second]), out)
    torch.testing.assert_close(last.v, state.v)


def test_lift_equals_lif_layer():
    x = torch.rand(20, 3, 4) * 2
    out, state = snn.Lift(snn.LIFCell())(x)
    layer_out, layer_state = snn.LIF()(x)
    torch.testing.assert_close(out, layer_out)
    torch.testing.assert_close(state.v, layer_state.v)


def test_lift_in_nn_sequential_swallows_neuron_state():
    torch.manual_seed(0)
    model = nn.Sequential(snn.Lift(nn.Linear(4, 3)), snn.LIF(), snn.Lift(nn.Linear(3, 2)))
    assert model(torch.rand(5, 2, 4)).shape == (5, 2, 2)
    # Lift has no ``state`` argument, so SequentialState calls it as a stateless module
    assert snn.SequentialState(snn.Lift(snn.LIFCell())).stateful_layers == [False]


def test_lift_errors():
    with pytest.raises(TypeError, match="Lift"):
        snn.Lift(nn.Linear(2, 2))([1.0, 2.0])
    with pytest.raises(ValueError, match="time dimension"):
        snn.Lift(nn.Linear(2, 2))(torch.ones(0, 2))


# ----------------------------------------------------------------------------- lift()
def test_lift_function_with_p_kwargs_and_pickle():
    x = torch.rand(8, 2, 3) * 5
    s0 = LIFFeedForwardState(v=torch.zeros(2, 3), i=torch.zeros(2, 3))
    lifted = lift(lif_feed_forward_step, p=LIFParameters())
    out, state = lifted(x, state=s0)
    expected, expected_state = [], s0
    for x_t in x.unbind(0):
        z, expected_state = lif_feed_forward_step(x_t, expected_state, LIFParameters())
        expected.append(z)
    torch.testing.assert_close(out, torch.stack(expected))
    torch.testing.assert_close(state.v, expected_state.v)
    assert out.sum() > 0

    # an explicit p= wins over lift's p
    silent = lift(lif_feed_forward_step, p=LIFParameters(v_th=torch.tensor(1e6)))
    assert silent(x, state=s0)[0].sum() == 0
    torch.testing.assert_close(silent(x, state=s0, p=LIFParameters())[0], out)
    # other keyword arguments reach the step function
    torch.testing.assert_close(
        lifted(x, state=s0, dt=0.002)[1].v,
        lift(lif_feed_forward_step)(x, state=s0, p=LIFParameters(), dt=0.002)[1].v,
    )

    restored = pickle.loads(pickle.dumps(lifted))
    torch.testing.assert_close(restored(x, state=s0)[0], out)


def test_lift_function_missing_state_raises_the_step_error():
    with pytest.raises(TypeError):
        lift(lif_feed_forward_step, p=LIFParameters())(torch.ones(3, 2))
    with pytest.raises(TypeError, match="callable"):
        lift(3)


# ----------------------------------------------------------------------------- SequentialState
def _mixed_model(**kwargs):
    torch.manual_seed(0)
    return snn.SequentialState(
        nn.Linear(4, 6), snn.LIFCell(), nn.Linear(6, 3), snn.LICell(), **kwargs
    )


def test_sequential_state_matches_manual_run_and_threads_state():
    model = _mixed_model()
    assert model.stateful_layers == [False, True, False, True]
    x = torch.rand(5, 4) * 3
    state = None
    for _ in range(3):
        out, state = model(x, state)
    assert len(state) == 4 and state[0] is None and state[2] is None
    s1 = s3 = None
    for _ in range(3):
        h = model[0](x)
        h, s1 = model[1](h, s1)
        h = model[2](h)
        expected, s3 = model[3](h, s3)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(state[3].v, s3.v)


def test_sequential_state_mutates_the_passed_list():
    model = _mixed_model()
    state = [None] * 4
    _, returned = model(torch.ones(2, 4), state)
    assert returned is state
    assert isinstance(state[1], LIFFeedForwardState) and state[3] is not None
    with pytest.raises(ValueError, match="state has 2 entries"):
        model(torch.ones(2, 4), [None, None])


def test_sequential_state_return_hidden():
    model = _mixed_model(return_hidden=True)
    hidden, state = model(torch.ones(2, 4))
    assert [h.shape for h in hidden] == [(2, 6), (2, 6), (2, 3), (2, 3)]
    assert len(state) == 4


def test_sequential_state_forward_state_hooks():
    model = _mixed_model()
    calls = []

    def hook(module, inputs, output):
        x, state = inputs
        calls.append((type(module).__name__, tuple(x.shape), state is None))

    model.register_forward_state_hooks(hook)
    assert len(model.forward_state_hooks) == 2
    with pytest.raises(ValueError, match="already registered"):
        model.register_forward_state_hooks(hook)
    _, state = model(torch.ones(2, 4))
    model(torch.ones(2, 4), state)
    assert calls == [
        ("LIFCell", (2, 6), True),
        ("LICell", (2, 3), True),
        ("LIFCell", (2, 6), False),
        ("LICell", (2, 3), False),
    ]
    model.remove_forward_state_hooks()
    assert model.forward_state_hooks == []
    model(torch.ones(2, 4))
    assert len(calls) == 4
    model.register_forward_state_hooks(hook)  # allowed again after removal


def test_sequential_state_append_and_other_edits():
    model = snn.SequentialState(nn.Linear(3, 3))
    assert model.append(snn.LIFCell()) is model
    assert model.stateful_layers == [False, True]
    out, state = model(torch.ones(2, 3))
    assert len(state) == 2 and state[1] is not None
    model.insert(0, snn.LICell())
    assert model.stateful_layers == [True, False, True]
    model[1] = snn.LIFCell()
    assert model.stateful_layers == [True, True, True]
    del model[0]
    assert model.stateful_layers == [True, True] and len(model) == 2
    model.extend([nn.Flatten()])
    assert model.stateful_layers == [True, True, False]
    sliced = model[1:]
    assert isinstance(sliced, snn.SequentialState) and sliced.stateful_layers == [True, False]
    assert snn.SequentialState(nn.RNN(2, 2)).stateful_layers == [True]


def test_sequential_state_with_encoder_and_rnn():
    model = snn.SequentialState(snn.PoissonEncoderStep(), nn.Linear(3, 4), snn.LIFCell())
    out, state = model(torch.rand(2, 3))
    assert out.shape == (2, 4) and model.stateful_layers == [False, False, True]
    out, state = snn.SequentialState(nn.GRU(3, 5))(torch.rand(7, 3))
    assert out.shape == (7, 5) and state[0].shape == (1, 5)  # the GRU's hidden state


# ----------------------------------------------------------------------------- RecurrentSequential
def test_recurrent_sequential_int_output_feeds_back():
    torch.manual_seed(0)
    model = snn.RecurrentSequential(nn.Linear(3, 3), snn.LIFCell(), nn.Linear(3, 3), snn.LICell())
    x = torch.rand(2, 3)
    out1, state1 = model(x)
    assert isinstance(state1, snn.RecurrentSequentialState)
    assert state1.cache is out1 and len(state1.state) == 4
    out2, state2 = model(x, state1)

    # the same run by hand: the second input is x + last output
    reference = snn.SequentialState(*model.module)
    ref1, s = reference(x)
    ref2, s = reference(x + ref1, s)
    torch.testing.assert_close(out1, ref1)
    torch.testing.assert_close(out2, ref2)


def test_recurrent_sequential_list_output_modules():
    torch.manual_seed(0)
    model = snn.RecurrentSequential(
        nn.Linear(3, 3), snn.LIFCell(), nn.Linear(3, 3), output_modules=[0, 2]
    )
    x = torch.rand(2, 3)
    outs, state = model(x)
    assert isinstance(outs, list) and len(outs) == 2
    assert state.cache == outs
    hidden, _ = model.module(x)
    torch.testing.assert_close(outs[0], hidden[0])
    torch.testing.assert_close(outs[1], hidden[2])
    outs2, state2 = model(x, state)  # the listed outputs are summed into the feedback
    hidden2, _ = model.module(x + outs[0] + outs[1], [None] * 3)
    torch.testing.assert_close(outs2[0], hidden2[0])


def test_recurrent_sequential_errors():
    with pytest.raises(TypeError, match="output_modules"):
        snn.RecurrentSequential(nn.Linear(2, 2), output_modules="last")
    with pytest.raises(ValueError, match="out of range"):
        snn.RecurrentSequential(nn.Linear(2, 2), output_modules=3)
    model = snn.RecurrentSequential(nn.Linear(2, 3))
    _, state = model(torch.ones(1, 2))
    with pytest.raises(ValueError, match="fed-back output"):
        model(torch.ones(1, 2), state)


# ----------------------------------------------------------------------------- LConv2d
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(kernel_size=3),
        dict(kernel_size=(3, 2), stride=2, padding=1),
        dict(kernel_size=3, dilation=2, groups=2, padding=(2, 1)),
    ],
)
def test_lconv2d_equals_per_step_conv2d(kwargs):
    torch.manual_seed(0)
    conv = snn.LConv2d(4, 6, **kwargs)
    k = conv.kernel_size
    assert conv.weight.shape == (6, 4 // conv.groups, k[0], k[1], 1) and conv.bias is None
    x = torch.randn(5, 2, 4, 11, 9)
    out = conv(x)
    ref = nn.Conv2d(4, 6, bias=False, **kwargs)
    with torch.no_grad():
        ref.weight.copy_(conv.weight.squeeze(-1))
    expected = torch.stack([ref(x_t) for x_t in x.unbind(0)])
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected)
    # the 1.1.0 formulation: a 3-D convolution with time as the last spatial axis
    conv3d = nn.functional.conv3d(
        x.permute(1, 2, 3, 4, 0),
        conv.weight,
        None,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
    ).permute(4, 0, 1, 2, 3)
    torch.testing.assert_close(out, conv3d)


def test_lconv2d_shape_grad_and_errors():
    conv = snn.LConv2d(1, 4, 5)
    x = torch.rand(10, 8, 1, 28, 28, requires_grad=True)
    out = conv(x)
    assert out.shape == (10, 8, 4, 24, 24)
    out.sum().backward()
    assert conv.weight.grad is not None and x.grad.shape == x.shape
    with pytest.raises(ValueError, match=r"\(T, B, C, H, W\)"):
        conv(torch.rand(8, 1, 28, 28))
    with pytest.raises(TypeError, match="padding"):
        snn.LConv2d(1, 4, 3, padding="same")


# ----------------------------------------------------------------------------- decode
def test_sum_decode():
    x = torch.rand(7, 3, 2)
    torch.testing.assert_close(sum_decode(x), x.sum(0))
    torch.testing.assert_close(sum_decode(x, dimension=2), x.sum(2))
    spikes = (torch.rand(100, 4) < 0.2).float()
    assert torch.equal(sum_decode(spikes), spikes.sum(0))
