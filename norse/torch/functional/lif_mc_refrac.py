r"""Multi-compartment LIF neurons with a refractory counter, in *decay-first* order.

Unlike :mod:`norse.torch.functional.lif_mc`, these steps integrate the voltage with the *old*
current, threshold and reset, and only then add the input to the current (like
:mod:`norse.torch.functional.lsnn`). The coupling :math:`G` (``g_coupling``) is added to the
voltage change *without* the factor :math:`\Delta t` and is not masked while refractory; the
leak and current terms are masked by :math:`m = \Theta(\rho)`:

.. math::
    \begin{aligned}
    m &= \Theta(\rho) \\
    v_1 &= v + (1 - m)\,\Delta t\,\tau_{mem}^{-1} ((v_{leak} - v) + i) + G v \\
    i_1 &= i - \Delta t\,\tau_{syn}^{-1}\, i \\
    z &= \Theta(v_1 - v_{th}), \qquad v_2 = (1 - z)\, v_1 + z\, v_{reset} \\
    i_2 &= i_1 + I \\
    \rho' &= (1 - z)\, \max(0, \rho - m) + z\, \rho_{reset}
    \end{aligned}

with :math:`I = x` (feed-forward) or :math:`I = W_{in} x + W_{rec} z_{t-1}` (recurrent, the
previous step's spikes). Spikes are not masked: a refractory compartment can still be pushed
over the threshold by the coupling. :math:`\Theta` is the threshold of ``p.lif.method``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._spec import NeuronSpec
from . import lif_refrac
from .lif import LIFFeedForwardState, LIFState
from .lif_refrac import LIFRefracFeedForwardState, LIFRefracParameters, LIFRefracState
from .threshold import threshold

__all__ = ["lif_mc_refrac_feed_forward_step", "lif_mc_refrac_step"]


def _mc_refrac_update(
    v: Tensor, i: Tensor, rho: Tensor, g_coupling: Tensor, p: LIFRefracParameters, dt: float
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Decay-first update up to (not including) the input: returns ``z, v2, i1, rho'``."""
    q = p.lif
    refrac_mask = threshold(rho, q.method, q.alpha)
    dv = (1 - refrac_mask) * dt * q.tau_mem_inv * ((q.v_leak - v) + i) + torch.nn.functional.linear(
        v, g_coupling
    )
    v_decayed = v + dv
    di = -dt * q.tau_syn_inv * i
    i_decayed = i + di
    z_new = threshold(v_decayed - q.v_th, q.method, q.alpha)
    v_new = (1 - z_new) * v_decayed + z_new * q.v_reset
    rho_new = (1 - z_new) * torch.nn.functional.relu(rho - refrac_mask) + z_new * p.rho_reset
    return z_new, v_new, i_decayed, rho_new


def lif_mc_refrac_step(
    input_tensor: Tensor,
    state: LIFRefracState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    g_coupling: Tensor,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFRefracState]:
    """One decay-first step of recurrent multi-compartment refractory LIF neurons.

    Args:
        input_tensor (Tensor): input ``(*, input_size)``.
        state (LIFRefracState): previous spikes, voltages, currents and refractory counters.
        input_weights (Tensor): ``(n, input_size)``.
        recurrent_weights (Tensor): ``(n, n)``.
        g_coupling (Tensor): voltage coupling ``(n, n)``, applied without ``dt``.
        p (LIFRefracParameters): neuron parameters and refractory period.
        dt (float): time step in seconds.

    Example:
        >>> s = LIFRefracState(LIFState(torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1, 2)),
        ...                    torch.zeros(1, 2))
        >>> w_in, w_rec, g = torch.ones(2, 1) * 5, torch.zeros(2, 2), torch.zeros(2, 2)
        >>> for _ in range(3):   # the input reaches the voltage one step later
        ...     z, s = lif_mc_refrac_step(torch.ones(1, 1), s, w_in, w_rec, g)
        ...     print(z[0, 0].item(), round(s.lif.v[0, 0].item(), 3), s.rho[0, 0].item())
        0.0 0.0 0.0
        0.0 0.5 0.0
        1.0 0.0 5.0
    """
    z_new, v_new, i_decayed, rho_new = _mc_refrac_update(
        state.lif.v, state.lif.i, state.rho, g_coupling, p, dt
    )
    i_new = (
        i_decayed
        + torch.nn.functional.linear(input_tensor, input_weights)
        + torch.nn.functional.linear(state.lif.z, recurrent_weights)
    )
    return z_new, LIFRefracState(LIFState(z_new, v_new, i_new), rho_new)


def lif_mc_refrac_feed_forward_step(
    input_tensor: Tensor,
    state: LIFRefracFeedForwardState,
    g_coupling: Tensor,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFRefracFeedForwardState]:
    """One decay-first step of feed-forward multi-compartment refractory LIF neurons.

    Example:
        >>> s = LIFRefracFeedForwardState(LIFFeedForwardState(torch.zeros(2), torch.zeros(2)),
        ...                               torch.tensor([0.0, 2.0]))
        >>> z, s = lif_mc_refrac_feed_forward_step(torch.ones(2), s, torch.zeros(2, 2))
        >>> s.lif.i, s.rho
        (tensor([1., 1.]), tensor([0., 1.]))
    """
    z_new, v_new, i_decayed, rho_new = _mc_refrac_update(
        state.lif.v, state.lif.i, state.rho, g_coupling, p, dt
    )
    return z_new, LIFRefracFeedForwardState(
        LIFFeedForwardState(v_new, i_decayed + input_tensor), rho_new
    )


# ``p.lif.method == "adjoint"``: the discrete-adjoint step of
# ``functional.adjoint.lif_mc_refrac_adjoint``, imported when first called.
def _adjoint_step(*args: Any) -> tuple[Tensor, LIFRefracState]:
    """The recurrent step with the discrete-adjoint backward (same arguments)."""
    from .adjoint.lif_mc_refrac_adjoint import lif_mc_refrac_adjoint

    return lif_mc_refrac_adjoint(*args)


#: The steps take the coupling ``g_coupling`` after the weights (the module passes it as a
#: third weight); only the recurrent cell exists as a module.
SPEC = NeuronSpec(
    name="lif_mc_refrac",
    parameters=LIFRefracParameters,
    state=LIFRefracFeedForwardState,
    step=lif_mc_refrac_feed_forward_step,
    rest=lif_refrac.SPEC.rest,
    recurrent_state=LIFRefracState,
    recurrent_step=lif_mc_refrac_step,
    extra_methods={"adjoint": (None, _adjoint_step)},
    # decay first: the spikes come from the state alone, so it must carry the neurons' shape
    full_fields=("z", "v", "i"),
)
