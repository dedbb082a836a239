"""Hand-written numba helpers for the generated CPU loops (imported lazily: numba is slow to
import).

The loops themselves are generated per neuron model from its traced step
(:mod:`norse.torch.kernels._numba_source`); they import from here what LLVM needs to make
them fast and what the threads need to share work:

* :class:`_NoAliasCompiler` (``_OPTS``): every array argument is ``noalias`` for LLVM;
* :func:`_rows`: scratch rows that each start a cache line;
* :func:`_prefetch_row`: prefetch hints for the rows of later steps;
* :func:`_take`, :func:`_words`, :func:`_pointer`: the shared chunk counter and the OpenMP
  trampolines' argument unpacking.

Expressions in the loops are evaluated without ``fastmath``, so float64 results equal the
reference's; ``error_model="numpy"`` gives IEEE results for divisions by zero (as torch does)
and lets LLVM vectorise the loops.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core.compiler import Compiler
from numba.extending import intrinsic

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
