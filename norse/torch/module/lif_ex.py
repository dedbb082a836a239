"""Exponential LIF modules. Equations: :mod:`norse.torch.functional.lif_ex`."""

from __future__ import annotations

from ..functional import lif_ex
from ..functional.lif_ex import LIFExFeedForwardState, LIFExParameters, LIFExState
from .snn import SNN, SNNCell, SNNRecurrent, SNNRecurrentCell

__all__ = [
    "LIFEx",
    "LIFExCell",
    "LIFExFeedForwardState",
    "LIFExParameters",
    "LIFExRecurrent",
    "LIFExRecurrentCell",
    "LIFExState",
]


class LIFExCell(SNNCell):
    """Feed-forward exponential LIF neurons for one time step.

    Args:
        p (LIFExParameters): neuron parameters.
        dt (float): integration time step in seconds.

    Example:
        >>> z, s = LIFExCell()(torch.ones(5, 2))
        >>> z.shape, s.v.shape
        (torch.Size([5, 2]), torch.Size([5, 2]))
    """

    spec = lif_ex.SPEC


class LIFExRecurrentCell(SNNRecurrentCell):
    """Recurrently connected exponential LIF neurons for one time step.

    Args:
        input_size (int): number of input features.
        hidden_size (int): number of neurons.
        p (LIFExParameters): neuron parameters.
        input_weights (Tensor): ``(hidden_size, input_size)`` weights, kept as given.
        recurrent_weights (Tensor): ``(hidden_size, hidden_size)`` weights, kept as given.
        autapses (bool): allow self-connections (diagonal zeroed otherwise).
        dt (float): integration time step in seconds.

    Example:
        >>> z, s = LIFExRecurrentCell(2, 4)(torch.ones(5, 2))
        >>> z.shape
        torch.Size([5, 4])
    """

    spec = lif_ex.SPEC


class LIFEx(SNN):
    """A layer of feed-forward exponential LIF neurons over time: ``(T, B, *) -> (T, B, *)``.

    Args:
        p (LIFExParameters): neuron parameters.
        dt (float): integration time step in seconds.
        record_states (bool): return the state of every step instead of the last one.
        backend (str): ``"auto"`` (fused kernel when it applies) or ``"reference"``.

    Example:
        >>> z, s = LIFEx()(torch.ones(10, 5, 2))
        >>> z.shape, s.i.shape
        (torch.Size([10, 5, 2]), torch.Size([5, 2]))
    """

    spec = lif_ex.SPEC


class LIFExRecurrent(SNNRecurrent):
    """A layer of recurrently connected exponential LIF neurons over time.

    Args: as :class:`LIFExRecurrentCell`, plus ``record_states`` and ``backend``.

    Example:
        >>> z, s = LIFExRecurrent(2, 4)(torch.ones(10, 5, 2))
        >>> z.shape, s.v.shape
        (torch.Size([10, 5, 4]), torch.Size([5, 4]))
    """

    spec = lif_ex.SPEC
