"""Fused Triton kernels for leaky integrators (LI) over a whole sequence.

Equations: :mod:`norse.torch.functional.leaky_integrator` (same order of operations). The
output of every step is the voltage, so nothing extra is saved for backward: the gradient of
``tau_mem_inv`` reads the previous voltage from the output itself, and the currents ``i + x``
(for the time constants' gradients) are recomputed forward into a scratch buffer.
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor

from ...functional.leaky_integrator import LIState
from . import _common as C

__all__ = ["SEQUENCE", "LISequence", "li_sequence"]


@triton.jit
def _li_fwd_kernel(
    x_ptr,
    y_ptr,
    vs_ptr,
    v_out_ptr,
    i_out_ptr,
    v0_ptr,
    i0_ptr,
    cm_ptr,
    cs_ptr,
    vleak_ptr,
    N,
    T,
    stride_xt,
    V0_FULL: tl.constexpr,
    I0_FULL: tl.constexpr,
    CM_FULL: tl.constexpr,
    CS_FULL: tl.constexpr,
    VLEAK_FULL: tl.constexpr,
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

    x_ptrs = x_ptr + offs
    y_ptrs = y_ptr + offs
    vs_ptrs = vs_ptr + offs
    x_next = tl.load(x_ptrs, mask=mask, other=0.0)
    for t in range(T):
        x, x_ptrs, x_next = C.next_input(x_ptrs, x_next, stride_xt, t, T, mask, DT, BLOCK)
        i1, i = C.synaptic_current(i, x, cs)
        v = v + cm * ((vleak - v) + i1)
        tl.store(y_ptrs, v.to(y_ptr.dtype.element_ty), mask=mask)
        if SAVE:  # half outputs: keep the float32 voltages for backward
            tl.store(vs_ptrs, v, mask=mask)
        y_ptrs += N
        vs_ptrs += N
    tl.store(v_out_ptr + offs, v.to(v_out_ptr.dtype.element_ty), mask=mask)
    tl.store(i_out_ptr + offs, i.to(i_out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _li_bwd_kernel(
    gy_ptr,
    gv_ptr,
    gi_ptr,
    y_ptr,
    x_ptr,
    gx_ptr,
    scratch_ptr,
    v0_ptr,
    i0_ptr,
    cm_ptr,
    cs_ptr,
    vleak_ptr,
    gv0_ptr,
    gi0_ptr,
    gcm_ptr,
    gcs_ptr,
    gvleak_ptr,
    N,
    T,
    stride_xt,
    stride_gyt,
    stride_gyn,
    last_gy,
    last_row,
    V0_FULL: tl.constexpr,
    I0_FULL: tl.constexpr,
    CM_FULL: tl.constexpr,
    CS_FULL: tl.constexpr,
    VLEAK_FULL: tl.constexpr,
    HAS_GY: tl.constexpr,
    HAS_GV: tl.constexpr,
    HAS_GI: tl.constexpr,
    WRITE_GX: tl.constexpr,
    G_V0: tl.constexpr,
    G_I0: tl.constexpr,
    G_CM: tl.constexpr,
    G_CS: tl.constexpr,
    G_VLEAK: tl.constexpr,
    SHARE: tl.constexpr,
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

    NEED_I1: tl.constexpr = G_CM or G_CS
    if NEED_I1:
        C.store_currents(
            i0_ptr, x_ptr, scratch_ptr, cs, offs, mask, N, T, stride_xt, I0_FULL, DT, BLOCK
        )

    lv = C.load_grad(gv_ptr, offs, mask, HAS_GV, DT, BLOCK)
    li = C.load_grad(gi_ptr, offs, mask, HAS_GI, DT, BLOCK)
    acc_cm = tl.zeros([BLOCK], DT)
    acc_cs = tl.zeros([BLOCK], DT)
    acc_vleak = tl.zeros([BLOCK], DT)
    if G_CM:
        v0 = C.load_block(v0_ptr, offs, mask, V0_FULL, DT, BLOCK)

    y_ptrs = y_ptr + offs + last_row
    s_ptrs = scratch_ptr + offs + last_row
    gx_ptrs = gx_ptr + offs + last_row
    gy_ptrs = gy_ptr + offs * stride_gyn + last_gy
    for k in range(T):
        # the step's voltage is both its output and the next step's state
        g_v1 = lv
        if HAS_GY:
            g_v1 += tl.load(gy_ptrs, mask=mask, other=0.0).to(DT)
        g_b = g_v1 * cm
        g_i1 = li + li * cs + g_b
        if NEED_I1:
            i1 = tl.load(s_ptrs, mask=mask, other=0.0)
            if G_CS:
                acc_cs += li * i1
            if G_CM:
                has_prev = C.before(k + 1, T, BLOCK)
                v_prev = tl.load(y_ptrs - N, mask=mask & has_prev, other=0.0).to(DT)
                v_prev = tl.where(has_prev, v_prev, v0)
                acc_cm += g_v1 * ((vleak - v_prev) + i1)
        if G_VLEAK:
            acc_vleak += g_b
        if WRITE_GX:
            tl.store(gx_ptrs, g_i1.to(gx_ptr.dtype.element_ty), mask=mask)
        lv = g_v1 - g_b
        li = g_i1
        y_ptrs -= N
        s_ptrs -= N
        gx_ptrs -= N
        gy_ptrs -= stride_gyt

    C.store_if(gv0_ptr, offs, lv, mask, G_V0)
    C.store_if(gi0_ptr, offs, li, mask, G_I0)
    C.store_if(gcm_ptr, offs, acc_cm, mask, G_CM)
    C.store_if(gcs_ptr, offs, acc_cs, mask, G_CS)
    C.store_if(gvleak_ptr, offs, acc_vleak, mask, G_VLEAK)


class LISequence(C.SequenceFunction):
    """Leaky integrators over ``T`` steps in one kernel, with a fused backward.

    Inputs (from :func:`li_sequence`): ``x (T, N)``, then 0-dim or ``(N,)`` leaves
    ``v0, i0, cm = dt tau_mem_inv, cs = -dt tau_syn_inv, v_leak`` and the plan.
    Returns the voltages ``(T, N)`` and the final ``v (N,)``, ``i (N,)``.

    Example:
        >>> from norse.torch.kernels.triton import _common as C
        >>> x = torch.ones(4, 1)
        >>> plan = C.make_plan(x, torch.float32)
        >>> leaves = [C.leaf(v, plan) for v in (0.0, 0.0, 0.1, -0.2, 0.0)]
        >>> y, v, i = LISequence.apply(x, *leaves, plan)  # doctest: +SKIP
        >>> y.flatten()  # doctest: +SKIP
        tensor([0.1000, 0.2700, 0.4870, 0.7335])
    """

    model = C.Model(
        fwd=_li_fwd_kernel,
        bwd=_li_bwd_kernel,
        out="y",
        state=("v", "i"),
        leaves=("v0", "i0", "cm", "cs", "vleak"),
        save=("vs", "y"),
        spiking=False,
        save_for=("cm",),
        x_for=("cm", "cs"),
        scratch=(("scratch", True, ("cm", "cs")),),
    )


def li_sequence(
    x: Tensor, state: LIState, p: Any, dt: float, out_dtype: torch.dtype
) -> tuple[Tensor, LIState]:
    """Run :func:`~norse.torch.functional.leaky_integrator.li_feed_forward_step` over ``x``'s
    first dimension (arguments as :func:`~norse.torch.kernels.triton.lif.lif_sequence`).

    Example:
        >>> from norse.torch.functional.leaky_integrator import LIParameters
        >>> s = LIState(v=torch.zeros(1), i=torch.zeros(1))
        >>> y, s = li_sequence(torch.ones(4, 1), s, LIParameters(), 1e-3,
        ...                    torch.float32)  # doctest: +SKIP
        >>> s.i  # doctest: +SKIP
        tensor([2.3616])
    """
    values = (state.v, state.i, dt * p.tau_mem_inv, -dt * p.tau_syn_inv, p.v_leak)
    y, (v, i) = C.sequence(LISequence, x, values, out_dtype)
    return y, LIState(v=v, i=i)


#: The launcher the backend calls.
SEQUENCE = li_sequence
