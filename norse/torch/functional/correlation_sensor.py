r"""Correlation sensors: traces of pre-before-post and post-before-pre spike pairs.

For every synapse (pre-synaptic neuron :math:`i`, post-synaptic neuron :math:`j`) the sensor
keeps three values, each of shape ``(B, n_pre, n_post)``: a flag :math:`P_{ij}` that is 1 when
the last event was a post-synaptic spike (``post_pre``), a correlation trace :math:`C_{ij}`
and an anti-correlation trace :math:`A_{ij}`. One step with pre spikes :math:`z^{pre}_i` and
post spikes :math:`z^{post}_j`:

.. math::
    \begin{aligned}
    c &= C + (1 - P)\,(\Delta t\,\tau_c^{-1}\,(-C)) \\
    a &= A + P\,(\Delta t\,\tau_{ac}^{-1}\,(-A)) \\
    P' &= \Theta(P + z^{post}_j - z^{pre}_i) \\
    C' &= c + \eta_p\, z^{pre}_i, \qquad A' = a + \eta_m\, z^{post}_j
    \end{aligned}

A pre spike raises :math:`C`, which decays until the next post spike and is then frozen: its
value measures how closely the post spike followed the pre spike. :math:`A` does the same for
post-before-pre pairs. :func:`correlation_based_update` turns the traces into a weight change
through a (learnable) linear map.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .heaviside import heaviside

__all__ = [
    "CorrelationSensorParameters",
    "CorrelationSensorState",
    "correlation_based_update",
    "correlation_sensor_step",
    "post_mask",
    "post_pre_update",
    "pre_mask",
]


class CorrelationSensorParameters(NamedTuple):
    """Parameters of a correlation sensor.

    Parameters:
        eta_p (Tensor): increment of the correlation trace per pre-synaptic spike
        eta_m (Tensor): increment of the anti-correlation trace per post-synaptic spike
        tau_ac_inv (Tensor): inverse time constant of the anti-correlation trace (1/s)
        tau_c_inv (Tensor): inverse time constant of the correlation trace (1/s)

    Example:
        >>> CorrelationSensorParameters().tau_c_inv
        tensor(10.)
    """

    eta_p: Tensor = torch.as_tensor(1.0)
    eta_m: Tensor = torch.as_tensor(1.0)
    tau_ac_inv: Tensor = torch.as_tensor(10.0)
    tau_c_inv: Tensor = torch.as_tensor(10.0)


class CorrelationSensorState(NamedTuple):
    """State of a correlation sensor, each field ``(B, n_pre, n_post)``.

    Parameters:
        post_pre (Tensor): 1 where the last event was a post-synaptic spike
        correlation_trace (Tensor): pre-before-post trace
        anti_correlation_trace (Tensor): post-before-pre trace
    """

    post_pre: Tensor
    correlation_trace: Tensor
    anti_correlation_trace: Tensor


def pre_mask(weights: Tensor, z: Tensor) -> Tensor:
    """Broadcast pre-synaptic spikes ``z (*, n_pre)`` to ``weights``' shape ``(*, n_pre, n_post)``.

    Example:
        >>> pre_mask(torch.zeros(2, 3, 4), torch.tensor([[1., 0., 0.], [0., 0., 1.]]))[:, :, 0]
        tensor([[1., 0., 0.],
                [0., 0., 1.]])
    """
    return torch.zeros_like(weights) + z.unsqueeze(-1)


def post_mask(weights: Tensor, z: Tensor) -> Tensor:
    """Broadcast post-synaptic spikes ``z (*, n_post)`` to ``weights``' shape ``(*, n_pre, n_post)``.

    Example:
        >>> post_mask(torch.zeros(2, 3, 4), torch.eye(2, 4))[:, 0, :]
        tensor([[1., 0., 0., 0.],
                [0., 1., 0., 0.]])
    """
    return torch.zeros_like(weights) + z.unsqueeze(-2)


def post_pre_update(post_pre: Tensor, post_spike_mask: Tensor, pre_spike_mask: Tensor) -> Tensor:
    """New ``post_pre`` flag: set by a post spike, cleared by a pre spike.

    Example:
        >>> post_pre_update(torch.tensor([0., 1., 1.]), torch.tensor([1., 0., 0.]),
        ...                 torch.tensor([0., 0., 1.]))
        tensor([1., 1., 0.])
    """
    return heaviside(post_pre + post_spike_mask - pre_spike_mask)


def correlation_sensor_step(
    z_pre: Tensor,
    z_post: Tensor,
    state: CorrelationSensorState,
    p: CorrelationSensorParameters = CorrelationSensorParameters(),
    dt: float = 0.001,
) -> CorrelationSensorState:
    """One step of the correlation sensor (equations in the module docstring).

    Works for any batch size: ``z_pre (*, n_pre)``, ``z_post (*, n_post)`` and state fields
    ``(*, n_pre, n_post)``.

    Example:
        >>> s = CorrelationSensorState(*(torch.zeros(1, 1, 1) for _ in range(3)))
        >>> s = correlation_sensor_step(torch.ones(1, 1), torch.zeros(1, 1), s)   # pre spike
        >>> s = correlation_sensor_step(torch.zeros(1, 1), torch.ones(1, 1), s)   # post spike
        >>> [round(x.item(), 4) for x in s]
        [1.0, 0.99, 1.0]
    """
    post_pre, correlation, anti_correlation = state
    correlation = correlation + (1 - post_pre) * (dt * p.tau_c_inv * (-correlation))
    anti_correlation = anti_correlation + post_pre * (dt * p.tau_ac_inv * (-anti_correlation))
    pre = pre_mask(post_pre, z_pre)
    post = post_mask(post_pre, z_post)
    return CorrelationSensorState(
        post_pre=post_pre_update(post_pre, post, pre),
        correlation_trace=correlation + p.eta_p * pre,
        anti_correlation_trace=anti_correlation + p.eta_m * post,
    )


def correlation_based_update(
    ts: int,
    linear_update: torch.nn.Module,
    weights: Tensor,
    correlation_state: CorrelationSensorState,
    learning_rate: float,
    ts_frequency: int,
) -> Tensor:
    """Every ``ts_frequency`` steps, change ``weights`` by a learned function of the traces.

    At those steps ``dw = linear_update(cat(C.flatten(), A.flatten()))`` (detached) is reshaped
    to ``weights``' shape ``(n_post, n_pre)`` and added times ``learning_rate``; both traces are
    then zeroed **in place**. At other steps ``weights`` is returned unchanged. The traces are
    flattened with their batch dimension, so ``linear_update`` takes ``2 * B * n_pre * n_post``
    features and returns ``n_post * n_pre``.

    Args:
        ts (int): the current time step.
        linear_update (nn.Module): maps the flattened traces to a weight change.
        weights (Tensor): ``(n_post, n_pre)`` weights.
        correlation_state (CorrelationSensorState): the sensor state, ``(B, n_pre, n_post)``.
        learning_rate (float): scale of the update.
        ts_frequency (int): update every this many steps.

    Example:
        >>> s = CorrelationSensorState(*(torch.ones(1, 2, 3) for _ in range(3)))
        >>> update = torch.nn.Linear(12, 6, bias=False)
        >>> _ = torch.nn.init.constant_(update.weight, 0.1)
        >>> w = correlation_based_update(0, update, torch.zeros(3, 2), s, 0.5, 10)
        >>> w[0], s.correlation_trace.sum().item()
        (tensor([0.6000, 0.6000]), 0.0)
    """
    if ts % ts_frequency != 0:
        return weights
    if correlation_state.correlation_trace.dim() != 3:
        raise ValueError(
            "correlation_based_update: correlation_state traces must have shape "
            f"(B, n_pre, n_post), got {tuple(correlation_state.correlation_trace.shape)}; add a "
            "batch dimension with .unsqueeze(0)"
        )
    _, n_in, n_hidden = correlation_state.correlation_trace.shape
    features = torch.cat(
        (
            correlation_state.correlation_trace.flatten(),
            correlation_state.anti_correlation_trace.flatten(),
        )
    )
    dw = linear_update(features).detach()
    weights = weights + learning_rate * dw.reshape(n_hidden, n_in)
    correlation_state.correlation_trace.zero_()
    correlation_state.anti_correlation_trace.zero_()
    return weights
