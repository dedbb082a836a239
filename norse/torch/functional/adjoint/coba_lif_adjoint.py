r"""Conductance-based LIF step whose backward pass is the hand-written discrete adjoint.

(Norse 1.1.0 shipped this module unimportable; here it works.) The forward pass is
:func:`~norse.torch.functional.coba_lif.coba_lif_step` with the Heaviside threshold:
:math:`g_{e,1} = g_e + [W_{in}]_+ x + [W_{rec}]_+ z_{t-1}` (and :math:`g_{i,1}` with
:math:`[-W]_+`), :math:`g_{e,2} = (1 - \Delta t\,\tau_e^{-1}) g_{e,1}`,
:math:`g_{i,2} = (1 - \Delta t\,\tau_i^{-1}) g_{i,1}`,
:math:`v_1 = v + \Delta t\, c_m^{-1} (g_l (v_{rest} - v) + g_{e,2}(E_E - v) + g_{i,2}(E_I - v))`,
:math:`z = \Theta(v_1 - v_{th})`, :math:`v_2 = (1 - z) v_1 + z v_{reset}`.

With the slopes just before and after the reset,
:math:`\dot v^\mp = c_m^{-1}(g_l (v_{rest} - u) + g_{e,2}(E_E - u) + g_{i,2}(E_I - u))` at
:math:`u = v` and :math:`u = v_{reset}`, the backward pass is

.. math::
    \begin{aligned}
    \lambda_{v_1} &= (1 - z)\,\lambda_{v_2} + z\,(\dot v^+ \lambda_{v_2} + \lambda_z) / \dot v^- \\
    \lambda_v &= (1 - \Delta t\, c_m^{-1} (g_l + g_{e,2} + g_{i,2}))\, \lambda_{v_1} \\
    \lambda_{g_{e,1}} &= (1 - \Delta t\,\tau_e^{-1}) (\lambda_{g_{e,2}} + \Delta t\, c_m^{-1} (E_E - v)\, \lambda_{v_1}) \\
    \lambda_{g_{i,1}} &= (1 - \Delta t\,\tau_i^{-1}) (\lambda_{g_{i,2}} + \Delta t\, c_m^{-1} (E_I - v)\, \lambda_{v_1})
    \end{aligned}

and the input, previous spikes and weights receive
:math:`\lambda_{g_{e,1}} [W]_+ + \lambda_{g_{i,1}} [-W]_+` and
:math:`\partial L / \partial W = [W > 0]\, \lambda_{g_{e,1}}^\top x - [W < 0]\, \lambda_{g_{i,1}}^\top x`.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.functional import relu

from ..coba_lif import CobaLIFParameters, CobaLIFState, coba_lif_step
from .lif_adjoint import _grad_like, _heaviside_parameters, _jump, _weight_grad

__all__ = ["CobaLIFAdjointFunction", "coba_lif_adjoint_step"]


def _signed_linear_grads(
    lam_e: Tensor, lam_i: Tensor, x: Tensor, w: Tensor, need_x: bool, need_w: bool
) -> tuple[Tensor | None, Tensor | None]:
    """Gradients of ``x`` and ``w`` through ``lin(x, relu(w))`` and ``lin(x, relu(-w))``."""
    w = w.to(lam_e.dtype)
    grad_x = grad_w = None
    if need_x:
        grad_x = _grad_like(lam_e @ relu(w) + lam_i @ relu(-w), x, True)
    if need_w:
        grad_w = (w > 0).to(w.dtype) * _weight_grad(lam_e, x) - (w < 0).to(w.dtype) * _weight_grad(
            lam_i, x
        )
    return grad_x, grad_w


class CobaLIFAdjointFunction(torch.autograd.Function):
    """:func:`~norse.torch.functional.coba_lif.coba_lif_step` with the discrete adjoint
    backward.

    ``apply(input_tensor, z, v, g_e, g_i, input_weights, recurrent_weights, p, dt)
    -> (z, v, g_e, g_i)``.
    """

    @staticmethod
    def forward(input_tensor, z, v, g_e, g_i, input_weights, recurrent_weights, p, dt):
        z_new, s = coba_lif_step(
            input_tensor,
            CobaLIFState(z, v, g_e, g_i),
            input_weights,
            recurrent_weights,
            _heaviside_parameters(p),
            dt,
        )
        return z_new, s.v, s.g_e, s.g_i

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, z, v, g_e, g_i, input_weights, recurrent_weights, p, dt = inputs
        z_new, _, g_e_new, g_i_new = output
        ctx.save_for_backward(
            x, z, v, g_e, g_i, input_weights, recurrent_weights, z_new, g_e_new, g_i_new
        )
        ctx.p, ctx.dt = p, dt

    @staticmethod
    def backward(ctx, grad_z, grad_v, grad_g_e, grad_g_i):
        (x, z, v, g_e, g_i, input_weights, recurrent_weights, z_new, g_e2, g_i2) = ctx.saved_tensors
        p, dt = ctx.p, ctx.dt
        needs = ctx.needs_input_grad

        def slope(u: Tensor) -> Tensor:
            return p.c_m_inv * (
                p.g_l * (p.v_rest - u) + g_e2 * (p.e_rev_E - u) + g_i2 * (p.e_rev_I - u)
            )

        lam_v1 = _jump(grad_z, grad_v, z_new, slope(v), slope(torch.as_tensor(p.v_reset)))
        lam_v = (1 - dt * p.c_m_inv * (p.g_l + g_e2 + g_i2)) * lam_v1
        lam_e = (1 - dt * p.tau_syn_exc_inv) * (
            grad_g_e + dt * p.c_m_inv * (p.e_rev_E - v) * lam_v1
        )
        lam_i = (1 - dt * p.tau_syn_inh_inv) * (
            grad_g_i + dt * p.c_m_inv * (p.e_rev_I - v) * lam_v1
        )
        grad_x, grad_w_in = _signed_linear_grads(lam_e, lam_i, x, input_weights, needs[0], needs[5])
        grad_z_old, grad_w_rec = _signed_linear_grads(
            lam_e, lam_i, z, recurrent_weights, needs[1], needs[6]
        )
        return (
            grad_x,
            grad_z_old,
            _grad_like(lam_v, v, needs[2]),
            _grad_like(lam_e, g_e, needs[3]),
            _grad_like(lam_i, g_i, needs[4]),
            grad_w_in,
            grad_w_rec,
            None,
            None,
        )


def coba_lif_adjoint_step(
    input_tensor: Tensor,
    state: CobaLIFState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    p: CobaLIFParameters = CobaLIFParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, CobaLIFState]:
    """:func:`~norse.torch.functional.coba_lif.coba_lif_step` with the discrete adjoint
    backward.

    Example:
        >>> z0 = torch.zeros(1, 2)
        >>> s = CobaLIFState(z=z0, v=torch.full((1, 2), -20.0), g_e=z0, g_i=z0)
        >>> w_in = torch.tensor([[1.0], [-1.0]], requires_grad=True)
        >>> z, s = coba_lif_adjoint_step(torch.full((1, 1), 5.0), s, w_in, torch.zeros(2, 2))
        >>> s.v.sum().backward()   # raising either weight raises v (more excitation,
        >>> s.v.detach(), w_in.grad  # or less inhibition)
        (tensor([[-18.0004, -21.9996]]), tensor([[1.9996],
                [1.9996]]))
    """
    z, v, g_e, g_i = CobaLIFAdjointFunction.apply(
        input_tensor,
        state.z,
        state.v,
        state.g_e,
        state.g_i,
        input_weights,
        recurrent_weights,
        p,
        dt,
    )
    return z, CobaLIFState(z, v, g_e, g_i)
