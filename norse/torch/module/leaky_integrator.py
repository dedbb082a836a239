"""Leaky-integrator modules. Equations: :mod:`norse.torch.functional.leaky_integrator`."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..functional import leaky_integrator
from ..functional.leaky_integrator import LIParameters, LIState, li_step
from ..utils._validation import as_size
from .snn import SNN, SNNCell, _NeuronModule, _RecurrentWeights

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


class LILinearCell(_RecurrentWeights, _NeuronModule):
    """Leaky integrators behind a linear map (no bias) for one time step.

    Runs :func:`~norse.torch.functional.leaky_integrator.li_step` with the module's
    ``input_weights``. Parameters, ``dt``, the input and the state are checked like in every
    other neuron module (and ``p`` / ``dt`` again when assigned).

    Args:
        input_size (int): number of input features.
        hidden_size (int): number of integrators.
        p (LIParameters): parameters.
        dt (float): integration time step.

    Shape:
        input ``(*, input_size)``; output and state ``(*, hidden_size)`` (the initial voltage is
        the 0-dim ``v_leak``, as in 1.1.0).

    Example:
        >>> cell = LILinearCell(3, 2)
        >>> v, s = cell(torch.ones(4, 3))
        >>> v.shape
        torch.Size([4, 2])
    """

    spec = leaky_integrator.SPEC
    scalar_state = ("v",)
    _recurrent = True  # input features and weights, no recurrent weights

    def __init__(
        self, input_size: int, hidden_size: int, p: LIParameters = LIParameters(), dt: float = 0.001
    ) -> None:
        super().__init__()
        who = type(self).__name__
        self.input_size = as_size(input_size, "input_size", who)
        self.hidden_size = as_size(hidden_size, "hidden_size", who)
        self._setup(None, None, p, dt, None)
        self.input_weights = nn.Parameter(
            torch.randn(self.hidden_size, self.input_size) / self.input_size**0.5
        )

    def _neuron_shape(self, x: Tensor) -> tuple[int, ...]:
        return self._recurrent_shape(tuple(x.shape[:-1]))

    def forward(self, input_tensor: Tensor, state: LIState | None = None) -> tuple[Tensor, LIState]:
        p, state, *_ = self._begin(input_tensor, state)
        return li_step(input_tensor, state, self.input_weights, p=p, dt=self._dt)

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, hidden_size={self.hidden_size}, p={self.p}, dt={self.dt}"
