"""Leaky integrate-and-fire (LIF) modules. Equations: :mod:`norse.torch.functional.lif`."""

from __future__ import annotations

from ..functional import lif
from ..functional.lif import LIFFeedForwardState, LIFParameters, LIFState
from .snn import SNN, SNNCell, SNNRecurrent, SNNRecurrentCell

__all__ = [
    "LIF",
    "LIFCell",
    "LIFFeedForwardState",
    "LIFParameters",
    "LIFRecurrent",
    "LIFRecurrentCell",
    "LIFState",
]


class LIFCell(SNNCell):
    """Feed-forward LIF neurons for one time step; the number of neurons follows the input.

    Args:
        p (LIFParameters): neuron parameters.
        dt (float): integration time step in seconds.

    Example:
        >>> cell = LIFCell()
        >>> z, s = cell(torch.ones(5, 2))   # 5 batches, 2 neurons
        >>> z.shape, s.v.shape
        (torch.Size([5, 2]), torch.Size([5, 2]))
    """

    spec = lif.SPEC
    scalar_state = ("v",)


class LIFRecurrentCell(SNNRecurrentCell):
    """Recurrently connected LIF neurons for one time step.

    Args:
        input_size (int): number of input features.
        hidden_size (int): number of neurons.
        p (LIFParameters): neuron parameters.
        input_weights (Tensor): ``(hidden_size, input_size)`` weights, kept as given.
        recurrent_weights (Tensor): ``(hidden_size, hidden_size)`` weights, kept as given.
        autapses (bool): allow self-connections; if False the diagonal is zeroed (in place)
            and kept at zero during training.
        dt (float): integration time step in seconds.

    Example:
        >>> cell = LIFRecurrentCell(2, 4)
        >>> z, s = cell(torch.zeros(5, 2))
        >>> z.shape
        torch.Size([5, 4])
    """

    spec = lif.SPEC


class LIF(SNN):
    """A layer of feed-forward LIF neurons over time: ``(T, B, *) -> (T, B, *)``.

    Returns the spikes of every step and the state after the last step.

    Args:
        p (LIFParameters): neuron parameters.
        dt (float): integration time step in seconds.
        record_states (bool): return the state of every step instead of the last one.
        backend (str): ``"auto"`` (fused kernel when it applies) or ``"reference"``.

    Example:
        >>> layer = LIF()
        >>> z, s = layer(torch.zeros(10, 5, 2))   # 10 steps, 5 batches, 2 neurons
        >>> z.shape, s.v.shape
        (torch.Size([10, 5, 2]), torch.Size([5, 2]))
    """

    spec = lif.SPEC


class LIFRecurrent(SNNRecurrent):
    """A layer of recurrently connected LIF neurons over time.

    Args: as :class:`LIFRecurrentCell`, plus ``record_states`` and ``backend``.

    Example:
        >>> layer = LIFRecurrent(2, 4)
        >>> z, s = layer(torch.zeros(10, 5, 2))
        >>> z.shape, s.v.shape
        (torch.Size([10, 5, 4]), torch.Size([5, 4]))
    """

    spec = lif.SPEC
