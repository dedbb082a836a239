"""Multi-compartment refractory LIF modules. Equations: :mod:`norse.torch.functional.lif_mc_refrac`."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ..functional import lif_mc_refrac
from ..functional.lif_refrac import LIFRefracParameters
from .lif_mc import _MultiCompartmentCell

__all__ = ["LIFMCRefracRecurrentCell"]


class LIFMCRefracRecurrentCell(_MultiCompartmentCell):
    """Recurrent multi-compartment LIF neurons with a refractory counter, for one time step.

    Each step is :func:`~norse.torch.functional.lif_mc_refrac.lif_mc_refrac_step` (decay
    first; coupling added without ``dt``). With ``p.lif.method == "adjoint"`` the backward pass
    is the discrete adjoint (:mod:`norse.torch.functional.adjoint.lif_mc_refrac_adjoint`).

    Args:
        input_size (int): number of input features.
        hidden_size (int): number of compartments.
        p (LIFRefracParameters): neuron parameters and refractory period.
        g_coupling (Tensor): ``(hidden_size, hidden_size)`` coupling, kept as given; by default
            a learnable ``randn(hidden, hidden) / sqrt(hidden)``.
        input_weights (Tensor): ``(hidden_size, input_size)`` weights, kept as given.
        recurrent_weights (Tensor): ``(hidden_size, hidden_size)`` weights, kept as given.
        autapses (bool): allow self-connections (diagonal zeroed otherwise).
        dt (float): integration time step in seconds.

    Example:
        >>> cell = LIFMCRefracRecurrentCell(2, 4)
        >>> z, s = cell(torch.ones(5, 2))
        >>> z.shape, s.lif.v.shape, s.rho.shape
        (torch.Size([5, 4]), torch.Size([5, 4]), torch.Size([5, 4]))
    """

    spec = lif_mc_refrac.SPEC

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        p: LIFRefracParameters = LIFRefracParameters(),
        g_coupling: Tensor | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(input_size, hidden_size, p, g_coupling, **kwargs)
