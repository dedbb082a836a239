"""Fused Triton kernels for feed-forward LIF neurons with a refractory period over a sequence.

Equations: :mod:`norse.torch.functional.lif_refrac` on top of
:mod:`norse.torch.functional.lif` (same order of operations). Forward keeps ``v, i, rho`` in
registers and saves the voltage after every step when autograd records. Backward first
replays the sequence forward (exactly, from the saved voltages) to recover the currents
``i + x`` and the refractory counters, which it keeps in scratch buffers, then runs the
adjoint recursion backwards in time.
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor

from ...functional.lif import LIFFeedForwardState
from ...functional.lif_refrac import LIFRefracFeedForwardState
from . import _common as C

__all__ = ["SEQUENCE", "LIFRefracSequence", "lif_refrac_sequence"]


@triton.jit
def _lif_refrac_fwd_kernel(
    x_ptr,
    z_ptr,
    vs_ptr,
    v_out_ptr,
    i_out_ptr,
    rho_out_ptr,
    v0_ptr,
    i0_ptr,
    rho0_ptr,
    cm_ptr,
    cs_ptr,
    vleak_ptr,
    vth_ptr,
    vreset_ptr,
    rr_ptr,
    N,
    T,
    stride_xt,
    V0_FULL: tl.constexpr,
    I0_FULL: tl.constexpr,
    RHO0_FULL: tl.constexpr,
    CM_FULL: tl.constexpr,
    CS_FULL: tl.constexpr,
    VLEAK_FULL: tl.constexpr,
    VTH_FULL: tl.constexpr,
    VRESET_FULL: tl.constexpr,
    RR_FULL: tl.constexpr,
    SAVE: tl.constexpr,
    DT: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs, mask = C.block_offsets(N, BLOCK)
    v = C.load_block(v0_ptr, offs, mask, V0_FULL, DT, BLOCK)
    i = C.load_block(i0_ptr, offs, mask, I0_FULL, DT, BLOCK)
    rho = C.load_block(rho0_ptr, offs, mask, RHO0_FULL, DT, BLOCK)
    cm = C.load_param(cm_ptr, offs, mask, CM_FULL, DT)
    cs = C.load_param(cs_ptr, offs, mask, CS_FULL, DT)
    vleak = C.load_param(vleak_ptr, offs, mask, VLEAK_FULL, DT)
    vth = C.load_param(vth_ptr, offs, mask, VTH_FULL, DT)
    vreset = C.load_param(vreset_ptr, offs, mask, VRESET_FULL, DT)
    rr = C.load_param(rr_ptr, offs, mask, RR_FULL, DT)

    x_ptrs = x_ptr + offs
    z_ptrs = z_ptr + offs
    vs_ptrs = vs_ptr + offs
    x_next = tl.load(x_ptrs, mask=mask, other=0.0)
    for t in range(T):
        x, x_ptrs, x_next = C.next_input(x_ptrs, x_next, stride_xt, t, T, mask, DT, BLOCK)
        # the LIF step
        i1, i = C.synaptic_current(i, x, cs)
        v1 = v + cm * ((vleak - v) + i1)
        z_lif = (v1 - vth > 0).to(DT)
        v_lif = C.reset(z_lif, v1, vth, vreset, False)
        # the refractory mask
        m = (rho > 0).to(DT)
        v = (1.0 - m) * v_lif + m * v
        z = (1.0 - m) * z_lif
        rho = (1.0 - z) * tl.maximum(rho - m, 0.0) + z * rr
        tl.store(z_ptrs, z.to(z_ptr.dtype.element_ty), mask=mask)
        if SAVE:
            tl.store(vs_ptrs, v.to(vs_ptr.dtype.element_ty), mask=mask)
        z_ptrs += N
        vs_ptrs += N
    tl.store(v_out_ptr + offs, v.to(v_out_ptr.dtype.element_ty), mask=mask)
    tl.store(i_out_ptr + offs, i.to(i_out_ptr.dtype.element_ty), mask=mask)
    tl.store(rho_out_ptr + offs, rho.to(rho_out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _lif_refrac_bwd_kernel(
    gz_ptr,
    gv_ptr,
    gi_ptr,
    grho_ptr,
    vs_ptr,
    x_ptr,
    gx_ptr,
    si_ptr,
    srho_ptr,
    v0_ptr,
    i0_ptr,
    rho0_ptr,
    cm_ptr,
    cs_ptr,
    vleak_ptr,
    vth_ptr,
    vreset_ptr,
    rr_ptr,
    alpha_ptr,
    gv0_ptr,
    gi0_ptr,
    grho0_ptr,
    gcm_ptr,
    gcs_ptr,
    gvleak_ptr,
    gvth_ptr,
    gvreset_ptr,
    grr_ptr,
    N,
    T,
    stride_xt,
    stride_gzt,
    stride_gzn,
    last_gz,
    last_row,
    V0_FULL: tl.constexpr,
    I0_FULL: tl.constexpr,
    RHO0_FULL: tl.constexpr,
    CM_FULL: tl.constexpr,
    CS_FULL: tl.constexpr,
    VLEAK_FULL: tl.constexpr,
    VTH_FULL: tl.constexpr,
    VRESET_FULL: tl.constexpr,
    RR_FULL: tl.constexpr,
    ALPHA_FULL: tl.constexpr,
    HAS_GZ: tl.constexpr,
    HAS_GV: tl.constexpr,
    HAS_GI: tl.constexpr,
    HAS_GRHO: tl.constexpr,
    WRITE_GX: tl.constexpr,
    G_V0: tl.constexpr,
    G_I0: tl.constexpr,
    G_RHO0: tl.constexpr,
    G_CM: tl.constexpr,
    G_CS: tl.constexpr,
    G_VLEAK: tl.constexpr,
    G_VTH: tl.constexpr,
    G_VRESET: tl.constexpr,
    G_RR: tl.constexpr,
    SHARE: tl.constexpr,
    METHOD: tl.constexpr,
    DT: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs, mask = C.block_offsets(N, BLOCK)
    if SHARE:
        # the currents go where the input gradient goes (read just before it is written);
        # one base pointer, so the compiler sees that they alias
        si_ptr = gx_ptr
    v0 = C.load_block(v0_ptr, offs, mask, V0_FULL, DT, BLOCK)
    cm = C.load_param(cm_ptr, offs, mask, CM_FULL, DT)
    cs = C.load_param(cs_ptr, offs, mask, CS_FULL, DT)
    vleak = C.load_param(vleak_ptr, offs, mask, VLEAK_FULL, DT)
    vth = C.load_param(vth_ptr, offs, mask, VTH_FULL, DT)
    vreset = C.load_param(vreset_ptr, offs, mask, VRESET_FULL, DT)
    rr = C.load_param(rr_ptr, offs, mask, RR_FULL, DT)
    alpha = C.load_alpha(alpha_ptr, offs, mask, ALPHA_FULL, DT)

    # Phase 1: replay the sequence forward from the saved voltages; keep i + x and rho.
    i = C.load_block(i0_ptr, offs, mask, I0_FULL, DT, BLOCK)
    rho = C.load_block(rho0_ptr, offs, mask, RHO0_FULL, DT, BLOCK)
    v = v0
    x_ptrs = x_ptr + offs
    vs_ptrs = vs_ptr + offs
    si_ptrs = si_ptr + offs
    srho_ptrs = srho_ptr + offs
    for _ in range(T):
        i1, i = C.synaptic_current(i, tl.load(x_ptrs, mask=mask, other=0.0).to(DT), cs)
        v1 = v + cm * ((vleak - v) + i1)
        z_lif = (v1 - vth > 0).to(DT)
        m = (rho > 0).to(DT)
        z = (1.0 - m) * z_lif
        tl.store(si_ptrs, i1, mask=mask)
        tl.store(srho_ptrs, rho, mask=mask)
        rho = (1.0 - z) * tl.maximum(rho - m, 0.0) + z * rr
        v = tl.load(vs_ptrs, mask=mask, other=0.0).to(DT)
        x_ptrs += stride_xt
        vs_ptrs += N
        si_ptrs += N
        srho_ptrs += N
    tl.debug_barrier()

    # Phase 2: the adjoint recursion, t = T-1 .. 0 (lv, li, lr: gradients after step t).
    lv = C.load_grad(gv_ptr, offs, mask, HAS_GV, DT, BLOCK)
    li = C.load_grad(gi_ptr, offs, mask, HAS_GI, DT, BLOCK)
    lr = C.load_grad(grho_ptr, offs, mask, HAS_GRHO, DT, BLOCK)
    acc_cm = tl.zeros([BLOCK], DT)
    acc_cs = tl.zeros([BLOCK], DT)
    acc_vleak = tl.zeros([BLOCK], DT)
    acc_vth = tl.zeros([BLOCK], DT)
    acc_vreset = tl.zeros([BLOCK], DT)
    acc_rr = tl.zeros([BLOCK], DT)

    vs_ptrs = vs_ptr + offs + last_row
    si_ptrs = si_ptr + offs + last_row
    srho_ptrs = srho_ptr + offs + last_row
    gx_ptrs = gx_ptr + offs + last_row
    gz_ptrs = gz_ptr + offs * stride_gzn + last_gz
    for k in range(T):
        has_prev = C.before(k + 1, T, BLOCK)
        v = tl.load(vs_ptrs - N, mask=mask & has_prev, other=0.0).to(DT)
        v = tl.where(has_prev, v, v0)
        i1 = tl.load(si_ptrs, mask=mask, other=0.0)
        rho = tl.load(srho_ptrs, mask=mask, other=0.0)
        # recompute the step
        b = (vleak - v) + i1
        v1 = v + cm * b
        z_lif = (v1 - vth > 0).to(DT)
        v_lif = C.reset(z_lif, v1, vth, vreset, False)
        m = (rho > 0).to(DT)
        z = (1.0 - m) * z_lif
        r = tl.maximum(rho - m, 0.0)
        # rho' = (1 - z) relu(rho - m) + z rho_reset
        g_r = lr * (1.0 - z)
        if G_RR:
            acc_rr += lr * z
        g_rho = tl.where(r > 0, g_r, 0.0)
        # v' = (1 - m) v_lif + m v
        g_vlif = lv * (1.0 - m)
        g_v = lv * m
        if METHOD != 0:
            g_z = lr * rr - lr * r
            if HAS_GZ:
                g_z += tl.load(gz_ptrs, mask=mask, other=0.0).to(DT)
            # z = (1 - m) z_lif;  m = H(rho)
            g_zlif = g_z * (1.0 - m)
            g_m = lv * v - lv * v_lif - g_z * z_lif - g_rho
            g_rho += g_m * C.surrogate(rho, alpha, METHOD)
        # v_lif = (1 - z_lif) v1 + z_lif v_reset;  z_lif = H(v1 - v_th)
        g_v1 = g_vlif * (1.0 - z_lif)
        if G_VRESET:
            acc_vreset += g_vlif * z_lif
        if METHOD != 0:
            g_zlif += g_vlif * vreset - g_vlif * v1
            g_u = g_zlif * C.surrogate(v1 - vth, alpha, METHOD)
            g_v1 += g_u
            if G_VTH:
                acc_vth -= g_u
        # v1 = v + cm ((v_leak - v) + i1);  i' = i1 + cs i1
        g_b = g_v1 * cm
        g_i1 = li + li * cs + g_b
        if G_CM:
            acc_cm += g_v1 * b
        if G_CS:
            acc_cs += li * i1
        if G_VLEAK:
            acc_vleak += g_b
        if WRITE_GX:
            tl.store(gx_ptrs, g_i1.to(gx_ptr.dtype.element_ty), mask=mask)
        lv = g_v + g_v1 - g_b
        li = g_i1
        lr = g_rho
        vs_ptrs -= N
        si_ptrs -= N
        srho_ptrs -= N
        gx_ptrs -= N
        gz_ptrs -= stride_gzt

    C.store_if(gv0_ptr, offs, lv, mask, G_V0)
    C.store_if(gi0_ptr, offs, li, mask, G_I0)
    C.store_if(grho0_ptr, offs, lr, mask, G_RHO0)
    C.store_if(gcm_ptr, offs, acc_cm, mask, G_CM)
    C.store_if(gcs_ptr, offs, acc_cs, mask, G_CS)
    C.store_if(gvleak_ptr, offs, acc_vleak, mask, G_VLEAK)
    C.store_if(gvth_ptr, offs, acc_vth, mask, G_VTH)
    C.store_if(gvreset_ptr, offs, acc_vreset, mask, G_VRESET)
    C.store_if(grr_ptr, offs, acc_rr, mask, G_RR)


class LIFRefracSequence(C.SequenceFunction):
    """Refractory feed-forward LIF neurons over ``T`` steps in one kernel, with a fused backward.

    Inputs (from :func:`lif_refrac_sequence`): ``x (T, N)``, then 0-dim or ``(N,)`` leaves
    ``v0, i0, rho0, cm = dt tau_mem_inv, cs = -dt tau_syn_inv, v_leak, v_th, v_reset,
    rho_reset, alpha`` and the plan. Returns ``z (T, N)`` and the final ``v, i, rho (N,)``.

    Example:
        >>> from norse.torch.kernels.triton import _common as C
        >>> x = torch.full((8, 1), 4.0)
        >>> plan = C.make_plan(x, torch.float32, "super")
        >>> values = (0.0, 0.0, 0.0, 0.1, -0.2, 0.0, 1.0, 0.0, 5.0, 100.0)
        >>> leaves = [C.leaf(v, plan) for v in values]
        >>> z, v, i, rho = LIFRefracSequence.apply(x, *leaves, plan)  # doctest: +SKIP
        >>> z.flatten()  # doctest: +SKIP
        tensor([0., 1., 0., 0., 0., 0., 0., 1.])
    """

    # backward replays the forward pass (always, from the input), so it rounds exactly like it
    model = C.Model(
        fwd=_lif_refrac_fwd_kernel,
        bwd=_lif_refrac_bwd_kernel,
        out="z",
        state=("v", "i", "rho"),
        leaves=("v0", "i0", "rho0", "cm", "cs", "vleak", "vth", "vreset", "rr", "alpha"),
        save=("vs", "vs"),
        x_for=None,
        scratch=(("si", True, None), ("srho", False, None)),
        exact_bwd=True,
    )


def lif_refrac_sequence(
    x: Tensor, state: LIFRefracFeedForwardState, p: Any, dt: float, out_dtype: torch.dtype
) -> tuple[Tensor, LIFRefracFeedForwardState]:
    """Run :func:`~norse.torch.functional.lif_refrac.lif_refrac_feed_forward_step` over ``x``'s
    first dimension (arguments as :func:`~norse.torch.kernels.triton.lif.lif_sequence`).

    Example:
        >>> from norse.torch.functional.lif_refrac import LIFRefracParameters
        >>> s = LIFRefracFeedForwardState(LIFFeedForwardState(torch.zeros(1), torch.zeros(1)),
        ...                               rho=torch.zeros(1))
        >>> z, s = lif_refrac_sequence(torch.full((8, 1), 4.0), s, LIFRefracParameters(), 1e-3,
        ...                            torch.float32)  # doctest: +SKIP
        >>> z.flatten(), s.rho  # doctest: +SKIP
        (tensor([0., 1., 0., 0., 0., 0., 0., 1.]), tensor([5.]))
    """
    q = p.lif
    values = (state.lif.v, state.lif.i, state.rho, dt * q.tau_mem_inv, -dt * q.tau_syn_inv,
              q.v_leak, q.v_th, q.v_reset, p.rho_reset, q.alpha)  # fmt: skip
    z, (v, i, rho) = C.sequence(LIFRefracSequence, x, values, out_dtype, q.method)
    return z, LIFRefracFeedForwardState(LIFFeedForwardState(v=v, i=i), rho=rho)


#: The launcher the backend calls.
SEQUENCE = lif_refrac_sequence
