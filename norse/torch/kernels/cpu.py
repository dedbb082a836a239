"""Fused CPU sequence kernels: the whole time loop in one compiled call, backward by hand.

The backend ``"cpu"`` runs the feed-forward layers ``LIF``, ``LIFBox``, ``LI``, ``LIBox``,
``IAF`` and ``LIFRefrac`` (float32/float64 inputs on the CPU) with numba loops compiled on
first use and cached on disk (``pip install numba``; no C compiler needed). Results equal the reference loop
of :mod:`norse.torch.kernels.reference`: the loops evaluate the step functions' expressions in
the same order, so float64 spikes and states are bit-identical.

Forward keeps nothing but a reference to the input for backward: the backward pass recomputes
the forward trajectory block by block (neurons in blocks, time outer, neurons inner) into a
cache-sized scratch buffer and then runs the adjoint backwards in time. It returns gradients
for the input, the initial state and every parameter tensor that requires grad (reduced to the
parameter's shape), using the same surrogate derivative as the reference (``p.method``,
``p.alpha``).

Calls the kernels do not cover (recurrent layers, ``record_states``, sparse input, adjoint or
user-defined steps, other dtypes or devices, unknown surrogates, ...) report a reason through
:meth:`CPUBackend.unsupported`; ``backend="auto"`` then runs the reference.

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
import hashlib
import importlib.util
import math
import os
import sys
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.autograd import forward_ad

from ..functional import iaf, leaky_integrator, leaky_integrator_box, lif, lif_box, lif_refrac
from ..functional.reset import reset_subtract, reset_value
from ..functional.superspike import SuperSpike
from ..functional.threshold import SURROGATES, HeaviCirc, HeaviErfc, HeaviTanh, Triangle
from . import Call, reference, register
from ._cpu_layout import (
    CIRC,
    ERFC,
    HEAVISIDE,
    IAF,
    LI,
    LI_BOX,
    LIF,
    LIF_BOX,
    LIF_BOX_SUB,
    LIF_REFRAC,
    N_PARAMS,
    SUPER,
    TANH,
    TRIANGLE,
    scratch_slots,
)
from ._numba_cache import file_lock

__all__ = ["CPUBackend", "empty_cache"]


_HAS_NUMBA = importlib.util.find_spec("numba") is not None
_FLOATS = (torch.float32, torch.float64)

#: surrogate family of each threshold ``method`` (through the reference's own table)
_SURROGATE_CODE: dict[Any, int] = {
    None: HEAVISIDE,
    SuperSpike: SUPER,
    HeaviErfc: ERFC,
    HeaviTanh: TANH,
    HeaviCirc: CIRC,
    Triangle: TRIANGLE,
}


# ----------------------------------------------------------------------------- models
class _Inputs(NamedTuple):
    """What one model's call hands to the loops."""

    kind: int
    method: str | None  # threshold method, None for models without spikes
    alpha: Any
    states: tuple[Any, Any, Any]  # v, i, rho (None where the model has none)
    # tau_mem_inv, tau_syn_inv, v_leak, v_th, v_reset, rho_reset (None where unused)
    sources: tuple[Any, Any, Any, Any, Any, Any]


@dataclass(frozen=True)
class _Model:
    spec: Any
    read: Callable[[Any, Any], _Inputs | str]
    write: Callable[[Tensor, Tensor, Tensor], Any]
    spiking: bool


def _read_lif(s: Any, p: Any) -> _Inputs:
    return _Inputs(
        LIF,
        p.method,
        p.alpha,
        (s.v, s.i, None),
        (p.tau_mem_inv, p.tau_syn_inv, p.v_leak, p.v_th, p.v_reset, None),
    )


def _read_li(s: Any, p: Any) -> _Inputs:
    return _Inputs(
        LI, None, None, (s.v, s.i, None), (p.tau_mem_inv, p.tau_syn_inv, p.v_leak, None, None, None)
    )


def _read_lif_box(s: Any, p: Any) -> _Inputs | str:
    if p.reset_method is reset_value:
        kind = LIF_BOX
    elif p.reset_method is reset_subtract:
        kind = LIF_BOX_SUB
    else:
        return "a custom reset_method runs on the reference"
    return _Inputs(
        kind,
        p.method,
        p.alpha,
        (s.v, None, None),
        (p.tau_mem_inv, None, p.v_leak, p.v_th, p.v_reset, None),
    )


def _read_li_box(s: Any, p: Any) -> _Inputs:
    return _Inputs(
        LI_BOX, None, None, (s.v, None, None), (p.tau_mem_inv, None, p.v_leak, None, None, None)
    )


def _read_iaf(s: Any, p: Any) -> _Inputs:
    return _Inputs(
        IAF, p.method, p.alpha, (s.v, None, None), (None, None, None, p.v_th, p.v_reset, None)
    )


def _read_lif_refrac(s: Any, p: Any) -> _Inputs:
    q = p.lif
    return _Inputs(
        LIF_REFRAC,
        q.method,
        q.alpha,
        (s.lif.v, s.lif.i, s.rho),
        (q.tau_mem_inv, q.tau_syn_inv, q.v_leak, q.v_th, q.v_reset, p.rho_reset),
    )


_MODELS: dict[str, _Model] = {
    m.spec.name: m
    for m in (
        _Model(
            lif.SPEC, _read_lif, lambda v, i, r: lif.LIFFeedForwardState(v=v, i=i), spiking=True
        ),
        _Model(
            leaky_integrator.SPEC,
            _read_li,
            lambda v, i, r: leaky_integrator.LIState(v=v, i=i),
            spiking=False,
        ),
        _Model(
            lif_box.SPEC,
            _read_lif_box,
            lambda v, i, r: lif_box.LIFBoxFeedForwardState(v=v),
            spiking=True,
        ),
        _Model(
            leaky_integrator_box.SPEC,
            _read_li_box,
            lambda v, i, r: leaky_integrator_box.LIBoxState(v=v),
            spiking=False,
        ),
        _Model(iaf.SPEC, _read_iaf, lambda v, i, r: iaf.IAFFeedForwardState(v=v), spiking=True),
        _Model(
            lif_refrac.SPEC,
            _read_lif_refrac,
            lambda v, i, r: lif_refrac.LIFRefracFeedForwardState(
                lif.LIFFeedForwardState(v=v, i=i), r
            ),
            spiking=True,
        ),
    )
}


# ----------------------------------------------------------------------------- checks
class _Plan(NamedTuple):
    """A call the loops can run."""

    model: _Model
    kind: int
    method: int
    alpha: Any
    dt: float


class _Invalid(NamedTuple):
    """Bad input: the reference runs it, so that the user sees the reference's error."""

    why: str


def _fits(shape: torch.Size, nshape: torch.Size) -> bool:
    """Whether ``shape`` broadcasts to exactly ``nshape``."""
    if shape == nshape or not shape:
        return True
    if len(shape) > len(nshape):
        return False
    return all(a == 1 or a == b for a, b in zip(reversed(shape), reversed(nshape), strict=False))


def _prepare(call: Call) -> _Plan | _Invalid | str:
    """Decide from metadata only: a plan, bad input, or the reason the loops cannot run it."""
    if not _HAS_NUMBA:
        return "numba is not installed (pip install numba)"
    if _BROKEN is not None:
        return _BROKEN
    if call.record_states:
        return "record_states needs the reference"
    if call.weights:
        return "recurrent layers run on the reference"
    spec = call.spec
    model = _MODELS.get(getattr(spec, "name", None))
    if model is None or model.spec is not spec:
        return "this model has no CPU kernel"
    if call.step is not spec.step:
        return (
            "only the model's plain feed-forward step is fused (adjoint, sparse and "
            "user-defined steps run on the reference)"
        )
    x = call.x
    if not isinstance(x, Tensor) or x.dim() < 1:
        return _Invalid("the input needs a time dimension")
    if x.layout != torch.strided:
        return "the input is sparse"
    if not x.is_cpu:
        return f"the input is on {x.device}, not on the CPU"
    if x.dtype not in _FLOATS:
        return f"dtype {x.dtype} is not supported on CPU (float32 and float64 are)"
    if torch._C._functorch.is_functorch_wrapped_tensor(x):
        return "functorch transforms (vmap, grad, jvp) run on the reference"
    if getattr(forward_ad, "_current_level", -1) >= 0:
        return "forward-mode AD (dual tensors) runs on the reference"
    if x.shape[0] == 0:
        return _Invalid("the input has no time steps")
    dt = call.dt
    if isinstance(dt, bool) or not isinstance(dt, (int, float)):
        return f"dt must be a python number for the fused path, got {type(dt).__name__}"
    try:
        inputs = model.read(call.state, call.p)
    except AttributeError as e:
        return _Invalid(f"state or parameters do not fit the model: {e}")
    if isinstance(inputs, str):
        return inputs
    method = HEAVISIDE
    if inputs.method is not None:
        try:
            method = _SURROGATE_CODE[SURROGATES[inputs.method]]
        except (KeyError, TypeError):
            return f"method {inputs.method!r} has no fused surrogate"
    nshape = x.shape[1:]
    scalar_state = False
    for name, s in zip(("v", "i", "rho"), inputs.states, strict=True):
        if s is None and name == "v":
            return _Invalid("the state has no voltage")
        if s is None:
            continue
        if not isinstance(s, Tensor):
            return f"state field {name} is a {type(s).__name__}, not a tensor"
        if s.layout != torch.strided or not s.is_cpu:
            return f"state field {name} is not a dense CPU tensor"
        if s.dtype != x.dtype:
            return f"the state has dtype {s.dtype} but the input {x.dtype}"
        if not _fits(s.shape, nshape):
            return _Invalid(f"state field {name} does not fit the input")
        scalar_state = scalar_state or s.dim() == 0
    values = (*inputs.sources, inputs.alpha)
    for value in values:
        if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            continue
        if not isinstance(value, Tensor):
            return f"a parameter is a {type(value).__name__}, not a number or tensor"
        if value.layout != torch.strided or not value.is_cpu:
            return "a parameter is not a dense CPU tensor"
        if value.dtype == torch.bool or value.is_complex():
            return f"a parameter has dtype {value.dtype}"
        if not _fits(value.shape, nshape):
            return _Invalid("a parameter does not fit the input")
        wider = value.is_floating_point() and value.dtype.itemsize > x.dtype.itemsize
        # A wider per-neuron parameter would promote the outputs; a wider scalar one meeting a
        # scalar state is combined in the wider dtype before the first step's broadcast.
        if wider and (value.dim() > 0 or scalar_state):
            return f"a parameter has dtype {value.dtype}, wider than the input's {x.dtype}"
    return _Plan(model, inputs.kind, method, inputs.alpha, float(dt))


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
                    return torch.from_numpy(a)
            a = _aligned_empty(shape, npdtype)
            _advise_huge(a)
            self._buffers.append(a)
            self._trim()
            return torch.from_numpy(a)

    def _trim(self) -> None:
        # Forget the least recently handed out buffers; one still in use lives on with its
        # tensor and is simply not reused.
        total = sum(a.nbytes for a in self._buffers)
        while total > self.limit and len(self._buffers) > 1:
            total -= self._buffers.pop(0).nbytes

    def clear(self) -> None:
        with self._lock:
            self._buffers.clear()


_NUMPY = {torch.float32: np.dtype(np.float32), torch.float64: np.dtype(np.float64)}
_OUTPUTS = _OutputCache()


def empty_cache() -> None:
    """Release the output buffers the CPU kernels keep for reuse.

    Example:
        >>> from norse.torch.kernels import cpu
        >>> cpu.empty_cache()
    """
    _OUTPUTS.clear()


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


def _launch(name: str, literals: tuple[int, ...], args: tuple, M: int, work: int, blk: int) -> None:
    """Run loop ``name`` over neurons ``[0, M)`` on ``torch.get_num_threads()`` threads.

    ``literals`` are the loop's leading compile-time arguments (model kind, parameter stride,
    and for backward the surrogate method); ``args`` the rest, before the neuron range.

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
    fn = _entry(name, literals, args)
    if n == 1:
        fn(*literals, *args)
        return
    omp = _OpenMP.get()
    if omp is not None:
        run = omp.trampoline(name, literals, args)
        if run is not None:
            run(n)
            return
    futures = [_pool(n - 1).submit(fn, *literals, *args) for _ in range(n - 1)]
    fn(*literals, *args)
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
        self._dir: Any = None

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

    def trampoline(self, name: str, literals: tuple[int, ...], args: tuple) -> Callable | None:
        """``run(n)``: the loop ``name`` on ``n`` OpenMP threads, or ``None`` if unavailable."""
        if not all(a.flags.c_contiguous for a in args if isinstance(a, np.ndarray)):
            return None  # (the trampolines rebuild C-contiguous arrays only)
        key = (name, literals, tuple(_word_kind(a) for a in args))
        cf = self._trampolines.get(key)
        if cf is None:
            try:
                cf = self._trampolines[key] = self._compile(name, literals, args)
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

    def _compile(self, name: str, literals: tuple[int, ...], args: tuple) -> Any:
        from numba import cfunc, types

        source = _trampoline_source(name, literals, args)
        digest = hashlib.sha256((source + _loops_digest()).encode()).hexdigest()[:20]
        module = f"norse_kernels_openmp_{name}_{digest}"
        path = self._directory() / f"{module}.py"
        if not path.exists() or path.read_text() != source:  # (written by us, or rewritten)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(source)
            os.replace(tmp, path)
        spec = importlib.util.spec_from_file_location(module, path)
        mod = sys.modules.get(module)
        if mod is None:
            mod = importlib.util.module_from_spec(spec)
            sys.modules[module] = mod
            spec.loader.exec_module(mod)
        # One process at a time compiles a given trampoline and writes its numba cache.
        with file_lock(str(path.with_suffix(".lock")), exclusive=True):
            return cfunc(types.void(types.voidptr), nogil=True, cache=True)(mod.trampoline)

    def _directory(self) -> Any:
        """The package's ``__pycache__`` if writable, else the user's cache directory."""
        if self._dir is None:
            from pathlib import Path

            xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
            self._dir = _own_directory(Path(__file__).parent / "__pycache__", Path(xdg) / "norse")
        return self._dir


def _own_directory(*bases: Any) -> Any:
    """``<base>/norse-openmp-<uid>`` for the first base where that is a writable directory owned
    by this user and not writable by others (code is imported from it)."""
    for base in bases:
        d = base / f"norse-openmp-{os.getuid()}"
        try:
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
            st = d.stat()
            if st.st_uid != os.getuid() or st.st_mode & 0o022:
                continue
            probe = d / f".probe{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError:
            continue
        return d
    raise OSError("no writable directory of this user for the OpenMP trampolines")


#: False runs the loops on a pool of Python threads instead of torch's OpenMP threads; set by
#: the environment variable ``NORSE_CPU_OPENMP=0`` (read at import).
_USE_OPENMP = os.environ.get("NORSE_CPU_OPENMP", "1").strip() not in ("0", "false", "False", "no")


def _forget_openmp_in_child() -> None:
    _OpenMP._instance, _OpenMP._checked = None, True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_openmp_in_child)


def _word_kind(a: Any) -> str:
    if isinstance(a, np.ndarray):
        return f"{a.dtype.name}{a.ndim}"
    return "bool" if isinstance(a, bool | np.bool_) else "int"


def _trampoline_source(name: str, literals: tuple[int, ...], args: tuple) -> str:
    """A C-callable function that unpacks ``args`` from 64-bit words and calls ``<name>_chunks``."""
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
    call = ", ".join([*(str(int(v)) for v in literals), *names])
    return "\n".join(
        [
            '"""Generated by norse.torch.kernels.cpu: an OpenMP trampoline (safe to delete)."""',
            "import numpy as np",
            "from numba import carray",
            "",
            f"from norse.torch.kernels._cpu_numba import {name}_chunks as loop, _pointer, _words",
            "",
            "",
            "def trampoline(data):",
            f"    m = carray(_words(data), ({w},))",
            *body,
            f"    loop({call})",
            "",
        ]
    )


def _loops_digest() -> str:
    global _LOOPS_DIGEST
    if _LOOPS_DIGEST is None:
        from pathlib import Path

        here = Path(__file__).parent
        h = hashlib.sha256()
        for f in ("_cpu_numba.py", "_cpu_layout.py"):
            h.update((here / f).read_bytes())
        _LOOPS_DIGEST = h.hexdigest()
    return _LOOPS_DIGEST


_LOOPS_DIGEST: str | None = None


_ENTRIES: dict[tuple[Any, ...], Callable] = {}


def _entry(name: str, literals: tuple[int, ...], args: tuple) -> Callable:
    """The compiled loop ``name`` of ``_cpu_numba`` for the compile-time ``literals``.

    Compiling for ``types.literal`` model kind, parameter stride (and surrogate method) gives
    every model its own machine code without dead branches, with shared parameters in
    registers; only the variants a program uses get compiled. Keeping the entry point skips
    numba's per-call type dispatch. All arrays the backend passes are C-contiguous, so one
    entry per (loop, literals, dtype) serves every call.
    """
    global _BROKEN
    key = (name, *literals, args[0].dtype)
    entry = _ENTRIES.get(key)
    if entry is None:
        try:
            from numba import typeof, types

            from . import _cpu_numba

            signature = (*(types.literal(v) for v in literals), *(typeof(a) for a in args))
            entry = _ENTRIES[key] = getattr(_cpu_numba, f"{name}_chunks").compile(signature)
        except Exception as e:  # an incompatible numba/llvmlite: never break the layer
            _BROKEN = f"numba could not compile the CPU kernels ({type(e).__name__}: {e})"
            raise _CompileError(_BROKEN) from e
    return entry


class _CompileError(RuntimeError):
    """The loops failed to compile; ``auto`` falls back to the reference from then on."""


#: why the loops cannot be compiled in this environment, once that happened
_BROKEN: str | None = None


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


def _stack_states(states: tuple, nshape: torch.Size, M: int, dtype: np.dtype) -> np.ndarray:
    """The initial state as ``(3, M)`` rows, broadcast to the neurons (numpy: no thread pool)."""
    s0 = np.zeros((3, M), dtype)
    for k, s in enumerate(states):
        if s is not None:
            s0[k].reshape(nshape)[...] = s.detach().numpy()
    return s0


def _param_values(plan: _Plan, sources: tuple) -> list[Any]:
    """The parameter rows' values, computed with the reference's own expressions."""
    tau_mem, tau_syn, v_leak, v_th, v_reset, rho_reset = sources
    dt = plan.dt
    # Reference: ``dt * p.tau_mem_inv * (...)`` and ``-dt * p.tau_syn_inv * i``.
    a = None if tau_mem is None else dt * _detach(tau_mem)
    b = None if tau_syn is None else -dt * _detach(tau_syn)
    return [a, b, v_leak, v_th, v_reset, plan.alpha, rho_reset]


def _detach(value: Any) -> Any:
    return value.detach() if isinstance(value, Tensor) else value


def _as_numpy(value: Any) -> np.ndarray:
    """A parameter value as numpy, exactly (numbers are doubles, rounded once when stored)."""
    if not isinstance(value, Tensor):
        return np.asarray(value, dtype=np.float64)
    value = value.detach()
    if value.dtype not in _NUMPY:  # float16, bfloat16, integers: exact in float64
        value = value.to(torch.float64)
    return value.numpy()


def _pack_params(
    plan: _Plan, sources: tuple, nshape: torch.Size, M: int, dtype: np.dtype
) -> tuple[np.ndarray, int]:
    values = _param_values(plan, sources)
    per_neuron = any(isinstance(v, Tensor) and v.dim() > 0 for v in values)
    prm = np.zeros((N_PARAMS, M if per_neuron else 1), dtype)
    for k, value in enumerate(values):
        if value is None:
            continue
        if per_neuron:
            prm[k].reshape(nshape)[...] = _as_numpy(value)
        elif isinstance(value, Tensor) and value.dtype in _NUMPY:
            prm[k, 0] = value.item()  # (exact: a float32 or float64 as a python float)
        else:
            prm[k, 0] = _as_numpy(value).reshape(())
    return prm, int(per_neuron)


class _FusedSequence(torch.autograd.Function):
    """``(x, v0, i0, rho0, *parameter sources) -> (out, vT, iT, rhoT)`` over all steps."""

    @staticmethod
    def forward(ctx: Any, plan: _Plan, x: Tensor, *inputs: Any) -> tuple[Tensor, ...]:
        states, sources = inputs[:3], inputs[3:]
        T, nshape = x.shape[0], x.shape[1:]
        M = math.prod(nshape)
        npdtype = _NUMPY[x.dtype]
        out = _empty(tuple(x.shape), x.dtype)
        sT = np.zeros((3, M), npdtype)
        ctx.prm = None
        if M > 0:
            xc = x.detach().contiguous().view(T, M).numpy()
            s0 = _stack_states(states, nshape, M, npdtype)
            prm, pstep = _pack_params(plan, sources, nshape, M, npdtype)
            if not pstep:  # shared parameters: 7 numbers, kept for backward
                ctx.prm = prm
            # Sequences that fit in cache run fastest with L1-sized blocks; larger ones stream
            # long rows from memory.
            cached = x.numel() * x.element_size() <= 8 << 20
            _launch(
                "forward",
                (plan.kind, pstep),
                (xc, out.view(T, M).numpy(), s0, prm, sT),
                M,
                T * M,
                _FWD_BLOCK_CACHED if cached else _FWD_BLOCK,
            )
        ctx.set_materialize_grads(False)
        ctx.plan = plan
        ctx.shape, ctx.dtype = x.shape, x.dtype
        needs_x = plan.kind not in (LI, LI_BOX) or any(
            isinstance(s, Tensor) and s.requires_grad for s in sources
        )
        saved = (x if needs_x else None, *states, *sources)
        ctx.save_for_backward(*(v if isinstance(v, Tensor) else None for v in saved))
        ctx.numbers = tuple(None if isinstance(v, Tensor) else v for v in saved)
        if plan.model.spiking and plan.method == HEAVISIDE:
            ctx.mark_non_differentiable(out)
        vT, iT, rT = (torch.from_numpy(sT[k]).view(nshape) for k in range(3))
        return out, vT, iT, rT

    @staticmethod
    def backward(ctx: Any, gout: Tensor | None, *gstate: Tensor | None) -> tuple[Any, ...]:
        plan: _Plan = ctx.plan
        saved = [n if t is None else t for t, n in zip(ctx.saved_tensors, ctx.numbers, strict=True)]
        x, states, sources = saved[0], saved[1:4], saved[4:]
        shape, dtype = ctx.shape, ctx.dtype
        T, nshape = shape[0], shape[1:]
        M = math.prod(nshape)
        needs = ctx.needs_input_grad  # (plan, x, v0, i0, rho0, *sources)
        want_gx = needs[1]
        want_pgrad = any(needs[5:])
        grads: list[Any] = [None] * len(needs)
        if M == 0:
            zeros = torch.zeros(shape, dtype=dtype)
            return tuple(
                (zeros if k == 1 else torch.zeros_like(v)) if need else None
                for k, (need, v) in enumerate(zip(needs, (None, None, *saved[1:]), strict=True))
            )
        npdtype = _NUMPY[dtype]
        slots = scratch_slots(plan.kind, want_pgrad)
        if slots:
            xn = x.detach().contiguous().view(T, M).numpy()
        else:  # leaky integrators: the adjoint does not need the trajectory
            xn = np.empty((T, 0), npdtype)
        if gout is None:
            g, gt = np.zeros((1, 1), npdtype), 0
        elif all(st == 0 for st in gout.stride()):
            # A broadcast number, e.g. from ``out.sum()``: do not materialise it.
            g, gt = np.full((1, 1), gout.detach().numpy()[(0,) * gout.dim()], npdtype), 0
        else:
            g, gt = gout.detach().contiguous().view(T, M).numpy(), 1
        gsT = np.zeros((3, M), npdtype)
        for k, gk in enumerate(gstate):
            if gk is not None:
                gsT[k].reshape(nshape)[...] = gk.detach().numpy()
        gx = _empty(tuple(shape), dtype) if want_gx else None
        gs0 = np.empty((3, M), npdtype)
        gprm = np.zeros((N_PARAMS, M if want_pgrad else 1), np.float64)
        s0 = _stack_states(states, nshape, M, npdtype)
        if ctx.prm is not None:
            prm, pstep = ctx.prm, 0
        else:  # (per-neuron parameters: packed again rather than held between the passes)
            prm, pstep = _pack_params(plan, sources, nshape, M, npdtype)
        _launch(
            "backward",
            (plan.kind, pstep, plan.method),
            (xn, g, gt, gsT, s0, prm,
             gx.view(T, M).numpy() if want_gx else np.empty((1, 1), npdtype), want_gx, gs0,
             gprm, want_pgrad),
            M,
            T * M,
            _backward_block(T, slots, npdtype.itemsize),
        )  # fmt: skip
        if want_gx:
            grads[1] = gx
        for k, s in enumerate(states):
            if needs[2 + k]:
                grads[2 + k] = torch.from_numpy(gs0[k]).view(nshape).sum_to_size(s.shape)
        if want_pgrad:
            scale = (plan.dt, -plan.dt, 1.0, 1.0, 1.0, 1.0)
            rows = (0, 1, 2, 3, 4, 6)
            for k, src in enumerate(sources):
                if needs[5 + k]:
                    gk = torch.from_numpy(gprm[rows[k]]).view(nshape).sum_to_size(src.shape)
                    gk = gk * scale[k]
                    grads[5 + k] = gk.to(src.dtype)
        return tuple(grads)


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
        'record_states needs the reference'
    """

    def unsupported(self, call: Call) -> str | None:
        """Why the fused loops cannot run ``call`` (``None`` if they can). Reads metadata only."""
        plan = call.memo["cpu"] = _prepare(call)
        return plan if isinstance(plan, str) else None

    def run(self, call: Call) -> tuple[Tensor, Any]:
        """Run ``call`` through the fused loops: ``(outputs of every step, last state)``."""
        plan = call.memo.pop("cpu", None) or _prepare(call)
        if isinstance(plan, str):
            raise NotImplementedError(f"backend='cpu' cannot run this call: {plan}")
        if isinstance(plan, _Invalid):
            # Let the reference raise its own error for bad input (or run it, if it can).
            return reference.run(call.step, call.x, call.state, call.p, call.dt)
        inputs = plan.model.read(call.state, call.p)
        try:
            out, vT, iT, rT = _FusedSequence.apply(plan, call.x, *inputs.states, *inputs.sources)
        except _CompileError as e:
            warnings.warn(f"{e}; running the reference loop instead", RuntimeWarning, stacklevel=2)
            return reference.run(call.step, call.x, call.state, call.p, call.dt)
        return out, plan.model.write(vT, iT, rT)


register("cpu", CPUBackend())
