"""An exponential filter over time after a linear map. Equations: :mod:`norse.torch.functional.filter`."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..functional.filter import exp_filter_step
from ..utils._validation import as_size

__all__ = ["ExpFilter"]


def _check_number(who: str, name: str, value: object, positive: bool) -> float:
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{who}: {name} must be a number, got {type(value).__name__}")
    if positive and not value > 0:
        raise ValueError(f"{who}: {name} must be positive, got {value}")
    return float(value)


class ExpFilter(nn.Module):
    r"""A linear layer followed by an exponential filter over time.

    With :math:`y_t = W x_t + b` and :math:`a = e^{-\Delta t\,\tau_{filter}^{-1}}` the output is
    :math:`o_0 = y_0` and :math:`o_t = a\, o_{t-1} + y_t`.

    Args:
        input_size (int): number of input features.
        output_size (int): number of output features.
        tau_filter_inv (float): inverse time constant of the filter (1/s).
        dt (float): time step in seconds.
        input_weights (Tensor): optional ``(output_size, input_size)`` weights, copied into
            ``linear.weight``.
        bias (bool): whether the linear map has a bias.

    Shape:
        input ``(T, *, input_size)``, output ``(T, *, output_size)``.

    Example:
        >>> f = ExpFilter(1, 1, input_weights=torch.ones(1, 1), bias=False)
        >>> f(torch.tensor([[1.0], [0.0], [0.0]])).squeeze()
        tensor([1.0000, 0.3679, 0.1353], grad_fn=<SqueezeBackward0>)
    """

    def __init__(
        self,
        input_size: int,
        output_size: int,
        tau_filter_inv: float = 1000.0,
        dt: float = 0.001,
        input_weights: Tensor | None = None,
        bias: bool = True,
    ) -> None:
        super().__init__()
        who = type(self).__name__
        input_size = as_size(input_size, "input_size", who)
        output_size = as_size(output_size, "output_size", who)
        tau_filter_inv = _check_number(who, "tau_filter_inv", tau_filter_inv, positive=False)
        dt = _check_number(who, "dt", dt, positive=True)
        self.input_size = torch.as_tensor(input_size)
        self.output_size = torch.as_tensor(output_size)
        self.parameter = math.exp(-dt * tau_filter_inv)
        self.linear = nn.Linear(input_size, output_size, bias=bias)
        if input_weights is not None:
            if not isinstance(input_weights, Tensor):
                raise TypeError(
                    f"{who}: input_weights must be a Tensor, got {type(input_weights).__name__}"
                )
            if tuple(input_weights.shape) != (output_size, input_size):
                raise ValueError(
                    f"{who}: input_weights must have shape (output_size, input_size) = "
                    f"({output_size}, {input_size}), got {tuple(input_weights.shape)}"
                )
            with torch.no_grad():
                self.linear.weight.copy_(input_weights)

    def forward(self, input_tensor: Tensor) -> Tensor:
        who = type(self).__name__
        if not isinstance(input_tensor, Tensor):
            raise TypeError(
                f"{who}: input_tensor must be a torch.Tensor, got {type(input_tensor).__name__}"
            )
        n = int(self.input_size)
        if input_tensor.dim() < 2 or input_tensor.shape[-1] != n or input_tensor.shape[0] == 0:
            raise ValueError(
                f"{who}: expected input of shape (T >= 1, ..., {n}) (time first, {n} features), "
                f"got {tuple(input_tensor.shape)}"
            )
        y = self.linear(input_tensor)
        outputs = []
        previous = None
        for y_t in y.unbind(0):
            previous = y_t if previous is None else exp_filter_step(previous, y_t, self.parameter)
            outputs.append(previous)
        return torch.stack(outputs)

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, output_size={self.output_size}, "
            f"parameter={self.parameter}"
        )
