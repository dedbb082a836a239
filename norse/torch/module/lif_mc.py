"""Multi-compartment LIF modules. Equations: :mod:`norse.torch.functional.lif_mc`."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..functional import lif_mc
from ..functional.lif import LIFParameters
from .snn import SNNRecurrentCell

__all__ = ["LIFMCRecurrentCell"]

_ALLOWED = ("input_weights", "recurrent_weights", "autapses", "dt")


class _MultiCompartmentCell(SNNRecurrentCell):
    """What the multi-compartment cells share: ``g_coupling``, passed to the steps after the
    weights (the spec's steps take ``(x, state, W_in, W_rec, g_coupling, p, dt)``)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        p: Any = None,
        g_coupling: Tensor | None = None,
        **kwargs: Any,
    ) -> None:
        who = type(self).__name__
        for name in kwargs:
            if name not in _ALLOWED:
                raise TypeError(
                    f"{who}: unexpected keyword argument {name!r}; accepted: {', '.join(_ALLOWED)}"
                )
        super().__init__(input_size, hidden_size, p, **kwargs)
        n = int(self.hidden_size)
        if g_coupling is None:
            g_coupling = nn.Parameter(torch.randn(n, n) / n**0.5)
        elif not isinstance(g_coupling, Tensor):
            raise TypeError(
                f"{who}: g_coupling must be a Tensor of shape (hidden_size, hidden_size) = "
                f"({n}, {n}) or None, got {type(g_coupling).__name__}"
            )
        elif tuple(g_coupling.shape) != (n, n):
            raise ValueError(
                f"{who}: g_coupling must have shape (hidden_size, hidden_size) = ({n}, {n}), "
                f"got {tuple(g_coupling.shape)}"
            )
        self.g_coupling = g_coupling

    def _weights(self) -> tuple[Tensor, Tensor, Tensor]:
        return self.input_weights, self.recurrent_weights, self.g_coupling


class LIFMCRecurrentCell(_MultiCompartmentCell):
    """Recurrent multi-compartment LIF neurons for one time step.

    Each step is :func:`~norse.torch.functional.lif_mc.lif_mc_step`: the recurrent LIF step,
    then the voltage coupling ``v + dt * g_coupling @ v`` on the post-reset voltage. With
    ``p.method == "adjoint"`` the step's backward pass is the discrete adjoint
    (:mod:`norse.torch.functional.adjoint.lif_mc_adjoint`).

    Args:
        input_size (int): number of input features.
        hidden_size (int): number of compartments.
        p (LIFParameters): neuron parameters.
        g_coupling (Tensor): ``(hidden_size, hidden_size)`` coupling, kept as given; by default
            a learnable ``randn(hidden, hidden) / sqrt(hidden)``.
        input_weights (Tensor): ``(hidden_size, input_size)`` weights, kept as given.
        recurrent_weights (Tensor): ``(hidden_size, hidden_size)`` weights, kept as given.
        autapses (bool): allow self-connections (diagonal zeroed otherwise).
        dt (float): integration time step in seconds.

    Example:
        >>> cell = LIFMCRecurrentCell(2, 4)
        >>> z, s = cell(torch.ones(5, 2))
        >>> z.shape, s.v.shape, cell.g_coupling.shape
        (torch.Size([5, 4]), torch.Size([5, 4]), torch.Size([4, 4]))
    """

    spec = lif_mc.SPEC

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        p: LIFParameters = LIFParameters(),
        g_coupling: Tensor | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(input_size, hidden_size, p, g_coupling, **kwargs)
