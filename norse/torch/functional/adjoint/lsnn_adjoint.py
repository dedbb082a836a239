r"""LSNN steps whose backward pass is the hand-written discrete adjoint.

The forward passes are the plain decay-first steps of :mod:`norse.torch.functional.lsnn` with
the Heaviside threshold: :math:`v_1 = v + \Delta t\,\tau_{mem}^{-1}((v_{leak} - v) + i)`,
:math:`i_1 = (1 - \Delta t\,\tau_{syn}^{-1})\, i`, :math:`b_1 = b + \Delta t\,\tau_{adapt}^{-1}
(v_{th} - b)`, :math:`z = \Theta(v_1 - b_1)`, :math:`v_2 = (1 - z) v_1 + z v_{reset}`,
:math:`b_2 = b_1 + z\beta`, :math:`i_2 = i_1 + I` with :math:`I = x` or
:math:`W_{in} x + W_{rec} z_{t-1}`.

The backward pass propagates the adjoints of the voltage, the current and the adaptive
threshold (:math:`\lambda_v, \lambda_i, \lambda_b`). At a spike, the threshold condition
:math:`u = v - b = 0` gives the jump of the event-based adjoint method, with the slopes of
:math:`v` and :math:`b` just before the spike and the change of those slopes across the jump
(:math:`v \to v_{reset}`, :math:`b \to b + \beta`):

.. math::
    \begin{aligned}
    \dot v^- &= \tau_{mem}^{-1}((v_{leak} - v) + i), \quad
    \dot v^+ = \tau_{mem}^{-1}((v_{leak} - v_{reset}) + i), \quad
    \dot b^- = \tau_{adapt}^{-1}(v_{th} - b), \quad \dot b^+ - \dot b^- = -\tau_{adapt}^{-1}\beta \\
    K &= \dot v^+ \lambda_{v_2} - \tau_{adapt}^{-1}\beta\, \lambda_{b_2} + \lambda_z, \qquad
    \kappa = z\, K / (\dot v^- - \dot b^-) \\
    \lambda_{v_1} &= (1 - z)\, \lambda_{v_2} + \kappa, \qquad \lambda_{b_1} = \lambda_{b_2} - \kappa \\
    \lambda_v &= (1 - \Delta t\,\tau_{mem}^{-1})\, \lambda_{v_1}, \quad
    \lambda_i = \Delta t\,\tau_{mem}^{-1}\, \lambda_{v_1} + (1 - \Delta t\,\tau_{syn}^{-1})\, \lambda_{i_2}, \quad
    \lambda_b = (1 - \Delta t\,\tau_{adapt}^{-1})\, \lambda_{b_1}
    \end{aligned}

(:math:`\kappa = 0` where :math:`\dot v^- = \dot b^-`). The input receives :math:`\lambda_{i_2}`
(feed-forward) or :math:`\lambda_{i_2} W_{in}`; the weights :math:`\lambda_{i_2}^\top x` and
:math:`\lambda_{i_2}^\top z_{t-1}`. Without spikes this is exactly the derivative of the step.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..lsnn import (
    LSNNFeedForwardState,
    LSNNParameters,
    LSNNState,
    lsnn_feed_forward_step,
    lsnn_step,
)
from .lif_adjoint import _grad_like, _heaviside_parameters, _recurrent_input_grads, _safe_div

__all__ = [
    "LSNNAdjointFunction",
    "LSNNFeedForwardAdjointFunction",
    "lsnn_adjoint_step",
    "lsnn_feed_forward_adjoint_step",
]


def _lsnn_backward(
    grad_z: Tensor,
    grad_v: Tensor,
    grad_i: Tensor,
    grad_b: Tensor,
    z: Tensor,
    v: Tensor,
    i: Tensor,
    b: Tensor,
    p: LSNNParameters,
    dt: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """Adjoint of the decay-first LSNN update; returns ``(lambda_v, lambda_i, lambda_b)``."""
    slope_v = p.tau_mem_inv * ((p.v_leak - v) + i)
    slope_b = p.tau_adapt_inv * (p.v_th - b)
    slope_v_after = p.tau_mem_inv * ((p.v_leak - p.v_reset) + i)
    k = slope_v_after * grad_v - p.tau_adapt_inv * p.beta * grad_b + grad_z
    kick = z * _safe_div(k, slope_v - slope_b)
    lam_v1 = (1 - z) * grad_v + kick
    lam_b1 = grad_b - kick
    lam_v = (1 - dt * p.tau_mem_inv) * lam_v1
    lam_i = dt * p.tau_mem_inv * lam_v1 + (1 - dt * p.tau_syn_inv) * grad_i
    lam_b = (1 - dt * p.tau_adapt_inv) * lam_b1
    return lam_v, lam_i, lam_b


class LSNNAdjointFunction(torch.autograd.Function):
    """:func:`~norse.torch.functional.lsnn.lsnn_step` with the discrete adjoint backward.

    ``apply(input_tensor, z, v, i, b, input_weights, recurrent_weights, p, dt)
    -> (z, v, i, b)``.
    """

    @staticmethod
    def forward(input_tensor, z, v, i, b, input_weights, recurrent_weights, p, dt):
        z_new, s = lsnn_step(
            input_tensor,
            LSNNState(z, v, i, b),
            input_weights,
            recurrent_weights,
            _heaviside_parameters(p),
            dt,
        )
        return z_new, s.v, s.i, s.b

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, z, v, i, b, input_weights, recurrent_weights, p, dt = inputs
        ctx.save_for_backward(x, z, v, i, b, input_weights, recurrent_weights, output[0])
        ctx.p, ctx.dt = p, dt
        ctx.weight_index = (5, 6)

    @staticmethod
    def backward(ctx, grad_z, grad_v, grad_i, grad_b):
        x, z, v, i, b, input_weights, recurrent_weights, z_new = ctx.saved_tensors
        lam_v, lam_i, lam_b = _lsnn_backward(
            grad_z, grad_v, grad_i, grad_b, z_new, v, i, b, ctx.p, ctx.dt
        )
        needs = ctx.needs_input_grad
        # the input lands after the spike decision: its adjoint is that of the new current
        grad_x, grad_z_old, grad_w_in, grad_w_rec = _recurrent_input_grads(
            ctx, grad_i, x, z, input_weights, recurrent_weights, 0
        )
        return (
            grad_x,
            grad_z_old,
            _grad_like(lam_v, v, needs[2]),
            _grad_like(lam_i, i, needs[3]),
            _grad_like(lam_b, b, needs[4]),
            grad_w_in,
            grad_w_rec,
            None,
            None,
        )


def lsnn_adjoint_step(
    input_tensor: Tensor,
    state: LSNNState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    p: LSNNParameters = LSNNParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LSNNState]:
    """:func:`~norse.torch.functional.lsnn.lsnn_step` with the discrete adjoint backward.

    Example:
        >>> s = LSNNState(z=torch.zeros(1, 2), v=torch.zeros(1, 2), i=torch.zeros(1, 2),
        ...               b=torch.ones(1, 2))
        >>> w_in = torch.ones(2, 3, requires_grad=True)
        >>> z, s = lsnn_adjoint_step(torch.ones(1, 3), s, w_in, torch.zeros(2, 2))
        >>> s.i.sum().backward()
        >>> s.i.detach(), w_in.grad
        (tensor([[3., 3.]]), tensor([[1., 1., 1.],
                [1., 1., 1.]]))
    """
    z, v, i, b = LSNNAdjointFunction.apply(
        input_tensor, state.z, state.v, state.i, state.b, input_weights, recurrent_weights, p, dt
    )
    return z, LSNNState(z, v, i, b)


class LSNNFeedForwardAdjointFunction(torch.autograd.Function):
    """:func:`~norse.torch.functional.lsnn.lsnn_feed_forward_step` with the adjoint backward.

    ``apply(input_tensor, v, i, b, p, dt) -> (z, v, i, b)``.
    """

    @staticmethod
    def forward(input_tensor, v, i, b, p, dt):
        z_new, s = lsnn_feed_forward_step(
            input_tensor, LSNNFeedForwardState(v, i, b), _heaviside_parameters(p), dt
        )
        return z_new, s.v, s.i, s.b

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, v, i, b, p, dt = inputs
        ctx.save_for_backward(x, v, i, b, output[0])
        ctx.p, ctx.dt = p, dt

    @staticmethod
    def backward(ctx, grad_z, grad_v, grad_i, grad_b):
        x, v, i, b, z_new = ctx.saved_tensors
        lam_v, lam_i, lam_b = _lsnn_backward(
            grad_z, grad_v, grad_i, grad_b, z_new, v, i, b, ctx.p, ctx.dt
        )
        needs = ctx.needs_input_grad
        return (
            _grad_like(grad_i, x, needs[0]),
            _grad_like(lam_v, v, needs[1]),
            _grad_like(lam_i, i, needs[2]),
            _grad_like(lam_b, b, needs[3]),
            None,
            None,
        )


def lsnn_feed_forward_adjoint_step(
    input_tensor: Tensor,
    state: LSNNFeedForwardState,
    p: LSNNParameters = LSNNParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LSNNFeedForwardState]:
    """:func:`~norse.torch.functional.lsnn.lsnn_feed_forward_step` with the discrete adjoint
    backward.

    Example:
        >>> x = torch.tensor([2.0], requires_grad=True)
        >>> s = LSNNFeedForwardState(v=torch.zeros(1), i=torch.zeros(1), b=torch.ones(1))
        >>> z, s = lsnn_feed_forward_adjoint_step(x, s)
        >>> z, s = lsnn_feed_forward_adjoint_step(torch.zeros(1), s)
        >>> s.v.backward()   # x reaches v one step later: dv/dx = dt * tau_mem_inv
        >>> s.v.detach(), x.grad
        (tensor([0.2000]), tensor([0.1000]))
    """
    z, v, i, b = LSNNFeedForwardAdjointFunction.apply(
        input_tensor, state.v, state.i, state.b, p, dt
    )
    return z, LSNNFeedForwardState(v, i, b)
