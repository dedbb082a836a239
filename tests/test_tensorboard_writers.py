"""TensorBoard hooks with writer-like objects (API.md §7.7): as in 1.1.0 the writer is called
as ``method(tag, value, step)``, three positional arguments and nothing else, so a user's class
with just those methods works. Needs no tensorboard."""

from __future__ import annotations

import pytest
import torch

from norse.torch.module.lif import LIF, LIFCell
from norse.torch.utils.tensorboard import (
    hook_spike_activity_mean,
    hook_spike_activity_sum,
    hook_spike_histogram_mean,
    hook_spike_histogram_sum,
    hook_spike_image,
)


class RecordingWriter:
    """Exactly the three-argument methods; positional-only, so a keyword would fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, torch.Tensor, int]] = []

    def add_scalar(self, tag, value, step, /):
        self.calls.append(("add_scalar", tag, value, step))

    def add_histogram(self, tag, values, step, /):
        self.calls.append(("add_histogram", tag, values, step))

    def add_image(self, tag, img, step, /):
        self.calls.append(("add_image", tag, img, step))


HOOKS = [
    (hook_spike_activity_mean, "add_scalar"),
    (hook_spike_activity_sum, "add_scalar"),
    (hook_spike_histogram_mean, "add_histogram"),
    (hook_spike_histogram_sum, "add_histogram"),
    (hook_spike_image, "add_image"),
]

# neuron 0 always spikes, neuron 1 never, neuron 2 in one of two samples
INPUT = torch.tensor([[30.0, 0.0, 30.0], [30.0, 0.0, 0.0]])


@pytest.mark.parametrize(("factory", "method"), HOOKS, ids=[f.__name__ for f, _ in HOOKS])
def test_writer_called_with_tag_value_step_only(factory, method):
    writer = RecordingWriter()
    cell = LIFCell()
    cell.register_forward_hook(factory("lif/spikes", writer))
    state = None
    for _ in range(3):
        _, state = cell(INPUT, state)
    assert [call[0] for call in writer.calls] == [method] * 3
    assert [call[1] for call in writer.calls] == ["lif/spikes"] * 3
    assert [call[3] for call in writer.calls] == [0, 1, 2]
    for _, _, value, step in writer.calls:
        assert type(step) is int
        assert isinstance(value, torch.Tensor) and value.device.type == "cpu"
        assert not value.requires_grad


def test_scalar_values():
    writer = RecordingWriter()
    cell = LIFCell()
    cell.register_forward_hook(hook_spike_activity_mean("mean", writer))
    cell.register_forward_hook(hook_spike_activity_sum("sum", writer))
    cell(INPUT)
    (_, _, mean, _), (_, _, total, _) = writer.calls
    assert mean.dim() == 0 and mean.item() == pytest.approx(0.5)
    assert total.dim() == 0 and total.item() == 3.0


@pytest.mark.parametrize(
    ("factory", "reduce"),
    [(hook_spike_histogram_mean, torch.mean), (hook_spike_histogram_sum, torch.sum)],
)
def test_histograms_of_multi_element_outputs(factory, reduce):
    writer = RecordingWriter()
    cell = LIFCell()
    cell.register_forward_hook(factory("h", writer))
    spikes, _ = cell(INPUT)
    cell(torch.tensor([30.0, 0.0, 30.0, 0.0]))  # unbatched: one value per neuron
    layer = LIF()
    layer.register_forward_hook(factory("layer", writer))
    z, _ = layer(torch.full((4, 2, 3), 3.0))  # (T, B, N)
    (_, _, per_neuron, _), (_, _, unbatched, _), (_, tag, per_entry, step) = writer.calls
    assert per_neuron.shape == (3,)
    assert per_neuron.tolist() == pytest.approx(reduce(spikes, dim=0).tolist())
    assert unbatched.tolist() == [1.0, 0.0, 1.0, 0.0]
    assert (tag, step) == ("layer", 0)
    assert per_entry.shape == (2, 3)
    assert torch.equal(per_entry, reduce(z.detach(), dim=0))


def test_image_is_a_chw_grey_scale_picture():
    writer = RecordingWriter()
    layer = LIF()
    layer.register_forward_hook(hook_spike_image("raster", writer))
    z, _ = layer(torch.full((12, 2, 5), 3.0))
    cell = LIFCell()
    cell.register_forward_hook(hook_spike_image("cell", writer))
    cell(torch.tensor([30.0, 0.0]))
    (_, _, raster, step), (_, _, single, _) = writer.calls
    assert raster.shape == (1, 24, 5) and step == 0
    assert torch.equal(raster[0], z.detach().reshape(24, 5))
    assert single.shape == (1, 1, 2) and single.tolist() == [[[1.0, 0.0]]]


def test_writer_needs_only_the_method_the_hook_uses():
    class ScalarsOnly:
        def __init__(self) -> None:
            self.steps: list[int] = []

        def add_scalar(self, tag, value, step, /):
            self.steps.append(step)

    writer = ScalarsOnly()
    cell = LIFCell()
    cell.register_forward_hook(hook_spike_activity_sum("n", writer))
    cell(INPUT)
    cell(INPUT)
    assert writer.steps == [0, 1]
    with pytest.raises(TypeError, match=r"hook_spike_image: writer must have an add_image\("):
        hook_spike_image("x", writer)
