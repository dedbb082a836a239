"""Box LIF modules (no synaptic current). Equations: :mod:`norse.torch.functional.lif_box`."""

from __future__ import annotations

from ..functional import lif_box
from ..functional.lif_box import LIFBoxFeedForwardState, LIFBoxParameters
from .snn import SNN, SNNCell

__all__ = ["LIFBox", "LIFBoxCell", "LIFBoxFeedForwardState", "LIFBoxParameters"]


class LIFBoxCell(SNNCell):
    """Feed-forward box LIF neurons for one time step.

    Example:
        >>> z, s = LIFBoxCell()(torch.ones(5, 2))
        >>> z.shape
        torch.Size([5, 2])
    """

    spec = lif_box.SPEC
    scalar_state = ("v",)


class LIFBox(SNN):
    """A layer of feed-forward box LIF neurons over time.

    Example:
        >>> z, s = LIFBox()(torch.ones(10, 5, 2))
        >>> z.shape, s.v.shape
        (torch.Size([10, 5, 2]), torch.Size([5, 2]))
    """

    spec = lif_box.SPEC
    scalar_state = ("v",)
