r"""Multi-compartment LIF neurons: LIF compartments coupled through their voltages.

Each compartment is a LIF neuron (:mod:`norse.torch.functional.lif`); a coupling matrix
:math:`G` (``g_coupling``, ``(n, n)``) lets voltage flow between compartments:

.. math::
    \dot v = \tau_{mem}^{-1} (v_{leak} - v + i) + G v

The coupling is applied as a separate explicit Euler step :math:`v \leftarrow v + \Delta t\,
G v`, at a different place in the two steps:

* :func:`lif_mc_step` (recurrent): the LIF step first (including threshold and reset), then
  the coupling on the *post-reset* voltage, :math:`v' = v_{lif} + \Delta t\, G\, v_{lif}`;
* :func:`lif_mc_feed_forward_step`: the coupling first, :math:`v_0 = v + \Delta t\, G v`, then
  the LIF feed-forward step from :math:`v_0`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._spec import NeuronSpec
from .lif import (
    LIFFeedForwardState,
    LIFParameters,
    LIFState,
    lif_feed_forward_step,
    lif_step,
)

__all__ = ["lif_mc_feed_forward_step", "lif_mc_step"]


def _couple(v: Tensor, g_coupling: Tensor, dt: float) -> Tensor:
    """One Euler step of the voltage coupling: ``v + dt * (v @ G^T)``."""
    return v + dt * torch.nn.functional.linear(v, g_coupling)


def lif_mc_step(
    input_tensor: Tensor,
    state: LIFState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    g_coupling: Tensor,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFState]:
    """One step of recurrent multi-compartment LIF neurons: LIF step, then coupling.

    Args:
        input_tensor (Tensor): input ``(*, input_size)``.
        state (LIFState): previous spikes, voltages and currents ``(*, n)``.
        input_weights (Tensor): ``(n, input_size)``.
        recurrent_weights (Tensor): ``(n, n)``.
        g_coupling (Tensor): voltage coupling between compartments ``(n, n)``.
        p (LIFParameters): neuron parameters.
        dt (float): time step in seconds.

    Example:
        >>> s = LIFState(z=torch.zeros(1, 2), v=torch.zeros(1, 2), i=torch.zeros(1, 2))
        >>> g = torch.tensor([[0.0, 0.0], [100.0, 0.0]])   # compartment 0 drives 1
        >>> z, s = lif_mc_step(torch.ones(1, 1), s, torch.tensor([[5.0], [0.0]]),
        ...                    torch.zeros(2, 2), g)
        >>> s.v
        tensor([[0.5000, 0.0500]])
    """
    z, s = lif_step(input_tensor, state, input_weights, recurrent_weights, p, dt)
    return z, LIFState(s.z, _couple(s.v, g_coupling, dt), s.i)


def lif_mc_feed_forward_step(
    input_tensor: Tensor,
    state: LIFFeedForwardState,
    g_coupling: Tensor,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFFeedForwardState]:
    """One step of feed-forward multi-compartment LIF neurons: coupling, then LIF step.

    Example:
        >>> s = LIFFeedForwardState(v=torch.tensor([[0.5, 0.0]]), i=torch.zeros(1, 2))
        >>> g = torch.tensor([[0.0, 0.0], [100.0, 0.0]])
        >>> z, s = lif_mc_feed_forward_step(torch.zeros(1, 2), s, g)
        >>> s.v
        tensor([[0.4500, 0.0450]])
    """
    v = _couple(state.v, g_coupling, dt)
    return lif_feed_forward_step(input_tensor, LIFFeedForwardState(v, state.i), p, dt)


def _rest(p: LIFParameters, recurrent: bool) -> LIFState | LIFFeedForwardState:
    if recurrent:
        return LIFState(z=0.0, v=p.v_leak, i=0.0)
    return LIFFeedForwardState(v=p.v_leak, i=0.0)


# ``method="adjoint"``: the discrete-adjoint step of ``functional.adjoint.lif_mc_adjoint``,
# imported when first called (that module imports this one).
def _adjoint_step(*args: Any) -> tuple[Tensor, LIFState]:
    """The recurrent step with the discrete-adjoint backward (same arguments)."""
    from .adjoint.lif_mc_adjoint import lif_mc_adjoint_step

    return lif_mc_adjoint_step(*args)


#: The steps take the coupling ``g_coupling`` after the weights (the module passes it as a
#: third weight); only the recurrent cell exists as a module.
SPEC = NeuronSpec(
    name="lif_mc",
    parameters=LIFParameters,
    state=LIFFeedForwardState,
    step=lif_mc_feed_forward_step,
    rest=_rest,
    recurrent_state=LIFState,
    recurrent_step=lif_mc_step,
    extra_methods={"adjoint": (None, _adjoint_step)},
)
