"""LIF neurons with correlation sensors. Equations: :mod:`norse.torch.functional.lif_correlation`."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .._spec import check_parameters, check_state, coerce_parameters, state_dtype
from ..functional.correlation_sensor import CorrelationSensorState
from ..functional.lif import LIFState
from ..functional.lif_correlation import (
    LIFCorrelationParameters,
    LIFCorrelationState,
    lif_correlation_step,
)
from ..utils._validation import as_size
from ._parameters import HasNeuronParameters, HasTimeStep
from .snn import _check_input

__all__ = ["LIFCorrelation"]


class LIFCorrelation(HasNeuronParameters, HasTimeStep, nn.Module):
    """One step of recurrent LIF neurons that also track input and recurrent spike correlations.

    The module has no weights of its own: pass them to :meth:`forward`, so that a learning rule
    (for instance :func:`~norse.torch.functional.correlation_sensor.correlation_based_update`)
    can change them between steps.

    Args:
        input_size (int): number of input features.
        hidden_size (int): number of neurons.
        p (LIFCorrelationParameters): neuron and sensor parameters.
        dt (float): integration time step in seconds.

    Example:
        >>> layer = LIFCorrelation(3, 4)
        >>> z, s = layer(torch.ones(2, 3), torch.ones(4, 3), torch.zeros(4, 4), None)
        >>> z.shape, s.recurrent_correlation_state.post_pre.shape
        (torch.Size([2, 4]), torch.Size([2, 4, 4]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        p: LIFCorrelationParameters = LIFCorrelationParameters(),
        dt: float = 0.001,
    ) -> None:
        super().__init__()
        who = type(self).__name__
        self.input_size = as_size(input_size, "input_size", who)
        self.hidden_size = as_size(hidden_size, "hidden_size", who)
        self.p = p
        self.dt = dt

    def _check_p(self, value: Any) -> LIFCorrelationParameters:
        who = type(self).__name__
        value = coerce_parameters(value, LIFCorrelationParameters, who)
        check_parameters(value, who)
        return value

    def initial_state(self, input_tensor: Tensor) -> LIFCorrelationState:
        """Resting state: no spikes, voltage at ``v_leak`` (0-dim), currents and traces at zero."""
        batch = tuple(input_tensor.shape[:-1])
        options = {"dtype": state_dtype(input_tensor), "device": input_tensor.device}
        n_in, n = self.input_size, self.hidden_size
        v = self.p.lif_parameters.v_leak.detach().to(**options).clone()
        if torch.is_grad_enabled():
            v.requires_grad_(True)
        return LIFCorrelationState(
            lif_state=LIFState(
                z=torch.zeros(*batch, n, **options), v=v, i=torch.zeros(*batch, n, **options)
            ),
            input_correlation_state=CorrelationSensorState(
                *(torch.zeros(*batch, n_in, n, **options) for _ in range(3))
            ),
            recurrent_correlation_state=CorrelationSensorState(
                *(torch.zeros(*batch, n, n, **options) for _ in range(3))
            ),
        )

    def forward(
        self,
        input_tensor: Tensor,
        input_weights: Tensor,
        recurrent_weights: Tensor,
        state: LIFCorrelationState | None = None,
    ) -> tuple[Tensor, LIFCorrelationState]:
        who = type(self).__name__
        _check_input(input_tensor, who, 1)
        n_in, n = self.input_size, self.hidden_size
        if input_tensor.shape[-1] != n_in:
            raise ValueError(
                f"{who}: input has {input_tensor.shape[-1]} features but input_size={n_in}; "
                f"pass tensors whose last dimension is {n_in}"
            )
        _check_weights(who, "input_weights", input_weights, (n, n_in))
        _check_weights(who, "recurrent_weights", recurrent_weights, (n, n))
        if state is None:
            state = self.initial_state(input_tensor)
        else:
            _check_lif_correlation_state(who, state, tuple(input_tensor.shape[:-1]), n_in, n)
        return lif_correlation_step(
            input_tensor, state, input_weights, recurrent_weights, self.p, self.dt
        )

    def extra_repr(self) -> str:
        return (
            f"input_size={self.input_size}, hidden_size={self.hidden_size}, p={self.p}, "
            f"dt={self.dt}"
        )


def _check_weights(who: str, name: str, w: Any, shape: tuple[int, int]) -> None:
    if not isinstance(w, Tensor):
        raise TypeError(f"{who}: {name} must be a Tensor of shape {shape}, got {type(w).__name__}")
    if tuple(w.shape) != shape:
        raise ValueError(f"{who}: {name} must have shape {shape}, got {tuple(w.shape)}")


def _check_lif_correlation_state(
    who: str, state: Any, batch: tuple[int, ...], n_in: int, n: int
) -> None:
    if not isinstance(state, LIFCorrelationState):
        raise TypeError(
            f"{who}: state must be a LIFCorrelationState (or None), got {type(state).__name__}"
        )
    check_state(state.lif_state, (*batch, n), who, prefix="state.lif_state")
    check_state(
        state.input_correlation_state,
        (*batch, n_in, n),
        who,
        prefix="state.input_correlation_state",
    )
    check_state(
        state.recurrent_correlation_state,
        (*batch, n, n),
        who,
        prefix="state.recurrent_correlation_state",
    )
