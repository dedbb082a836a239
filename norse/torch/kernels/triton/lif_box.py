"""Fused Triton kernels for feed-forward box LIF neurons (no synaptic current) over a sequence.

Equations: :mod:`norse.torch.functional.lif_box` (same order of operations), with either
reset of :mod:`norse.torch.functional.reset` (a ``tl.constexpr`` flag). Forward keeps ``v``
in registers and saves the pre-reset voltage of every step when autograd records; backward
recomputes the spikes from it and runs the adjoint recursion backwards in time.
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor

from ...functional.lif_box import LIFBoxFeedForwardState
from ...functional.reset import reset_subtract, reset_value
from . import _common as C

__all__ = ["SEQUENCE", "LIFBoxSequence", "lif_box_sequence", "unsupported"]


@triton.jit
def _lif_box_fwd_kernel(
    x_ptr,
    z_ptr,
    v1_ptr,
    v_out_ptr,
    v0_ptr,
    cm_ptr,
    vleak_ptr,
    vth_ptr,
    vreset_ptr,
    N,
    T,
    stride_xt,
    V0_FULL: tl.constexpr,
    CM_FULL: tl.constexpr,
    VLEAK_FULL: tl.constexpr,
    VTH_FULL: tl.constexpr,
    VRESET_FULL: tl.constexpr,
    SUBTRACT: tl.constexpr,
    SAVE: tl.constexpr,
    DT: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs, mask = C.block_offsets(N, BLOCK)
    v = C.load_block(v0_ptr, offs, mask, V0_FULL, DT, BLOCK)
    cm = C.load_param(cm_ptr, offs, mask, CM_FULL, DT)
    vleak = C.load_param(vleak_ptr, offs, mask, VLEAK_FULL, DT)
    vth = C.load_param(vth_ptr, offs, mask, VTH_FULL, DT)
    vreset = C.load_param(vreset_ptr, offs, mask, VRESET_FULL, DT)

    x_ptrs = x_ptr + offs
    z_ptrs = z_ptr + offs
    v1_ptrs = v1_ptr + offs
    x_next = tl.load(x_ptrs, mask=mask, other=0.0)
    for t in range(T):
        x, x_ptrs, x_next = C.next_input(x_ptrs, x_next, stride_xt, t, T, mask, DT, BLOCK)
        v1 = v + cm * ((x + vleak) - v)
        z = (v1 - vth > 0).to(DT)
        v = C.reset(z, v1, vth, vreset, SUBTRACT)
        tl.store(z_ptrs, z.to(z_ptr.dtype.element_ty), mask=mask)
        if SAVE:
            tl.store(v1_ptrs, v1.to(v1_ptr.dtype.element_ty), mask=mask)
        z_ptrs += N
        v1_ptrs += N
    tl.store(v_out_ptr + offs, v.to(v_out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _lif_box_bwd_kernel(
    gz_ptr,
    gv_ptr,
    v1_ptr,
    x_ptr,
    gx_ptr,
    v0_ptr,
    cm_ptr,
    vleak_ptr,
    vth_ptr,
    vreset_ptr,
    alpha_ptr,
    gv0_ptr,
    gcm_ptr,
    gvleak_ptr,
    gvth_ptr,
    gvreset_ptr,
    N,
    T,
    stride_xt,
    stride_gzt,
    stride_gzn,
    last_x,
    last_gz,
    last_row,
    V0_FULL: tl.constexpr,
    CM_FULL: tl.constexpr,
    VLEAK_FULL: tl.constexpr,
    VTH_FULL: tl.constexpr,
    VRESET_FULL: tl.constexpr,
    ALPHA_FULL: tl.constexpr,
    SUBTRACT: tl.constexpr,
    HAS_GZ: tl.constexpr,
    HAS_GV: tl.constexpr,
    WRITE_GX: tl.constexpr,
    G_V0: tl.constexpr,
    G_CM: tl.constexpr,
    G_VLEAK: tl.constexpr,
    G_VTH: tl.constexpr,
    G_VRESET: tl.constexpr,
    METHOD: tl.constexpr,
    DT: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs, mask = C.block_offsets(N, BLOCK)
    cm = C.load_param(cm_ptr, offs, mask, CM_FULL, DT)
    vleak = C.load_param(vleak_ptr, offs, mask, VLEAK_FULL, DT)
    vth = C.load_param(vth_ptr, offs, mask, VTH_FULL, DT)
    vreset = C.load_param(vreset_ptr, offs, mask, VRESET_FULL, DT)
    alpha = C.load_alpha(alpha_ptr, offs, mask, ALPHA_FULL, DT)
    lv = C.load_grad(gv_ptr, offs, mask, HAS_GV, DT, BLOCK)
    acc_cm = tl.zeros([BLOCK], DT)
    acc_vleak = tl.zeros([BLOCK], DT)
    acc_vth = tl.zeros([BLOCK], DT)
    acc_vreset = tl.zeros([BLOCK], DT)
    if G_CM:
        v0 = C.load_block(v0_ptr, offs, mask, V0_FULL, DT, BLOCK)

    v1_ptrs = v1_ptr + offs + last_row
    gx_ptrs = gx_ptr + offs + last_row
    x_ptrs = x_ptr + offs + last_x
    gz_ptrs = gz_ptr + offs * stride_gzn + last_gz
    v1 = tl.load(v1_ptrs, mask=mask, other=0.0).to(DT)
    for k in range(T):
        has_prev = C.before(k + 1, T, BLOCK)
        v1_prev = tl.load(v1_ptrs - N, mask=mask & has_prev, other=0.0).to(DT)
        z = (v1 - vth > 0).to(DT)
        # reset: value (1 - z) v1 + z v_reset, or subtract (1 - z) v1 + z (v1 - v_th)
        if SUBTRACT:
            g_v1 = lv * (1.0 - z) + lv * z
            g_z = lv * (v1 - vth) - lv * v1
            if G_VTH:
                acc_vth -= lv * z
        else:
            g_v1 = lv * (1.0 - z)
            g_z = lv * vreset - lv * v1
            if G_VRESET:
                acc_vreset += lv * z
        if METHOD != 0:
            if HAS_GZ:
                g_z += tl.load(gz_ptrs, mask=mask, other=0.0).to(DT)
            g_u = g_z * C.surrogate(v1 - vth, alpha, METHOD)
            g_v1 += g_u
            if G_VTH:
                acc_vth -= g_u
        # v1 = v + cm ((x + v_leak) - v)
        g_b = g_v1 * cm
        if G_CM:
            z_prev = (v1_prev - vth > 0).to(DT)
            v_prev = C.reset(z_prev, v1_prev, vth, vreset, SUBTRACT)
            v_prev = tl.where(has_prev, v_prev, v0)
            x = tl.load(x_ptrs, mask=mask, other=0.0).to(DT)
            acc_cm += g_v1 * ((x + vleak) - v_prev)
        if G_VLEAK:
            acc_vleak += g_b
        if WRITE_GX:
            tl.store(gx_ptrs, g_b.to(gx_ptr.dtype.element_ty), mask=mask)
        lv = g_v1 - g_b
        v1 = v1_prev
        v1_ptrs -= N
        gx_ptrs -= N
        x_ptrs -= stride_xt
        gz_ptrs -= stride_gzt

    C.store_if(gv0_ptr, offs, lv, mask, G_V0)
    C.store_if(gcm_ptr, offs, acc_cm, mask, G_CM)
    C.store_if(gvleak_ptr, offs, acc_vleak, mask, G_VLEAK)
    C.store_if(gvth_ptr, offs, acc_vth, mask, G_VTH)
    C.store_if(gvreset_ptr, offs, acc_vreset, mask, G_VRESET)


class LIFBoxSequence(C.SequenceFunction):
    """Feed-forward box LIF neurons over ``T`` steps in one kernel, with a fused backward.

    Inputs (from :func:`lif_box_sequence`): ``x (T, N)``, then 0-dim or ``(N,)`` leaves
    ``v0, cm = dt tau_mem_inv, v_leak, v_th, v_reset, alpha``, whether the reset subtracts,
    and the :class:`~norse.torch.kernels.triton._common.Plan`. Returns ``z (T, N), v (N,)``.

    Example:
        >>> from norse.torch.kernels.triton import _common as C
        >>> x = torch.full((3, 2), 2.0)
        >>> plan = C.make_plan(x, torch.float32, "super")
        >>> leaves = [C.leaf(v, plan) for v in (0.0, 0.1, 0.0, 1.0, 0.0, 100.0)]
        >>> z, v = LIFBoxSequence.apply(x, *leaves, False, plan)  # doctest: +SKIP
        >>> v  # doctest: +SKIP
        tensor([0.5420, 0.5420])
    """

    model = C.Model(
        fwd=_lif_box_fwd_kernel,
        bwd=_lif_box_bwd_kernel,
        out="z",
        state=("v",),
        leaves=("v0", "cm", "vleak", "vth", "vreset", "alpha"),
        x_for=("cm",),
        consts=("SUBTRACT",),
    )


def unsupported(p: Any) -> str | None:
    """Why the kernels cannot run parameters ``p`` (a custom ``reset_method``), or ``None``.

    Example:
        >>> from norse.torch.functional.lif_box import LIFBoxParameters
        >>> unsupported(LIFBoxParameters()) is None
        True
    """
    if p.reset_method is not reset_value and p.reset_method is not reset_subtract:
        return (
            f"reset_method {getattr(p.reset_method, '__name__', p.reset_method)!r} is neither "
            "reset_value nor reset_subtract"
        )
    return None


def lif_box_sequence(
    x: Tensor, state: LIFBoxFeedForwardState, p: Any, dt: float, out_dtype: torch.dtype
) -> tuple[Tensor, LIFBoxFeedForwardState]:
    """Run :func:`~norse.torch.functional.lif_box.lif_box_feed_forward_step` over ``x``'s first
    dimension (arguments as :func:`~norse.torch.kernels.triton.lif.lif_sequence`).

    Example:
        >>> from norse.torch.functional.lif_box import LIFBoxParameters
        >>> s = LIFBoxFeedForwardState(v=torch.zeros(2))
        >>> z, s = lif_box_sequence(torch.full((3, 2), 2.0), s, LIFBoxParameters(), 1e-3,
        ...                         torch.float32)  # doctest: +SKIP
        >>> s.v  # doctest: +SKIP
        tensor([0.5420, 0.5420])
    """
    values = (state.v, dt * p.tau_mem_inv, p.v_leak, p.v_th, p.v_reset, p.alpha)
    subtract = p.reset_method is reset_subtract
    z, (v,) = C.sequence(LIFBoxSequence, x, values, out_dtype, p.method, (subtract,))
    return z, LIFBoxFeedForwardState(v=v)


#: The launcher the backend calls.
SEQUENCE = lif_box_sequence
