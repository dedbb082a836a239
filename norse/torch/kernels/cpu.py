"""Fused CPU sequence kernels: the whole time loop in one compiled call, for every neuron model.

The backend ``"cpu"`` runs feed-forward layers on the CPU with numba loops generated from the
model's own step function (:mod:`norse.torch.kernels._graph` traces the step and its
vector-Jacobian product; :mod:`norse.torch.kernels._numba_source` writes the loops), compiled
on first use and cached on disk (``pip install numba``; no C compiler needed). Nothing here
names a model: a user's own elementwise step is fused the same way.

Forward evaluates the reference step's operations in the reference's order, so float64 spikes
and states agree with the reference loop of :mod:`norse.torch.kernels.reference` (bit for
bit, up to the last bit of ``exp`` and friends). Forward keeps nothing but the inputs for
backward: the backward pass recomputes a block of neurons' states over time into a
cache-sized scratch buffer, then runs the traced adjoint backwards in time. It returns
gradients for the input, the initial state and every parameter tensor that requires grad
(reduced to the parameter's shape). float16 and bfloat16 inputs are computed in float32
(outputs and states in the input's dtype).

Recurrent layers run generated one-step loops inside the loop through time of
:mod:`norse.torch.kernels._recurrent` (:mod:`norse.torch.kernels._cpu_step`). Calls the kernels
do not cover (``record_states``, sparse input, steps that are not elementwise, other devices,
...) report a reason through :meth:`CPUBackend.unsupported`;
``backend="auto"`` then runs the reference. Under ``auto`` the loops of a new model compile in
a background thread (:class:`_Compiler`) while the reference runs; a named backend, or
``NORSE_CPU_COMPILE=sync``, compiles in the caller.

Example:
    >>> from norse.torch import LIF
    >>> x = torch.rand(20, 4, 3)
    >>> z_fused, s_fused = LIF(backend="cpu")(x)
    >>> z_ref, s_ref = LIF(backend="reference")(x)
    >>> torch.equal(z_fused, z_ref), torch.equal(s_fused.v, s_ref.v)
    (True, True)
"""

from __future__ import annotations

import ctypes
import importlib.util
import math
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from . import Call, reference, register
from ._checks import Invalid as _Invalid
from ._checks import check
from ._generated import cache_directory, generated, import_path, import_source, write_source
from ._graph import Program, Untraceable, rebuild, trace
from ._numba_cache import file_lock

__all__ = ["CPUBackend", "empty_cache"]


_HAS_NUMBA = importlib.util.find_spec("numba") is not None


# ----------------------------------------------------------------------------- checks
class _Plan(NamedTuple):
    """A call the loops can run."""

    program: Program
    work: torch.dtype  # the loops' dtype: the input's, float32 for 16-bit inputs
    states: tuple[Tensor, ...]
    params: tuple[Tensor, ...]
    call: Call  # (the step, the state and parameter tuples: for the reference's gradients)
    background: bool  # loops not compiled yet are compiled in the background meanwhile

    def forward_variant(self) -> Any:
        from ._numba_source import Variant

        program = self.program
        per_neuron = any(
            self.params[k].numel() > 1 for deps in program.hoisted_params for k in deps
        )
        return Variant(per_neuron, program.hoisted_kinds, bf16=self.call.x.dtype == torch.bfloat16)


def _on_cpu(t: Tensor, what: str) -> str | None:
    return None if t.is_cpu else f"{what} is on {t.device}, not on the CPU"


def _prepare(call: Call) -> Any:
    """Decide from metadata only: a plan, bad input, or the reason the loops cannot run it."""
    if not _HAS_NUMBA:
        return "numba is not installed (pip install numba)"
    if call.weights:
        from ._cpu_step import prepare_recurrent

        return prepare_recurrent(call)
    found = check(call, _on_cpu)
    if isinstance(found, (str, _Invalid)):
        return found
    states, params = found
    x, state, dt = call.x, call.state, call.dt
    work = torch.float32 if x.dtype.itemsize < 4 else x.dtype
    try:
        program = trace(call.step, state, call.p, float(dt), work)
    except Untraceable as e:
        return str(e)
    if id(program) in _FAILED:
        return _FAILED[id(program)]
    background = _BACKGROUND and not call.explicit
    return _Plan(program, work, tuple(states), tuple(params), call, background)


# ----------------------------------------------------------------------------- memory, threads
_MADV_HUGEPAGE = 14
_HUGE = 2 << 20
_libc: Any = None


def _advise_huge(a: np.ndarray) -> None:
    """Ask Linux to back a fresh, untouched buffer with 2 MiB pages.

    First-touch page faults on 4 KiB pages can cost more than the loops themselves; with huge
    pages they cost a fraction. Only the buffer's own aligned interior is advised, and any
    failure just leaves the default pages.
    """
    global _libc
    if _libc is False or a.nbytes < 2 * _HUGE or not sys.platform.startswith("linux"):
        return
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
            _libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        ptr = a.ctypes.data
        start = -(-ptr // _HUGE) * _HUGE
        end = (ptr + a.nbytes) // _HUGE * _HUGE
        if end > start:
            _libc.madvise(start, end - start, _MADV_HUGEPAGE)
    except (OSError, AttributeError):  # pragma: no cover - exotic libc
        _libc = False


def _aligned_empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialised array whose data start on a 2 MiB boundary (4 KiB when smaller).

    numpy's large arrays start 16 bytes past a page (the allocator's header), so every
    64-byte vector access to them straddles two cache lines; aligned, the loops' stores do
    not, and a buffer of whole huge pages can be backed by them entirely.
    """
    nbytes = math.prod(shape) * dtype.itemsize
    align = _HUGE if nbytes >= _HUGE else 4096
    raw = np.empty(nbytes + align, np.uint8)
    start = -raw.ctypes.data % align
    return raw[start : start + nbytes].view(dtype).reshape(shape)


class _OutputCache:
    """Large output buffers (spikes, input gradients), reused once nothing refers to them.

    Fresh memory costs a page fault per page on first touch, which for sequence-sized outputs
    takes about as long as the loops. Each buffer is a numpy array handed out as
    ``torch.from_numpy``: every tensor, view or storage made from it holds a reference to the
    array, so the array's reference count says exactly when it is free again. Up to
    ``limit`` bytes of buffers are kept; :func:`empty_cache` releases them.
    """

    min_bytes = 256 << 10

    def __init__(self, limit: int = 2 << 30) -> None:
        self.limit = limit
        self._buffers: list[np.ndarray] = []  # least recently handed out first
        self._lock = threading.Lock()

    def empty(self, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
        npdtype = _NUMPY[dtype]
        nbytes = math.prod(shape) * npdtype.itemsize
        if nbytes < self.min_bytes:
            return torch.empty(shape, dtype=dtype)
        with self._lock:
            for k in range(len(self._buffers)):
                a = self._buffers[k]
                # References: the list, ``a`` and getrefcount's argument, nothing else.
                if a.shape == shape and a.dtype == npdtype and sys.getrefcount(a) == 3:
                    del self._buffers[k]
                    self._buffers.append(a)
                    return _tensor(a, dtype)
            a = _aligned_empty(shape, npdtype)
            _advise_huge(a)
            self._buffers.append(a)
            self._trim()
            return _tensor(a, dtype)

    def _trim(self) -> None:
        # Forget the least recently handed out buffers; one still in use lives on with its
        # tensor and is simply not reused.
        total = sum(a.nbytes for a in self._buffers)
        while total > self.limit and len(self._buffers) > 1:
            total -= self._buffers.pop(0).nbytes

    def clear(self) -> None:
        with self._lock:
            self._buffers.clear()


_NUMPY = {
    torch.float32: np.dtype(np.float32),
    torch.float64: np.dtype(np.float64),
    torch.bfloat16: np.dtype(np.uint16),  # (its bits: numpy has no bfloat16)
}


def _tensor(a: np.ndarray, dtype: torch.dtype) -> Tensor:
    t = torch.from_numpy(a)
    return t.view(dtype) if t.dtype != dtype else t


def _bits(t: Tensor) -> np.ndarray:
    """A float tensor as numpy: bfloat16 as its bits (``uint16``)."""
    t = t.detach()
    return (t.view(torch.uint16) if t.dtype == torch.bfloat16 else t).numpy()


_OUTPUTS = _OutputCache()


def empty_cache() -> None:
    """Release the output buffers the CPU kernels keep for reuse.

    Example:
        >>> from norse.torch.kernels import cpu
        >>> cpu.empty_cache()
    """
    _OUTPUTS.clear()


def _buffer(shape: tuple[int, ...], dtype: torch.dtype) -> np.ndarray:
    """An uninitialised numpy array from the buffer cache (state rows of large layers and
    cells: fresh memory would cost a page fault per page on every call)."""
    return _empty(shape, dtype).numpy()


def _empty(shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    return _OUTPUTS.empty(tuple(shape), dtype)


_POOL: ThreadPoolExecutor | None = None
_POOL_OWNER = 0  # the process that started the pool's threads (a fork child has none)
_POOL_LOCK = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    global _POOL, _POOL_OWNER
    with _POOL_LOCK:
        pid = os.getpid()
        if _POOL is None or _POOL_OWNER != pid or _POOL._max_workers < workers:
            _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="norse-cpu")
            _POOL_OWNER = pid
        return _POOL


_MIN_WORK = 1 << 18  # neuron-steps per thread, at least (fewer: one thread is faster)


def _launch(fn: Any, args: tuple, M: int, work: int, blk: int, module: str) -> None:
    """Run the chunked loop ``fn`` (of the generated ``module``) over neurons ``[0, M)`` on
    ``torch.get_num_threads()`` threads.

    The neurons are cut into a few chunks per thread (edges on multiples of 16 neurons, so
    threads never share a cache line) that the threads take in turn from a shared counter: a
    thread that starts late or that another process slows down simply does fewer chunks.
    ``blk`` is capped at the chunk size. The threads are torch's own OpenMP threads where
    that runtime can be reached (see :class:`_OpenMP`), else a pool of Python threads.
    """
    n = max(1, min(torch.get_num_threads(), M // 64, work // _MIN_WORK))
    chunks = 1 if n == 1 else min(4 * n, max(n, M // 256))
    edges = [min(M, (M * k // chunks + 15) // 16 * 16) for k in range(chunks)] + [M]
    blk = max(16, min(blk, max(b - a for a, b in zip(edges, edges[1:], strict=False))))
    args = (*args, np.array(edges, np.int64), np.zeros(1, np.int64), blk)
    entry = _entry(fn, args)
    if n == 1:
        entry(*args)
        return
    omp = _OpenMP.get()
    if omp is not None:
        run = omp.trampoline(module, fn.__name__, args)
        if run is not None:
            run(n)
            return
    futures = [_pool(n - 1).submit(entry, *args) for _ in range(n - 1)]
    entry(*args)
    for f in futures:
        f.result()


class _OpenMP:
    """torch's OpenMP runtime, to run the loops on torch's own intra-op threads.

    Right after a parallel torch operation, torch's OpenMP threads keep spinning for a few
    milliseconds, waiting for the next one; a thread of our own woken then does not get a core
    until they stop (measured: 2-5 ms late, for loops of 10-20 ms). Handing the loops to those
    very threads (``GOMP_parallel``, the entry point compilers emit for ``#pragma omp
    parallel``, which GNU, LLVM and Intel OpenMP all provide) avoids that. The C function each
    thread calls is a numba ``cfunc`` trampoline per loop variant: it rebuilds the arrays from
    a vector of addresses and shapes and calls ``<loop>_chunks``. Its source is generated into
    a cache directory of this user (so that numba can cache its compilation) and named after a
    digest of itself and of the loops' source.

    Only on Linux, where the runtime is found among the loaded libraries, and never in a
    process forked after it was used (GNU OpenMP does not survive ``fork``); otherwise the
    loops run on a pool of Python threads.
    """

    _instance: _OpenMP | None = None
    _checked = False
    _lock = threading.Lock()

    def __init__(self, parallel: Any) -> None:
        self._parallel = parallel
        self._trampolines: dict[tuple[Any, ...], Any] = {}

    @classmethod
    def get(cls) -> _OpenMP | None:
        if not cls._checked:
            with cls._lock:
                if not cls._checked:
                    cls._instance = cls._find()
                    cls._checked = True
        return cls._instance

    @classmethod
    def _find(cls) -> _OpenMP | None:
        if not _USE_OPENMP or not sys.platform.startswith("linux"):
            return None
        try:
            if not torch.backends.openmp.is_available():
                return None
            with open("/proc/self/maps") as f:
                paths = {ln.split()[-1] for ln in f if len(ln.split()) >= 6}
            names = ("libgomp", "libiomp", "libomp")
            libs = sorted(p for p in paths if os.path.basename(p).startswith(names))
            for path in libs:
                lib = ctypes.CDLL(path)
                if hasattr(lib, "GOMP_parallel"):
                    fn = lib.GOMP_parallel
                    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
                    fn.restype = None
                    return cls(fn)
        except (OSError, AttributeError, ValueError):
            pass
        return None

    def trampoline(self, module: str, name: str, args: tuple) -> Callable | None:
        """``run(n)``: ``module.name`` on ``n`` OpenMP threads, or ``None`` if unavailable."""
        if not all(a.flags.c_contiguous for a in args if isinstance(a, np.ndarray)):
            return None  # (the trampolines rebuild C-contiguous arrays only)
        key = (module, name, tuple(_word_kind(a) for a in args))
        cf = self._trampolines.get(key)
        if cf is None:
            try:
                cf = self._trampolines[key] = self._compile(module, name, args)
            except Exception as e:  # never break the layer: the thread pool still works
                warnings.warn(
                    f"norse: OpenMP trampoline unavailable ({type(e).__name__}: {e}); "
                    "using a thread pool",
                    RuntimeWarning,
                    stacklevel=4,
                )
                self._trampolines[key] = cf = False
        if cf is False:
            return None
        words = np.array(
            [w for a in args for w in ((a.ctypes.data, *a.shape) if isinstance(a, np.ndarray) else (int(a),))],
            np.int64,
        )  # fmt: skip
        address = cf.address

        def run(n: int) -> None:
            # ctypes releases the GIL; ``args`` (alive in the caller) keeps the arrays alive.
            self._parallel(address, words.ctypes.data, n, 0)

        return run

    def _compile(self, module: str, name: str, args: tuple) -> Any:
        from numba import cfunc, types

        source = _trampoline_source(module, name, args)
        mod = import_source("norse_openmp", source)
        # One process at a time compiles a given trampoline and writes its numba cache.
        with file_lock(str(cache_directory() / f"{mod.__name__}.lock"), exclusive=True):
            return cfunc(types.void(types.voidptr), nogil=True, cache=True)(mod.trampoline)


#: False runs the loops on a pool of Python threads instead of torch's OpenMP threads; set by
#: the environment variable ``NORSE_CPU_OPENMP=0`` (read at import).
_USE_OPENMP = os.environ.get("NORSE_CPU_OPENMP", "1").strip() not in ("0", "false", "False", "no")


def _forget_openmp_in_child() -> None:
    _OpenMP._instance, _OpenMP._checked = None, True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_openmp_in_child)


def _word_kind(a: Any) -> Any:
    if isinstance(a, np.ndarray):
        return (a.dtype.char, a.ndim)
    return "bool" if isinstance(a, bool | np.bool_) else "int"


def _trampoline_source(module: str, name: str, args: tuple) -> str:
    """A C-callable function that unpacks ``args`` from 64-bit words and calls ``module.name``."""
    body, names, w = [], [], 0
    for k, a in enumerate(args):
        kind = _word_kind(a)
        if isinstance(a, np.ndarray):
            dims = ", ".join(f"m[{w + 1 + d}]" for d in range(a.ndim))
            body.append(f"    a{k} = carray(_pointer(m[{w}], np.{a.dtype.name}(0)), ({dims},))")
            w += 1 + a.ndim
        elif kind == "bool":
            body.append(f"    a{k} = m[{w}] != 0")
            w += 1
        else:
            body.append(f"    a{k} = m[{w}]")
            w += 1
        names.append(f"a{k}")
    return "\n".join(
        [
            '"""Generated by norse.torch.kernels.cpu: an OpenMP trampoline (safe to delete)."""',
            "import numpy as np",
            "from numba import carray",
            "",
            "from norse.torch.kernels._cpu_numba import _pointer, _words",
            f"from {module} import {name} as loop",
            "",
            "",
            "def trampoline(data):",
            f"    m = carray(_words(data), ({w},))",
            *body,
            f"    loop({', '.join(names)})",
            "",
        ]
    )


class _Loops(NamedTuple):
    module: str
    forward_chunks: Any
    backward_chunks: Any
    scratch: int
    uses_x: bool


_LOOPS: dict[Any, _Loops] = {}


def _loops(program: Program, variant: Any, part: str) -> _Loops:
    """The generated module of ``program`` for ``variant`` (``part``: "forward" or "backward")."""
    key = (id(program), variant, part)
    loops = _LOOPS.get(key)
    if loops is None:
        from ._numba_source import source

        try:
            mod, facts = generated("norse_fused", program, variant, part, source)
        except Exception as e:  # an incompatible numba/llvmlite: never break the layer
            raise _CompileError(
                f"numba could not compile the CPU kernels ({type(e).__name__}: {e})"
            ) from e
        loops = _LOOPS[key] = _Loops(
            mod.__name__,
            getattr(mod, "forward_chunks", None),
            getattr(mod, "backward_chunks", None),
            facts["scratch"],
            facts["uses_x"],
        )
    return loops


_ENTRIES: dict[tuple[Any, ...], Callable] = {}


def _entry(fn: Any, args: tuple) -> Callable:
    """The compiled entry point of ``fn`` for ``args``' types (skips numba's type dispatch)."""
    # (a generated module is specialised to its variant, so the input's and the states'
    # dtypes determine every argument's type)
    key = (id(fn), args[0].dtype.num, args[2].dtype.num)
    entry = _ENTRIES.get(key)
    if entry is None:
        try:
            from numba import typeof

            entry = _ENTRIES[key] = fn.compile(tuple(typeof(a) for a in args))
        except Exception as e:  # never break the layer: the reference runs instead
            raise _CompileError(
                f"numba could not compile the CPU kernels ({type(e).__name__}: {e})"
            ) from e
    return entry


class _CompileError(RuntimeError):
    """The loops failed to compile; ``auto`` falls back to the reference from then on."""


#: why the loops of a program (by id) could not be compiled
_FAILED: dict[int, str] = {}


_FWD_BLOCK = 8192
_FWD_BLOCK_CACHED = 512
_BWD_BLOCK = 1024
_SCRATCH_BYTES = 1024 * 1024


def _backward_block(T: int, slots: int, itemsize: int) -> int:
    """Neurons per block so that a block's recomputed trajectory stays in L2 cache."""
    if slots == 0:
        return _FWD_BLOCK
    blk = _SCRATCH_BYTES // (T * slots * itemsize)
    return max(16, min(_BWD_BLOCK, blk // 16 * 16))


def _as(t: Tensor, dtype: torch.dtype) -> Tensor:
    return t if t.dtype == dtype else t.to(dtype)


def _rows_of(
    values: tuple[Tensor, ...], nshape: torch.Size, M: int, dtype: torch.dtype
) -> np.ndarray:
    """``values`` (each broadcastable to the neurons) as the rows of an ``(len, M)`` array."""
    out = _buffer((max(len(values), 1), M), dtype)
    for k, v in enumerate(values):
        out[k].reshape(nshape)[...] = _as(v.detach(), dtype).numpy()
    return out


def _hoisted(program: Program, params: tuple[Tensor, ...], nshape: torch.Size, M: int,
             work: torch.dtype, per_neuron: bool) -> np.ndarray:  # fmt: skip
    """The hoisted values, packed as ``(H, M)`` rows (``per_neuron``) or ``(H, 1)``: the
    prologue on the real parameter tensors (the reference's own operations; computed on
    every call, as parameters may change in place in ways no version counter sees, such as
    ``p.data.clamp_()``)."""
    with torch.no_grad():
        values = [
            h if isinstance(h, Tensor) else torch.as_tensor(h) for h in program.prologue(*params)
        ]
    if per_neuron:
        return _rows_of(tuple(values), nshape, M, work)
    # (``item`` gives a float32 or float64 exactly; numpy rounds once to the working dtype)
    column = [[v.item()] for v in values] or [[0.0]]
    return np.array(column, _NUMPY[work])


def _forward(plan: _Plan, x: Tensor, states: tuple, params: tuple) -> tuple[Any, ...]:
    """The forward loops: ``(out, final state fields, packed hoisted values, variant)``."""

    program = plan.program
    F = program.n_state
    work = plan.work
    T, nshape = x.shape[0], x.shape[1:]
    M = math.prod(nshape)
    bf16 = x.dtype == torch.bfloat16  # (the loops read and write its bits, compute in float32)
    io = x.dtype if bf16 else work
    out = _empty(tuple(x.shape), io)
    sT = _buffer((max(F, 1), M), work)  # (the loops write every entry)
    variant = plan.forward_variant()
    prm = _hoisted(program, tuple(params), nshape, M, work, variant.per_neuron)
    if M > 0:
        xc = _bits(_as(x.detach(), io).contiguous().view(T, M))
        s0 = _rows_of(states, nshape, M, work)
        loops = _loops(program, variant, "forward")
        # Sequences that fit in cache run fastest with L1-sized blocks; larger ones stream
        # long rows from memory.
        cached = x.numel() * x.element_size() <= 8 << 20
        _launch(
            loops.forward_chunks,
            (xc, _bits(out.view(T, M)), s0, prm, sT),
            M,
            T * M,
            _FWD_BLOCK_CACHED if cached else _FWD_BLOCK,
            loops.module,
        )
    # (``from_numpy`` of each row: tensors of their own, not views, so in-place use is fine)
    final = [_as(torch.from_numpy(sT[k].reshape(nshape)), x.dtype) for k in range(F)]
    return _as(out, x.dtype), final, prm, variant


class _FusedSequence(torch.autograd.Function):
    """``(x, *state fields, *parameter tensors) -> (out, *final state fields)`` over all steps."""

    @staticmethod
    def forward(ctx: Any, plan: _Plan, x: Tensor, *inputs: Tensor) -> tuple[Tensor, ...]:
        F = plan.program.n_state
        states, params = inputs[:F], inputs[F:]
        out, final, ctx.prm, ctx.variant = _forward(plan, x, states, params)
        ctx.set_materialize_grads(False)
        ctx.plan = plan
        ctx.shape, ctx.dtype = x.shape, x.dtype
        ctx.save_for_backward(x, *states, *params)
        if not plan.program.differentiable[0]:
            ctx.mark_non_differentiable(out)
        return out, *final

    @staticmethod
    def backward(ctx: Any, gout: Tensor | None, *gstate: Tensor | None) -> tuple[Any, ...]:
        x, *rest = ctx.saved_tensors
        F = ctx.plan.program.n_state
        needs = ctx.needs_input_grad[1:]  # (x, *states, *params)
        found = _backward(ctx.plan, x, rest[:F], rest[F:], needs, gout, gstate, ctx.prm,
                          ctx.variant)  # fmt: skip
        if found is None:  # (backward loops still compiling)
            found = _reference_gradients(ctx.plan, x, rest, needs, gout, gstate)
        return (None, *found)


def _param_grads(program: Program, wanted: Any) -> tuple[int, ...]:
    """The parameters (indices) whose gradients the backward loops compute: those wanted
    that the traced step gives one."""
    F = program.n_state
    return tuple(
        k for k, want in enumerate(wanted) if want and program.bwd_outputs[1 + F + k] is not None
    )


def _backward(plan: _Plan, x: Tensor, states: Any, params: Any, needs: Any, gout: Any,
              gstate: Any, prm: np.ndarray, forward_variant: Any) -> list[Any] | None:  # fmt: skip
    """The backward loops: gradients of ``(x, *states, *params)`` (``None`` where not
    needed); ``None`` altogether while this variant's loops compile in the background."""

    program = plan.program
    F = program.n_state
    shape, work = x.shape, plan.work
    T, nshape = shape[0], shape[1:]
    M = math.prod(nshape)
    want_gx = needs[0]
    pgrads = _param_grads(program, needs[1 + F :])
    grads: list[Any] = [None] * len(needs)
    if M == 0:
        for k, t in enumerate((x, *states, *params)):
            if needs[k]:
                grads[k] = torch.zeros_like(t)
        return grads
    npdtype = _NUMPY[work]
    bf16 = forward_variant.bf16
    io = x.dtype if bf16 else work
    if gout is None:
        g, gt = np.zeros((1, 1), npdtype), False
    elif all(st == 0 for st in gout.stride()):
        # A broadcast number, e.g. from ``out.sum()``: do not materialise it.
        value = _as(gout.detach().reshape(-1)[:1], work).numpy()[0]
        g, gt = np.full((1, 1), value, npdtype), False
    else:
        g, gt = _bits(_as(gout.detach(), io).contiguous().view(T, M)), True
    variant = forward_variant._replace(gt=gt, want_gx=want_gx, pgrads=pgrads)
    if plan.background and not _COMPILER.ready(program, variant, "backward", work):
        _COMPILER.request(program, variant, "backward", work)
        return None
    loops = _loops(program, variant, "backward")
    gsT = _buffer((max(F, 1), M), work)
    for k in range(max(F, 1)):
        gk = gstate[k] if k < len(gstate) else None
        if gk is None:
            gsT[k] = 0
        else:
            gsT[k].reshape(nshape)[...] = _as(gk.detach(), work).numpy()
    gx = _empty(tuple(shape), io) if want_gx else None
    gs0 = _buffer((max(F, 1), M), work)
    gprm = np.zeros((max(len(pgrads), 1), M), np.float64)
    s0 = _rows_of(tuple(states), nshape, M, work)
    if loops.uses_x:
        xn = _bits(_as(x.detach(), io).contiguous().view(T, M))
    else:
        xn = np.empty((T, 0), _NUMPY[io])
    _launch(
        loops.backward_chunks,
        (xn, g, gsT, s0, prm,
         _bits(gx.view(T, M)) if want_gx else np.empty((1, 1), _NUMPY[io]), gs0, gprm),
        M,
        T * M,
        _backward_block(T, loops.scratch, npdtype.itemsize),
        loops.module,
    )  # fmt: skip
    if want_gx:
        grads[0] = _as(gx, x.dtype)
    for k, s in enumerate(states):
        if needs[1 + k]:
            gk = torch.from_numpy(gs0[k]).view(nshape).sum_to_size(s.shape)
            grads[1 + k] = _as(gk, s.dtype)
    for q, k in enumerate(pgrads):
        src = params[k]
        gk = torch.from_numpy(gprm[q]).view(nshape).sum_to_size(src.shape)
        grads[1 + F + k] = _as(gk, src.dtype)
    return grads


def _reference_gradients(
    plan: _Plan, x: Tensor, rest: Any, needs: Any, gout: Any, gstate: tuple
) -> list[Any]:
    """The gradients through the reference loop (while the backward loops of this variant
    compile in the background), computed in the loops' dtype."""
    F = plan.program.n_state
    inputs = [_as(t.detach(), plan.work if k <= F else t.dtype) for k, t in enumerate((x, *rest))]
    call = plan.call
    found = reference.vjp(call.step, call.state, call.p, call.dt, inputs, [gout, *gstate], needs)
    return [None if g is None else _as(g, t.dtype) for g, t in zip(found, (x, *rest), strict=True)]


class _Compiler:
    """Compiles loops in a background thread, so that ``backend="auto"`` never waits for numba.

    The first call of a model (dtype, layout) under ``auto`` starts compiling its forward loops
    and the backward loops it will most likely need, and runs on the reference meanwhile; a
    backward pass whose loops are not ready yet computes its gradients through the reference.
    With numba's disk cache warm this only loads the compiled code (and imports numba, 0.3 s),
    still in the background. ``NORSE_CPU_COMPILE=sync`` (or a backend named explicitly)
    compiles in the caller instead.
    """

    def __init__(self) -> None:
        self._ready: set[Any] = set()
        self._failed: dict[Any, str] = {}
        self._queue: list[tuple[Any, Callable[[], None]]] = []
        self._queued: set[Any] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        #: (program, variant, part, dtype) of every job not done yet, by key
        self._pending: dict[Any, tuple[Program, Any, str, torch.dtype]] = {}
        self._at_exit = False

    @staticmethod
    def key(program: Program, variant: Any, part: str, work: torch.dtype) -> Any:
        return (id(program), variant, part, work)

    def ready(self, program: Program, variant: Any, part: str, work: torch.dtype) -> bool:
        return self.key(program, variant, part, work) in self._ready

    def forward_ready(self, plan: _Plan) -> str | None:
        """``None`` once the forward loops of ``plan`` are compiled, else the reason to wait."""
        variant = plan.forward_variant()
        key = self.key(plan.program, variant, "forward", plan.work)
        if key in self._ready:
            return None
        failed = self._failed.get(key)
        if failed is not None:
            return failed
        self.request(plan.program, variant, "forward", plan.work)
        wanted = [p.requires_grad for p in plan.params]
        backward = variant._replace(
            want_gx=plan.call.x.requires_grad, pgrads=_param_grads(plan.program, wanted)
        )
        if torch.is_grad_enabled() and plan.program.differentiable[0]:
            self.request(plan.program, backward, "backward", plan.work)
        return "the CPU loops of this model are being compiled in the background; the reference runs meanwhile"  # noqa: E501

    def request(self, program: Program, variant: Any, part: str, work: torch.dtype) -> None:
        key = self.key(program, variant, part, work)
        with self._lock:
            if key in self._ready or key in self._queued or key in self._failed:
                return
            self._queued.add(key)
            self._pending[key] = (program, variant, part, work)
            self._queue.append((key, lambda: _warm(program, variant, part, work)))
            if not self._at_exit:
                import atexit

                atexit.register(_compile_after_exit, self)
                self._at_exit = True
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._work, name="norse-compile", daemon=True
                )
                self._thread.start()

    def _work(self) -> None:
        # Compiling is Python code (numba's front end) that holds the GIL; every torch
        # operation of the caller's thread releases it and then waits for it for up to a
        # switch interval (5 ms by default). A short interval while compiling keeps the
        # reference loop of the caller at nearly its own speed.
        # The call that asked goes on first, undisturbed (a first call takes tens of ms).
        time.sleep(_START_DELAY)
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, _SWITCH_INTERVAL))
        try:
            self._drain()
        finally:
            sys.setswitchinterval(interval)

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._thread = None
                    return
                key, job = self._queue.pop(0)
            try:
                job()
            except Exception as e:  # noqa: BLE001 - the reference keeps running instead
                self._failed[key] = (
                    f"numba could not compile the CPU loops ({type(e).__name__}: {e})"
                )
            else:
                self._ready.add(key)
            finally:
                with self._lock:
                    self._queued.discard(key)
                    self._pending.pop(key, None)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the queued compilations are done (tests, benchmarks)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)


def _warm(program: Program, variant: Any, part: str, work: torch.dtype) -> None:
    """Compile (or load from numba's cache) the loops of ``variant``: run them on one neuron
    for one step, through the very path a real call takes."""
    loops = _loops(program, variant, part)
    _warm_loops(loops, part, program.n_state, program.n_hoisted, variant, work)


def _warm_loops(loops: Any, part: str, n_state: int, n_hoisted: int, variant: Any,
                work: torch.dtype) -> None:  # fmt: skip
    npdtype = _NUMPY[work]
    io = np.dtype(np.uint16) if variant.bf16 else npdtype  # (bfloat16 sequences: their bits)
    F = max(n_state, 1)
    x = np.zeros((1, 1), io)
    prm = np.zeros((max(n_hoisted, 1), 1), npdtype)
    if part.startswith("step_"):  # (one step: every value a 1-D array)
        v = [np.zeros(1, npdtype) for _ in range(3 + 3 * n_state)]
        if part == "step_forward":
            args = (v[0], v[1], prm, v[2], *v[3 : 3 + 2 * n_state])
            fn = loops.forward_chunks
        else:
            gprm = np.zeros((max(len(variant.pgrads), 1), 1), np.float64)
            args = (v[0], v[1], prm, v[2], *v[3 : 3 + 2 * n_state], np.zeros(1, npdtype),
                    np.zeros(1, npdtype), gprm, *[np.zeros(1, npdtype) for _ in range(n_state)])  # fmt: skip
            fn = loops.backward_chunks
        _launch(fn, args, 1, 1, 16, loops.module)
        _warm_threads(loops.module, fn, args)
        plain = getattr(sys.modules[loops.module], part[5:])  # (one thread: called directly)
        _entry(plain, (*args, 0, 1))(*args, 0, 1)
        return
    if part == "forward":
        args = (x, np.empty((1, 1), io), np.zeros((F, 1), npdtype), prm,
                np.zeros((F, 1), npdtype))  # fmt: skip
        _launch(loops.forward_chunks, args, 1, 1, 16, loops.module)
        _warm_threads(loops.module, loops.forward_chunks, args)
        return
    gout = np.zeros((1, 1), io if variant.gt else npdtype)
    gprm = np.zeros((max(len(variant.pgrads), 1), 1), np.float64)
    args = (x, gout, np.zeros((F, 1), npdtype), np.zeros((F, 1), npdtype), prm,
            np.empty((1, 1), io), np.empty((F, 1), npdtype), gprm)  # fmt: skip
    _launch(loops.backward_chunks, args, 1, 1, 16, loops.module)
    _warm_threads(loops.module, loops.backward_chunks, args)


def _pending_jobs(jobs: list[tuple[Program, Any, str, torch.dtype]]) -> list[dict[str, Any]]:
    """What a fresh process needs to compile these loops into numba's disk cache."""
    from ._numba_source import source

    found = []
    for program, variant, part, work in jobs:
        text, _ = source(program, variant, part)
        module, path = write_source(f"norse_fused_{part}", text)
        found.append({
            "module": module, "path": str(path), "part": part, "work": str(work).split(".")[-1],
            "n_state": program.n_state, "n_hoisted": program.n_hoisted,
            "variant": [list(v) if isinstance(v, tuple) else v for v in variant],
        })  # fmt: skip
    return found


def _precompile(jobs: list[dict[str, Any]]) -> None:
    """Compile the loops ``jobs`` describe into numba's disk cache (in a process of its own,
    started when a process exits with loops still compiling in the background)."""
    from ._numba_source import Variant

    for job in jobs:
        try:
            mod = import_path(job["module"], job["path"])
            values = [tuple(v) if isinstance(v, list) else v for v in job["variant"]]
            loops = _Loops(job["module"], getattr(mod, "forward_chunks", None),
                           getattr(mod, "backward_chunks", None), 0, True)  # fmt: skip
            _warm_loops(loops, job["part"], job["n_state"], job["n_hoisted"], Variant(*values),
                        getattr(torch, job["work"]))  # fmt: skip
        except Exception:  # noqa: BLE001, S112 - best effort: the next process compiles it
            continue


def _compile_after_exit(compiler: _Compiler) -> None:
    """At exit, hand the loops still compiling to a detached process, so that the next
    process finds them in numba's cache (a short script would otherwise never have them)."""
    with compiler._lock:
        jobs = list(compiler._pending.values())
    if not jobs or os.environ.get("NORSE_CPU_PRECOMPILE", "1").strip() in ("0", "false", "no"):
        return
    try:
        import json
        import subprocess

        payload = json.dumps(_pending_jobs(jobs))
        code = (
            "import json, sys; from norse.torch.kernels.cpu import _precompile; "
            "_precompile(json.loads(sys.argv[1]))"
        )
        subprocess.Popen(
            [sys.executable, "-c", code, payload],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True,
        )  # fmt: skip
    except Exception:  # noqa: BLE001 - never fail an exiting process
        pass


def _warm_threads(module: str, fn: Any, args: tuple) -> None:
    """Also compile the OpenMP trampoline that larger calls run the loops through."""
    if torch.get_num_threads() > 1:
        omp = _OpenMP.get()
        if omp is not None:
            omp.trampoline(module, fn.__name__, (*args, np.zeros(2, np.int64),
                                                 np.zeros(1, np.int64), 16))  # fmt: skip


_SWITCH_INTERVAL = 1e-4  # seconds
_START_DELAY = 0.25  # seconds

#: ``NORSE_CPU_COMPILE=sync`` compiles in the caller under ``backend="auto"`` too.
_BACKGROUND = os.environ.get("NORSE_CPU_COMPILE", "background").strip().lower() != "sync"
_COMPILER = _Compiler()


def _forget_compilations_in_child() -> None:
    """A forked child has no compiler thread: what was queued or compiling starts afresh."""
    global _COMPILER
    _COMPILER = _Compiler()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_compilations_in_child)


# ----------------------------------------------------------------------------- backend
class CPUBackend:
    """The ``"cpu"`` backend of :func:`norse.torch.kernels.run`.

    Example:
        >>> from norse.torch import kernels
        >>> from norse.torch.functional import lif
        >>> x = torch.ones(3, 2)
        >>> s = lif.LIFFeedForwardState(v=torch.zeros(2), i=torch.zeros(2))
        >>> call = kernels.Call(lif.lif_feed_forward_step, x, s, lif.LIFParameters(), 1e-3,
        ...                     lif.SPEC, record_states=True)
        >>> CPUBackend().unsupported(call)
        'record_states needs the state of every step: it runs on the reference'
    """

    def unsupported(self, call: Call) -> str | None:
        """Why the fused loops cannot run ``call`` (``None`` if they can). Reads metadata only."""
        plan = call.memo["cpu"] = _prepare(call)
        if isinstance(plan, _Plan) and plan.background:
            return _COMPILER.forward_ready(plan)
        return plan if isinstance(plan, str) else None

    def run(self, call: Call) -> tuple[Tensor, Any]:
        """Run ``call`` through the fused loops: ``(outputs of every step, last state)``."""
        plan = call.memo.pop("cpu", None) or _prepare(call)
        if isinstance(plan, str):
            raise NotImplementedError(f"backend='cpu' cannot run this call: {plan}")
        if isinstance(plan, _Invalid):
            # Let the reference raise its own error for bad input (or run it, if it can).
            return reference.run(call.step, call.x, call.state, call.p, call.dt, call.weights)
        try:
            if not isinstance(plan, _Plan):
                from ._recurrent import run_recurrent

                return run_recurrent(plan, call)
            out, *final = _FusedSequence.apply(plan, call.x, *plan.states, *plan.params)
        except _CompileError as e:
            program = plan.program
            _FAILED[id(program)] = str(e)
            warnings.warn(f"{e}; running the reference loop instead", RuntimeWarning, stacklevel=2)
            return reference.run(call.step, call.x, call.state, call.p, call.dt, call.weights)
        return out, rebuild(call.state, final)


register("cpu", CPUBackend())
