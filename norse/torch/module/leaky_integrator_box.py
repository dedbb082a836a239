"""Box leaky-integrator modules. Equations: :mod:`norse.torch.functional.leaky_integrator_box`."""

from __future__ import annotations

from ..functional import leaky_integrator_box
from ..functional.leaky_integrator_box import LIBoxParameters, LIBoxState
from .snn import SNN, SNNCell

__all__ = ["LIBox", "LIBoxCell", "LIBoxParameters", "LIBoxState"]


class LIBoxCell(SNNCell):
    """Box leaky integrators for one time step; returns the voltage.

    Example:
        >>> v, s = LIBoxCell()(torch.ones(5, 2))
        >>> v
        tensor([[0.1000, 0.1000],
                [0.1000, 0.1000],
                [0.1000, 0.1000],
                [0.1000, 0.1000],
                [0.1000, 0.1000]], grad_fn=<AddBackward0>)
    """

    spec = leaky_integrator_box.SPEC
    scalar_state = ("v",)


class LIBox(SNN):
    """A layer of box leaky integrators over time; returns the voltage of every step.

    Example:
        >>> v, s = LIBox()(torch.ones(10, 5, 2))
        >>> v.shape
        torch.Size([10, 5, 2])
    """

    spec = leaky_integrator_box.SPEC
    scalar_state = ("v",)
