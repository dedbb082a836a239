r"""Izhikevich neurons: a quadratic integrate-and-fire neuron with a recovery variable.

After E. M. Izhikevich, "Simple model of spiking neurons" (IEEE Trans. Neural Netw., 2003) and
"Which model to use for cortical spiking neurons?" (IEEE Trans. Neural Netw., 2004). In
millisecond time units,

.. math::
    \begin{aligned}
    \dot{v} &= s_q v^2 + m_n v + \mathrm{bias} - u + I \\
    \dot{u} &= a (b v - u)
    \end{aligned}

and a spike (:math:`v > v_{th}`) resets :math:`v \leftarrow c`, :math:`u \leftarrow u + d`.
One explicit Euler step per call advances the model by :math:`\tau^{-1} \Delta t` ms
(``tau_inv * dt``, 0.25 ms with the defaults); both updates use the values at the start of the
step:

.. math::
    \begin{aligned}
    v_1 &= v + \tau^{-1} \Delta t\, (s_q v^2 + m_n v + \mathrm{bias} - u + I) \\
    u_1 &= u + \tau^{-1} \Delta t\, a (b v - u) \\
    z &= \Theta(v_1 - v_{th}), \qquad v_2 = (1 - z)\, v_1 + z\, c, \qquad
        u_2 = (1 - z)\, u_1 + z\, (u_1 + d)
    \end{aligned}

The recurrent :func:`izhikevich_recurrent_step` uses :math:`I = W_{in} x + W_{rec} z_{t-1}`.

The 20 firing patterns of Izhikevich (2004) are available as ready-made
:class:`IzhikevichSpikingBehavior` presets (parameters plus initial state), for example
:data:`tonic_spiking`; each preset's parameters are also available as ``<name>_p``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._spec import NeuronSpec
from ..utils import pytree
from .threshold import threshold

__all__ = [
    "IzhikevichParameters",
    "IzhikevichRecurrentState",
    "IzhikevichSpikingBehavior",
    "IzhikevichState",
    "accomodation",
    "accomodation_p",
    "bistability",
    "bistability_p",
    "class_1_exc",
    "class_1_exc_p",
    "class_2_exc",
    "class_2_exc_p",
    "create_izhikevich_spiking_behavior",
    "dap",
    "dap_p",
    "inhibition_induced_bursting",
    "inhibition_induced_bursting_p",
    "inhibition_induced_spiking",
    "inhibition_induced_spiking_p",
    "integrator",
    "integrator_p",
    "izhikevich_feed_forward_step",
    "izhikevich_recurrent_step",
    "mixed_mode",
    "mixed_mode_p",
    "phasic_bursting",
    "phasic_bursting_p",
    "phasic_spiking",
    "phasic_spiking_p",
    "rebound_burst",
    "rebound_burst_p",
    "rebound_spike",
    "rebound_spike_p",
    "resonator",
    "resonator_p",
    "spike_frequency_adaptation",
    "spike_frequency_adaptation_p",
    "spike_latency",
    "spike_latency_p",
    "subthreshold_oscillation",
    "subthreshold_oscillation_p",
    "threshold_variability",
    "threshold_variability_p",
    "tonic_bursting",
    "tonic_bursting_p",
    "tonic_spiking",
    "tonic_spiking_p",
]


class IzhikevichParameters(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """Parameters of an Izhikevich neuron (millisecond units; see the module docstring).

    Parameters:
        a (float): time scale of the recovery variable ``u``
        b (float): sensitivity of ``u`` to the sub-threshold voltage
        c (float): voltage after a spike
        d (float): increase of ``u`` after a spike
        sq (float): quadratic coefficient of the voltage equation
        mn (float): linear coefficient of the voltage equation
        bias (float): constant term of the voltage equation
        v_th (float): spike cut-off voltage
        tau_inv (float): model milliseconds per second of ``dt`` (step = ``tau_inv * dt`` ms)
        method (str): surrogate gradient method, see :mod:`norse.torch.functional.threshold`
        alpha (float): steepness of the surrogate gradient

    Example:
        >>> p = IzhikevichParameters(a=0.02, b=0.2, c=-65, d=8)
        >>> p.v_th, p.tau_inv
        (30, 250)
    """

    a: float
    b: float
    c: float
    d: float
    sq: float = 0.04
    mn: float = 5
    bias: float = 140
    v_th: float = 30
    tau_inv: float = 250
    method: str = "super"
    alpha: float = 100.0


class IzhikevichState(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """State of feed-forward Izhikevich neurons: voltage ``v`` and recovery variable ``u``."""

    v: Tensor
    u: Tensor


class IzhikevichRecurrentState(
    pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta
):
    """State of recurrent Izhikevich neurons: spikes ``z``, voltage ``v``, recovery ``u``."""

    z: Tensor
    v: Tensor
    u: Tensor


class IzhikevichSpikingBehavior(
    pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta
):
    """A firing pattern: parameters ``p`` and the initial state ``s`` the modules start from.

    Example:
        >>> tonic_spiking.p.d, tonic_spiking.s.v.item(), tonic_spiking.s.u.item()
        (6, -70.0, -14.0)
    """

    p: IzhikevichParameters
    s: IzhikevichState


def create_izhikevich_spiking_behavior(
    a: float,
    b: float,
    c: float,
    d: float,
    v_rest: float,
    u_rest: float,
    tau_inv: float = 250,
) -> IzhikevichSpikingBehavior:
    """A firing pattern from the four Izhikevich parameters and a resting point.

    The initial state is ``v = v_rest`` (requiring grad) and ``u = u_rest * b``.

    Example:
        >>> behavior = create_izhikevich_spiking_behavior(0.02, 0.2, -65, 8, -70, -70)
        >>> behavior.s.v.item(), behavior.s.u.item(), behavior.p.a
        (-70.0, -14.0, 0.02)
    """
    p = IzhikevichParameters(a=a, b=b, c=c, d=d, tau_inv=tau_inv)
    s = IzhikevichState(
        v=torch.tensor(float(v_rest), requires_grad=True), u=torch.tensor(u_rest) * p.b
    )
    return IzhikevichSpikingBehavior(p=p, s=s)


def _izhikevich_update(
    current: Tensor, v: Tensor, u: Tensor, p: IzhikevichParameters, dt: float
) -> tuple[Tensor, Tensor, Tensor]:
    dv = p.tau_inv * dt * (p.sq * v**2 + p.mn * v + p.bias - u + current)
    v_decayed = v + dv
    du = p.tau_inv * dt * p.a * (p.b * v - u)
    u_decayed = u + du
    z_new = threshold(v_decayed - p.v_th, p.method, p.alpha)
    v_new = (1 - z_new) * v_decayed + z_new * p.c
    u_new = (1 - z_new) * u_decayed + z_new * (u_decayed + p.d)
    return z_new, v_new, u_new


def izhikevich_feed_forward_step(
    input_current: Tensor,
    s: IzhikevichState,
    p: IzhikevichParameters,
    dt: float = 0.001,
) -> tuple[Tensor, IzhikevichState]:
    """One Euler step of feed-forward Izhikevich neurons driven by ``input_current``.

    Example:
        >>> s = tonic_spiking.s
        >>> for _ in range(3):
        ...     z, s = izhikevich_feed_forward_step(torch.tensor(10.0), s, tonic_spiking.p)
        ...     print(round(s.v.item(), 4), round(s.u.item(), 5))
        -67.5 -14.0
        -65.3125 -13.9975
        -63.2965 -13.99283
    """
    z_new, v_new, u_new = _izhikevich_update(input_current, s.v, s.u, p, dt)
    return z_new, IzhikevichState(v=v_new, u=u_new)


def izhikevich_recurrent_step(
    input_current: Tensor,
    s: IzhikevichRecurrentState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    p: IzhikevichParameters,
    dt: float = 0.001,
) -> tuple[Tensor, IzhikevichRecurrentState]:
    """One Euler step of recurrently connected Izhikevich neurons.

    Example:
        >>> s = IzhikevichRecurrentState(z=torch.zeros(1, 2), v=torch.full((1, 2), -70.0),
        ...                              u=torch.full((1, 2), -14.0))
        >>> z, s = izhikevich_recurrent_step(torch.ones(1, 1), s, torch.full((2, 1), 10.0),
        ...                                  torch.zeros(2, 2), tonic_spiking.p)
        >>> s.v
        tensor([[-67.5000, -67.5000]])
    """
    current = torch.nn.functional.linear(input_current, input_weights) + torch.nn.functional.linear(
        s.z, recurrent_weights
    )
    z_new, v_new, u_new = _izhikevich_update(current, s.v, s.u, p, dt)
    return z_new, IzhikevichRecurrentState(z=z_new, v=v_new, u=u_new)


def _izhikevich_feed_forward_step_sparse(
    input_current: Tensor, s: IzhikevichState, p: IzhikevichParameters, dt: float = 0.001
) -> tuple[Tensor, IzhikevichState]:
    # A sparse input cannot be added to the modules' 0-dim initial state; densify it.
    return izhikevich_feed_forward_step(input_current.to_dense(), s, p, dt)


def _rest(p: IzhikevichParameters, recurrent: bool) -> IzhikevichState | IzhikevichRecurrentState:
    # The stable fixed point without input: sq v^2 + (mn - b) v + bias = 0 (lower root),
    # u = b v. The modules start from their behaviour's preset state instead.
    k = torch.as_tensor(p.mn - p.b, dtype=torch.float64)
    disc = torch.clamp(k**2 - 4 * p.sq * torch.as_tensor(p.bias, dtype=torch.float64), min=0)
    v = (-k - torch.sqrt(disc)) / (2 * p.sq)
    u = p.b * v
    if recurrent:
        return IzhikevichRecurrentState(z=0.0, v=v, u=u)
    return IzhikevichState(v=v, u=u)


# ----------------------------------------------------------------------------- presets
# The 20 firing patterns of Izhikevich (2004), Fig. 1. Each starts at ``v0`` with u = b v0
# (``accomodation`` starts at u = -16).
def _preset(
    p: IzhikevichParameters, v0: float, u0: float | None = None
) -> IzhikevichSpikingBehavior:
    u = torch.tensor(float(v0)) * p.b if u0 is None else torch.tensor(float(u0))
    return IzhikevichSpikingBehavior(
        p=p, s=IzhikevichState(v=torch.tensor(float(v0), requires_grad=True), u=u)
    )


tonic_spiking_p = IzhikevichParameters(a=0.02, b=0.2, c=-65, d=6)
tonic_spiking = _preset(tonic_spiking_p, -70)

phasic_spiking_p = IzhikevichParameters(a=0.02, b=0.25, c=-65, d=6)
phasic_spiking = _preset(phasic_spiking_p, -64)

tonic_bursting_p = IzhikevichParameters(a=0.02, b=0.2, c=-50, d=2)
tonic_bursting = _preset(tonic_bursting_p, -70)

phasic_bursting_p = IzhikevichParameters(a=0.02, b=0.25, c=-55, d=0.05, tau_inv=200)
phasic_bursting = _preset(phasic_bursting_p, -64)

mixed_mode_p = IzhikevichParameters(a=0.02, b=0.2, c=-55, d=4)
mixed_mode = _preset(mixed_mode_p, -70)

spike_frequency_adaptation_p = IzhikevichParameters(a=0.01, b=0.2, c=-65, d=8)
spike_frequency_adaptation = _preset(spike_frequency_adaptation_p, -70)

class_1_exc_p = IzhikevichParameters(a=0.02, b=-0.1, c=-55, d=6, mn=4.1, bias=108)
class_1_exc = _preset(class_1_exc_p, -60)

class_2_exc_p = IzhikevichParameters(a=0.2, b=0.26, c=-65, d=0)
class_2_exc = _preset(class_2_exc_p, -64)

spike_latency_p = IzhikevichParameters(a=0.02, b=0.2, c=-65, d=6)
spike_latency = _preset(spike_latency_p, -70)

subthreshold_oscillation_p = IzhikevichParameters(a=0.05, b=0.26, c=-60, d=0)
subthreshold_oscillation = _preset(subthreshold_oscillation_p, -62)

resonator_p = IzhikevichParameters(a=0.1, b=0.26, c=-60, d=-1)
resonator = _preset(resonator_p, -62)

integrator_p = IzhikevichParameters(a=0.02, b=-0.1, c=-55, d=6, mn=4.1, bias=108)
integrator = _preset(integrator_p, -60)

rebound_spike_p = IzhikevichParameters(a=0.03, b=0.25, c=-60, d=4, tau_inv=200)
rebound_spike = _preset(rebound_spike_p, -64)

rebound_burst_p = IzhikevichParameters(a=0.03, b=0.25, c=-52, d=0, tau_inv=200)
rebound_burst = _preset(rebound_burst_p, -64)

threshold_variability_p = IzhikevichParameters(a=0.03, b=0.25, c=-60, d=4)
threshold_variability = _preset(threshold_variability_p, -64)

bistability_p = IzhikevichParameters(a=0.1, b=0.26, c=-60, d=0)
bistability = _preset(bistability_p, -61)

dap_p = IzhikevichParameters(a=1.0, b=0.2, c=-60, d=-21, tau_inv=100)
dap = _preset(dap_p, -70)

accomodation_p = IzhikevichParameters(a=0.02, b=1.0, c=-55, d=4, tau_inv=500)
accomodation = _preset(accomodation_p, -65, u0=-16)

inhibition_induced_spiking_p = IzhikevichParameters(a=-0.02, b=-1.0, c=-60, d=8)
inhibition_induced_spiking = _preset(inhibition_induced_spiking_p, -63.8)

inhibition_induced_bursting_p = IzhikevichParameters(a=-0.026, b=-1.0, c=-45, d=-2)
inhibition_induced_bursting = _preset(inhibition_induced_bursting_p, -63.8)


SPEC = NeuronSpec(
    name="izhikevich",
    parameters=IzhikevichParameters,
    state=IzhikevichState,
    step=izhikevich_feed_forward_step,
    rest=_rest,
    step_sparse=_izhikevich_feed_forward_step_sparse,
    recurrent_state=IzhikevichRecurrentState,
    recurrent_step=izhikevich_recurrent_step,
    drive=200.0,
    example={"spiking_method": tonic_spiking},
)
