"""The numba loops behind :mod:`norse.torch.kernels.cpu` (imported lazily: numba is slow to import).

One forward loop and one backward loop serve every model. The model ``kind``, the
parameter stride ``ps`` and (backward) the surrogate ``method`` are compiled in as literals
(the caller compiles for ``types.literal(...)`` of each), so each model gets its own machine
code without dead branches, the surrogate derivative is computed inside the adjoint's
vectorised loop, and parameters shared by all neurons (``ps = 0``, the common case) stay in
registers. Every loop works on a range ``[j0, j1)`` of the flattened
neurons, in blocks of ``blk`` neurons (time outer, neurons inner), so that the state of a
block stays in cache; the Python side runs one range per thread (the loops release the GIL).

Expressions are evaluated in exactly the order of the reference step functions, without
``fastmath``, so float64 results are bit-identical to the reference. ``error_model="numpy"``
gives IEEE results for divisions by zero (as torch does) and lets LLVM vectorise the loops.

Arrays (``M`` flattened neurons, ``T`` steps, all C-contiguous, dtype of the input unless noted):

* ``x``, ``out``, ``gx``: ``(T, M)``; ``gout``: ``(T, M)``, or ``(1, 1)`` with ``gt = 0`` for a
  gradient that is one broadcast number (or none: zero).
* ``s0``, ``sT``, ``gs0``, ``gsT``: ``(3, M)`` state rows ``ROW_V, ROW_I, ROW_RHO``.
* ``prm``: ``(N_PARAMS, L)`` parameter rows; ``L`` is 1 (scalars, ``ps=0``) or ``M`` (``ps=1``).
* ``gprm``: ``(N_PARAMS, M)`` float64 per-neuron parameter gradients.

The codes live in ``_cpu_layout``; numba's cache only tracks this file, so clear
``__pycache__`` after changing them.
"""

from __future__ import annotations

import decimal
import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core.compiler import Compiler
from numba.extending import intrinsic, overload

from ._cpu_layout import (
    ALPHA,
    CIRC,
    ERFC,
    IAF,
    LI,
    LI_BOX,
    LIF,
    LIF_BOX,
    LIF_BOX_SUB,
    LIF_REFRAC,
    N_PARAMS,
    N_SLOTS,
    ROW_I,
    ROW_RHO,
    ROW_V,
    RR,
    S_D,
    S_I1,
    S_RP,
    S_V1,
    S_VP,
    SUPER,
    TANH,
    TH,
    TRIANGLE,
    VL,
    VR,
    A,
    B,
)
from ._numba_cache import lock_disk_caches

_SQRT_PI = math.sqrt(math.pi)
# The backward blocks are short rows (a block's trajectory must fit in cache) that the hardware
# prefetchers pick up late; hinting the rows of the next steps keeps memory busy. The hints
# fill L2 only (locality 2: ``prefetcht1``), which can track more misses at once than L1.
_PREFETCH_AHEAD = 6  # rows
_LINE = 64  # bytes per cache line: one prefetch hint each


def _prefetch_codegen(rw):
    def codegen(context, builder, sig, args):
        aryty = sig.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(
            context, builder, aryty, ary, [args[1], args[2]], wraparound=False
        )
        if getattr(ptr.type, "is_opaque", False):  # LLVM 15+: opaque pointers
            name = "llvm.prefetch.p0"
        else:  # typed pointers
            ptr = builder.bitcast(ptr, ir.IntType(8).as_pointer())
            name = "llvm.prefetch.p0i8"
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, name)
        builder.call(fn, [ptr, ir.Constant(i32, rw), ir.Constant(i32, 2), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return codegen


@intrinsic
def _prefetch_read(typingctx, ary, t, j):
    """Hint the CPU to bring ``ary[t, j]`` into cache for reading."""
    return types.void(ary, t, j), _prefetch_codegen(0)


@intrinsic
def _prefetch_write(typingctx, ary, t, j):
    """Hint the CPU to bring ``ary[t, j]`` into cache for writing."""
    return types.void(ary, t, j), _prefetch_codegen(1)


@njit(cache=True)
def _prefetch_row(ary, t, j0, n, write):
    """Prefetch ``ary[t, j0 : j0 + n]``, one hint per cache line (rows of later steps)."""
    if t < 0 or t >= ary.shape[0]:
        return
    for j in range(j0, j0 + n, _LINE // ary.itemsize):
        if write:
            _prefetch_write(ary, t, j)
        else:
            _prefetch_read(ary, t, j)


class _NoAliasCompiler(Compiler):
    """numba's pipeline, with every array argument marked ``noalias`` for LLVM.

    No two arrays handed to these loops overlap where one of them is written: outputs and
    scratch are buffers nothing else holds, and two views of one array passed together (rows
    of the input gradient) are different rows. Without the promise, LLVM guards each vectorised row
    loop with run-time overlap checks between every pair of its arrays (a few dozen compares
    per row) and cannot keep loop-invariant loads in registers; with it, a backward block of
    128 neurons costs 0.6 instead of 1.2 ns per neuron-step in cache.
    """

    def define_pipelines(self):
        self.state.flags.noalias = True
        return super().define_pipelines()


_OPTS = {"nogil": True, "cache": True, "error_model": "numpy", "pipeline_class": _NoAliasCompiler}
_HELPER = {"cache": True, "error_model": "numpy", "pipeline_class": _NoAliasCompiler}
# The adjoint may fuse multiply-adds (gradients to rounding); forward and recompute may not,
# so that their spikes and states stay bit-identical to the reference.
_ADJ = {**_HELPER, "fastmath": {"contract"}}


@njit(**_HELPER)
def _advance(kind, xx, v, i, rho, a, b, vl, th, vr, rr, one, zero):
    """One reference step of one neuron.

    Returns ``(out, v', i', rho', v1, d, i1)``: the output, the new state, the voltage before
    reset ``v1``, the bracket ``d`` that ``dt * tau_mem_inv`` multiplies and the jumped current
    ``i1`` (the last three feed the backward pass).
    """
    if kind == LIF or kind == LI or kind == LIF_REFRAC:
        i1 = i + xx
        d = (vl - v) + i1
        dv = a * d
        v1 = v + dv
        i2 = i1 + b * i1
        if kind == LI:
            return v1, v1, i2, rho, v1, d, i1
        zn = one if v1 - th > zero else zero
        vn = (one - zn) * v1 + zn * vr
        if kind == LIF:
            return zn, vn, i2, rho, v1, d, i1
        m = one if rho > zero else zero
        vm = (one - m) * vn + m * v
        z = (one - m) * zn
        r = rho - m
        rl = zero if r <= zero else r
        rho2 = (one - z) * rl + z * rr
        return z, vm, i2, rho2, v1, d, i1
    if kind == LIF_BOX or kind == LIF_BOX_SUB:
        d = (xx + vl) - v
        dv = a * d
        v1 = v + dv
        z = one if v1 - th > zero else zero
        if kind == LIF_BOX:
            v2 = (one - z) * v1 + z * vr
        else:
            v2 = (one - z) * v1 + z * (v1 - th)
        return z, v2, i, rho, v1, d, zero
    if kind == LI_BOX:
        d = (vl - v) + xx
        dv = a * d
        v1 = v + dv
        return v1, v1, i, rho, v1, d, zero
    # IAF
    v1 = v + xx
    z = one if v1 - th > zero else zero
    v2 = (one - z) * v1 + z * vr
    return z, v2, i, rho, v1, zero, zero


@njit(**_HELPER)
def _rows(k, n, like):
    """``k`` rows of ``n`` or more elements of ``like``'s dtype, each starting a cache line.

    numba aligns arrays to 32 bytes only; a 64-byte vector access to a row that does not start
    a line touches two lines.
    """
    per = _LINE // like.itemsize
    stride = (n + per - 1) // per * per
    buf = np.empty(k * stride + per, like.dtype)
    start = (_LINE - buf.ctypes.data % _LINE) % _LINE // like.itemsize
    return buf[start : start + k * stride].reshape((k, stride))


@njit(**_HELPER)
def _load_block(b0, n, s0, prm, ps, v, i, rho, pb):
    for jj in range(n):
        j = b0 + jj
        v[jj] = s0[ROW_V, j]
        i[jj] = s0[ROW_I, j]
        rho[jj] = s0[ROW_RHO, j]
    for k in range(N_PARAMS):
        for jj in range(n):
            pb[k, jj] = prm[k, (b0 + jj) * ps]


@njit(**_HELPER)
def _forward_row(kind, xr, orow, v, i, rho, pb, ps, n, one, zero):
    for jj in range(n):
        o, v2, i2, r2, _, _, _ = _advance(
            kind, xr[jj], v[jj], i[jj], rho[jj], pb[A, jj * ps], pb[B, jj * ps], pb[VL, jj * ps], pb[TH, jj * ps],
            pb[VR, jj * ps], pb[RR, jj * ps], one, zero,
        )  # fmt: skip
        orow[jj] = o
        v[jj] = v2
        if kind == LIF or kind == LI or kind == LIF_REFRAC:
            i[jj] = i2
        if kind == LIF_REFRAC:
            rho[jj] = r2


@njit(**_OPTS)
def forward(kind, ps, x, out, s0, prm, sT, j0, j1, blk):
    """Run neurons ``[j0, j1)`` over all steps: write ``out`` and the final state ``sT``."""
    T = x.shape[0]
    one = x.dtype.type(1.0)
    zero = x.dtype.type(0.0)
    state = _rows(3, blk, x)
    v, i, rho = state[0], state[1], state[2]
    pb = _rows(N_PARAMS, blk, x)
    for b0 in range(j0, j1, blk):
        n = min(blk, j1 - b0)
        _load_block(b0, n, s0, prm, ps, v, i, rho, pb)
        for t in range(T):
            _forward_row(
                kind, x[t, b0 : b0 + n], out[t, b0 : b0 + n], v, i, rho, pb, ps, n, one, zero
            )
        for jj in range(n):
            sT[ROW_V, b0 + jj] = v[jj]
            sT[ROW_I, b0 + jj] = i[jj]
            sT[ROW_RHO, b0 + jj] = rho[jj]
    return 0


@njit(**_HELPER)
def _recompute_row(kind, xr, v, i, rho, pb, ps, sc, t, want_pgrad, n, one, zero):
    """One step of the forward pass for a block, keeping what the adjoint needs in ``sc``."""
    for jj in range(n):
        if kind == LIF_REFRAC:
            sc[S_VP, t, jj] = v[jj]
            sc[S_RP, t, jj] = rho[jj]
        _, v2, i2, r2, v1, d, i1 = _advance(
            kind, xr[jj], v[jj], i[jj], rho[jj], pb[A, jj * ps], pb[B, jj * ps], pb[VL, jj * ps], pb[TH, jj * ps],
            pb[VR, jj * ps], pb[RR, jj * ps], one, zero,
        )  # fmt: skip
        if not (kind == LI or kind == LI_BOX):
            sc[S_V1, t, jj] = v1
        if want_pgrad:
            if kind != IAF:
                sc[S_D, t, jj] = d
            if kind == LIF or kind == LI or kind == LIF_REFRAC:
                sc[S_I1, t, jj] = i1
        v[jj] = v2
        if kind == LIF or kind == LI or kind == LIF_REFRAC:
            i[jj] = i2
        if kind == LIF_REFRAC:
            rho[jj] = r2


def _split_ln2(bits: int) -> tuple[float, float]:
    """``ln 2`` as ``hi + lo``: ``hi`` keeps ``bits`` significant bits, so ``k * hi`` is exact."""
    ln2 = decimal.Context(prec=60).ln(decimal.Decimal(2))
    mantissa, exponent = math.frexp(float(ln2))
    hi = math.ldexp(math.floor(math.ldexp(mantissa, bits)), exponent - bits)
    return hi, float(ln2 - decimal.Decimal(hi))


# exp(x) = 2**k exp(r), x = k ln 2 + r, |r| <= ln(2)/2, for float64 and float32 (``_exp``):
# ``k ln 2`` is subtracted in two parts (Cody-Waite), the first exact for every ``k`` in range;
# exp(r) is its Taylor polynomial (degree 13 and 7: truncation below 1e-17 and 1e-8
# relative, under half an ulp); 2**k is put together from its bits. Arguments are clamped
# from below so that 2**k stays a normal number: no denormals, which are slow to compute with.
_LOG2E = 1.0 / math.log(2.0)
_LN2_HI, _LN2_LO = _split_ln2(32)
_EXP_MIN = -708.0  # exp(-708) ~ 3e-308
_C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12, _C13 = (
    1.0 / math.factorial(n) for n in range(2, 14)
)
_F = np.float32
_LOG2E_F = _F(_LOG2E)
_LN2_HI_F, _LN2_LO_F = (_F(v) for v in _split_ln2(16))
_EXP_MIN_F = _F(-87.0)  # exp(-87) ~ 1.6e-38
_F2, _F3, _F4, _F5, _F6, _F7 = (_F(1.0 / math.factorial(n)) for n in range(2, 8))


def _pow2_codegen(bias: int, shift: int, ity: ir.IntType, fty: ir.Type):
    def codegen(context, builder, sig, args):
        k = context.cast(builder, args[0], sig.args[0], types.int64)
        k = builder.trunc(k, ity) if ity.width < 64 else k
        bits = builder.shl(builder.add(k, ir.Constant(ity, bias)), ir.Constant(ity, shift))
        return builder.bitcast(bits, fty)

    return codegen


@intrinsic
def _pow2(typingctx, k):
    """``2.0 ** k`` as a float64, for an integer ``-1022 <= k <= 1023`` (from its bits)."""
    if not isinstance(k, types.Integer):
        return None
    return types.float64(k), _pow2_codegen(1023, 52, ir.IntType(64), ir.DoubleType())


@intrinsic
def _pow2_f(typingctx, k):
    """``2.0 ** k`` as a float32, for an integer ``-126 <= k <= 127`` (from its bits)."""
    if not isinstance(k, types.Integer):
        return None
    return types.float32(k), _pow2_codegen(127, 23, ir.IntType(32), ir.FloatType())


@intrinsic
def _like(typingctx, ref, value):
    """``value`` converted to the type of ``ref`` (to go back to the working dtype)."""
    return ref(ref, value), lambda context, builder, sig, args: context.cast(
        builder, args[1], sig.args[1], sig.args[0]
    )


def _exp(x):
    """``exp(x)`` in the dtype of ``x`` (float32 or float64), for ``x <= 88``, in plain arithmetic.

    libm's ``exp`` is a call that stops LLVM from vectorising the adjoint's loop (numba's
    wheels have no vector math library), which made the ``heavi_erfc`` and ``tanh``
    surrogates 8-10x slower than SuperSpike. Within a few ulp of libm; arguments below -708
    (float64) or -87 (float32) give ``exp`` of that bound, about 3e-308 or 1.6e-38, where the
    reference underflows to 0 or a denormal; NaN stays NaN.
    """
    raise NotImplementedError("_exp is only callable from compiled code")


@overload(_exp, jit_options=_HELPER)
def _exp_impl(x):
    if x == types.float32:

        def exp32(x):
            if x < _EXP_MIN_F:
                x = _EXP_MIN_F
            kf = np.floor(x * _LOG2E_F + _F(0.5))
            r = (x - kf * _LN2_HI_F) - kf * _LN2_LO_F
            p = ((((_F7 * r + _F6) * r + _F5) * r + _F4) * r + _F3) * r + _F2
            p = (p * r + _F(1.0)) * r + _F(1.0)
            return p * _pow2_f(int(kf) if kf == kf else 0)  # NaN: p is NaN already

        return exp32
    if x == types.float64:

        def exp64(x):
            if x < _EXP_MIN:
                x = _EXP_MIN
            kf = np.floor(x * _LOG2E + 0.5)
            r = (x - kf * _LN2_HI) - kf * _LN2_LO
            p = ((((_C13 * r + _C12) * r + _C11) * r + _C10) * r + _C9) * r + _C8
            p = (((((p * r + _C7) * r + _C6) * r + _C5) * r + _C4) * r + _C3) * r + _C2
            p = (p * r + 1.0) * r + 1.0
            return p * _pow2(int(kf) if kf == kf else 0)

        return exp64
    return None


@njit(**_ADJ)
def _surrogate(method, h, alpha, one, zero):
    """``s'(h)``: the surrogate derivative of the threshold ``method`` at ``h = v - v_th``.

    ``method`` is a compile-time literal, so each backward loop holds only its own formula
    (inlined into the adjoint's loop, which stays vectorised: no calls into libm). The
    formulas are those of ``functional.threshold``, rewritten where a library function would
    be called: ``1 - tanh(u)**2`` as ``4 e / (1 + e)**2`` with ``e = exp(-2|u|)`` (no
    cancellation), ``q**-1.5`` as ``1 / (q sqrt(q))``, and ``exp`` as :func:`_exp`.
    """
    if method == SUPER:
        q = alpha * abs(h) + one
        return one / (q * q)
    two = one + one
    if method == ERFC:
        u = alpha * h
        return two * _exp(-(u * u)) / _like(one, _SQRT_PI)
    if method == TANH:
        e = _exp(-two * abs(alpha * h))
        return (two + two) * e / ((one + e) * (one + e))
    if method == CIRC:
        w = h / alpha
        q = one + w * w
        return one / (q * math.sqrt(q))
    if method == TRIANGLE:
        r = one - abs(h)
        return alpha * (r if r > zero else zero)
    return zero  # heaviside: no gradient through the spike


@njit(**_ADJ)
def _adjoint_row(
    kind, method, t, go, sc, gv, gi, gr, gxr, pb, ps, acc, want_pgrad, n, one, zero
):  # fmt: skip
    """One step of the adjoint for a block: from the gradients after step ``t`` to before it.

    ``gv`` and ``gr`` are updated in place; the current's gradient is read from ``gi`` and
    written to ``gxr`` only (it is also the input's gradient), which saves a store per neuron.
    """
    for jj in range(n):
        g_out = go[jj]
        a = pb[A, jj * ps]
        if kind == LIF or kind == LI or kind == LIF_REFRAC:
            b = pb[B, jj * ps]
            gvn = gv[jj]
            gvp = zero  # what reaches v directly through the refractory hold
            if kind == LIF_REFRAC:
                # v' = (1-m) vn + m v,  z = (1-m) zn,  rho' = (1-z) relu(rho - m) + z rr
                vp = sc[S_VP, t, jj]
                rp = sc[S_RP, t, jj]
                v1 = sc[S_V1, t, jj]
                th = pb[TH, jj * ps]
                vr = pb[VR, jj * ps]
                rr = pb[RR, jj * ps]
                zn = one if v1 - th > zero else zero
                vn = (one - zn) * v1 + zn * vr
                m = one if rp > zero else zero
                z = (one - m) * zn
                r = rp - m
                rl = zero if r <= zero else r
                grho = gr[jj]
                gz = g_out + grho * (rr - rl)
                g_r = grho * (one - z) if r > zero else zero
                gm = gv[jj] * (vp - vn) - gz * zn - g_r
                gvp = gv[jj] * m
                gvn = gv[jj] * (one - m)
                sgr = _surrogate(method, rp - zero, pb[ALPHA, jj * ps], one, zero)
                gr[jj] = g_r + gm * sgr
                if want_pgrad:
                    acc[RR, jj] += grho * z
                g_out = gz * (one - m)
            if kind == LI:
                gv1 = g_out + gvn
            else:
                v1 = sc[S_V1, t, jj]
                vr = pb[VR, jj * ps]
                h = v1 - pb[TH, jj * ps]
                zz = one if h > zero else zero
                sg = _surrogate(method, h, pb[ALPHA, jj * ps], one, zero)
                gh = (g_out + gvn * (vr - v1)) * sg
                gv1 = gvn * (one - zz) + gh
                if want_pgrad:
                    acc[TH, jj] -= gh
                    acc[VR, jj] += gvn * zz
            gi1 = a * gv1 + gi[jj] * (one + b)
            if want_pgrad:
                acc[VL, jj] += a * gv1
                acc[A, jj] += gv1 * sc[S_D, t, jj]
                acc[B, jj] += gi[jj] * sc[S_I1, t, jj]
            if kind == LIF_REFRAC:
                gv[jj] = gv1 - a * gv1 + gvp
            else:  # (adding a zero would cost an instruction: x + 0 is not x for x = -0)
                gv[jj] = gv1 - a * gv1
            gxr[jj] = gi1
        elif kind == LI_BOX:
            gv1 = g_out + gv[jj]
            if want_pgrad:
                acc[VL, jj] += a * gv1
                acc[A, jj] += gv1 * sc[S_D, t, jj]
            gv[jj] = gv1 - a * gv1
            gxr[jj] = a * gv1
        else:  # one-variable spiking models: LIF_BOX, LIF_BOX_SUB, IAF
            v1 = sc[S_V1, t, jj]
            h = v1 - pb[TH, jj * ps]
            zz = one if h > zero else zero
            g = gv[jj]
            sg = _surrogate(method, h, pb[ALPHA, jj * ps], one, zero)
            if kind == LIF_BOX_SUB:
                gh = (g_out + g * (h - v1)) * sg
                gv1 = g + gh
            else:
                gh = (g_out + g * (pb[VR, jj * ps] - v1)) * sg
                gv1 = g * (one - zz) + gh
            if want_pgrad:
                acc[TH, jj] -= gh
                if kind == LIF_BOX_SUB:
                    acc[TH, jj] -= g * zz
                else:
                    acc[VR, jj] += g * zz
            if kind == IAF:
                gv[jj] = gv1
                gxr[jj] = gv1
            else:
                if want_pgrad:
                    acc[VL, jj] += a * gv1
                    acc[A, jj] += gv1 * sc[S_D, t, jj]
                gv[jj] = gv1 - a * gv1
                gxr[jj] = a * gv1


@njit(**_OPTS)
def backward(
    kind, ps, method, x, gout, gt, gsT, s0, prm, gx, want_gx, gs0, gprm, want_pgrad, j0, j1, blk
):  # fmt: skip
    """Backward through time for neurons ``[j0, j1)``.

    Per block of neurons, the forward pass is recomputed into a scratch buffer (``T`` values
    per neuron and slot: voltages before reset, and what parameter gradients need), then the
    adjoint runs backwards in time from the final-state gradients ``gsT``. Writes the input
    gradient ``gx`` (if ``want_gx``), the initial-state gradient ``gs0`` and, if
    ``want_pgrad``, the per-neuron parameter gradients ``gprm``.
    """
    T = x.shape[0]
    dtype = x.dtype
    one = dtype.type(1.0)
    zero = dtype.type(0.0)
    rows = _rows(9, blk, x)
    v, i, rho, gv, gi, gr = rows[0], rows[1], rows[2], rows[3], rows[4], rows[5]
    gx_sink, gx_sink2, go_const = rows[6], rows[7], rows[8]
    go_const[:] = gout[0, 0]
    pb = _rows(N_PARAMS, blk, x)
    acc = _rows(N_PARAMS, blk, gprm)  # (float64, like gprm)
    acc[:, :] = 0.0
    # Without spikes, the adjoint needs the trajectory only for parameter gradients.
    recompute = not (kind == LI or kind == LI_BOX) or want_pgrad
    steps = T if recompute else 1
    sc = _rows(N_SLOTS * steps, blk, x).reshape((N_SLOTS, steps, -1))
    for b0 in range(j0, j1, blk):
        n = min(blk, j1 - b0)
        _load_block(b0, n, s0, prm, ps, v, i, rho, pb)
        if recompute:
            for t in range(T):
                _prefetch_row(x, t + _PREFETCH_AHEAD, b0, n, False)
                xr = x[t, b0 : b0 + n]
                # A constant flag at each call, so that each inlined copy of the loop keeps
                # only its own branch (a flag tested inside the loop can stop vectorisation).
                if want_pgrad:
                    _recompute_row(kind, xr, v, i, rho, pb, ps, sc, t, True, n, one, zero)
                else:
                    _recompute_row(kind, xr, v, i, rho, pb, ps, sc, t, False, n, one, zero)
        for jj in range(n):
            gv[jj] = gsT[ROW_V, b0 + jj]
            gi[jj] = gsT[ROW_I, b0 + jj]
            gr[jj] = gsT[ROW_RHO, b0 + jj]
        if want_pgrad:
            acc[:, :] = 0.0
        # The current's gradient after step t is the input's gradient at t + 1: read it from
        # the row written last (two sinks in turn when the input needs no gradient).
        gin = gi
        for t in range(T - 1, -1, -1):
            if gt:
                _prefetch_row(gout, t - _PREFETCH_AHEAD, b0, n, False)
            if want_gx:
                _prefetch_row(gx, t - _PREFETCH_AHEAD, b0, n, True)
            go = gout[t, b0 : b0 + n] if gt else go_const
            if want_gx:
                gxr = gx[t, b0 : b0 + n]
            else:
                gxr = gx_sink if t % 2 == 0 else gx_sink2
            if want_pgrad:  # (a constant flag at each call, as above)
                _adjoint_row(
                    kind, method, t, go, sc, gv, gin, gr, gxr, pb, ps, acc, True, n, one, zero
                )
            else:
                _adjoint_row(
                    kind, method, t, go, sc, gv, gin, gr, gxr, pb, ps, acc, False, n, one, zero
                )
            if kind == LIF or kind == LI or kind == LIF_REFRAC:
                gin = gxr
        for jj in range(n):
            gs0[ROW_V, b0 + jj] = gv[jj]
            gs0[ROW_I, b0 + jj] = gin[jj]
            gs0[ROW_RHO, b0 + jj] = gr[jj]
        if want_pgrad:
            for k in range(N_PARAMS):
                for jj in range(n):
                    gprm[k, b0 + jj] = acc[k, jj]
    return 0


# ----------------------------------------------------------------------------- threads
# Each thread (a pool thread, or one of torch's OpenMP threads through a C trampoline) runs
# ``forward_chunks`` or ``backward_chunks``: it takes chunks of neurons from a shared counter
# until none is left, so a thread that starts late or runs slowly simply does fewer chunks.
@intrinsic
def _take(typingctx, counter):
    """``counter[0] += 1`` atomically; returns the value before (the chunk to run)."""

    def codegen(context, builder, sig, args):
        a = context.make_array(sig.args[0])(context, builder, args[0])
        return builder.atomic_rmw("add", a.data, ir.Constant(ir.IntType(64), 1), "seq_cst")

    return types.int64(counter), codegen


@njit(**_OPTS)
def forward_chunks(kind, ps, x, out, s0, prm, sT, edges, counter, blk):
    """:func:`forward` over the chunks ``[edges[k], edges[k + 1])`` this thread takes."""
    while True:
        k = _take(counter)
        if k >= edges.shape[0] - 1:
            return 0
        forward(kind, ps, x, out, s0, prm, sT, edges[k], edges[k + 1], blk)


@njit(**_OPTS)
def backward_chunks(
    kind, ps, method, x, gout, gt, gsT, s0, prm, gx, want_gx, gs0, gprm, want_pgrad, edges, counter,
    blk,
):  # fmt: skip
    """:func:`backward` over the chunks ``[edges[k], edges[k + 1])`` this thread takes."""
    while True:
        k = _take(counter)
        if k >= edges.shape[0] - 1:
            return 0
        backward(
            kind, ps, method, x, gout, gt, gsT, s0, prm, gx, want_gx, gs0, gprm, want_pgrad,
            edges[k], edges[k + 1], blk,
        )  # fmt: skip


def _cast_codegen(convert: str):
    def codegen(context, builder, sig, args):
        return getattr(builder, convert)(args[0], context.get_value_type(sig.return_type))

    return codegen


@intrinsic
def _words(typingctx, data):
    """The ``void *`` a trampoline receives, as a pointer to 64-bit integers."""
    if not isinstance(data, types.RawPointer):
        return None
    return types.CPointer(types.int64)(data), _cast_codegen("bitcast")


@intrinsic
def _pointer(typingctx, address, like):
    """The integer ``address`` as a pointer to numbers of ``like``'s type."""
    if not isinstance(address, types.Integer) or not isinstance(like, types.Number):
        return None
    return types.CPointer(like)(address, like), _cast_codegen("inttoptr")


# Last: every loop above is cached on disk, and numba's cache is not safe for several
# processes compiling at once (see ``_numba_cache``).
lock_disk_caches(globals())
