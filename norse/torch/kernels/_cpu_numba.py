"""Hand-written numba helpers for the generated CPU loops (imported lazily: numba is slow to
import).

The loops themselves are generated per neuron model from its traced step
(:mod:`norse.torch.kernels._numba_source`); they import from here what LLVM needs to make
them fast and what the threads need to share work:

* :class:`_NoAliasCompiler` (``_OPTS``): every array argument is ``noalias`` for LLVM;
* :func:`_rows`: scratch rows that each start a cache line;
* :func:`_exp`: ``exp`` in plain arithmetic, so that loops calling it stay vectorised;
* :func:`_prefetch_row`: prefetch hints for the rows of later steps;
* :func:`_take`, :func:`_words`, :func:`_pointer`: the shared chunk counter and the OpenMP
  trampolines' argument unpacking.

Expressions in the loops are evaluated without ``fastmath``, so float64 results equal the
reference's; ``error_model="numpy"`` gives IEEE results for divisions by zero (as torch does)
and lets LLVM vectorise the loops.
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

from ._numba_cache import lock_disk_caches

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


def _split_ln2(bits: int) -> tuple[float, float]:
    """``ln 2`` as ``hi + lo``: ``hi`` keeps ``bits`` significant bits, so ``k * hi`` is exact."""
    ln2 = decimal.Context(prec=60).ln(decimal.Decimal(2))
    mantissa, exponent = math.frexp(float(ln2))
    hi = math.ldexp(math.floor(math.ldexp(mantissa, bits)), exponent - bits)
    return hi, float(ln2 - decimal.Decimal(hi))


# exp(x) = 2**k exp(r), x = k ln 2 + r, |r| <= ln(2)/2, for float64 and float32 (``_exp``):
# ``k ln 2`` is subtracted in two parts (Cody-Waite), the first exact for every ``k`` in range;
# exp(r) is its Taylor polynomial (degree 13 and 7: truncation below 1e-17 and 1e-8
# relative, under half an ulp); 2**k is put together from its bits, as (2 exp(r)) 2**(k-1):
# the largest arguments overflow to inf in the last, exact scaling, and the smallest never
# pass through a denormal (which a flush-to-zero CPU mode would make 0). Arguments are clamped
# from below so that 2**k stays a normal number: no denormals, which are slow to compute with.
_LOG2E = 1.0 / math.log(2.0)
_LN2_HI, _LN2_LO = _split_ln2(32)
_EXP_MIN = -708.0  # exp(-708) ~ 3e-308
_EXP_MAX = 709.79  # exp of more overflows (to inf, through the last doubling)
_C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12, _C13 = (
    1.0 / math.factorial(n) for n in range(2, 14)
)
_F = np.float32
_LOG2E_F = _F(_LOG2E)
_LN2_HI_F, _LN2_LO_F = (_F(v) for v in _split_ln2(16))
_EXP_MIN_F = _F(-86.0)  # exp(-86) ~ 4.5e-38 (2**(k-1) stays a normal number)
_EXP_MAX_F = _F(88.73)
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


def _exp(x):
    """``exp(x)`` in the dtype of ``x`` (float32 or float64), in plain arithmetic.

    libm's ``exp`` is a call that stops LLVM from vectorising a loop (numba's wheels have no
    vector math library): the loops of exponential neuron models and of the
    ``heavi_erfc`` and ``tanh`` surrogates would run one neuron at a time. Within a few ulp of
    libm; arguments below -708 (float64) or -86 (float32) give ``exp`` of that bound, about
    3e-308 or 4.5e-38, where the reference underflows to 0 or a denormal; large arguments
    overflow to inf; NaN stays NaN.
    """
    raise NotImplementedError("_exp is only callable from compiled code")


@overload(_exp, jit_options=_HELPER)
def _exp_impl(x):
    if x == types.float32:

        def exp32(x):
            if x < _EXP_MIN_F:
                x = _EXP_MIN_F
            if x > _EXP_MAX_F:
                x = _EXP_MAX_F
            kf = np.floor(x * _LOG2E_F + _F(0.5))
            r = (x - kf * _LN2_HI_F) - kf * _LN2_LO_F
            p = ((((_F7 * r + _F6) * r + _F5) * r + _F4) * r + _F3) * r + _F2
            p = (p * r + _F(1.0)) * r + _F(1.0)
            return (p * _F(2.0)) * _pow2_f(int(kf) - 1 if kf == kf else 0)  # (NaN: p is)

        return exp32
    if x == types.float64:

        def exp64(x):
            if x < _EXP_MIN:
                x = _EXP_MIN
            if x > _EXP_MAX:
                x = _EXP_MAX
            kf = np.floor(x * _LOG2E + 0.5)
            r = (x - kf * _LN2_HI) - kf * _LN2_LO
            p = ((((_C13 * r + _C12) * r + _C11) * r + _C10) * r + _C9) * r + _C8
            p = (((((p * r + _C7) * r + _C6) * r + _C5) * r + _C4) * r + _C3) * r + _C2
            p = (p * r + 1.0) * r + 1.0
            return (p * 2.0) * _pow2(int(kf) - 1 if kf == kf else 0)

        return exp64
    return None


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


@intrinsic
def _from_bf16(typingctx, bits):
    """A bfloat16 (its 16 bits, ``uint16``) as a float32: the bits on top, exactly."""
    if bits != types.uint16:
        return None

    def codegen(context, builder, sig, args):
        i32 = ir.IntType(32)
        wide = builder.shl(builder.zext(args[0], i32), ir.Constant(i32, 16))
        return builder.bitcast(wide, ir.FloatType())

    return types.float32(bits), codegen


@intrinsic
def _to_bf16(typingctx, value):
    """A float32 rounded to bfloat16 (to nearest, ties to even; NaN stays a quiet NaN), as
    its 16 bits: what torch's conversion gives."""
    if value != types.float32:
        return None

    def codegen(context, builder, sig, args):
        i32, i16 = ir.IntType(32), ir.IntType(16)
        bits = builder.bitcast(args[0], i32)
        lsb = builder.and_(builder.lshr(bits, ir.Constant(i32, 16)), ir.Constant(i32, 1))
        rounded = builder.add(builder.add(bits, ir.Constant(i32, 0x7FFF)), lsb)
        half = builder.trunc(builder.lshr(rounded, ir.Constant(i32, 16)), i16)
        nan = builder.fcmp_unordered("uno", args[0], args[0])
        return builder.select(nan, ir.Constant(i16, 0x7FC0), half)

    return types.uint16(value), codegen


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
