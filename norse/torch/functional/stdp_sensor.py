r"""An STDP sensor: exponentially decaying pre- and postsynaptic activity traces.

The sensor keeps one trace per presynaptic and per postsynaptic neuron. Each step the traces
decay with one explicit Euler step of length :math:`\Delta t` and jump by the spikes of that
step:

.. math::
    \begin{aligned}
    a_{pre}' &= a_{pre} + \Delta t\,(\tau_c^{-1} (-a_{pre})) + \eta_{p}\, z_{pre} \\
    a_{post}' &= a_{post} + \Delta t\,(\tau_c^{-1} (-a_{post})) + \eta_{m}\, z_{post}
    \end{aligned}

Both traces decay with :math:`\tau_c`; ``tau_ac_inv`` is kept for compatibility and unused.
A learning rule can read the traces to measure pre/post timing, as in
:mod:`norse.torch.functional.stdp`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["STDPSensorParameters", "STDPSensorState", "stdp_sensor_step"]


class STDPSensorParameters(NamedTuple):
    """Parameters of the STDP sensor.

    Parameters:
        eta_p (Tensor): presynaptic trace increment per spike
        eta_m (Tensor): postsynaptic trace increment per spike
        tau_ac_inv (Tensor): unused (kept for compatibility)
        tau_c_inv (Tensor): inverse time constant of both traces (1/s)

    Example:
        >>> STDPSensorParameters().tau_c_inv
        tensor(10.)
    """

    eta_p: Tensor = torch.as_tensor(1.0)
    eta_m: Tensor = torch.as_tensor(1.0)
    tau_ac_inv: Tensor = torch.as_tensor(10.0)
    tau_c_inv: Tensor = torch.as_tensor(10.0)


class STDPSensorState(NamedTuple):
    """Traces of the STDP sensor.

    Parameters:
        a_pre (Tensor): presynaptic activity trace
        a_post (Tensor): postsynaptic activity trace

    Example:
        >>> STDPSensorState(a_pre=torch.zeros(2), a_post=torch.zeros(3)).a_post.shape
        torch.Size([3])
    """

    a_pre: Tensor
    a_post: Tensor


def stdp_sensor_step(
    z_pre: Tensor,
    z_post: Tensor,
    state: STDPSensorState,
    p: STDPSensorParameters = STDPSensorParameters(),
    dt: float = 0.001,
) -> STDPSensorState:
    """Advance the sensor's traces by one step (equations in the module docstring).

    Args:
        z_pre (Tensor): presynaptic spikes (broadcastable with ``state.a_pre``)
        z_post (Tensor): postsynaptic spikes (broadcastable with ``state.a_post``)
        state (STDPSensorState): the traces
        p (STDPSensorParameters): parameters
        dt (float): integration time step

    Returns:
        the new traces.

    Example:
        >>> s = STDPSensorState(torch.zeros(2), torch.zeros(1))
        >>> s = stdp_sensor_step(torch.tensor([1.0, 0.0]), torch.zeros(1), s)
        >>> s = stdp_sensor_step(torch.zeros(2), torch.zeros(1), s)
        >>> s.a_pre
        tensor([0.9900, 0.0000])
    """
    if not isinstance(state, tuple) or not hasattr(state, "a_pre") or not hasattr(state, "a_post"):
        raise TypeError(
            f"stdp_sensor_step: state must be an STDPSensorState, got {type(state).__name__}; "
            f"start from STDPSensorState(a_pre=torch.zeros_like(z_pre), "
            f"a_post=torch.zeros_like(z_post))"
        )
    a_pre = state.a_pre + dt * (p.tau_c_inv * (-state.a_pre)) + z_pre * p.eta_p
    a_post = state.a_post + dt * (p.tau_c_inv * (-state.a_post)) + z_post * p.eta_m
    return STDPSensorState(a_pre=a_pre, a_post=a_post)
