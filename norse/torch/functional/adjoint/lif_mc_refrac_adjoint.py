r"""Multi-compartment refractory LIF step whose backward pass is the discrete adjoint.

The forward pass is :func:`~norse.torch.functional.lif_mc_refrac.lif_mc_refrac_step` with the
Heaviside threshold (decay first; coupling :math:`G v` added without :math:`\Delta t`; mask
:math:`m = \Theta(\rho)` on the leak and current terms):
:math:`v_1 = v + (1 - m)\Delta t\,\tau_{mem}^{-1}((v_{leak} - v) + i) + G v`,
:math:`z = \Theta(v_1 - v_{th})`, :math:`v_2 = (1 - z) v_1 + z v_{reset}`,
:math:`i_2 = (1 - \Delta t\,\tau_{syn}^{-1}) i + W_{in} x + W_{rec} z_{t-1}`,
:math:`\rho' = (1 - z)\max(0, \rho - m) + z\rho_{reset}`.

Backward, with the mask taken as a constant, the slope of this step
:math:`\dot v^- = (v_1 - v) / \Delta t` and the same slope with the compartment's own voltage
set to :math:`v_{reset}`, :math:`\dot v^+ = \dot v^- + (1 - m)\tau_{mem}^{-1}(v - v_{reset}) +
G_{jj}(v_{reset} - v)/\Delta t`:

.. math::
    \begin{aligned}
    \hat\lambda_z &= \lambda_z + \lambda_{\rho'}(\rho_{reset} - \max(0, \rho - m)), \qquad
    \lambda_\rho = \lambda_{\rho'}(1 - z)[\rho - m > 0] \\
    \lambda_{v_1} &= (1 - z)\,\lambda_{v_2} + z\,(\dot v^+ \lambda_{v_2} + \hat\lambda_z) / \dot v^- \\
    \lambda_v &= (1 - (1 - m)\Delta t\,\tau_{mem}^{-1})\, \lambda_{v_1} + G^\top \lambda_{v_1}, \qquad
    \lambda_i = (1 - m)\Delta t\,\tau_{mem}^{-1}\, \lambda_{v_1} + (1 - \Delta t\,\tau_{syn}^{-1})\,\lambda_{i_2} \\
    \frac{\partial L}{\partial G} &= \lambda_{v_1}^\top v
    \end{aligned}

and the input, previous spikes and weights receive the adjoint :math:`\lambda_{i_2}` of the new
current.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..heaviside import heaviside
from ..lif import LIFState
from ..lif_mc_refrac import lif_mc_refrac_step
from ..lif_refrac import LIFRefracParameters, LIFRefracState
from .lif_adjoint import _grad_like, _jump, _recurrent_input_grads, _weight_grad
from .lif_refrac_adjoint import _heaviside_refrac

__all__ = ["LIFMCRefracAdjointFunction", "lif_mc_refrac_adjoint"]


class LIFMCRefracAdjointFunction(torch.autograd.Function):
    """:func:`~norse.torch.functional.lif_mc_refrac.lif_mc_refrac_step` with the discrete
    adjoint backward.

    ``apply(input_tensor, z, v, i, rho, input_weights, recurrent_weights, g_coupling, p, dt)
    -> (z, v, i, rho)``.
    """

    @staticmethod
    def forward(input_tensor, z, v, i, rho, input_weights, recurrent_weights, g_coupling, p, dt):
        z_new, s = lif_mc_refrac_step(
            input_tensor,
            LIFRefracState(LIFState(z, v, i), rho),
            input_weights,
            recurrent_weights,
            g_coupling,
            _heaviside_refrac(p),
            dt,
        )
        return z_new, s.lif.v, s.lif.i, s.rho

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, z, v, i, rho, input_weights, recurrent_weights, g_coupling, p, dt = inputs
        ctx.save_for_backward(
            x, z, v, i, rho, input_weights, recurrent_weights, g_coupling, output[0]
        )
        ctx.p, ctx.dt = p, dt
        ctx.weight_index = (5, 6)

    @staticmethod
    def backward(ctx, grad_z, grad_v, grad_i, grad_rho):
        x, z, v, i, rho, input_weights, recurrent_weights, g_coupling, z_new = ctx.saved_tensors
        p, dt = ctx.p, ctx.dt
        q = p.lif
        needs = ctx.needs_input_grad
        g = g_coupling.to(grad_v.dtype)
        mask = heaviside(rho)
        countdown = rho - mask
        grad_z = grad_z + grad_rho * (p.rho_reset - torch.relu(countdown))
        lam_rho = grad_rho * (1 - z_new) * (countdown > 0).to(grad_rho.dtype)
        leak = (1 - mask) * q.tau_mem_inv
        slope_before = leak * ((q.v_leak - v) + i) + torch.nn.functional.linear(v, g) / dt
        slope_after = slope_before + leak * (v - q.v_reset) + g.diagonal() * (q.v_reset - v) / dt
        lam_v1 = _jump(grad_z, grad_v, z_new, slope_before, slope_after)
        lam_v = lam_v1 - dt * leak * lam_v1 + lam_v1 @ g
        lam_i = dt * leak * lam_v1 + (1 - dt * q.tau_syn_inv) * grad_i
        grad_g = _weight_grad(lam_v1, v) if needs[7] else None
        grad_x, grad_z_old, grad_w_in, grad_w_rec = _recurrent_input_grads(
            ctx, grad_i, x, z, input_weights, recurrent_weights, 0
        )
        return (
            grad_x,
            grad_z_old,
            _grad_like(lam_v, v, needs[2]),
            _grad_like(lam_i, i, needs[3]),
            _grad_like(lam_rho, rho, needs[4]),
            grad_w_in,
            grad_w_rec,
            grad_g,
            None,
            None,
        )


def lif_mc_refrac_adjoint(
    input_tensor: Tensor,
    state: LIFRefracState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    g_coupling: Tensor,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFRefracState]:
    """:func:`~norse.torch.functional.lif_mc_refrac.lif_mc_refrac_step` with the discrete
    adjoint backward.

    Example:
        >>> s = LIFRefracState(LIFState(torch.zeros(1, 2), torch.tensor([[0.5, 0.0]]),
        ...                             torch.zeros(1, 2)), torch.zeros(1, 2))
        >>> g = torch.zeros(2, 2, requires_grad=True)
        >>> z, s = lif_mc_refrac_adjoint(torch.zeros(1, 1), s, torch.ones(2, 1),
        ...                              torch.zeros(2, 2), g)
        >>> s.lif.v[0, 1].backward()   # coupling without dt: d v_1 / d g[1, 0] = v_0
        >>> g.grad
        tensor([[0.0000, 0.0000],
                [0.5000, 0.0000]])
    """
    z, v, i, rho = LIFMCRefracAdjointFunction.apply(
        input_tensor,
        state.lif.z,
        state.lif.v,
        state.lif.i,
        state.rho,
        input_weights,
        recurrent_weights,
        g_coupling,
        p,
        dt,
    )
    return z, LIFRefracState(LIFState(z, v, i), rho)
