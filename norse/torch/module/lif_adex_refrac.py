"""Refractory AdEx modules. Equations: :mod:`norse.torch.functional.lif_adex_refrac`."""

from __future__ import annotations

from ..functional import lif_adex_refrac
from ..functional.lif_adex_refrac import (
    LIFAdExRefracFeedForwardState,
    LIFAdExRefracParameters,
    LIFAdExRefracState,
)
from .snn import SNN, SNNCell, SNNRecurrent, SNNRecurrentCell

__all__ = [
    "LIFAdExRefrac",
    "LIFAdExRefracCell",
    "LIFAdExRefracFeedForwardState",
    "LIFAdExRefracParameters",
    "LIFAdExRefracRecurrent",
    "LIFAdExRefracRecurrentCell",
    "LIFAdExRefracState",
]


class LIFAdExRefracCell(SNNCell):
    """Feed-forward refractory AdEx neurons for one time step.

    Args:
        p (LIFAdExRefracParameters): neuron parameters (``p.lif_adex``) and refractory period.
        dt (float): integration time step in seconds.

    Example:
        >>> z, s = LIFAdExRefracCell()(torch.ones(5, 2))
        >>> z.shape, s.rho.shape
        (torch.Size([5, 2]), torch.Size([5, 2]))
    """

    spec = lif_adex_refrac.SPEC
    scalar_state = ("lif_adex.v",)


class LIFAdExRefracRecurrentCell(SNNRecurrentCell):
    """Recurrently connected refractory AdEx neurons for one time step.

    Args:
        input_size (int): number of input features.
        hidden_size (int): number of neurons.
        p (LIFAdExRefracParameters): neuron parameters.
        input_weights (Tensor): ``(hidden_size, input_size)`` weights, kept as given.
        recurrent_weights (Tensor): ``(hidden_size, hidden_size)`` weights, kept as given.
        autapses (bool): allow self-connections (diagonal zeroed otherwise).
        dt (float): integration time step in seconds.

    Example:
        >>> z, s = LIFAdExRefracRecurrentCell(2, 4)(torch.ones(5, 2))
        >>> z.shape, s.lif_adex.a.shape
        (torch.Size([5, 4]), torch.Size([5, 4]))
    """

    spec = lif_adex_refrac.SPEC


class LIFAdExRefrac(SNN):
    """A layer of feed-forward refractory AdEx neurons over time: ``(T, B, *) -> (T, B, *)``.

    Not in Norse 1.1.0 (which had only the cells and the recurrent layer); this is the time
    loop over :class:`LIFAdExRefracCell`'s step.

    Args:
        p (LIFAdExRefracParameters): neuron parameters.
        dt (float): integration time step in seconds.
        record_states (bool): return the state of every step instead of the last one.
        backend (str): ``"auto"`` (fused kernel when it applies) or ``"reference"``.

    Example:
        >>> z, s = LIFAdExRefrac()(torch.full((9, 1), 20.0))
        >>> z.flatten().tolist()
        [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    """

    spec = lif_adex_refrac.SPEC


class LIFAdExRefracRecurrent(SNNRecurrent):
    """A layer of recurrently connected refractory AdEx neurons over time.

    Args: as :class:`LIFAdExRefracRecurrentCell`, plus ``record_states`` and ``backend``.

    Example:
        >>> z, s = LIFAdExRefracRecurrent(2, 4)(torch.ones(10, 5, 2))
        >>> z.shape, s.rho.shape
        (torch.Size([10, 5, 4]), torch.Size([5, 4]))
    """

    spec = lif_adex_refrac.SPEC
