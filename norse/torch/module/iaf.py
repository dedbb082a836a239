"""Integrate-and-fire modules. Equations: :mod:`norse.torch.functional.iaf`."""

from __future__ import annotations

from ..functional import iaf
from ..functional.iaf import IAFFeedForwardState, IAFParameters
from .snn import SNN, SNNCell

__all__ = ["IAF", "IAFCell", "IAFFeedForwardState", "IAFParameters"]


class IAFCell(SNNCell):
    """Feed-forward integrate-and-fire neurons for one time step.

    The voltage starts at ``p.v_reset`` (0-dim; full-shaped after the first step).

    Args:
        p (IAFParameters): neuron parameters.
        dt (float): time step (unused by the model; kept for a uniform interface).

    Example:
        >>> cell = IAFCell()
        >>> z, s = cell(torch.full((2, 3), 0.6))
        >>> z, s = cell(torch.full((2, 3), 0.6), s)
        >>> z[0].tolist(), s.v[0].tolist()
        ([1.0, 1.0, 1.0], [0.0, 0.0, 0.0])
    """

    spec = iaf.SPEC
    scalar_state = ("v",)


class IAF(SNN):
    """A layer of feed-forward integrate-and-fire neurons over time: ``(T, B, *) -> (T, B, *)``.

    Args:
        p (IAFParameters): neuron parameters.
        dt (float): time step (unused by the model).
        record_states (bool): return the state of every step instead of the last one.
        backend (str): ``"auto"`` (fused kernel when it applies) or ``"reference"``.

    Example:
        >>> z, s = IAF()(torch.full((6, 1), 0.4))
        >>> z.flatten().tolist(), s.v.shape
        ([0.0, 0.0, 1.0, 0.0, 0.0, 1.0], torch.Size([1]))
    """

    spec = iaf.SPEC
    scalar_state = ("v",)
