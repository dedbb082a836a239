"""Izhikevich modules. Equations and presets: :mod:`norse.torch.functional.izhikevich`.

Every module takes a ``spiking_method`` (an :class:`IzhikevichSpikingBehavior`, e.g.
:data:`~norse.torch.functional.izhikevich.tonic_spiking`) instead of bare parameters: its
parameters become ``module.p`` and its state is where the neurons start.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._spec import build_state, state_dtype
from ..functional import izhikevich
from ..functional.izhikevich import (
    IzhikevichParameters,
    IzhikevichRecurrentState,
    IzhikevichSpikingBehavior,
    IzhikevichState,
)
from .snn import SNN, SNNCell, SNNRecurrent, SNNRecurrentCell

__all__ = [
    "Izhikevich",
    "IzhikevichCell",
    "IzhikevichParameters",
    "IzhikevichRecurrent",
    "IzhikevichRecurrentCell",
    "IzhikevichRecurrentState",
    "IzhikevichSpikingBehavior",
    "IzhikevichState",
]


def _check_behavior(who: str, spiking_method: Any) -> IzhikevichSpikingBehavior:
    if not isinstance(spiking_method, IzhikevichSpikingBehavior):
        raise TypeError(
            f"{who}: spiking_method must be an IzhikevichSpikingBehavior (e.g. "
            "norse.torch.functional.izhikevich.tonic_spiking or "
            f"create_izhikevich_spiking_behavior(...)), got {type(spiking_method).__name__}"
        )
    return spiking_method


def _initial_state(self, input_tensor: Tensor) -> IzhikevichState | IzhikevichRecurrentState:
    """The behaviour's state, copied and broadcast to the neurons (``v`` requires grad)."""
    s = self.spiking_method.s
    if self._recurrent:
        rest: Any = IzhikevichRecurrentState(z=0.0, v=s.v, u=s.u)
    else:
        rest = IzhikevichState(v=s.v, u=s.u)
    return build_state(
        rest,
        self._neuron_shape(input_tensor),
        state_dtype(input_tensor),
        input_tensor.device,
        self.scalar_state,
        self.spec.grad_fields,
    )


class IzhikevichCell(SNNCell):
    """Feed-forward Izhikevich neurons for one time step; the input is a current.

    Args:
        spiking_method (IzhikevichSpikingBehavior): parameters and initial state.
        dt (float): integration time step in seconds (the model advances
            ``p.tau_inv * dt`` ms per step).

    Example:
        >>> from norse.torch.functional.izhikevich import tonic_spiking
        >>> cell = IzhikevichCell(tonic_spiking)
        >>> z, s = cell(torch.full((2, 3), 10.0))
        >>> s.v[0]
        tensor([-67.5000, -67.5000, -67.5000], grad_fn=<SelectBackward0>)
    """

    spec = izhikevich.SPEC
    scalar_state = ("v", "u")
    initial_state = _initial_state

    def __init__(self, spiking_method: IzhikevichSpikingBehavior, **kwargs: Any) -> None:
        self.spiking_method = _check_behavior(type(self).__name__, spiking_method)
        super().__init__(spiking_method.p, **kwargs)


class IzhikevichRecurrentCell(SNNRecurrentCell):
    """Recurrently connected Izhikevich neurons for one time step.

    Args:
        input_size (int): number of input features.
        hidden_size (int): number of neurons.
        spiking_method (IzhikevichSpikingBehavior): parameters and initial state.
        input_weights (Tensor): ``(hidden_size, input_size)`` weights, kept as given.
        recurrent_weights (Tensor): ``(hidden_size, hidden_size)`` weights, kept as given.
        autapses (bool): allow self-connections (diagonal zeroed otherwise).
        dt (float): integration time step in seconds.

    Example:
        >>> from norse.torch.functional.izhikevich import tonic_spiking
        >>> z, s = IzhikevichRecurrentCell(2, 4, tonic_spiking)(torch.ones(5, 2))
        >>> z.shape, s.u.shape
        (torch.Size([5, 4]), torch.Size([5, 4]))
    """

    spec = izhikevich.SPEC
    initial_state = _initial_state

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        spiking_method: IzhikevichSpikingBehavior,
        **kwargs: Any,
    ) -> None:
        self.spiking_method = _check_behavior(type(self).__name__, spiking_method)
        super().__init__(input_size, hidden_size, spiking_method.p, **kwargs)


class Izhikevich(SNN):
    """A layer of feed-forward Izhikevich neurons over time: ``(T, B, *) -> (T, B, *)``.

    Args:
        spiking_method (IzhikevichSpikingBehavior): parameters and initial state.
        dt (float): integration time step in seconds.
        record_states (bool): return the state of every step instead of the last one.
        backend (str): ``"auto"`` (fused kernel when it applies) or ``"reference"``.

    Example:
        >>> from norse.torch.functional.izhikevich import tonic_spiking
        >>> z, s = Izhikevich(tonic_spiking)(torch.full((400, 1), 14.0))   # 100 ms
        >>> int(z.sum())
        5
    """

    spec = izhikevich.SPEC
    scalar_state = ("v", "u")
    initial_state = _initial_state

    def __init__(self, spiking_method: IzhikevichSpikingBehavior, **kwargs: Any) -> None:
        self.spiking_method = _check_behavior(type(self).__name__, spiking_method)
        super().__init__(spiking_method.p, **kwargs)


class IzhikevichRecurrent(SNNRecurrent):
    """A layer of recurrently connected Izhikevich neurons over time.

    Args: as :class:`IzhikevichRecurrentCell`, plus ``record_states`` and ``backend``; extra
    positional arguments are ``input_weights, recurrent_weights, autapses, dt``.

    Example:
        >>> from norse.torch.functional.izhikevich import tonic_spiking
        >>> z, s = IzhikevichRecurrent(2, 4, tonic_spiking)(torch.ones(10, 5, 2))
        >>> z.shape, s.v.shape
        (torch.Size([10, 5, 4]), torch.Size([5, 4]))
    """

    spec = izhikevich.SPEC
    initial_state = _initial_state

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        spiking_method: IzhikevichSpikingBehavior,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        who = type(self).__name__
        self.spiking_method = _check_behavior(who, spiking_method)
        names = ("input_weights", "recurrent_weights", "autapses", "dt")
        if len(args) > len(names):
            raise TypeError(f"{who}: too many positional arguments ({3 + len(args)})")
        for name, value in zip(names, args, strict=False):
            if name in kwargs:
                raise TypeError(f"{who}: got multiple values for argument {name!r}")
            kwargs[name] = value
        super().__init__(input_size, hidden_size, spiking_method.p, **kwargs)
