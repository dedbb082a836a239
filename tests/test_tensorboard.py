"""TensorBoard hooks (API.md §7.7): they write event files that tensorboard's reader loads,
with the documented counters, values and steps. (Importing norse.torch without tensorboard
is tested in tests/test_plot.py::test_import_without_matplotlib_or_tensorboard.)"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)
from torch.utils.tensorboard import SummaryWriter  # noqa: E402

from norse.torch.module.lif import LIF, LIFCell  # noqa: E402
from norse.torch.utils.tensorboard import (  # noqa: E402
    hook_spike_activity_mean,
    hook_spike_activity_sum,
    hook_spike_histogram_mean,
    hook_spike_histogram_sum,
    hook_spike_image,
)

HOOKS = {
    "activity_mean": (hook_spike_activity_mean, "norse_hook_spike_activity_mean", "scalars"),
    "activity_sum": (hook_spike_activity_sum, "norse_hook_spike_activity_sum", "scalars"),
    "histogram_mean": (hook_spike_histogram_mean, "norse_hook_spike_activity_mean", "histograms"),
    "histogram_sum": (hook_spike_histogram_sum, "norse_hook_spike_activity_mean", "histograms"),
    "image": (hook_spike_image, "norse_hook_spike_image", "images"),
}


def _inputs():
    # neuron 0 always spikes, neuron 1 never, neuron 2 in one of two samples
    return torch.tensor([[30.0, 0.0, 30.0], [30.0, 0.0, 0.0]])


def _load(logdir):
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "histograms": 0, "images": 0})
    acc.Reload()
    return acc


@pytest.mark.parametrize("name", list(HOOKS))
def test_hook_writes_loadable_events(name, tmp_path):
    factory, counter, kind = HOOKS[name]
    cell = LIFCell()
    with SummaryWriter(log_dir=str(tmp_path)) as writer:
        handle = cell.register_forward_hook(factory("lif/" + name, writer))
        state = None
        for _ in range(3):
            _, state = cell(_inputs(), state)
        handle.remove()
    assert getattr(cell, counter) == 3
    acc = _load(tmp_path)
    assert acc.Tags()[kind] == ["lif/" + name]
    events = {
        "scalars": acc.Scalars,
        "histograms": acc.Histograms,
        "images": acc.Images,
    }[kind]("lif/" + name)
    assert [e.step for e in events] == [0, 1, 2]


def test_scalar_values(tmp_path):
    cell = LIFCell()
    with SummaryWriter(log_dir=str(tmp_path)) as writer:
        cell.register_forward_hook(hook_spike_activity_mean("mean", writer))
        cell.register_forward_hook(hook_spike_activity_sum("sum", writer))
        cell(_inputs())
        cell(torch.zeros(2, 3))
    acc = _load(tmp_path)
    assert [e.value for e in acc.Scalars("sum")] == [3.0, 0.0]
    assert [e.value for e in acc.Scalars("mean")] == pytest.approx([0.5, 0.0])


@pytest.mark.parametrize(
    ("factory", "expected"),
    [(hook_spike_histogram_sum, [2, 0, 1]), (hook_spike_histogram_mean, [1, 0, 0.5])],
)
def test_histograms_are_per_neuron(factory, expected, tmp_path):
    cell = LIFCell()
    with SummaryWriter(log_dir=str(tmp_path)) as writer:
        cell.register_forward_hook(factory("h", writer))
        cell(_inputs())
    (event,) = _load(tmp_path).Histograms("h")
    hist = event.histogram_value
    assert hist.num == 3 and hist.sum == pytest.approx(sum(expected))
    assert (hist.min, hist.max) == (min(expected), max(expected))


def test_image_of_a_layer_output(tmp_path):
    layer = LIF()
    with SummaryWriter(log_dir=str(tmp_path)) as writer:
        layer.register_forward_hook(hook_spike_image("raster", writer))
        layer(torch.full((12, 2, 5), 3.0))
    (event,) = _load(tmp_path).Images("raster")
    assert (event.height, event.width) == (24, 5)


def test_counter_is_shared_by_the_mean_and_histogram_hooks(tmp_path):
    cell = LIFCell()
    with SummaryWriter(log_dir=str(tmp_path)) as writer:
        cell.register_forward_hook(hook_spike_activity_mean("m", writer))
        cell.register_forward_hook(hook_spike_histogram_mean("h", writer))
        cell(_inputs())
    assert cell.norse_hook_spike_activity_mean == 2


def test_bad_arguments():
    class NoWriter:
        pass

    with pytest.raises(TypeError, match="add_scalar"):
        hook_spike_activity_sum("x", NoWriter())
    with pytest.raises(TypeError, match="key must be a str"):
        hook_spike_image(3, NoWriter())
    hook = hook_spike_activity_sum("x", type("W", (), {"add_scalar": lambda *a: None})())
    with pytest.raises(TypeError, match="output must be a tensor"):
        hook(torch.nn.Identity(), (), ("not", "a tensor"))


def test_top_level_exports():
    import norse.torch

    assert norse.torch.HAS_TENSORBOARD
    for hook in HOOKS.values():
        assert getattr(norse.torch, hook[0].__name__) is hook[0]
        assert hook[0].__name__ in norse.torch.__all__
