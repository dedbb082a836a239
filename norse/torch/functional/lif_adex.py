r"""Adaptive exponential leaky integrate-and-fire (AdEx) neurons.

An exponential LIF neuron (:mod:`~norse.torch.functional.lif_ex`) with an adaptation current
:math:`a` that is driven by the sub-threshold voltage and jumps after every spike (Brette and
Gerstner, J. Neurophysiol. 2005; Gerstner et al., *Neuronal Dynamics*, ch. 6.1):

.. math::
    \begin{aligned}
    \dot{v} &= \tau_{mem}^{-1} \big(v_{leak} - v + \Delta_T e^{(v - v_{th}) / \Delta_T}
        + i - a\big) \\
    \dot{i} &= -\tau_{syn}^{-1} i \\
    \dot{a} &= \tau_{ada}^{-1} \big(a_{current} (v - v_{leak}) - a\big)
    \end{aligned}

One explicit Euler step per call, jump first; the exponential and the adaptation update use the
voltage and adaptation at the start of the step:

.. math::
    \begin{aligned}
    i_1 &= i + x \\
    v_1 &= v + \Delta t\,\tau_{mem}^{-1} \big((v_{leak} - v)
        + \Delta_T e^{(v - v_{th}) / \Delta_T} + i_1 - a\big) \\
    i_2 &= i_1 - \Delta t\,\tau_{syn}^{-1}\, i_1 \\
    a_1 &= a + \Delta t\,\tau_{ada}^{-1} \big(a_{current} (v - v_{leak}) - a\big) \\
    z &= \Theta(v_1 - v_{th}), \qquad v_2 = (1 - z)\, v_1 + z\, v_{reset},
        \qquad a_2 = a_1 + z\, a_{spike}
    \end{aligned}

with :math:`a_{current}` = ``adaptation_current`` and :math:`a_{spike}` = ``adaptation_spike``.
The recurrent :func:`lif_adex_step` adds :math:`W_{in} x + W_{rec} z_{t-1}` to the current (no
detach in the reset).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._spec import NeuronSpec
from ..utils import pytree
from .threshold import threshold

__all__ = [
    "LIFAdExFeedForwardState",
    "LIFAdExParameters",
    "LIFAdExState",
    "lif_adex_current_encoder",
    "lif_adex_feed_forward_step",
    "lif_adex_step",
]


class LIFAdExParameters(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """Parameters of an adaptive exponential LIF neuron.

    Parameters:
        adaptation_current (Tensor): coupling of the adaptation to the sub-threshold voltage
        adaptation_spike (Tensor): adaptation increase per spike
        delta_T (Tensor): sharpness of the exponential upswing
        tau_ada_inv (Tensor): inverse adaptation time constant (1/s)
        tau_syn_inv (Tensor): inverse synaptic time constant (1/s)
        tau_mem_inv (Tensor): inverse membrane time constant (1/s)
        v_leak (Tensor): leak (resting) potential
        v_th (Tensor): threshold potential
        v_reset (Tensor): reset potential
        method (str): surrogate gradient method, see :mod:`norse.torch.functional.threshold`
        alpha (float): steepness of the surrogate gradient

    Example:
        >>> LIFAdExParameters().adaptation_current   # an integer tensor, as in Norse 1.1.0
        tensor(4)
    """

    adaptation_current: Tensor = torch.as_tensor(4)
    adaptation_spike: Tensor = torch.as_tensor(0.02)
    delta_T: Tensor = torch.as_tensor(0.5)
    tau_ada_inv: Tensor = torch.as_tensor(2.0)
    tau_syn_inv: Tensor = torch.as_tensor(1.0 / 5e-3)
    tau_mem_inv: Tensor = torch.as_tensor(1.0 / 1e-2)
    v_leak: Tensor = torch.as_tensor(0.0)
    v_th: Tensor = torch.as_tensor(1.0)
    v_reset: Tensor = torch.as_tensor(0.0)
    method: str = "super"
    alpha: float = 100.0

    @staticmethod
    def bio_default(**kwargs) -> LIFAdExParameters:
        """Biologically plausible parameters in millisecond units (dt in ms).

        Example:
            >>> LIFAdExParameters.bio_default().delta_T
            tensor(2.)
        """
        values = dict(
            adaptation_current=torch.as_tensor(0),
            adaptation_spike=torch.as_tensor(0.01),
            delta_T=torch.as_tensor(2.0),
            tau_ada_inv=torch.as_tensor(0.01),
            tau_syn_inv=torch.as_tensor(0.5),
            tau_mem_inv=torch.as_tensor(0.1),
            v_leak=torch.as_tensor(-70.0),
            v_th=torch.as_tensor(-55.0),
            v_reset=torch.as_tensor(-70.0),
        )
        values.update(kwargs)
        return LIFAdExParameters(**values)


class LIFAdExState(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """State of recurrent AdEx neurons: spikes ``z``, voltage ``v``, current ``i``, adaptation ``a``."""

    z: Tensor
    v: Tensor
    i: Tensor
    a: Tensor


class LIFAdExFeedForwardState(
    pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta
):
    """State of feed-forward AdEx neurons: voltage ``v``, current ``i``, adaptation ``a``."""

    v: Tensor
    i: Tensor
    a: Tensor


def _lif_adex_update(
    i_jump: Tensor, v: Tensor, a: Tensor, p: LIFAdExParameters, dt: float
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Integrate v and a from their old values, decay the current, spike, reset, adapt."""
    exp_term = p.delta_T * torch.exp((v - p.v_th) / p.delta_T)
    dv = dt * p.tau_mem_inv * ((p.v_leak - v) + exp_term + i_jump - a)
    v_decayed = v + dv
    di = -dt * p.tau_syn_inv * i_jump
    i_decayed = i_jump + di
    da = dt * p.tau_ada_inv * (p.adaptation_current * (v - p.v_leak) - a)
    a_decayed = a + da
    z_new = threshold(v_decayed - p.v_th, p.method, p.alpha)
    v_new = (1 - z_new) * v_decayed + z_new * p.v_reset
    a_new = a_decayed + z_new * p.adaptation_spike
    return z_new, v_new, i_decayed, a_new


def lif_adex_feed_forward_step(
    input_spikes: Tensor,
    state: LIFAdExFeedForwardState = LIFAdExFeedForwardState(0, 0, 0),
    p: LIFAdExParameters = LIFAdExParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFAdExFeedForwardState]:
    """One Euler step of feed-forward AdEx neurons (equations in the module docstring).

    Example:
        >>> s = LIFAdExFeedForwardState(v=torch.zeros(2), i=torch.zeros(2), a=torch.zeros(2))
        >>> z, s = lif_adex_feed_forward_step(torch.tensor([1.0, 20.0]), s)
        >>> z, s.v, s.a
        (tensor([0., 1.]), tensor([0.1068, 0.0000]), tensor([0.0000, 0.0200]))
    """
    z_new, v_new, i_new, a_new = _lif_adex_update(state.i + input_spikes, state.v, state.a, p, dt)
    return z_new, LIFAdExFeedForwardState(v=v_new, i=i_new, a=a_new)


def lif_adex_step(
    input_spikes: Tensor,
    state: LIFAdExState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    p: LIFAdExParameters = LIFAdExParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFAdExState]:
    """One Euler step of recurrently connected AdEx neurons.

    Example:
        >>> z0 = torch.zeros(1, 2)
        >>> s = LIFAdExState(z=z0, v=z0, i=z0, a=z0)
        >>> z, s = lif_adex_step(torch.ones(1, 1), s, torch.ones(2, 1), torch.zeros(2, 2))
        >>> s.v
        tensor([[0.1068, 0.1068]])
    """
    i_jump = (
        state.i
        + torch.nn.functional.linear(input_spikes, input_weights)
        + torch.nn.functional.linear(state.z, recurrent_weights)
    )
    z_new, v_new, i_new, a_new = _lif_adex_update(i_jump, state.v, state.a, p, dt)
    return z_new, LIFAdExState(z=z_new, v=v_new, i=i_new, a=a_new)


def lif_adex_current_encoder(
    input_current: Tensor,
    voltage: Tensor,
    adaptation: Tensor,
    p: LIFAdExParameters = LIFAdExParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, Tensor, Tensor]:
    """One step of a current-free AdEx neuron driven directly by ``input_current``.

    Voltage and adaptation follow the same Euler step as :func:`lif_adex_feed_forward_step`
    (with no synaptic current of its own). Norse 1.1.0 returned the adaptation's rate of change
    instead of the new adaptation; see ``docs/compatibility.md``.

    Returns:
        ``(z, v, a)``: spikes, the new voltage and the new adaptation.

    Example:
        >>> z, v, a = lif_adex_current_encoder(torch.tensor([1.0, 20.0]), torch.zeros(2),
        ...                                    torch.zeros(2))
        >>> z, v, a
        (tensor([0., 1.]), tensor([0.1068, 0.0000]), tensor([0.0000, 0.0200]))
    """
    z, v, _, a = _lif_adex_update(input_current, voltage, adaptation, p, dt)
    return z, v, a


def _rest(p: LIFAdExParameters, recurrent: bool) -> LIFAdExState | LIFAdExFeedForwardState:
    if recurrent:
        return LIFAdExState(z=0.0, v=p.v_leak, i=0.0, a=0.0)
    return LIFAdExFeedForwardState(v=p.v_leak, i=0.0, a=0.0)


SPEC = NeuronSpec(
    name="lif_adex",
    parameters=LIFAdExParameters,
    state=LIFAdExFeedForwardState,
    step=lif_adex_feed_forward_step,
    rest=_rest,
    recurrent_state=LIFAdExState,
    recurrent_step=lif_adex_step,
    parameters_as_tensors=True,
    drive=3.0,
)
