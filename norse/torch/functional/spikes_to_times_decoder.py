r"""Decode spike trains into spike times.

:class:`ToSpikeTimes` turns a spike tensor ``(T, B, N)`` into the (0-based) time indices of the
first ``spike_count`` spikes of every neuron, in ascending order and padded with ``inf`` where a
neuron spiked fewer times. For a spike train :math:`z_{t}` the output row :math:`k` holds

.. math::
    \tau_k = \text{the } k\text{-th smallest element of } \{t : z_t = 1\} \cup \{\infty, \dots\}

Its gradient treats a spike time as the negative of the spike: moving a spike earlier
(``d tau < 0``) is like raising the spike at that step, so
:math:`\partial L / \partial z_{\tau_k} = -\partial L / \partial \tau_k` at every returned finite
time and zero elsewhere.

As in 1.1.0 the first ``spike_count if spike_count < T else T`` rows are kept, so
``spike_count=0`` gives an empty ``(0, *)`` result whose gradient with respect to the input is
zero (of the input's shape).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..utils._validation import as_size

__all__ = ["ToSpikeTimes"]


class ToSpikeTimes(torch.autograd.Function):
    """Spike time indices of the first ``spike_count`` spikes per neuron, padded with ``inf``.

    Call it as ``ToSpikeTimes.apply(spike_input, spike_count)``.

    Args:
        spike_input (Tensor): spikes (0/1) of shape ``(T, *)``, time first.
        spike_count (int or Tensor): how many spike times to return per neuron (an integer
            >= 0; 0 gives an empty result).

    Returns:
        Tensor: ``(min(spike_count, T), *)`` floating time indices, ascending, ``inf`` where a
        neuron has no further spike.

    Example:
        >>> z = torch.tensor([[0., 1.], [1., 0.], [1., 0.]])   # T=3, 2 neurons
        >>> ToSpikeTimes.apply(z, 2)
        tensor([[1., 0.],
                [2., inf]])
    """

    @staticmethod
    def forward(spike_input: Tensor, spike_count: Any) -> Tensor:
        values, _ = _sorted_times(spike_input, spike_count)
        return values

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        spike_input, spike_count = inputs
        _, order = _sorted_times(spike_input, spike_count)
        ctx.save_for_backward(order, output)
        ctx.input_shape = spike_input.shape

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor | None, None]:
        order, output = ctx.saved_tensors
        # Only finite entries correspond to a spike; padded (inf) entries carry no gradient.
        contribution = torch.where(
            torch.isfinite(output), -grad_output, torch.zeros_like(grad_output)
        )
        grad_input = torch.zeros(
            ctx.input_shape, dtype=grad_output.dtype, device=grad_output.device
        )
        grad_input.scatter_add_(0, order, contribution)
        return grad_input, None


def _sorted_times(spike_input: Tensor, spike_count: Any) -> tuple[Tensor, Tensor]:
    """Sorted spike times (``inf`` for no spike) and the time index each came from."""
    if not isinstance(spike_input, Tensor):
        raise TypeError(
            f"ToSpikeTimes: spike_input must be a Tensor of shape (T, ...), "
            f"got {type(spike_input).__name__}"
        )
    if spike_input.dim() == 0:
        raise ValueError("ToSpikeTimes: spike_input must have a time dimension, got a 0-dim tensor")
    count = _check_count(spike_count)
    # The live time length keeps traced graphs valid for other sequence lengths.
    steps = spike_input.shape[0]
    dtype = spike_input.dtype if spike_input.is_floating_point() else torch.float32
    z = spike_input.to(dtype)
    times = torch.arange(1, steps + 1, dtype=dtype, device=z.device)
    times = times.reshape((steps,) + (1,) * (z.dim() - 1))
    index = z * times - 1
    index = torch.where(index == -1, torch.full_like(index, float("inf")), index)
    values, order = torch.sort(index, dim=0, stable=True)
    keep = count if count < steps else steps
    return values[:keep], order[:keep]


def _check_count(spike_count: Any, who: str = "ToSpikeTimes") -> int:
    """``spike_count`` as an ``int`` >= 0 (any integral number or one-element integer tensor)."""
    return as_size(spike_count, "spike_count", who, minimum=0)
