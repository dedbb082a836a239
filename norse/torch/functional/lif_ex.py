r"""Exponential leaky integrate-and-fire (LIFEx) neurons.

A LIF neuron whose voltage equation has an exponential term that makes the upswing of a spike
self-accelerating near the threshold (Fourcaud-Trocmé et al., J. Neurosci. 2003; see also
Gerstner et al., *Neuronal Dynamics*, ch. 5.2):

.. math::
    \begin{aligned}
    \dot{v} &= \tau_{mem}^{-1} \big(v_{leak} - v + \Delta_T e^{(v - v_{th}) / \Delta_T}
        + i\big) \\
    \dot{i} &= -\tau_{syn}^{-1} i
    \end{aligned}

One explicit Euler step per call, jump first (as :mod:`~norse.torch.functional.lif`); the
exponential uses the voltage at the start of the step:

.. math::
    \begin{aligned}
    i_1 &= i + x \\
    v_1 &= v + \Delta t\,\tau_{mem}^{-1} \big((v_{leak} - v)
        + \Delta_T e^{(v - v_{th}) / \Delta_T} + i_1\big) \\
    i_2 &= i_1 - \Delta t\,\tau_{syn}^{-1}\, i_1 \\
    z &= \Theta(v_1 - v_{th}), \qquad v_2 = (1 - z)\, v_1 + z\, v_{reset}
    \end{aligned}

The recurrent :func:`lif_ex_step` adds :math:`W_{in} x + W_{rec} z_{t-1}` to the current (no
detach in the reset).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._spec import NeuronSpec
from ..utils import pytree
from .threshold import threshold

__all__ = [
    "LIFExFeedForwardState",
    "LIFExParameters",
    "LIFExState",
    "lif_ex_current_encoder",
    "lif_ex_feed_forward_step",
    "lif_ex_step",
]


class LIFExParameters(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """Parameters of an exponential LIF neuron.

    Parameters:
        delta_T (Tensor): sharpness of the exponential upswing
        tau_syn_inv (Tensor): inverse synaptic time constant (1/s)
        tau_mem_inv (Tensor): inverse membrane time constant (1/s)
        v_leak (Tensor): leak (resting) potential
        v_th (Tensor): threshold potential
        v_reset (Tensor): reset potential
        method (str): surrogate gradient method, see :mod:`norse.torch.functional.threshold`
        alpha (float): steepness of the surrogate gradient

    Example:
        >>> LIFExParameters().delta_T
        tensor(0.5000)
    """

    delta_T: Tensor = torch.as_tensor(0.5)
    tau_syn_inv: Tensor = torch.as_tensor(1.0 / 5e-3)
    tau_mem_inv: Tensor = torch.as_tensor(1.0 / 1e-2)
    v_leak: Tensor = torch.as_tensor(0.0)
    v_th: Tensor = torch.as_tensor(1.0)
    v_reset: Tensor = torch.as_tensor(0.0)
    method: str = "super"
    alpha: float = 100.0

    @staticmethod
    def bio_default(**kwargs) -> LIFExParameters:
        """Biologically plausible parameters in millisecond units (dt in ms).

        ``delta_T`` is 2 mV (upstream's value, 0, divides by zero in the exponential).

        Example:
            >>> LIFExParameters.bio_default().v_th
            tensor(-55.)
        """
        values = dict(
            delta_T=torch.as_tensor(2.0),
            tau_syn_inv=torch.as_tensor(0.5),
            tau_mem_inv=torch.as_tensor(0.1),
            v_leak=torch.as_tensor(-70.0),
            v_th=torch.as_tensor(-55.0),
            v_reset=torch.as_tensor(-70.0),
        )
        values.update(kwargs)
        return LIFExParameters(**values)


class LIFExState(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """State of recurrent exponential LIF neurons: spikes ``z``, voltage ``v``, current ``i``."""

    z: Tensor
    v: Tensor
    i: Tensor


class LIFExFeedForwardState(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """State of feed-forward exponential LIF neurons: voltage ``v`` and current ``i``."""

    v: Tensor
    i: Tensor


def _dv(v: Tensor, current: Tensor, p: LIFExParameters, dt: float) -> Tensor:
    """The voltage increment of one step, with the exponential of the old voltage."""
    exp_term = p.delta_T * torch.exp((v - p.v_th) / p.delta_T)
    return dt * p.tau_mem_inv * ((p.v_leak - v) + exp_term + current)


def _lif_ex_update(
    i_jump: Tensor, v: Tensor, p: LIFExParameters, dt: float
) -> tuple[Tensor, Tensor, Tensor]:
    v_decayed = v + _dv(v, i_jump, p, dt)
    di = -dt * p.tau_syn_inv * i_jump
    i_decayed = i_jump + di
    z_new = threshold(v_decayed - p.v_th, p.method, p.alpha)
    v_new = (1 - z_new) * v_decayed + z_new * p.v_reset
    return z_new, v_new, i_decayed


def lif_ex_feed_forward_step(
    input_spikes: Tensor,
    state: LIFExFeedForwardState = LIFExFeedForwardState(0, 0),
    p: LIFExParameters = LIFExParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFExFeedForwardState]:
    """One Euler step of feed-forward exponential LIF neurons (equations in the module docstring).

    Example:
        >>> s = LIFExFeedForwardState(v=torch.zeros(1), i=torch.zeros(1))
        >>> for _ in range(3):
        ...     z, s = lif_ex_feed_forward_step(torch.ones(1), s)
        ...     print(round(s.v.item(), 5))
        0.10677
        0.28447
        0.51197
    """
    z_new, v_new, i_new = _lif_ex_update(state.i + input_spikes, state.v, p, dt)
    return z_new, LIFExFeedForwardState(v=v_new, i=i_new)


def lif_ex_step(
    input_tensor: Tensor,
    state: LIFExState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    p: LIFExParameters = LIFExParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFExState]:
    """One Euler step of recurrently connected exponential LIF neurons.

    Example:
        >>> s = LIFExState(z=torch.zeros(1, 2), v=torch.zeros(1, 2), i=torch.zeros(1, 2))
        >>> z, s = lif_ex_step(torch.ones(1, 1), s, torch.ones(2, 1), torch.zeros(2, 2))
        >>> s.v
        tensor([[0.1068, 0.1068]])
    """
    i_jump = (
        state.i
        + torch.nn.functional.linear(input_tensor, input_weights)
        + torch.nn.functional.linear(state.z, recurrent_weights)
    )
    z_new, v_new, i_new = _lif_ex_update(i_jump, state.v, p, dt)
    return z_new, LIFExState(z=z_new, v=v_new, i=i_new)


def lif_ex_current_encoder(
    input_current: Tensor,
    voltage: Tensor,
    p: LIFExParameters = LIFExParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, Tensor]:
    """One step of a current-free exponential LIF neuron driven directly by ``input_current``.

    Returns:
        ``(z, v)``: spikes and the new voltage.

    Example:
        >>> z, v = lif_ex_current_encoder(torch.tensor([1.0, 30.0]), torch.zeros(2))
        >>> z, v
        (tensor([0., 1.]), tensor([0.1068, 0.0000]))
    """
    v = voltage + _dv(voltage, input_current, p, dt)
    z = threshold(v - p.v_th, p.method, p.alpha)
    v = v - z * (v - p.v_reset)
    return z, v


def _rest(p: LIFExParameters, recurrent: bool) -> LIFExState | LIFExFeedForwardState:
    if recurrent:
        return LIFExState(z=0.0, v=p.v_leak, i=0.0)
    return LIFExFeedForwardState(v=p.v_leak, i=0.0)


SPEC = NeuronSpec(
    name="lif_ex",
    parameters=LIFExParameters,
    state=LIFExFeedForwardState,
    step=lif_ex_feed_forward_step,
    rest=_rest,
    recurrent_state=LIFExState,
    recurrent_step=lif_ex_step,
    parameters_as_tensors=True,
    drive=3.0,
)
