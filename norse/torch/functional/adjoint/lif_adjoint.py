r"""LIF steps whose backward pass is the hand-written discrete adjoint.

The forward pass of every function here *is* the plain step of
:mod:`norse.torch.functional.lif` (with the Heaviside threshold, so ``p.method`` may be
``"adjoint"``): outputs and states are identical. The backward pass does not use autograd
through the step and no surrogate gradient: it runs the adjoint equations of the Euler step
backwards, and replaces the derivative of the threshold by the jump condition of the
event-based adjoint method (Wunderlich & Pehle, "Event-based backpropagation can compute exact
gradients for spiking neural networks", Scientific Reports 11, 2021).

Forward step (jump first): :math:`i_1 = i + I`, :math:`v_1 = v + \Delta t\,\tau_{mem}^{-1}((v_{leak}
- v) + i_1)`, :math:`i_2 = (1 - \Delta t\,\tau_{syn}^{-1})\, i_1`, :math:`z = \Theta(v_1 - v_{th})`,
:math:`v_2 = (1 - z)\, v_1 + z\, v_{reset}`, with :math:`I = x` (feed-forward) or
:math:`I = W_{in} x + W_{rec} z_{t-1}` (recurrent).

Given the gradients :math:`\lambda_z, \lambda_{v_2}, \lambda_{i_2}` of the step's outputs, the
backward pass computes, with the membrane slopes just before and just after the reset

.. math::
    \dot v^- = \tau_{mem}^{-1} ((v_{leak} - v) + i_1), \qquad
    \dot v^+ = \tau_{mem}^{-1} ((v_{leak} - v_{reset}) + i_1),

.. math::
    \begin{aligned}
    \lambda_{v_1} &= (1 - z)\, \lambda_{v_2} + z\, \frac{\dot v^+ \lambda_{v_2} + \lambda_z}{\dot v^-} \\
    \lambda_{i_1} &= \Delta t\,\tau_{mem}^{-1}\, \lambda_{v_1} + (1 - \Delta t\,\tau_{syn}^{-1})\, \lambda_{i_2} \\
    \lambda_{v} &= (1 - \Delta t\,\tau_{mem}^{-1})\, \lambda_{v_1}, \qquad \lambda_i = \lambda_{i_1}
    \end{aligned}

(the jump term is 0 where :math:`\dot v^- = 0`). The input gradient is :math:`\lambda_{i_1}`
(feed-forward) or :math:`\lambda_{i_1} W_{in}`, and the weight gradients are
:math:`\lambda_{i_1}^\top x` and :math:`\lambda_{i_1}^\top z_{t-1}` (summed over the batch);
:math:`\lambda_{z_{t-1}} = \lambda_{i_1} W_{rec}`. Without spikes these equations are exactly the
derivative of the Euler step; neuron parameters get no gradient.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..lif import (
    LIFFeedForwardState,
    LIFParameters,
    LIFState,
    lif_feed_forward_step,
    lif_feed_forward_step_sparse,
    lif_step,
    lif_step_sparse,
)

__all__ = [
    "LIFAdjointFunction",
    "LIFFeedForwardAdjointFunction",
    "LIFFeedForwardSparseAdjointFunction",
    "LIFSparseAdjointFunction",
    "lif_adjoint_step",
    "lif_adjoint_step_sparse",
    "lif_feed_forward_adjoint_step",
    "lif_feed_forward_adjoint_step_sparse",
]


# ----------------------------------------------------------------------------- shared helpers
def _heaviside_parameters(p: Any) -> Any:
    """``p`` with the Heaviside threshold: the adjoint forward needs no surrogate."""
    return p._replace(method="heaviside")


def _dense(t: Any) -> Any:
    return t.to_dense() if isinstance(t, Tensor) and t.is_sparse else t


def _safe_div(numerator: Tensor, denominator: Tensor) -> Tensor:
    """``numerator / denominator``, and 0 where the denominator is 0."""
    nonzero = denominator != 0
    safe = torch.where(nonzero, denominator, torch.ones_like(denominator))
    return torch.where(nonzero, numerator / safe, torch.zeros_like(numerator))


def _grad_like(grad: Tensor | None, like: Any, needed: bool) -> Tensor | None:
    """Sum a gradient down to the (broadcast) shape of the input it belongs to."""
    if not needed or grad is None or not isinstance(like, Tensor):
        return None
    if grad.shape != like.shape:
        grad = grad.sum_to_size(like.shape)
    if like.is_sparse:
        grad = grad.to_sparse()
    return grad


def _weight_grad(lam: Tensor, x: Tensor) -> Tensor:
    """``lam^T x`` summed over every leading (batch) dimension: the gradient of ``lin(x, W)``."""
    x = _dense(x)
    x = x.expand(lam.shape) if x.dim() == 0 else x.expand(*lam.shape[:-1], x.shape[-1])
    return lam.reshape(-1, lam.shape[-1]).t() @ x.reshape(-1, x.shape[-1]).to(lam.dtype)


def _linear_input(x: Tensor, weights: Tensor) -> Tensor:
    """``lin(x, W)`` for dense or sparse ``x``."""
    if x.is_sparse:
        return torch.sparse.mm(x, weights.t())
    return torch.nn.functional.linear(x, weights)


def _jump(
    grad_z: Tensor, grad_v: Tensor, z: Tensor, slope_before: Tensor, slope_after: Tensor
) -> Tensor:
    """Adjoint of threshold and reset: ``(1 - z) lv + z (slope_after lv + lz) / slope_before``."""
    return (1 - z) * grad_v + z * _safe_div(slope_after * grad_v + grad_z, slope_before)


def _lif_backward(
    grad_z: Tensor,
    grad_v: Tensor,
    grad_i: Tensor,
    z: Tensor,
    v: Tensor,
    i_jump: Tensor,
    p: LIFParameters,
    dt: float,
) -> tuple[Tensor, Tensor]:
    """Adjoint of the jump-first LIF update; returns ``(lambda_v, lambda_i1)``."""
    slope_before = p.tau_mem_inv * ((p.v_leak - v) + i_jump)
    slope_after = p.tau_mem_inv * ((p.v_leak - p.v_reset) + i_jump)
    lam_v1 = _jump(grad_z, grad_v, z, slope_before, slope_after)
    lam_i = dt * p.tau_mem_inv * lam_v1 + (1 - dt * p.tau_syn_inv) * grad_i
    lam_v = (1 - dt * p.tau_mem_inv) * lam_v1
    return lam_v, lam_i


def _recurrent_input_grads(
    ctx: Any,
    lam_i: Tensor,
    x: Tensor,
    z: Tensor,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    first: int,
) -> tuple[Any, Any, Any, Any]:
    """Gradients of ``x``, ``z_{t-1}``, ``W_in``, ``W_rec`` from ``lambda_i1`` (``I = W x + W z``).

    ``first`` is the index of ``x`` in the Function's inputs; ``z`` follows it and the weights
    are at ``first + k_in`` and ``first + k_rec`` as given by ``ctx.weight_index``.
    """
    needs = ctx.needs_input_grad
    k_in, k_rec = ctx.weight_index
    grad_x = _grad_like(lam_i @ input_weights.to(lam_i.dtype), x, needs[first])
    grad_z = _grad_like(lam_i @ recurrent_weights.to(lam_i.dtype), z, needs[first + 1])
    grad_w_in = _weight_grad(lam_i, x) if needs[k_in] else None
    grad_w_rec = _weight_grad(lam_i, z) if needs[k_rec] else None
    return grad_x, grad_z, grad_w_in, grad_w_rec


# ----------------------------------------------------------------------------- recurrent
class LIFAdjointFunction(torch.autograd.Function):
    """:func:`~norse.torch.functional.lif.lif_step` with the discrete adjoint backward.

    ``apply(input_tensor, z, v, i, input_weights, recurrent_weights, p, dt) -> (z, v, i)``.
    """

    @staticmethod
    def forward(input_tensor, z, v, i, input_weights, recurrent_weights, p, dt):
        z_new, s = lif_step(
            input_tensor,
            LIFState(z, v, i),
            input_weights,
            recurrent_weights,
            _heaviside_parameters(p),
            dt,
        )
        return z_new, s.v, s.i

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, z, v, i, input_weights, recurrent_weights, p, dt = inputs
        ctx.save_for_backward(x, z, v, i, input_weights, recurrent_weights, output[0])
        ctx.p, ctx.dt = p, dt
        ctx.weight_index = (4, 5)

    @staticmethod
    def backward(ctx, grad_z, grad_v, grad_i):
        x, z, v, i, input_weights, recurrent_weights, z_new = ctx.saved_tensors
        p, dt = ctx.p, ctx.dt
        z_dense = _dense(z)
        i_jump = i + _linear_input(x, input_weights) + _linear_input(z_dense, recurrent_weights)
        lam_v, lam_i = _lif_backward(
            _dense(grad_z), grad_v, grad_i, _dense(z_new), v, i_jump, p, dt
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
            grad_w_in,
            grad_w_rec,
            None,
            None,
        )


class LIFSparseAdjointFunction(LIFAdjointFunction):
    """:func:`~norse.torch.functional.lif.lif_step_sparse` (sparse ``x``, ``z``) with the adjoint
    backward; returns sparse spikes."""

    @staticmethod
    def forward(input_tensor, z, v, i, input_weights, recurrent_weights, p, dt):
        z_new, s = lif_step_sparse(
            input_tensor,
            LIFState(z, v, i),
            input_weights,
            recurrent_weights,
            _heaviside_parameters(p),
            dt,
        )
        return z_new, s.v, s.i


def lif_adjoint_step(
    input_tensor: Tensor,
    state: LIFState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFState]:
    """:func:`~norse.torch.functional.lif.lif_step` whose backward is the discrete adjoint.

    Example:
        >>> s = LIFState(z=torch.zeros(1, 2), v=torch.zeros(1, 2), i=torch.zeros(1, 2))
        >>> w_in = torch.ones(2, 3, requires_grad=True)
        >>> z, s = lif_adjoint_step(torch.ones(1, 3), s, w_in, torch.zeros(2, 2))
        >>> s.v.sum().backward()
        >>> s.v.detach(), w_in.grad
        (tensor([[0.3000, 0.3000]]), tensor([[0.1000, 0.1000, 0.1000],
                [0.1000, 0.1000, 0.1000]]))
    """
    z, v, i = LIFAdjointFunction.apply(
        input_tensor, state.z, state.v, state.i, input_weights, recurrent_weights, p, dt
    )
    return z, LIFState(z, v, i)


def lif_adjoint_step_sparse(
    input_tensor: Tensor,
    state: LIFState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFState]:
    """:func:`lif_adjoint_step` for 2-D sparse COO inputs and spikes; returns sparse spikes.

    Example:
        >>> s = LIFState(z=torch.zeros(1, 2).to_sparse(), v=torch.zeros(1, 2),
        ...              i=torch.zeros(1, 2))
        >>> z, s = lif_adjoint_step_sparse(torch.ones(1, 3).to_sparse(), s,
        ...                                torch.ones(2, 3) * 5, torch.zeros(2, 2))
        >>> z.is_sparse, z.to_dense()
        (True, tensor([[1., 1.]]))
    """
    z, v, i = LIFSparseAdjointFunction.apply(
        input_tensor, state.z, state.v, state.i, input_weights, recurrent_weights, p, dt
    )
    return z, LIFState(z, v, i)


# ----------------------------------------------------------------------------- feed-forward
class LIFFeedForwardAdjointFunction(torch.autograd.Function):
    """:func:`~norse.torch.functional.lif.lif_feed_forward_step` with the adjoint backward.

    ``apply(input_tensor, v, i, p, dt) -> (z, v, i)``.
    """

    @staticmethod
    def forward(input_tensor, v, i, p, dt):
        z_new, s = lif_feed_forward_step(
            input_tensor, LIFFeedForwardState(v, i), _heaviside_parameters(p), dt
        )
        return z_new, s.v, s.i

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, v, i, p, dt = inputs
        ctx.save_for_backward(x, v, i, output[0])
        ctx.p, ctx.dt = p, dt

    @staticmethod
    def backward(ctx, grad_z, grad_v, grad_i):
        x, v, i, z_new = ctx.saved_tensors
        i_jump = i + _dense(x)
        lam_v, lam_i = _lif_backward(
            grad_z, grad_v, grad_i, _dense(z_new), v, i_jump, ctx.p, ctx.dt
        )
        needs = ctx.needs_input_grad
        return (
            _grad_like(lam_i, x, needs[0]),
            _grad_like(lam_v, v, needs[1]),
            _grad_like(lam_i, i, needs[2]),
            None,
            None,
        )


class LIFFeedForwardSparseAdjointFunction(LIFFeedForwardAdjointFunction):
    """:func:`~norse.torch.functional.lif.lif_feed_forward_step_sparse` with the adjoint
    backward; returns **dense** spikes."""

    @staticmethod
    def forward(input_tensor, v, i, p, dt):
        z_new, s = lif_feed_forward_step_sparse(
            input_tensor, LIFFeedForwardState(v, i), _heaviside_parameters(p), dt
        )
        return z_new.to_dense(), s.v, s.i


def lif_feed_forward_adjoint_step(
    input_tensor: Tensor,
    state: LIFFeedForwardState,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFFeedForwardState]:
    """:func:`~norse.torch.functional.lif.lif_feed_forward_step` with the discrete adjoint
    backward.

    Example:
        >>> x = torch.tensor([1.0, 20.0], requires_grad=True)
        >>> s = LIFFeedForwardState(v=torch.zeros(2), i=torch.zeros(2))
        >>> z, s = lif_feed_forward_adjoint_step(x, s)
        >>> z.sum().backward()   # only the spiking neuron's input gets a gradient
        >>> z.detach(), [round(g, 8) for g in x.grad.tolist()]
        (tensor([0., 1.]), [0.0, 5e-05])
    """
    z, v, i = LIFFeedForwardAdjointFunction.apply(input_tensor, state.v, state.i, p, dt)
    return z, LIFFeedForwardState(v, i)


def lif_feed_forward_adjoint_step_sparse(
    input_tensor: Tensor,
    state: LIFFeedForwardState,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFFeedForwardState]:
    """:func:`lif_feed_forward_adjoint_step` for sparse inputs; returns dense spikes.

    Example:
        >>> s = LIFFeedForwardState(v=torch.zeros(2), i=torch.zeros(2))
        >>> z, s = lif_feed_forward_adjoint_step_sparse(torch.tensor([1.0, 20.0]).to_sparse(), s)
        >>> z.is_sparse, z
        (False, tensor([0., 1.]))
    """
    z, v, i = LIFFeedForwardSparseAdjointFunction.apply(input_tensor, state.v, state.i, p, dt)
    return z, LIFFeedForwardState(v, i)
