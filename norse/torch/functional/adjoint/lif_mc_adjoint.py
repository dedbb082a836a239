r"""Multi-compartment LIF step whose backward pass is the hand-written discrete adjoint.

The forward pass is :func:`~norse.torch.functional.lif_mc.lif_mc_step` with the Heaviside
threshold: the recurrent LIF step (giving the post-reset voltage :math:`v_2`), then the
coupling :math:`v' = v_2 + \Delta t\, G v_2`. The backward pass first undoes the coupling,

.. math::
    \lambda_{v_2} = \lambda_{v'} + \Delta t\, G^\top \lambda_{v'}, \qquad
    \frac{\partial L}{\partial G} = \Delta t\, \lambda_{v'}^\top v_2,

and then runs the LIF adjoint of :mod:`norse.torch.functional.adjoint.lif_adjoint` (jump term
at spikes) for :math:`\lambda_z, \lambda_{v_2}, \lambda_{i_2}`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..lif import LIFParameters, LIFState
from ..lif_mc import lif_mc_step
from .lif_adjoint import (
    _grad_like,
    _heaviside_parameters,
    _lif_backward,
    _linear_input,
    _recurrent_input_grads,
    _weight_grad,
)

__all__ = ["LIFMCAdjointFunction", "lif_mc_adjoint_step"]


class LIFMCAdjointFunction(torch.autograd.Function):
    """:func:`~norse.torch.functional.lif_mc.lif_mc_step` with the discrete adjoint backward.

    ``apply(input_tensor, z, v, i, input_weights, recurrent_weights, g_coupling, p, dt)
    -> (z, v, i)``.
    """

    @staticmethod
    def forward(input_tensor, z, v, i, input_weights, recurrent_weights, g_coupling, p, dt):
        z_new, s = lif_mc_step(
            input_tensor,
            LIFState(z, v, i),
            input_weights,
            recurrent_weights,
            g_coupling,
            _heaviside_parameters(p),
            dt,
        )
        return z_new, s.v, s.i

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, z, v, i, input_weights, recurrent_weights, g_coupling, p, dt = inputs
        ctx.save_for_backward(x, z, v, i, input_weights, recurrent_weights, g_coupling, output[0])
        ctx.p, ctx.dt = p, dt
        ctx.weight_index = (4, 5)

    @staticmethod
    def backward(ctx, grad_z, grad_v, grad_i):
        x, z, v, i, input_weights, recurrent_weights, g_coupling, z_new = ctx.saved_tensors
        p, dt = ctx.p, ctx.dt
        needs = ctx.needs_input_grad
        i_jump = i + _linear_input(x, input_weights) + _linear_input(z, recurrent_weights)
        grad_coupled = dt * grad_v
        grad_g = None
        if needs[6]:
            v1 = v + dt * p.tau_mem_inv * ((p.v_leak - v) + i_jump)
            v2 = (1 - z_new) * v1 + z_new * p.v_reset  # the voltage the coupling acted on
            grad_g = _weight_grad(grad_coupled, v2)
        grad_v2 = grad_v + grad_coupled @ g_coupling.to(grad_v.dtype)
        lam_v, lam_i = _lif_backward(grad_z, grad_v2, grad_i, z_new, v, i_jump, p, dt)
        grad_x, grad_z_old, grad_w_in, grad_w_rec = _recurrent_input_grads(
            ctx, lam_i, x, z, input_weights, recurrent_weights, 0
        )
        return (
            grad_x,
            grad_z_old,
            _grad_like(lam_v, v, needs[2]),
            _grad_like(lam_i, i, needs[3]),
            grad_w_in,
            grad_w_rec,
            grad_g,
            None,
            None,
        )


def lif_mc_adjoint_step(
    input_tensor: Tensor,
    state: LIFState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    g_coupling: Tensor,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFState]:
    """:func:`~norse.torch.functional.lif_mc.lif_mc_step` with the discrete adjoint backward.

    Example:
        >>> s = LIFState(z=torch.zeros(1, 2), v=torch.zeros(1, 2), i=torch.zeros(1, 2))
        >>> g = torch.tensor([[0.0, 0.0], [100.0, 0.0]], requires_grad=True)
        >>> z, s = lif_mc_adjoint_step(torch.ones(1, 1), s, torch.tensor([[5.0], [0.0]]),
        ...                            torch.zeros(2, 2), g)
        >>> s.v[0, 1].backward()   # compartment 1 gains dt * v_0 per unit of g[1, 0]
        >>> s.v.detach(), g.grad
        (tensor([[0.5000, 0.0500]]), tensor([[0.0000, 0.0000],
                [0.0005, 0.0000]]))
    """
    z, v, i = LIFMCAdjointFunction.apply(
        input_tensor,
        state.z,
        state.v,
        state.i,
        input_weights,
        recurrent_weights,
        g_coupling,
        p,
        dt,
    )
    return z, LIFState(z, v, i)
