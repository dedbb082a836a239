"""Lift a one-step function over time: apply it to every slice of the first dimension."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

__all__ = ["lift"]


class _Lifted:
    """A step function applied along the first (time) dimension; picklable when the function is.

    Calling it as ``lifted(x, state=s0, **kwargs)`` runs ``activation(x_t, state=s, **kwargs)``
    for every ``x_t`` in ``x.unbind(0)``, carrying the returned state, and returns
    ``(torch.stack(outputs), last_state)``. Without ``state`` the first call gets none, so the
    function must build its own. A ``p`` given to :func:`lift` is passed as ``p=`` unless the
    call names one itself.

    Args:
        activation (Callable): the step function ``(x, state=..., **kwargs) -> (out, state)``.
        p (Any): default parameters passed as ``p=``.
    """

    def __init__(self, activation: Callable[..., tuple[Tensor, Any]], p: Any = None) -> None:
        if not callable(activation):
            raise TypeError(
                f"lift: activation must be callable (a step function), "
                f"got {type(activation).__name__}"
            )
        self.activation = activation
        self.p = p

    def __call__(self, input_tensor: Tensor, **kwargs: Any) -> tuple[Tensor, Any]:
        if not isinstance(input_tensor, Tensor):
            raise TypeError(
                f"lift({_name(self.activation)}): input_tensor must be a torch.Tensor, got "
                f"{type(input_tensor).__name__}"
            )
        if input_tensor.dim() == 0 or input_tensor.shape[0] == 0:
            raise ValueError(
                f"lift({_name(self.activation)}): input_tensor needs a non-empty time "
                f"dimension first, (T, ...), got shape {tuple(input_tensor.shape)}"
            )
        if self.p is not None and "p" not in kwargs:
            kwargs["p"] = self.p
        state = kwargs.pop("state", None)
        outputs = []
        for x in input_tensor.unbind(0):
            if state is None:
                out, state = self.activation(x, **kwargs)
            else:
                out, state = self.activation(x, state=state, **kwargs)
            outputs.append(out)
        return torch.stack(outputs), state

    def __repr__(self) -> str:
        return f"lift({_name(self.activation)}, p={self.p!r})"


def _name(fn: Any) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


def lift(activation: Callable[..., tuple[Tensor, Any]], p: Any = None) -> _Lifted:
    """Turn a one-step function ``(x, state, ...) -> (out, state)`` into one over time.

    All further arguments are passed by keyword, so name them as the step function does
    (``state=``, ``p=``, ``input_weights=``, ...).

    Args:
        activation (Callable): the step function, e.g.
            :func:`~norse.torch.functional.lif.lif_feed_forward_step`.
        p (Any): default parameters, passed as ``p=`` unless the call gives its own.

    Returns:
        a picklable callable ``(x, **kwargs) -> (stacked outputs, last state)``.

    Example:
        >>> from norse.torch.functional.lif import (
        ...     LIFFeedForwardState, LIFParameters, lif_feed_forward_step)
        >>> lifted = lift(lif_feed_forward_step, p=LIFParameters())
        >>> s = LIFFeedForwardState(v=torch.zeros(2), i=torch.zeros(2))
        >>> z, s = lifted(torch.ones(10, 2), state=s)
        >>> z.shape, s.v.shape
        (torch.Size([10, 2]), torch.Size([2]))
    """
    return _Lifted(activation, p)
