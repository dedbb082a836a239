"""Fused Triton kernels for feed-forward LIF neurons over a whole sequence.

Equations: :mod:`norse.torch.functional.lif` (evaluated in the same order). The forward
kernel keeps ``v`` and ``i`` of a block of neurons in registers for all ``T`` steps and saves
the pre-reset voltage ``v1`` of every step (when autograd records). The backward kernel runs
the adjoint recursion backwards in time, recomputing the spikes from ``v1``; the currents
``i + x`` (needed only for the gradients of the time constants) are recomputed forward into a
scratch buffer first, never by inverting the decay.
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor

from ...functional.lif import LIFFeedForwardState
from . import _common as C

__all__ = ["SEQUENCE", "LIFSequence", "lif_sequence"]


@triton.jit
def _lif_fwd_kernel(
    x_ptr,
    z_ptr,
    v1_ptr,
    v_out_ptr,
    i_out_ptr,
    v0_ptr,
    i0_ptr,
    cm_ptr,
    cs_ptr,
    vleak_ptr,
    vth_ptr,
    vreset_ptr,
    N,
    T,
    stride_xt,
    V0_FULL: tl.constexpr,
    I0_FULL: tl.constexpr,
    CM_FULL: tl.constexpr,
    CS_FULL: tl.constexpr,
    VLEAK_FULL: tl.constexpr,
    VTH_FULL: tl.constexpr,
    VRESET_FULL: tl.constexpr,
    SAVE: tl.constexpr,
    DT: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs, mask = C.block_offsets(N, BLOCK)
    v = C.load_block(v0_ptr, offs, mask, V0_FULL, DT, BLOCK)
    i = C.load_block(i0_ptr, offs, mask, I0_FULL, DT, BLOCK)
    cm = C.load_param(cm_ptr, offs, mask, CM_FULL, DT)
    cs = C.load_param(cs_ptr, offs, mask, CS_FULL, DT)
    vleak = C.load_param(vleak_ptr, offs, mask, VLEAK_FULL, DT)
    vth = C.load_param(vth_ptr, offs, mask, VTH_FULL, DT)
    vreset = C.load_param(vreset_ptr, offs, mask, VRESET_FULL, DT)

    x_ptrs = x_ptr + offs
    z_ptrs = z_ptr + offs
    v1_ptrs = v1_ptr + offs
    x_next = tl.load(x_ptrs, mask=mask, other=0.0)
    for t in range(T):
        x, x_ptrs, x_next = C.next_input(x_ptrs, x_next, stride_xt, t, T, mask, DT, BLOCK)
        i1, i = C.synaptic_current(i, x, cs)
        v1 = v + cm * ((vleak - v) + i1)
        z = (v1 - vth > 0).to(DT)
        v = C.reset(z, v1, vth, vreset, False)
        tl.store(z_ptrs, z.to(z_ptr.dtype.element_ty), mask=mask)
        if SAVE:
            tl.store(v1_ptrs, v1.to(v1_ptr.dtype.element_ty), mask=mask)
        z_ptrs += N
        v1_ptrs += N
    tl.store(v_out_ptr + offs, v.to(v_out_ptr.dtype.element_ty), mask=mask)
    tl.store(i_out_ptr + offs, i.to(i_out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _lif_bwd_kernel(
    gz_ptr,
    gv_ptr,
    gi_ptr,
    v1_ptr,
    x_ptr,
    gx_ptr,
    scratch_ptr,
    v0_ptr,
    i0_ptr,
    cm_ptr,
    cs_ptr,
    vleak_ptr,
    vth_ptr,
    vreset_ptr,
    alpha_ptr,
    gv0_ptr,
    gi0_ptr,
    gcm_ptr,
    gcs_ptr,
    gvleak_ptr,
    gvth_ptr,
    gvreset_ptr,
    N,
    T,
    stride_xt,
    stride_gzt,
    stride_gzn,
    last_gz,
    last_row,
    V0_FULL: tl.constexpr,
    I0_FULL: tl.constexpr,
    CM_FULL: tl.constexpr,
    CS_FULL: tl.constexpr,
    VLEAK_FULL: tl.constexpr,
    VTH_FULL: tl.constexpr,
    VRESET_FULL: tl.constexpr,
    ALPHA_FULL: tl.constexpr,
    HAS_GZ: tl.constexpr,
    HAS_GV: tl.constexpr,
    HAS_GI: tl.constexpr,
    WRITE_GX: tl.constexpr,
    G_V0: tl.constexpr,
    G_I0: tl.constexpr,
    G_CM: tl.constexpr,
    G_CS: tl.constexpr,
    G_VLEAK: tl.constexpr,
    G_VTH: tl.constexpr,
    G_VRESET: tl.constexpr,
    SHARE: tl.constexpr,
    METHOD: tl.constexpr,
    DT: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs, mask = C.block_offsets(N, BLOCK)
    if SHARE:
        # the currents go where the input gradient goes (read just before it is written);
        # one base pointer, so the compiler sees that they alias
        scratch_ptr = gx_ptr
    cm = C.load_param(cm_ptr, offs, mask, CM_FULL, DT)
    cs = C.load_param(cs_ptr, offs, mask, CS_FULL, DT)
    vleak = C.load_param(vleak_ptr, offs, mask, VLEAK_FULL, DT)
    vth = C.load_param(vth_ptr, offs, mask, VTH_FULL, DT)
    vreset = C.load_param(vreset_ptr, offs, mask, VRESET_FULL, DT)
    alpha = C.load_alpha(alpha_ptr, offs, mask, ALPHA_FULL, DT)

    # Phase 1 (only for the time constants' gradients): the jumped currents i + x of every
    # step, recomputed forward (they do not depend on the spikes).
    NEED_I1: tl.constexpr = G_CM or G_CS
    if NEED_I1:
        C.store_currents(
            i0_ptr, x_ptr, scratch_ptr, cs, offs, mask, N, T, stride_xt, I0_FULL, DT, BLOCK
        )

    # Phase 2: the adjoint recursion, t = T-1 .. 0. lv, li: gradients w.r.t. v and i after step t.
    lv = C.load_grad(gv_ptr, offs, mask, HAS_GV, DT, BLOCK)
    li = C.load_grad(gi_ptr, offs, mask, HAS_GI, DT, BLOCK)
    acc_cm = tl.zeros([BLOCK], DT)
    acc_cs = tl.zeros([BLOCK], DT)
    acc_vleak = tl.zeros([BLOCK], DT)
    acc_vth = tl.zeros([BLOCK], DT)
    acc_vreset = tl.zeros([BLOCK], DT)
    if G_CM:
        v0 = C.load_block(v0_ptr, offs, mask, V0_FULL, DT, BLOCK)

    v1_ptrs = v1_ptr + offs + last_row
    s_ptrs = scratch_ptr + offs + last_row
    gx_ptrs = gx_ptr + offs + last_row
    gz_ptrs = gz_ptr + offs * stride_gzn + last_gz
    v1 = tl.load(v1_ptrs, mask=mask, other=0.0).to(DT)
    for k in range(T):
        has_prev = C.before(k + 1, T, BLOCK)
        v1_prev = tl.load(v1_ptrs - N, mask=mask & has_prev, other=0.0).to(DT)
        z = (v1 - vth > 0).to(DT)
        # v2 = (1 - z) v1 + z v_reset
        g_v1 = lv * (1.0 - z)
        if G_VRESET:
            acc_vreset += lv * z
        if METHOD != 0:
            # z = H(v1 - v_th) with the surrogate derivative
            if HAS_GZ:
                g_z = tl.load(gz_ptrs, mask=mask, other=0.0).to(DT)
            else:
                g_z = tl.zeros([BLOCK], DT)
            g_z += lv * vreset - lv * v1
            g_u = g_z * C.surrogate(v1 - vth, alpha, METHOD)
            g_v1 += g_u
            if G_VTH:
                acc_vth -= g_u
        # v1 = v + cm ((v_leak - v) + i1);  i' = i1 + cs i1
        g_b = g_v1 * cm
        g_i1 = li + li * cs + g_b
        if NEED_I1:
            i1 = tl.load(s_ptrs, mask=mask, other=0.0)
            if G_CS:
                acc_cs += li * i1
            if G_CM:
                z_prev = (v1_prev - vth > 0).to(DT)
                v_prev = tl.where(has_prev, C.reset(z_prev, v1_prev, vth, vreset, False), v0)
                acc_cm += g_v1 * ((vleak - v_prev) + i1)
        if G_VLEAK:
            acc_vleak += g_b
        if WRITE_GX:
            tl.store(gx_ptrs, g_i1.to(gx_ptr.dtype.element_ty), mask=mask)
        lv = g_v1 - g_b
        li = g_i1
        v1 = v1_prev
        v1_ptrs -= N
        s_ptrs -= N
        gx_ptrs -= N
        gz_ptrs -= stride_gzt

    C.store_if(gv0_ptr, offs, lv, mask, G_V0)
    C.store_if(gi0_ptr, offs, li, mask, G_I0)
    C.store_if(gcm_ptr, offs, acc_cm, mask, G_CM)
    C.store_if(gcs_ptr, offs, acc_cs, mask, G_CS)
    C.store_if(gvleak_ptr, offs, acc_vleak, mask, G_VLEAK)
    C.store_if(gvth_ptr, offs, acc_vth, mask, G_VTH)
    C.store_if(gvreset_ptr, offs, acc_vreset, mask, G_VRESET)


class LIFSequence(C.SequenceFunction):
    """Feed-forward LIF neurons over ``T`` steps in one kernel, with a fused backward.

    Inputs are prepared by :func:`lif_sequence`: ``x`` is ``(T, N)``; ``v0, i0`` (state) and
    ``cm = dt tau_mem_inv``, ``cs = -dt tau_syn_inv``, ``v_leak, v_th, v_reset, alpha`` are
    0-dim or ``(N,)`` tensors in the plan's math dtype. Returns ``z (T, N)``, ``v (N,)``, ``i (N,)``.

    Example:
        >>> from norse.torch.kernels.triton import _common as C
        >>> x = torch.full((3, 2), 0.5)
        >>> plan = C.make_plan(x, torch.float32, "super")
        >>> leaves = [C.leaf(v, plan) for v in (0.0, 0.0, 0.1, -0.2, 0.0, 1.0, 0.0, 100.0)]
        >>> z, v, i = LIFSequence.apply(x, *leaves, plan)  # doctest: +SKIP
        >>> v  # doctest: +SKIP
        tensor([0.2435, 0.2435])
    """

    model = C.Model(
        fwd=_lif_fwd_kernel,
        bwd=_lif_bwd_kernel,
        out="z",
        state=("v", "i"),
        leaves=("v0", "i0", "cm", "cs", "vleak", "vth", "vreset", "alpha"),
        x_for=("cm", "cs"),
        scratch=(("scratch", True, ("cm", "cs")),),
    )


def lif_sequence(
    x: Tensor, state: LIFFeedForwardState, p: Any, dt: float, out_dtype: torch.dtype
) -> tuple[Tensor, LIFFeedForwardState]:
    """Run :func:`~norse.torch.functional.lif.lif_feed_forward_step` over ``x``'s first dimension.

    Args:
        x: input of shape ``(T, *)``.
        state: the initial state (fields broadcastable to ``x.shape[1:]``).
        p: :class:`~norse.torch.functional.lif.LIFParameters`.
        dt: time step.
        out_dtype: dtype of outputs and states (what the reference would return).

    Returns:
        the spikes ``(T, *)`` and the final state.

    Example:
        >>> from norse.torch.functional.lif import LIFParameters
        >>> s = LIFFeedForwardState(v=torch.zeros(2), i=torch.zeros(2))
        >>> z, s = lif_sequence(torch.full((20, 2), 0.5), s, LIFParameters(), 1e-3,
        ...                     torch.float32)  # doctest: +SKIP
        >>> z.sum(0), s.v  # doctest: +SKIP
        (tensor([3., 3.]), tensor([0., 0.]))
    """
    values = (state.v, state.i, dt * p.tau_mem_inv, -dt * p.tau_syn_inv, p.v_leak, p.v_th,
              p.v_reset, p.alpha)  # fmt: skip
    z, (v, i) = C.sequence(LIFSequence, x, values, out_dtype, p.method)
    return z, LIFFeedForwardState(v=v, i=i)


#: The launcher the backend calls.
SEQUENCE = lif_sequence
