"""Refractory LIF modules. Equations: :mod:`norse.torch.functional.lif_refrac`.

With ``p.lif.method == "adjoint"`` the modules use the discrete-adjoint steps of
:mod:`norse.torch.functional.adjoint.lif_refrac_adjoint`.
"""

from __future__ import annotations

from ..functional import lif_refrac
from ..functional.lif_refrac import (
    LIFRefracFeedForwardState,
    LIFRefracParameters,
    LIFRefracState,
)
from .snn import SNN, SNNCell, SNNRecurrent, SNNRecurrentCell

__all__ = [
    "LIFRefrac",
    "LIFRefracCell",
    "LIFRefracFeedForwardState",
    "LIFRefracParameters",
    "LIFRefracRecurrent",
    "LIFRefracRecurrentCell",
    "LIFRefracState",
]


class LIFRefracCell(SNNCell):
    """Feed-forward LIF neurons with absolute refractory period, for one time step.

    Args:
        p (LIFRefracParameters): neuron parameters (``p.lif``) and refractory period.
        dt (float): integration time step in seconds.

    Example:
        >>> cell = LIFRefracCell()
        >>> z, s = cell(torch.ones(5, 2))
        >>> z.shape, s.lif.v.shape, s.rho.shape
        (torch.Size([5, 2]), torch.Size([5, 2]), torch.Size([5, 2]))
    """

    spec = lif_refrac.SPEC


class LIFRefracRecurrentCell(SNNRecurrentCell):
    """Recurrently connected refractory LIF neurons for one time step.

    Args:
        input_size (int): number of input features.
        hidden_size (int): number of neurons.
        p (LIFRefracParameters): neuron parameters.
        input_weights (Tensor): ``(hidden_size, input_size)`` weights, kept as given.
        recurrent_weights (Tensor): ``(hidden_size, hidden_size)`` weights, kept as given.
        autapses (bool): allow self-connections (diagonal zeroed otherwise).
        dt (float): integration time step in seconds.

    Example:
        >>> cell = LIFRefracRecurrentCell(2, 4)
        >>> z, s = cell(torch.ones(5, 2))
        >>> z.shape, s.rho.shape
        (torch.Size([5, 4]), torch.Size([5, 4]))
    """

    spec = lif_refrac.SPEC
    scalar_state = ("lif.v",)


class LIFRefrac(SNN):
    """A layer of feed-forward refractory LIF neurons over time: ``(T, B, *) -> (T, B, *)``.

    Not in Norse 1.1.0 (which had only the cell and the recurrent layer); this is the time loop
    over :class:`LIFRefracCell`'s step.

    Args:
        p (LIFRefracParameters): neuron parameters.
        dt (float): integration time step in seconds.
        record_states (bool): return the state of every step instead of the last one.
        backend (str): ``"auto"`` (fused kernel when it applies) or ``"reference"``.

    Example:
        >>> z, s = LIFRefrac()(torch.full((20, 1), 4.0))
        >>> z.flatten().tolist()[:9]
        [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    """

    spec = lif_refrac.SPEC


class LIFRefracRecurrent(SNNRecurrent):
    """A layer of recurrently connected refractory LIF neurons over time.

    Args: as :class:`LIFRefracRecurrentCell`, plus ``record_states`` and ``backend``.

    Example:
        >>> layer = LIFRefracRecurrent(2, 4)
        >>> z, s = layer(torch.zeros(10, 5, 2))
        >>> z.shape, s.lif.v.shape
        (torch.Size([10, 5, 4]), torch.Size([5, 4]))
    """

    spec = lif_refrac.SPEC
