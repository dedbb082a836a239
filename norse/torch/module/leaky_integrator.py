"""Leaky-integrator modules. Equations: :mod:`norse.torch.functional.leaky_integrator`."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..functional import leaky_integrator
from ..functional.leaky_integrator import LIParameters, LIState, li_step
from .snn import SNN, SNNCell, _check_dt, _check_input, _NeuronParameters

__all__ = ["LI", "LICell", "LILinearCell", "LIParameters", "LIState"]


class LICell(SNNCell):
    """Leaky integrators for one time step; returns the voltage.

    Example:
        >>> v, s = LICell()(torch.ones(5, 2))
        >>> v.shape
        torch.Size([5, 2])
    """

    spec = leaky_integrator.SPEC
    scalar_state = ("v",)


class LI(SNN):
    """A layer of leaky integrators over time; returns the voltage of every step.

    Example:
        >>> v, s = LI()(torch.ones(10, 5, 2))
        >>> v.shape, s.i.shape
        (torch.Size([10, 5, 2]), torch.Size([5, 2]))
    """

    spec = leaky_integrator.SPEC


class LILinearCell(nn.Module):
    """Leaky integrators behind a linear map (no bias) for one time step.

    Args:
        input_size (int): number of input features.
        hidden_size (int): number of integrators.
        p (LIParameters): parameters.
        dt (float): integration time step.

    Example:
        >>> cell = LILinearCell(3, 2)
        >>> v, s = cell(torch.ones(4, 3))
        >>> v.shape
        torch.Size([4, 2])
    """

    def __init__(
        self, input_size: int, hidden_size: int, p: LIParameters = LIParameters(), dt: float = 0.001
    ) -> None:
        super().__init__()
        for name, n in (("input_size", input_size), ("hidden_size", hidden_size)):
            if isinstance(n, bool) or not isinstance(n, int):
                raise TypeError(f"LILinearCell: {name} must be an int, got {type(n).__name__}")
            if n <= 0:
                raise ValueError(f"LILinearCell: {name} must be positive, got {n}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self._params = _NeuronParameters(p, False)
        self.dt = _check_dt(dt, "LILinearCell")
        self.input_weights = nn.Parameter(torch.randn(hidden_size, input_size) / input_size**0.5)

    @property
    def p(self) -> LIParameters:
        return self._params.value()

    def initial_state(self, input_tensor: Tensor) -> LIState:
        v = torch.as_tensor(self.p.v_leak).detach().to(input_tensor.device).clone()
        if torch.is_grad_enabled():
            v.requires_grad_(True)
        i = torch.zeros(
            (*input_tensor.shape[:-1], self.hidden_size),
            dtype=input_tensor.dtype if input_tensor.is_floating_point() else torch.float32,
            device=input_tensor.device,
        )
        return LIState(v=v, i=i)

    def forward(self, input_tensor: Tensor, state: LIState | None = None) -> tuple[Tensor, LIState]:
        _check_input(input_tensor, "LILinearCell", 1)
        if input_tensor.shape[-1] != self.input_size:
            raise ValueError(
                f"LILinearCell: input has {input_tensor.shape[-1]} features but "
                f"input_size={self.input_size}; pass (B, {self.input_size}) tensors or build "
                f"LILinearCell({input_tensor.shape[-1]}, {self.hidden_size})"
            )
        if state is None:
            state = self.initial_state(input_tensor)
        return li_step(input_tensor, state, self.input_weights, p=self.p, dt=self.dt)

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, hidden_size={self.hidden_size}, p={self.p}, dt={self.dt}"
