"""Fused Triton kernels for feed-forward integrate-and-fire (IAF) neurons over a sequence.

Equations: :mod:`norse.torch.functional.iaf` (same order of operations). Forward keeps ``v``
in registers and saves the pre-reset voltage of every step when autograd records; backward
recomputes the spikes from it and runs the adjoint recursion backwards in time.
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor

from ...functional.iaf import IAFFeedForwardState
from . import _common as C

__all__ = ["SEQUENCE", "IAFSequence", "iaf_sequence"]


@triton.jit
def _iaf_fwd_kernel(
    x_ptr,
    z_ptr,
    v1_ptr,
    v_out_ptr,
    v0_ptr,
    vth_ptr,
    vreset_ptr,
    N,
    T,
    stride_xt,
    V0_FULL: tl.constexpr,
    VTH_FULL: tl.constexpr,
    VRESET_FULL: tl.constexpr,
    SAVE: tl.constexpr,
    DT: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs, mask = C.block_offsets(N, BLOCK)
    v = C.load_block(v0_ptr, offs, mask, V0_FULL, DT, BLOCK)
    vth = C.load_param(vth_ptr, offs, mask, VTH_FULL, DT)
    vreset = C.load_param(vreset_ptr, offs, mask, VRESET_FULL, DT)

    x_ptrs = x_ptr + offs
    z_ptrs = z_ptr + offs
    v1_ptrs = v1_ptr + offs
    x_next = tl.load(x_ptrs, mask=mask, other=0.0)
    for t in range(T):
        x, x_ptrs, x_next = C.next_input(x_ptrs, x_next, stride_xt, t, T, mask, DT, BLOCK)
        v1 = v + x
        z = (v1 - vth > 0).to(DT)
        v = C.reset(z, v1, vth, vreset, False)
        tl.store(z_ptrs, z.to(z_ptr.dtype.element_ty), mask=mask)
        if SAVE:
            tl.store(v1_ptrs, v1.to(v1_ptr.dtype.element_ty), mask=mask)
        z_ptrs += N
        v1_ptrs += N
    tl.store(v_out_ptr + offs, v.to(v_out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _iaf_bwd_kernel(
    gz_ptr,
    gv_ptr,
    v1_ptr,
    gx_ptr,
    vth_ptr,
    vreset_ptr,
    alpha_ptr,
    gv0_ptr,
    gvth_ptr,
    gvreset_ptr,
    N,
    T,
    stride_gzt,
    stride_gzn,
    last_gz,
    last_row,
    VTH_FULL: tl.constexpr,
    VRESET_FULL: tl.constexpr,
    ALPHA_FULL: tl.constexpr,
    HAS_GZ: tl.constexpr,
    HAS_GV: tl.constexpr,
    WRITE_GX: tl.constexpr,
    G_V0: tl.constexpr,
    G_VTH: tl.constexpr,
    G_VRESET: tl.constexpr,
    METHOD: tl.constexpr,
    DT: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs, mask = C.block_offsets(N, BLOCK)
    vth = C.load_param(vth_ptr, offs, mask, VTH_FULL, DT)
    vreset = C.load_param(vreset_ptr, offs, mask, VRESET_FULL, DT)
    alpha = C.load_alpha(alpha_ptr, offs, mask, ALPHA_FULL, DT)
    lv = C.load_grad(gv_ptr, offs, mask, HAS_GV, DT, BLOCK)
    acc_vth = tl.zeros([BLOCK], DT)
    acc_vreset = tl.zeros([BLOCK], DT)

    v1_ptrs = v1_ptr + offs + last_row
    gx_ptrs = gx_ptr + offs + last_row
    gz_ptrs = gz_ptr + offs * stride_gzn + last_gz
    for _ in range(T):
        v1 = tl.load(v1_ptrs, mask=mask, other=0.0).to(DT)
        z = (v1 - vth > 0).to(DT)
        # v2 = (1 - z) v1 + z v_reset;  z = H(v1 - v_th);  v1 = v + x
        g_v1 = lv * (1.0 - z)
        if G_VRESET:
            acc_vreset += lv * z
        if METHOD != 0:
            g_z = lv * vreset - lv * v1
            if HAS_GZ:
                g_z += tl.load(gz_ptrs, mask=mask, other=0.0).to(DT)
            g_u = g_z * C.surrogate(v1 - vth, alpha, METHOD)
            g_v1 += g_u
            if G_VTH:
                acc_vth -= g_u
        if WRITE_GX:
            tl.store(gx_ptrs, g_v1.to(gx_ptr.dtype.element_ty), mask=mask)
        lv = g_v1
        v1_ptrs -= N
        gx_ptrs -= N
        gz_ptrs -= stride_gzt

    C.store_if(gv0_ptr, offs, lv, mask, G_V0)
    C.store_if(gvth_ptr, offs, acc_vth, mask, G_VTH)
    C.store_if(gvreset_ptr, offs, acc_vreset, mask, G_VRESET)


class IAFSequence(C.SequenceFunction):
    """Feed-forward IAF neurons over ``T`` steps in one kernel, with a fused backward.

    Inputs (from :func:`iaf_sequence`): ``x (T, N)``, 0-dim or ``(N,)`` leaves
    ``v0, v_th, v_reset, alpha`` and the plan. Returns ``z (T, N)`` and the final ``v (N,)``.

    Example:
        >>> from norse.torch.kernels.triton import _common as C
        >>> x = torch.full((4, 1), 0.4)
        >>> plan = C.make_plan(x, torch.float32, "super")
        >>> leaves = [C.leaf(v, plan) for v in (0.0, 1.0, 0.0, 100.0)]
        >>> z, v = IAFSequence.apply(x, *leaves, plan)  # doctest: +SKIP
        >>> z.flatten(), v  # doctest: +SKIP
        (tensor([0., 0., 1., 0.]), tensor([0.4000]))
    """

    model = C.Model(
        fwd=_iaf_fwd_kernel,
        bwd=_iaf_bwd_kernel,
        out="z",
        state=("v",),
        leaves=("v0", "vth", "vreset", "alpha"),
    )


def iaf_sequence(
    x: Tensor, state: IAFFeedForwardState, p: Any, dt: float, out_dtype: torch.dtype
) -> tuple[Tensor, IAFFeedForwardState]:
    """Run :func:`~norse.torch.functional.iaf.iaf_feed_forward_step` over ``x``'s first
    dimension (arguments as :func:`~norse.torch.kernels.triton.lif.lif_sequence`).

    Example:
        >>> from norse.torch.functional.iaf import IAFParameters
        >>> s = IAFFeedForwardState(v=torch.zeros(1))
        >>> z, s = iaf_sequence(torch.full((4, 1), 0.4), s, IAFParameters(), 1e-3,
        ...                     torch.float32)  # doctest: +SKIP
        >>> z.flatten(), s.v  # doctest: +SKIP
        (tensor([0., 0., 1., 0.]), tensor([0.4000]))
    """
    values = (state.v, p.v_th, p.v_reset, p.alpha)
    z, (v,) = C.sequence(IAFSequence, x, values, out_dtype, p.method)
    return z, IAFFeedForwardState(v=v)


#: The launcher the backend calls.
SEQUENCE = iaf_sequence
