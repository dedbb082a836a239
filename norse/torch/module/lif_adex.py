"""Adaptive exponential LIF (AdEx) modules. Equations: :mod:`norse.torch.functional.lif_adex`."""

from __future__ import annotations

from ..functional import lif_adex
from ..functional.lif_adex import LIFAdExFeedForwardState, LIFAdExParameters, LIFAdExState
from .snn import SNN, SNNCell, SNNRecurrent, SNNRecurrentCell

__all__ = [
    "LIFAdEx",
    "LIFAdExCell",
    "LIFAdExFeedForwardState",
    "LIFAdExParameters",
    "LIFAdExRecurrent",
    "LIFAdExRecurrentCell",
    "LIFAdExState",
]


class LIFAdExCell(SNNCell):
    """Feed-forward AdEx neurons for one time step; the number of neurons follows the input.

    Args:
        p (LIFAdExParameters): neuron parameters.
        dt (float): integration time step in seconds.

    Example:
        >>> z, s = LIFAdExCell()(torch.ones(5, 2))
        >>> z.shape, s.a.shape
        (torch.Size([5, 2]), torch.Size([5, 2]))
    """

    spec = lif_adex.SPEC
    scalar_state = ("v",)


class LIFAdExRecurrentCell(SNNRecurrentCell):
    """Recurrently connected AdEx neurons for one time step.

    Args:
        input_size (int): number of input features.
        hidden_size (int): number of neurons.
        p (LIFAdExParameters): neuron parameters.
        input_weights (Tensor): ``(hidden_size, input_size)`` weights, kept as given.
        recurrent_weights (Tensor): ``(hidden_size, hidden_size)`` weights, kept as given.
        autapses (bool): allow self-connections (diagonal zeroed otherwise).
        dt (float): integration time step in seconds.

    Example:
        >>> z, s = LIFAdExRecurrentCell(2, 4)(torch.ones(5, 2))
        >>> z.shape, s.a.shape
        (torch.Size([5, 4]), torch.Size([5, 4]))
    """

    spec = lif_adex.SPEC


class LIFAdEx(SNN):
    """A layer of feed-forward AdEx neurons over time: ``(T, B, *) -> (T, B, *)``.

    Args:
        p (LIFAdExParameters): neuron parameters.
        dt (float): integration time step in seconds.
        record_states (bool): return the state of every step instead of the last one.
        backend (str): ``"auto"`` (fused kernel when it applies) or ``"reference"``.

    Example:
        >>> z, s = LIFAdEx()(torch.ones(10, 5, 2))
        >>> z.shape, s.a.shape
        (torch.Size([10, 5, 2]), torch.Size([5, 2]))
    """

    spec = lif_adex.SPEC


class LIFAdExRecurrent(SNNRecurrent):
    """A layer of recurrently connected AdEx neurons over time.

    Args: as :class:`LIFAdExRecurrentCell`, plus ``record_states`` and ``backend``.

    Example:
        >>> z, s = LIFAdExRecurrent(2, 4)(torch.ones(10, 5, 2))
        >>> z.shape, s.v.shape
        (torch.Size([10, 5, 4]), torch.Size([5, 4]))
    """

    spec = lif_adex.SPEC
