r"""Conductance-based LIF neurons (CobaLIF).

Input does not add a current; it opens excitatory (:math:`g_e`) or inhibitory (:math:`g_i`)
conductances, whose currents depend on the distance of the voltage from their reversal
potentials :math:`E_E`, :math:`E_I`:

.. math::
    \begin{aligned}
    \dot g_e &= -\tau_{e}^{-1} g_e, \qquad \dot g_i = -\tau_{i}^{-1} g_i \\
    \dot v &= c_m^{-1} \big(g_l (v_{rest} - v) + g_e (E_E - v) + g_i (E_I - v)\big)
    \end{aligned}

One explicit Euler step per call, jump first: the input jumps onto the conductances, which
then decay; the voltage integrates with the decayed conductances; a spike
:math:`z = \Theta(v_1 - v_{th})` resets it:

.. math::
    \begin{aligned}
    g_{e,1} &= g_e + [x]_+, \qquad g_{i,1} = g_i + [-x]_+ \\
    g_{e,2} &= g_{e,1} - \Delta t\,\tau_e^{-1} g_{e,1}, \qquad
    g_{i,2} = g_{i,1} - \Delta t\,\tau_i^{-1} g_{i,1} \\
    v_1 &= v + \Delta t\, c_m^{-1} \big(g_l (v_{rest} - v) + g_{e,2} (E_E - v)
          + g_{i,2} (E_I - v)\big) \\
    z &= \Theta(v_1 - v_{th}), \qquad v_2 = (1 - z)\, v_1 + z\, v_{reset}
    \end{aligned}

The sign of a feed-forward input selects the conductance. In the recurrent step the sign of the
*weight* does: the conductances receive
:math:`[W_{in}]_+ x + [W_{rec}]_+ z_{t-1}` and :math:`[-W_{in}]_+ x + [-W_{rec}]_+ z_{t-1}`.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.functional import linear, relu

from .._spec import NeuronSpec
from ..utils import pytree
from .threshold import threshold

__all__ = [
    "CobaLIFFeedForwardState",
    "CobaLIFParameters",
    "CobaLIFState",
    "coba_lif_feed_forward_step",
    "coba_lif_step",
    "default_bio_parameters",
    "default_bio_state",
]


class CobaLIFParameters(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """Parameters of conductance-based LIF neurons.

    Parameters:
        tau_syn_exc_inv (Tensor): inverse time constant of the excitatory conductance
        tau_syn_inh_inv (Tensor): inverse time constant of the inhibitory conductance
        c_m_inv (Tensor): inverse membrane capacitance
        g_l (Tensor): leak conductance
        e_rev_I (Tensor): inhibitory reversal potential
        e_rev_E (Tensor): excitatory reversal potential
        v_rest (Tensor): resting potential
        v_reset (Tensor): reset potential
        v_thresh (Tensor): threshold potential
        method (str): surrogate gradient method, see :mod:`norse.torch.functional.threshold`
        alpha (float): steepness of the surrogate gradient

    Example:
        >>> CobaLIFParameters().v_thresh
        tensor(-10)
    """

    tau_syn_exc_inv: Tensor = torch.as_tensor(1.0 / 5)
    tau_syn_inh_inv: Tensor = torch.as_tensor(1.0 / 5)
    c_m_inv: Tensor = torch.as_tensor(1 / 0.2)
    g_l: Tensor = torch.as_tensor(1 / 20 * 1 / 0.2)
    e_rev_I: Tensor = torch.as_tensor(-100)
    e_rev_E: Tensor = torch.as_tensor(60)
    v_rest: Tensor = torch.as_tensor(-20)
    v_reset: Tensor = torch.as_tensor(-70)
    v_thresh: Tensor = torch.as_tensor(-10)
    method: str = "super"
    alpha: float = 100.0


class CobaLIFState(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """State of recurrent conductance-based LIF neurons.

    Parameters:
        z (Tensor): spikes of the last step
        v (Tensor): membrane voltage
        g_e (Tensor): excitatory conductance
        g_i (Tensor): inhibitory conductance
    """

    z: Tensor
    v: Tensor
    g_e: Tensor
    g_i: Tensor


class CobaLIFFeedForwardState(
    pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta
):
    """State of feed-forward conductance-based LIF neurons: ``v``, ``g_e``, ``g_i``."""

    v: Tensor
    g_e: Tensor
    g_i: Tensor


#: Biologically plausible parameters (mV, ms units).
default_bio_parameters = CobaLIFParameters(
    tau_syn_exc_inv=1 / 0.3,
    tau_syn_inh_inv=1 / 0.5,
    e_rev_E=0.0,
    e_rev_I=-70.0,
    v_thresh=-50.0,
    v_reset=-65.0,
    v_rest=-65.0,
)

#: A resting state matching :data:`default_bio_parameters`.
default_bio_state = CobaLIFState(z=0.0, v=-65.0, g_e=0.0, g_i=0.0)


def _coba_update(
    g_e: Tensor, g_i: Tensor, v: Tensor, p: CobaLIFParameters, dt: float
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Decay the (already jumped) conductances, integrate v with them, spike and reset."""
    dg_e = -dt * p.tau_syn_exc_inv * g_e
    g_e = g_e + dg_e
    dg_i = -dt * p.tau_syn_inh_inv * g_i
    g_i = g_i + dg_i
    dv = dt * p.c_m_inv * (p.g_l * (p.v_rest - v) + g_e * (p.e_rev_E - v) + g_i * (p.e_rev_I - v))
    v_decayed = v + dv
    z_new = threshold(v_decayed - p.v_thresh, p.method, p.alpha)
    v_new = (1 - z_new) * v_decayed + z_new * p.v_reset
    return z_new, v_new, g_e, g_i


def coba_lif_feed_forward_step(
    input_tensor: Tensor,
    state: CobaLIFFeedForwardState,
    p: CobaLIFParameters = CobaLIFParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, CobaLIFFeedForwardState]:
    """One Euler step of feed-forward conductance-based LIF neurons.

    Positive input opens the excitatory, negative input the inhibitory conductance (equations
    in the module docstring).

    Example:
        >>> s = CobaLIFFeedForwardState(v=torch.full((2,), -20.0), g_e=torch.zeros(2),
        ...                             g_i=torch.zeros(2))
        >>> z, s = coba_lif_feed_forward_step(torch.tensor([5.0, -5.0]), s)
        >>> s.g_e, s.g_i
        (tensor([4.9990, 0.0000]), tensor([0.0000, 4.9990]))
        >>> s.v
        tensor([-18.0004, -21.9996])
    """
    g_e = state.g_e + relu(input_tensor)
    g_i = state.g_i + relu(-input_tensor)
    z_new, v_new, g_e, g_i = _coba_update(g_e, g_i, state.v, p, dt)
    return z_new, CobaLIFFeedForwardState(v=v_new, g_e=g_e, g_i=g_i)


def coba_lif_step(
    input_spikes: Tensor,
    state: CobaLIFState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    p: CobaLIFParameters = CobaLIFParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, CobaLIFState]:
    """One Euler step of recurrently connected conductance-based LIF neurons.

    Positive weights drive the excitatory, negative weights the inhibitory conductance; both
    the input ``x`` and the previous step's spikes ``z`` contribute. (Norse 1.1.0 dropped the
    input term here; see ``docs/compatibility.md``.)

    Example:
        >>> z0 = torch.zeros(1, 2)
        >>> s = CobaLIFState(z=z0, v=torch.full((1, 2), -20.0), g_e=z0, g_i=z0)
        >>> w_in = torch.tensor([[1.0], [-1.0]])
        >>> z, s = coba_lif_step(torch.full((1, 1), 5.0), s, w_in, torch.zeros(2, 2))
        >>> s.g_e, s.g_i
        (tensor([[4.9990, 0.0000]]), tensor([[0.0000, 4.9990]]))
    """
    g_e = (
        state.g_e
        + linear(input_spikes, relu(input_weights))
        + linear(state.z, relu(recurrent_weights))
    )
    g_i = (
        state.g_i
        + linear(input_spikes, relu(-input_weights))
        + linear(state.z, relu(-recurrent_weights))
    )
    z_new, v_new, g_e, g_i = _coba_update(g_e, g_i, state.v, p, dt)
    return z_new, CobaLIFState(z=z_new, v=v_new, g_e=g_e, g_i=g_i)


def _rest(p: CobaLIFParameters, recurrent: bool) -> CobaLIFState | CobaLIFFeedForwardState:
    # Norse 1.1.0's CobaLIFCell starts at v = 0, above the default threshold (every neuron
    # fires on the first step); this library starts at rest (docs/compatibility.md).
    if recurrent:
        return CobaLIFState(z=0.0, v=p.v_rest, g_e=0.0, g_i=0.0)
    return CobaLIFFeedForwardState(v=p.v_rest, g_e=0.0, g_i=0.0)


SPEC = NeuronSpec(
    name="coba_lif",
    parameters=CobaLIFParameters,
    state=CobaLIFFeedForwardState,
    step=coba_lif_feed_forward_step,
    rest=_rest,
    recurrent_state=CobaLIFState,
    recurrent_step=coba_lif_step,
    parameters_as_tensors=True,
    drive=20.0,
)
