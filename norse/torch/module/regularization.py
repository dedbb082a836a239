"""A module that accumulates activity for regularisation across calls.

Equations and accumulators: :mod:`norse.torch.functional.regularization`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..functional.regularization import Accumulator, regularize_step, spike_accumulator

__all__ = ["RegularizationCell"]


class RegularizationCell(torch.nn.Module):
    """Pass spikes through and accumulate them (or the neuron state) in ``self.state``.

    The accumulated value lives on the module and grows with every call; it is never reset
    automatically. Set ``cell.state = None`` to start over (e.g. at each batch).

    Args:
        accumulator (Accumulator): how to accumulate, e.g.
            :func:`~norse.torch.functional.regularization.spike_accumulator` (the default)
            or :func:`~norse.torch.functional.regularization.voltage_accumulator`
        state (Any | None): the initial accumulated value (``None`` to start from nothing)

    Example:
        >>> from norse.torch import LIFCell
        >>> cell, reg = LIFCell(), RegularizationCell()
        >>> z, s = cell(torch.full((2, 5), 30.0))
        >>> z, count = reg(z, s)
        >>> z, count = reg(z, s)
        >>> count.item()  # 10 spikes per call
        20.0
    """

    def __init__(self, accumulator: Accumulator = spike_accumulator, state: Any | None = None):
        super().__init__()
        if not callable(accumulator):
            raise TypeError(
                f"RegularizationCell: accumulator must be callable (z, s, state) -> state, got "
                f"{type(accumulator).__name__}; pass spike_accumulator or voltage_accumulator"
            )
        self.accumulator = accumulator
        self.state = state

    def forward(self, z: Tensor, s: Any) -> tuple[Tensor, Any]:
        """Accumulate one step; return ``z`` unchanged and the accumulated value."""
        _, state = regularize_step(z, s, self.accumulator, self.state)
        self.state = state
        return z, state
