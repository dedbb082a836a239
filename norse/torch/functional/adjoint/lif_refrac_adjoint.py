r"""Refractory LIF steps whose backward pass is the hand-written discrete adjoint.

The forward passes are the plain steps of :mod:`norse.torch.functional.lif_refrac` with the
Heaviside threshold (``p.lif.method`` may be ``"adjoint"``): a LIF step giving
:math:`\tilde z, \tilde v, i_2`, then the refractory mask :math:`m = \Theta(\rho)`,
:math:`v' = (1 - m)\tilde v + m v`, :math:`z = (1 - m)\tilde z`,
:math:`\rho' = (1 - z)\max(0, \rho - m) + z \rho_{reset}`.

The backward pass takes the mask as a constant (no gradient with respect to :math:`\rho`
through :math:`m`) and runs, for the gradients :math:`\lambda_z, \lambda_{v'}, \lambda_{i_2},
\lambda_{\rho'}` of the outputs,

.. math::
    \begin{aligned}
    \hat\lambda_z &= \lambda_z + \lambda_{\rho'} (\rho_{reset} - \max(0, \rho - m)), \qquad
    \lambda_\rho = \lambda_{\rho'} (1 - z)\, [\rho - m > 0] \\
    \lambda_{\tilde z} &= (1 - m)\, \hat\lambda_z, \qquad \lambda_{\tilde v} = (1 - m)\, \lambda_{v'}
    \end{aligned}

then the LIF adjoint of :mod:`norse.torch.functional.adjoint.lif_adjoint` (jump term at spikes)
for :math:`\lambda_{\tilde z}, \lambda_{\tilde v}, \lambda_{i_2}`, and finally adds the held
voltage's share :math:`m\, \lambda_{v'}` to :math:`\lambda_v`. The parameters are read from
``p.lif`` (1.1.0's recurrent backward read ``p.tau_syn_inv`` and failed).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..heaviside import heaviside
from ..lif import LIFFeedForwardState, LIFState
from ..lif_refrac import (
    LIFRefracFeedForwardState,
    LIFRefracParameters,
    LIFRefracState,
    lif_refrac_feed_forward_step,
    lif_refrac_step,
    lif_refrac_step_sparse,
)
from .lif_adjoint import (
    _dense,
    _grad_like,
    _heaviside_parameters,
    _lif_backward,
    _linear_input,
    _recurrent_input_grads,
)

__all__ = [
    "LIFAdjointRefracFeedForwardFunction",
    "LIFAdjointRefracFunction",
    "LIFSparseAdjointRefracFunction",
    "lif_refrac_adjoint_step",
    "lif_refrac_adjoint_step_sparse",
    "lif_refrac_feed_forward_adjoint_step",
]


def _heaviside_refrac(p: LIFRefracParameters) -> LIFRefracParameters:
    return p._replace(lif=_heaviside_parameters(p.lif))


def _refrac_backward(
    grad_z: Tensor,
    grad_v: Tensor,
    grad_i: Tensor,
    grad_rho: Tensor,
    z: Tensor,
    v: Tensor,
    i_jump: Tensor,
    rho: Tensor,
    p: LIFRefracParameters,
    dt: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """Adjoint of LIF step + refractory mask; returns ``(lambda_v, lambda_i1, lambda_rho)``."""
    mask = heaviside(rho)
    countdown = rho - mask
    grad_z = grad_z + grad_rho * (p.rho_reset - torch.relu(countdown))
    lam_rho = grad_rho * (1 - z) * (countdown > 0).to(grad_rho.dtype)
    # ``z`` is the masked spike; where the mask is 1 both gradients below are 0, so the
    # unmasked spike is not needed.
    lam_v, lam_i = _lif_backward(
        (1 - mask) * grad_z, (1 - mask) * grad_v, grad_i, z, v, i_jump, p.lif, dt
    )
    return lam_v + mask * grad_v, lam_i, lam_rho


# ----------------------------------------------------------------------------- recurrent
class LIFAdjointRefracFunction(torch.autograd.Function):
    """:func:`~norse.torch.functional.lif_refrac.lif_refrac_step` with the adjoint backward.

    ``apply(input_tensor, z, v, i, rho, input_weights, recurrent_weights, p, dt)
    -> (z, v, i, rho)``.
    """

    @staticmethod
    def forward(input_tensor, z, v, i, rho, input_weights, recurrent_weights, p, dt):
        z_new, s = lif_refrac_step(
            input_tensor,
            LIFRefracState(LIFState(z, v, i), rho),
            input_weights,
            recurrent_weights,
            _heaviside_refrac(p),
            dt,
        )
        return z_new, s.lif.v, s.lif.i, s.rho

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, z, v, i, rho, input_weights, recurrent_weights, p, dt = inputs
        ctx.save_for_backward(x, z, v, i, rho, input_weights, recurrent_weights, output[0])
        ctx.p, ctx.dt = p, dt
        ctx.weight_index = (5, 6)

    @staticmethod
    def backward(ctx, grad_z, grad_v, grad_i, grad_rho):
        x, z, v, i, rho, input_weights, recurrent_weights, z_new = ctx.saved_tensors
        i_jump = i + _linear_input(x, input_weights) + _linear_input(_dense(z), recurrent_weights)
        lam_v, lam_i, lam_rho = _refrac_backward(
            _dense(grad_z), grad_v, grad_i, grad_rho, _dense(z_new), v, i_jump, rho, ctx.p, ctx.dt
        )
        needs = ctx.needs_input_grad
        grad_x, grad_z_old, grad_w_in, grad_w_rec = _recurrent_input_grads(
            ctx, lam_i, x, z, input_weights, recurrent_weights, 0
        )
        return (
            grad_x,
            grad_z_old,
            _grad_like(lam_v, v, needs[2]),
            _grad_like(lam_i, i, needs[3]),
            _grad_like(lam_rho, rho, needs[4]),
            grad_w_in,
            grad_w_rec,
            None,
            None,
        )


class LIFSparseAdjointRefracFunction(LIFAdjointRefracFunction):
    """:func:`~norse.torch.functional.lif_refrac.lif_refrac_step_sparse` with the adjoint
    backward; returns sparse spikes."""

    @staticmethod
    def forward(input_tensor, z, v, i, rho, input_weights, recurrent_weights, p, dt):
        z_new, s = lif_refrac_step_sparse(
            input_tensor,
            LIFRefracState(LIFState(z, v, i), rho),
            input_weights,
            recurrent_weights,
            _heaviside_refrac(p),
            dt,
        )
        return z_new, s.lif.v, s.lif.i, s.rho


def lif_refrac_adjoint_step(
    input_tensor: Tensor,
    state: LIFRefracState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFRefracState]:
    """:func:`~norse.torch.functional.lif_refrac.lif_refrac_step` with the discrete adjoint
    backward.

    Example:
        >>> s = LIFRefracState(LIFState(torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1, 2)),
        ...                    rho=torch.tensor([[0.0, 3.0]]))
        >>> w_in = (torch.ones(2, 3) * 5).requires_grad_(True)
        >>> z, s = lif_refrac_adjoint_step(torch.ones(1, 3), s, w_in, torch.zeros(2, 2))
        >>> z.sum().backward()   # the refractory neuron (rho=3) neither spikes nor learns
        >>> z.detach(), s.rho.detach(), w_in.grad.sum(1)
        (tensor([[1., 0.]]), tensor([[5., 2.]]), tensor([0.0002, 0.0000]))
    """
    z, v, i, rho = LIFAdjointRefracFunction.apply(
        input_tensor,
        state.lif.z,
        state.lif.v,
        state.lif.i,
        state.rho,
        input_weights,
        recurrent_weights,
        p,
        dt,
    )
    return z, LIFRefracState(LIFState(z, v, i), rho)


def lif_refrac_adjoint_step_sparse(
    input_tensor: Tensor,
    state: LIFRefracState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFRefracState]:
    """:func:`lif_refrac_adjoint_step` for 2-D sparse COO inputs and spikes.

    Example:
        >>> s = LIFRefracState(LIFState(torch.zeros(1, 2).to_sparse(), torch.zeros(1, 2),
        ...                             torch.zeros(1, 2)), rho=torch.zeros(1, 2))
        >>> z, s = lif_refrac_adjoint_step_sparse(torch.ones(1, 3).to_sparse(), s,
        ...                                       torch.ones(2, 3) * 5, torch.zeros(2, 2))
        >>> z.is_sparse, s.rho
        (True, tensor([[5., 5.]]))
    """
    z, v, i, rho = LIFSparseAdjointRefracFunction.apply(
        input_tensor,
        state.lif.z,
        state.lif.v,
        state.lif.i,
        state.rho,
        input_weights,
        recurrent_weights,
        p,
        dt,
    )
    return z, LIFRefracState(LIFState(z, v, i), rho)


# ----------------------------------------------------------------------------- feed-forward
class LIFAdjointRefracFeedForwardFunction(torch.autograd.Function):
    """:func:`~norse.torch.functional.lif_refrac.lif_refrac_feed_forward_step` with the adjoint
    backward.

    ``apply(input_tensor, v, i, rho, p, dt) -> (z, v, i, rho)``.
    """

    @staticmethod
    def forward(input_tensor, v, i, rho, p, dt):
        z_new, s = lif_refrac_feed_forward_step(
            input_tensor,
            LIFRefracFeedForwardState(LIFFeedForwardState(v, i), rho),
            _heaviside_refrac(p),
            dt,
        )
        return z_new, s.lif.v, s.lif.i, s.rho

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: tuple) -> None:
        x, v, i, rho, p, dt = inputs
        ctx.save_for_backward(x, v, i, rho, output[0])
        ctx.p, ctx.dt = p, dt

    @staticmethod
    def backward(ctx, grad_z, grad_v, grad_i, grad_rho):
        x, v, i, rho, z_new = ctx.saved_tensors
        lam_v, lam_i, lam_rho = _refrac_backward(
            grad_z, grad_v, grad_i, grad_rho, z_new, v, i + _dense(x), rho, ctx.p, ctx.dt
        )
        needs = ctx.needs_input_grad
        return (
            _grad_like(lam_i, x, needs[0]),
            _grad_like(lam_v, v, needs[1]),
            _grad_like(lam_i, i, needs[2]),
            _grad_like(lam_rho, rho, needs[3]),
            None,
            None,
        )


def lif_refrac_feed_forward_adjoint_step(
    input_tensor: Tensor,
    state: LIFRefracFeedForwardState,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFRefracFeedForwardState]:
    """:func:`~norse.torch.functional.lif_refrac.lif_refrac_feed_forward_step` with the
    discrete adjoint backward.

    Example:
        >>> s = LIFRefracFeedForwardState(LIFFeedForwardState(torch.zeros(2), torch.zeros(2)),
        ...                               rho=torch.zeros(2))
        >>> for _ in range(3):
        ...     z, s = lif_refrac_feed_forward_adjoint_step(torch.tensor([4.0, 0.5]), s)
        >>> z, s.rho
        (tensor([0., 0.]), tensor([4., 0.]))
    """
    z, v, i, rho = LIFAdjointRefracFeedForwardFunction.apply(
        input_tensor, state.lif.v, state.lif.i, state.rho, p, dt
    )
    return z, LIFRefracFeedForwardState(LIFFeedForwardState(v, i), rho)
