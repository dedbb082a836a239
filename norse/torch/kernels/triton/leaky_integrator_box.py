"""Fused Triton kernels for box leaky integrators (no synaptic current) over a sequence.

Equations: :mod:`norse.torch.functional.leaky_integrator_box` (same order of operations).
The output of every step is the voltage; backward needs nothing else (the gradient of
``tau_mem_inv`` reads the previous voltage from the output).
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor

from ...functional.leaky_integrator_box import LIBoxState
from . import _common as C

__all__ = ["SEQUENCE", "LIBoxSequence", "li_box_sequence"]


@triton.jit
def _li_box_fwd_kernel(
    x_ptr,
    y_ptr,
    vs_ptr,
    v_out_ptr,
    v0_ptr,
    cm_ptr,
    vleak_ptr,
    N,
    T,
    stride_xt,
    V0_FULL: tl.constexpr,
    CM_FULL: tl.constexpr,
    VLEAK_FULL: tl.constexpr,
    SAVE: tl.constexpr,
    DT: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs, mask = C.block_offsets(N, BLOCK)
    v = C.load_block(v0_ptr, offs, mask, V0_FULL, DT, BLOCK)
    cm = C.load_param(cm_ptr, offs, mask, CM_FULL, DT)
    vleak = C.load_param(vleak_ptr, offs, mask, VLEAK_FULL, DT)

    x_ptrs = x_ptr + offs
    y_ptrs = y_ptr + offs
    vs_ptrs = vs_ptr + offs
    x_next = tl.load(x_ptrs, mask=mask, other=0.0)
    for t in range(T):
        x, x_ptrs, x_next = C.next_input(x_ptrs, x_next, stride_xt, t, T, mask, DT, BLOCK)
        v = v + cm * ((vleak - v) + x)
        tl.store(y_ptrs, v.to(y_ptr.dtype.element_ty), mask=mask)
        if SAVE:  # half outputs: keep the float32 voltages for backward
            tl.store(vs_ptrs, v, mask=mask)
        y_ptrs += N
        vs_ptrs += N
    tl.store(v_out_ptr + offs, v.to(v_out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _li_box_bwd_kernel(
    gy_ptr,
    gv_ptr,
    y_ptr,
    x_ptr,
    gx_ptr,
    v0_ptr,
    cm_ptr,
    vleak_ptr,
    gv0_ptr,
    gcm_ptr,
    gvleak_ptr,
    N,
    T,
    stride_xt,
    stride_gyt,
    stride_gyn,
    last_x,
    last_gy,
    last_row,
    V0_FULL: tl.constexpr,
    CM_FULL: tl.constexpr,
    VLEAK_FULL: tl.constexpr,
    HAS_GY: tl.constexpr,
    HAS_GV: tl.constexpr,
    WRITE_GX: tl.constexpr,
    G_V0: tl.constexpr,
    G_CM: tl.constexpr,
    G_VLEAK: tl.constexpr,
    DT: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs, mask = C.block_offsets(N, BLOCK)
    cm = C.load_param(cm_ptr, offs, mask, CM_FULL, DT)
    vleak = C.load_param(vleak_ptr, offs, mask, VLEAK_FULL, DT)
    lv = C.load_grad(gv_ptr, offs, mask, HAS_GV, DT, BLOCK)
    acc_cm = tl.zeros([BLOCK], DT)
    acc_vleak = tl.zeros([BLOCK], DT)
    if G_CM:
        v0 = C.load_block(v0_ptr, offs, mask, V0_FULL, DT, BLOCK)

    y_ptrs = y_ptr + offs + last_row
    x_ptrs = x_ptr + offs + last_x
    gx_ptrs = gx_ptr + offs + last_row
    gy_ptrs = gy_ptr + offs * stride_gyn + last_gy
    for k in range(T):
        g_v1 = lv
        if HAS_GY:
            g_v1 += tl.load(gy_ptrs, mask=mask, other=0.0).to(DT)
        # v1 = v + cm ((v_leak - v) + x)
        g_b = g_v1 * cm
        if G_CM:
            has_prev = C.before(k + 1, T, BLOCK)
            v_prev = tl.load(y_ptrs - N, mask=mask & has_prev, other=0.0).to(DT)
            v_prev = tl.where(has_prev, v_prev, v0)
            x = tl.load(x_ptrs, mask=mask, other=0.0).to(DT)
            acc_cm += g_v1 * ((vleak - v_prev) + x)
        if G_VLEAK:
            acc_vleak += g_b
        if WRITE_GX:
            tl.store(gx_ptrs, g_b.to(gx_ptr.dtype.element_ty), mask=mask)
        lv = g_v1 - g_b
        y_ptrs -= N
        x_ptrs -= stride_xt
        gx_ptrs -= N
        gy_ptrs -= stride_gyt

    C.store_if(gv0_ptr, offs, lv, mask, G_V0)
    C.store_if(gcm_ptr, offs, acc_cm, mask, G_CM)
    C.store_if(gvleak_ptr, offs, acc_vleak, mask, G_VLEAK)


class LIBoxSequence(C.SequenceFunction):
    """Box leaky integrators over ``T`` steps in one kernel, with a fused backward.

    Inputs (from :func:`li_box_sequence`): ``x (T, N)``, 0-dim or ``(N,)`` leaves
    ``v0, cm = dt tau_mem_inv, v_leak`` and the plan. Returns the voltages ``(T, N)`` and the
    final ``v (N,)``.

    Example:
        >>> from norse.torch.kernels.triton import _common as C
        >>> x = torch.ones(2, 2)
        >>> plan = C.make_plan(x, torch.float32)
        >>> leaves = [C.leaf(v, plan) for v in (0.0, 0.1, 0.0)]
        >>> y, v = LIBoxSequence.apply(x, *leaves, plan)  # doctest: +SKIP
        >>> y  # doctest: +SKIP
        tensor([[0.1000, 0.1000],
                [0.1900, 0.1900]])
    """

    model = C.Model(
        fwd=_li_box_fwd_kernel,
        bwd=_li_box_bwd_kernel,
        out="y",
        state=("v",),
        leaves=("v0", "cm", "vleak"),
        save=("vs", "y"),
        spiking=False,
        save_for=("cm",),
        x_for=("cm",),
    )


def li_box_sequence(
    x: Tensor, state: LIBoxState, p: Any, dt: float, out_dtype: torch.dtype
) -> tuple[Tensor, LIBoxState]:
    """Run :func:`~norse.torch.functional.leaky_integrator_box.li_box_feed_forward_step` over
    ``x``'s first dimension (arguments as :func:`~norse.torch.kernels.triton.lif.lif_sequence`).

    Example:
        >>> from norse.torch.functional.leaky_integrator_box import LIBoxParameters
        >>> y, s = li_box_sequence(torch.ones(2, 2), LIBoxState(v=torch.zeros(2)),
        ...                        LIBoxParameters(), 1e-3, torch.float32)  # doctest: +SKIP
        >>> s.v  # doctest: +SKIP
        tensor([0.1900, 0.1900])
    """
    values = (state.v, dt * p.tau_mem_inv, p.v_leak)
    y, (v,) = C.sequence(LIBoxSequence, x, values, out_dtype)
    return y, LIBoxState(v=v)


#: The launcher the backend calls.
SEQUENCE = li_box_sequence
