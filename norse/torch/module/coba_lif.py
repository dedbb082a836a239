"""Conductance-based LIF modules. Equations: :mod:`norse.torch.functional.coba_lif`.

:class:`CobaLIFCell` is *recurrent* (it has input and recurrent weights), as in Norse 1.1.0;
:class:`CobaLIF` runs the same neurons over time. The sign of each weight selects the
conductance it drives (excitatory for positive, inhibitory for negative weights).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..functional import coba_lif
from ..functional.coba_lif import CobaLIFParameters, CobaLIFState
from ..utils._validation import is_size
from .snn import SNNRecurrent, SNNRecurrentCell

__all__ = ["CobaLIF", "CobaLIFCell", "CobaLIFParameters", "CobaLIFState"]


def _size(n: Any) -> int | None:
    if is_size(n) and int(n) > 0:
        return int(n)
    return None  # the base class reports the bad value


def _default_weights(
    input_size: Any,
    hidden_size: Any,
    input_weights: Tensor | None,
    recurrent_weights: Tensor | None,
) -> tuple[Tensor | None, Tensor | None]:
    """1.1.0's initialisation: ``randn / sqrt(input_size)`` and ``randn / sqrt(hidden_size)``."""
    n_in, n_hidden = _size(input_size), _size(hidden_size)
    if n_in is None or n_hidden is None:
        return input_weights, recurrent_weights
    if input_weights is None:
        input_weights = nn.Parameter(torch.randn(n_hidden, n_in) / n_in**0.5)
    if recurrent_weights is None:
        recurrent_weights = nn.Parameter(torch.randn(n_hidden, n_hidden) / n_hidden**0.5)
    return input_weights, recurrent_weights


class CobaLIFCell(SNNRecurrentCell):
    """Recurrently connected conductance-based LIF neurons for one time step.

    Args:
        input_size (int): number of input features.
        hidden_size (int): number of neurons.
        p (CobaLIFParameters): neuron parameters.
        dt (float): integration time step.
        input_weights (Tensor): ``(hidden_size, input_size)`` weights, kept as given; default
            ``randn / sqrt(input_size)``.
        recurrent_weights (Tensor): ``(hidden_size, hidden_size)`` weights, kept as given;
            default ``randn / sqrt(hidden_size)``.
        autapses (bool): allow self-connections (default True, as in 1.1.0); False zeroes the
            diagonal and keeps it at zero.

    The state starts at rest (``v = p.v_rest``, no conductance, no spikes).

    Example:
        >>> cell = CobaLIFCell(2, 4)
        >>> z, s = cell(torch.ones(5, 2))
        >>> z.shape, s.g_e.shape
        (torch.Size([5, 4]), torch.Size([5, 4]))
    """

    spec = coba_lif.SPEC

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        p: CobaLIFParameters | None = None,
        dt: float = 0.001,
        *,
        input_weights: Tensor | None = None,
        recurrent_weights: Tensor | None = None,
        autapses: bool = True,
    ) -> None:
        w_in, w_rec = _default_weights(input_size, hidden_size, input_weights, recurrent_weights)
        super().__init__(
            input_size,
            hidden_size,
            p,
            input_weights=w_in,
            recurrent_weights=w_rec,
            autapses=autapses,
            dt=dt,
        )


class CobaLIF(SNNRecurrent):
    """A layer of :class:`CobaLIFCell` neurons over time: ``(T, B, input_size) -> (T, B, hidden_size)``.

    Not in Norse 1.1.0 (which had only the cell); recurrent like the cell, with the same
    arguments plus ``record_states`` and ``backend``.

    Example:
        >>> layer = CobaLIF(2, 4)
        >>> z, s = layer(torch.ones(10, 5, 2))
        >>> z.shape, s.v.shape
        (torch.Size([10, 5, 4]), torch.Size([5, 4]))
    """

    spec = coba_lif.SPEC

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        p: CobaLIFParameters | None = None,
        dt: float = 0.001,
        *,
        input_weights: Tensor | None = None,
        recurrent_weights: Tensor | None = None,
        autapses: bool = True,
        record_states: bool = False,
        backend: str = "auto",
    ) -> None:
        w_in, w_rec = _default_weights(input_size, hidden_size, input_weights, recurrent_weights)
        super().__init__(
            input_size,
            hidden_size,
            p,
            input_weights=w_in,
            recurrent_weights=w_rec,
            autapses=autapses,
            dt=dt,
            record_states=record_states,
            backend=backend,
        )
