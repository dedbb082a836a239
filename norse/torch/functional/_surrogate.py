"""The one autograd pattern behind every surrogate spike function.

Forward is the Heaviside step (or a sample, for the stochastic variants); backward multiplies
the incoming gradient with the surrogate derivative of the subclass. Written in the new
``setup_context`` style so that ``torch.compile`` and functorch can trace it.
"""

from __future__ import annotations

from typing import Any

import torch

from .heaviside import heaviside


def _c_apply(cls: type, *args: Any) -> Any:
    return super(torch.autograd.Function, cls).apply(*args)  # torch._C._FunctionBase.apply


class Surrogate(torch.autograd.Function):
    """Base class: subclasses define ``derivative(x, alpha)`` (and may override ``forward``)."""

    @staticmethod
    def derivative(x: torch.Tensor, alpha: Any) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def forward(input_tensor: torch.Tensor, alpha: Any) -> torch.Tensor:
        return heaviside(input_tensor)

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        # ``Function.apply`` binds the arguments to ``forward``'s signature on every call
        # (``inspect.signature``: about as long as the forward itself on a cell's tensors).
        # The arguments here are always positional and complete, so call the C++ apply
        # directly unless a functorch transform needs the Python path. torch.compile traces
        # ``apply`` itself and never runs this.
        if kwargs or torch._C._are_functorch_transforms_active():
            return super().apply(*args, **kwargs)
        return _c_apply(cls, *args)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: torch.Tensor) -> None:
        x, alpha = inputs
        if isinstance(alpha, torch.Tensor):
            ctx.save_for_backward(x, alpha)
            ctx.alpha = None
        else:
            ctx.save_for_backward(x)
            ctx.alpha = alpha

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Each subclass gets a plain static ``backward`` bound to its own derivative, the
        # form that torch.compile traces.
        super().__init_subclass__(**kwargs)
        derivative = cls.derivative

        def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
            if ctx.alpha is None:
                x, alpha = ctx.saved_tensors
            else:
                (x,) = ctx.saved_tensors
                alpha = ctx.alpha
            return grad_output * derivative(x, alpha), None

        cls.backward = staticmethod(backward)
