"""Apply a one-step module to every time step of a ``(T, ...)`` sequence."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..utils.state import _is_module_stateful

__all__ = ["Lift"]


class Lift(nn.Module):
    """Run ``module`` on every slice ``x_t`` of the first (time) dimension and stack the results.

    A stateful inner module (its ``forward`` takes ``state``, e.g. :class:`~norse.torch.LIFCell`)
    is called as ``module(x_t, state)`` with the state carried over time, and ``Lift`` returns
    ``(outputs, last_state)``; a stateless one (``nn.Conv2d``) is called as ``module(x_t)`` and
    ``Lift`` returns the stacked outputs only.

    The input may be an ``(x, state)`` tuple, as returned by a neuron layer before it in an
    ``nn.Sequential``: the state is the initial state of a stateful inner module and is dropped
    for a stateless one.

    Args:
        module (nn.Module): the module to apply at every time step.

    Shape:
        input ``(T, *)``; output ``(T, *out)`` where ``module`` maps ``*`` to ``*out``.

    Example:
        >>> lifted = Lift(torch.nn.Linear(3, 2))
        >>> lifted(torch.ones(10, 8, 3)).shape
        torch.Size([10, 8, 2])
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        if not callable(module):
            raise TypeError(f"Lift: module must be an nn.Module, got {type(module).__name__}")
        self.lifted_module = module
        self.is_stateful = _is_module_stateful(module)

    def forward(self, x: Tensor | tuple[Tensor, Any]) -> Tensor | tuple[Tensor, Any]:
        state = None
        if isinstance(x, tuple):
            x, state = x
        if not isinstance(x, Tensor):
            raise TypeError(
                f"Lift: input must be a torch.Tensor or an (x, state) tuple, got {type(x).__name__}"
            )
        if x.dim() == 0 or x.shape[0] == 0:
            raise ValueError(
                f"Lift: the input needs a non-empty time dimension first, (T, ...), "
                f"got shape {tuple(x.shape)}"
            )
        module = self.lifted_module
        outputs = []
        if self.is_stateful:
            for x_t in x.unbind(0):
                out, state = module(x_t, state)
                outputs.append(out)
            return torch.stack(outputs), state
        for x_t in x.unbind(0):
            outputs.append(module(x_t))
        return torch.stack(outputs)
