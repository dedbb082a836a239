"""The CPU backend's machinery: threads, OpenMP, memory, fallbacks and what it refuses.

Equivalence of every model with the reference is in ``tests/kernels/test_fused.py``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np
import pytest
import torch

pytest.importorskip("numba")

from norse.torch import kernels  # noqa: E402
from norse.torch.functional import lif, lif_box  # noqa: E402
from norse.torch.kernels import _generated, cpu  # noqa: E402
from norse.torch.module.leaky_integrator import LI  # noqa: E402
from norse.torch.module.lif import LIF, LIFRecurrent  # noqa: E402
from norse.torch.module.lif_box import LIFBox  # noqa: E402
from norse.torch.module.lif_refrac import LIFRefrac  # noqa: E402

F64 = torch.float64
F32 = torch.float32


def leaves(tree: Any):
    for value in tree:
        if isinstance(value, tuple):
            yield from leaves(value)
        elif isinstance(value, torch.Tensor):
            yield value


def drive(shape, dtype, scale=1.5, seed=0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=gen, dtype=dtype) * scale).requires_grad_()


def check(make, x, state=None) -> None:
    """``make(backend)`` builds a layer; both backends agree on outputs, states, gradients."""
    out_r, s_r = make("reference")(x, state)
    out_c, s_c = make("cpu")(x, state)
    close = torch.equal if x.dtype == F64 else lambda a, b: torch.allclose(a, b, 1e-5, 1e-6)
    assert close(out_c, out_r)
    for a, b in zip(leaves(s_c), leaves(s_r), strict=True):
        assert close(a, b)
    if not x.requires_grad:
        return
    (g_r,) = torch.autograd.grad(out_r.sum() + next(leaves(s_r)).sum(), x)
    (g_c,) = torch.autograd.grad(out_c.sum() + next(leaves(s_c)).sum(), x)
    torch.testing.assert_close(g_c, g_r, rtol=1e-9 if x.dtype == F64 else 1e-4, atol=1e-6)


@pytest.mark.parametrize("alpha", [4.0, 100.0])
@pytest.mark.parametrize("method", ["tanh", "heavi_erfc", "circ"])
def test_library_function_surrogates_float32(method, alpha):
    """The surrogates whose formula calls exp, tanh or a power, in float32."""
    p = lif.LIFParameters(
        tau_syn_inv=torch.tensor(200.0), tau_mem_inv=torch.tensor(110.0),
        v_th=torch.tensor(0.4), method=method, alpha=torch.tensor(alpha),
    )  # fmt: skip
    check(lambda b: LIF(p=p, backend=b), drive((40, 3, 33), F32))


def test_python_number_parameters():
    """LIFBox keeps python floats in its parameters; they enter the loops like the reference."""
    p = lif_box.LIFBoxParameters(tau_mem_inv=90.0, v_leak=0.1, v_th=0.45, v_reset=-0.1, alpha=4.0)
    for dtype in (F64, F32):
        check(lambda b: LIFBox(p=p, backend=b), drive((17, 3, 7), dtype, 12.0))


@pytest.mark.parametrize("model", ["lif", "lif_refrac"])
def test_several_threads(model, monkeypatch, two_threads):
    """The work split across threads and chunks (chunk edges, block edges) changes nothing."""
    monkeypatch.setattr(cpu, "_MIN_WORK", 1)  # split even this small a sequence
    chunks = []
    entry = cpu._entry

    def spy(fn, args):
        chunks.append(len(args[-3]) - 1)  # (..., edges, counter, blk)
        return entry(fn, args)

    monkeypatch.setattr(cpu, "_entry", spy)
    cls = LIF if model == "lif" else LIFRefrac
    check(lambda b: cls(backend=b), drive((17, 5, 1000), F64, 3.0))
    assert len(chunks) >= 2 and min(chunks) > 2  # forward and backward, each in several chunks


@pytest.fixture
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


def _use_openmp(monkeypatch, flag: bool) -> None:
    monkeypatch.setattr(cpu, "_USE_OPENMP", flag)
    monkeypatch.setattr(cpu._OpenMP, "_checked", False)
    monkeypatch.setattr(cpu._OpenMP, "_instance", None)


def _lif_run(x):
    z, s = LIF(backend="cpu")(x)
    (gx,) = torch.autograd.grad((z * torch.arange(z.shape[-1], dtype=z.dtype)).sum() + s.v.sum(), x)
    return z, s.v, s.i, gx


def test_openmp_threads_and_thread_pool_agree(monkeypatch, two_threads):
    """The loops give the same results on torch's OpenMP threads and on a thread pool."""
    x = drive((40, 4, 8200), F64)  # enough work for several chunks on two threads
    _use_openmp(monkeypatch, False)
    pool = _lif_run(x)
    assert cpu._OpenMP.get() is None
    _use_openmp(monkeypatch, True)
    omp = _lif_run(x)
    if sys.platform.startswith("linux") and torch.backends.openmp.is_available():
        runtime = cpu._OpenMP.get()
        assert runtime is not None and any(runtime._trampolines.values())
    for a, b in zip(omp, pool, strict=True):
        assert torch.equal(a, b)
    check(lambda b: LIF(backend=b), x)


def test_environment_variable_turns_openmp_threads_off():
    import subprocess

    code = (
        "import torch, norse.torch as n; from norse.torch.kernels import cpu; "
        "torch.set_num_threads(2); n.LIF(backend='cpu')(torch.rand(40, 4, 8200)); "
        "print(cpu._OpenMP.get() is None)"
    )
    root = __import__("pathlib").Path(__file__).resolve().parents[2]
    env = {**os.environ, "NORSE_CPU_OPENMP": "0"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root, env=env
    )
    assert done.stdout.split() == ["True"]


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_trampolines_are_imported_only_from_a_directory_of_ours(tmp_path):
    shared = tmp_path / "shared"
    (shared / f"norse-openmp-{os.getuid()}").mkdir(parents=True)
    (shared / f"norse-openmp-{os.getuid()}").chmod(0o777)  # others could plant code here
    ours = tmp_path / "ours"
    assert _generated.own_directory(shared, ours) == ours / f"norse-openmp-{os.getuid()}"
    with pytest.raises(OSError, match="no writable directory"):
        _generated.own_directory(shared)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_runs_the_loops(two_threads):
    """After the parent used OpenMP, a forked child runs the loops on its own thread pool.

    (GNU OpenMP does not survive ``fork``: torch's own parallel operations hang in such a
    child, so it calls the loops directly, on numpy arrays.)
    """
    import multiprocessing

    _lif_run(drive((40, 4, 8200), F64))  # the parent's threads are now in use
    x = np.random.default_rng(0).random((40, 8200 * 4)) * 0.5
    expected = _forward_loops(x)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        used_openmp, got = pool.apply_async(_forward_loops_in_child, (x,)).get(timeout=120)
    assert not used_openmp
    assert np.array_equal(got, expected)


_SETUP: dict[str, Any] = {}


def _forward_loops(x):
    """The forward loops of LIF on numpy arrays (no torch operations: safe in a fork child)."""
    if "loops" not in _SETUP:  # (in the parent)
        s0 = lif.LIFFeedForwardState(torch.zeros(3, dtype=F64), torch.zeros(3, dtype=F64))
        p = lif.LIFParameters(v_th=torch.tensor(0.3))
        call = kernels.Call(lif.lif_feed_forward_step, torch.zeros(2, 3, dtype=F64), s0, p, 1e-3)
        plan = cpu._prepare(call)
        from norse.torch.kernels._numba_source import Variant

        hoisted = tuple(v.item() for v in plan.program.prologue(*plan.params))
        _SETUP["prm"] = np.array([[h] for h in hoisted])
        variant = Variant(False, ("f",) * len(hoisted))
        _SETUP["loops"] = cpu._loops(plan.program, variant, "forward")
    loops, prm = _SETUP["loops"], _SETUP["prm"]
    out, s, sT = np.empty_like(x), np.zeros((2, x.shape[1])), np.zeros((2, x.shape[1]))
    cpu._launch(loops.forward_chunks, (x, out, s, prm, sT), x.shape[1], x.size, 512, loops.module)
    return out


def _forward_loops_in_child(x):
    return cpu._OpenMP.get() is not None, _forward_loops(x)


def test_auto_picks_the_cpu_kernel():
    x = torch.rand(5, 2, 3)
    layer = LIF()
    call = kernels.Call(layer.activation, x, layer.initial_state(x), layer.p, layer.dt, layer.spec)
    assert kernels.select(call, "auto")[0] == "cpu"


def test_memory_held_for_backward():
    """Forward keeps at most one input-sized tensor (the input itself) for backward."""
    x = drive((40, 4, 50), F32)
    saved: list[torch.Tensor] = []

    def pack(t):
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        p = lif.LIFParameters(tau_mem_inv=torch.nn.Parameter(torch.tensor(100.0)))
        out, _ = LIF(p=p, backend="cpu")(x)
    big = [t for t in saved if t.numel() >= x.numel()]
    assert sum(t.numel() for t in big) <= x.numel()
    assert sum(t.numel() for t in saved) <= x.numel() + 10 * x[0].numel()
    out.sum().backward()


# ----------------------------------------------------------------------------- fallbacks
def _call(layer, x, state=None, record_states=False):
    state = layer.initial_state(x) if state is None else state
    return kernels.Call(
        layer.activation, x, state, layer.p, layer.dt, layer.spec, (), record_states
    )


@pytest.mark.parametrize(
    "case, reason",
    [
        ("record_states", "record_states"),
        ("sparse", "sparse"),
        ("int_input", "int64"),
        ("recurrent", "linear\\(input, input_weights\\)"),
        ("not_elementwise", "mean"),
        ("wide_parameter", "wider"),
        ("no_numba", "numba is not installed"),
    ],
)
def test_explicit_cpu_explains_what_it_cannot_run(case, reason, monkeypatch):
    x = torch.rand(6, 2, 3)
    kwargs: dict[str, Any] = {}
    layer_cls, p = LIF, None
    if case == "record_states":
        kwargs["record_states"] = True
    elif case == "sparse":
        x = x.to_sparse()
    elif case == "int_input":
        x = (x * 10).long()
    elif case == "not_elementwise":
        layer_cls = LIFBox  # a reset that mixes neurons
        p = lif_box.LIFBoxParameters(reset_method=lambda z, v, r, th: v - z.mean(-1, keepdim=True))
    elif case == "wide_parameter":
        p = lif.LIFParameters(v_th=torch.full((3,), 0.5, dtype=F64))
    elif case == "no_numba":
        monkeypatch.setattr(cpu, "_HAS_NUMBA", False)
    if case == "recurrent":  # (weights used other than in plain products)

        def squared(x, s, w_in, w_rec, p, dt=0.001):
            return lif.lif_step(x, s, w_in * w_in, w_rec, p, dt)

        def make(backend: str) -> LIFRecurrent:
            layer = LIFRecurrent(3, 4, backend=backend)
            layer.activation = squared
            return layer

    else:
        make = lambda backend: layer_cls(p=p, backend=backend, **kwargs)  # noqa: E731
    with pytest.raises(NotImplementedError, match=reason):
        make("cpu")(x)
    # ``auto`` falls back to the reference without a word.
    torch.manual_seed(3)
    out_auto, _ = make("auto")(x)
    torch.manual_seed(3)
    out_ref, _ = make("reference")(x)
    assert torch.equal(out_auto.to_dense(), out_ref.to_dense())


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_forward_mode_ad_falls_back():
    """Dual tensors go to the reference (leaky integrators: the spike surrogates have no jvp)."""
    x, tangent = torch.rand(6, 2, 3, dtype=F64), torch.rand(6, 2, 3, dtype=F64)
    unpack = torch.autograd.forward_ad.unpack_dual
    with torch.autograd.forward_ad.dual_level():
        dual = torch.autograd.forward_ad.make_dual(x, tangent)
        with pytest.raises(NotImplementedError, match="forward-mode AD"):
            LI(backend="cpu")(dual)
        out, _ = LI(backend="auto")(dual)
        out_ref, _ = LI(backend="reference")(dual)
        assert torch.equal(unpack(out).tangent, unpack(out_ref).tangent)


def test_bad_input_gives_the_reference_errors():
    layer = LIF(backend="cpu")
    with pytest.raises(ValueError, match="no time steps"):
        layer(torch.rand(0, 2, 3))
    bad = lif.LIFFeedForwardState(v=torch.zeros(2, 4), i=torch.zeros(2, 4))
    x = torch.rand(5, 2, 3)
    errors = []
    for backend in ("reference", "cpu"):
        with pytest.raises((RuntimeError, ValueError)) as info:
            kernels.run(lif.lif_feed_forward_step, x, bad, lif.LIFParameters(), 1e-3,
                        spec=lif.SPEC, backend=backend)  # fmt: skip
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1]


def test_unsupported_reads_only_metadata():
    """``unsupported`` answers for meta tensors too (it never looks at values)."""
    x = torch.empty(5, 2, 3, device="meta")
    layer = LIF()
    state = lif.LIFFeedForwardState(
        v=torch.empty(2, 3, device="meta"), i=torch.empty(2, 3, device="meta")
    )
    assert "not on the CPU" in cpu.CPUBackend().unsupported(_call(layer, x, state))


def test_output_buffers_are_reused_only_when_free():
    """Large outputs come from a cache of buffers, reused only once nothing refers to them."""
    x = torch.rand(64, 16, 1024)  # 4 MiB of spikes: large enough for the cache
    layer = LIF(backend="cpu")
    try:
        with torch.no_grad():
            z1, _ = layer(x)
            kept = z1.clone()
            z2, _ = layer(x * 2)
            assert z2.data_ptr() != z1.data_ptr()
            ptr = z2.data_ptr()
            del z2
            z3, _ = layer(x * 3)
            assert z3.data_ptr() == ptr  # the freed buffer came back
            view = z3[5]
            del z3
            z4, _ = layer(x)
            assert view.data_ptr() - 5 * view.numel() * 4 not in (z4.data_ptr(), z1.data_ptr())
            assert torch.equal(z1, kept) and torch.equal(z4, kept)
    finally:
        cpu.empty_cache()


@pytest.mark.parametrize("shape, align", [((64, 16, 1024), 2 << 20), ((5, 16, 1000), 4096)])
def test_output_buffers_are_aligned(shape, align):
    """Outputs start on a huge page (a page when smaller): no vector access straddles lines."""
    try:
        z = cpu._empty(shape, torch.float32)
        assert z.data_ptr() % align == 0 and z.shape == shape and z.is_contiguous()
        z.fill_(1.0)  # all of it is writable
        assert float(z.sum()) == z.numel()
    finally:
        cpu.empty_cache()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 16, 100, 512])
def test_scratch_rows_start_cache_lines(dtype, n):
    from norse.torch.kernels._cpu_numba import _rows

    rows = _rows(3, n, np.empty(1, dtype))
    assert rows.dtype == dtype and rows.shape[0] == 3 and rows.shape[1] >= n
    for r in rows:
        assert r.ctypes.data % 64 == 0


def test_output_saved_by_autograd_is_not_reused():
    """A spike tensor that only autograd still holds (saved for a product) keeps its buffer."""
    x = torch.rand(64, 16, 1024, requires_grad=True)
    w = torch.rand(1024, requires_grad=True)
    layer = LIF(backend="cpu")
    try:
        z, _ = layer(x)
        loss = (z * w).sum()  # ``mul`` saves z for the gradient of w
        expected = z.sum((0, 1)).detach().clone()
        del z
        for _ in range(3):  # new outputs must not land in the saved buffer
            layer(torch.rand(64, 16, 1024) * 5)
        (gw,) = torch.autograd.grad(loss, w)
        torch.testing.assert_close(gw, expected)
    finally:
        cpu.empty_cache()


def test_numba_is_imported_only_when_a_kernel_runs():
    """``import norse.torch`` and building layers stay light; numba loads on the first run."""
    import subprocess
    import sys

    code = (
        "import sys, torch, norse.torch as n; layer = n.LIF(); "
        "print('numba' in sys.modules); layer(torch.rand(3, 2)); print('numba' in sys.modules)"
    )
    root = __import__("pathlib").Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert done.stdout.split() == ["False", "True"]


def test_compile_failure_falls_back_to_the_reference(monkeypatch):
    """If numba cannot compile the loops (an incompatible install), layers still work."""

    def broken(program, variant, part):
        raise cpu._CompileError("numba could not compile the CPU kernels (no LLVM here)")

    monkeypatch.setattr(cpu, "_FAILED", {})
    monkeypatch.setattr(cpu, "_loops", broken)
    x = torch.rand(6, 2, 3)
    with pytest.warns(RuntimeWarning, match="could not compile"):
        z, _ = LIF()(x)
    assert torch.equal(z, LIF(backend="reference")(x)[0])
    with pytest.raises(NotImplementedError, match="could not compile"):
        LIF(backend="cpu")(x)


def test_checks_run_once_per_layer_call(monkeypatch):
    """``auto`` asks the CPU backend whether it can run a call, then runs it: one check."""
    checks = []
    prepare = cpu._prepare
    monkeypatch.setattr(cpu, "_prepare", lambda call: checks.append(call) or prepare(call))
    out, _ = LIF()(torch.rand(3, 2, 4))
    assert len(checks) == 1 and out.shape == (3, 2, 4)


# ----------------------------------------------------------------------------- background
def _picked(layer, x):
    call = kernels.Call(layer.activation, x, layer.initial_state(x), layer.p, layer.dt, layer.spec)
    return kernels.select(call, "auto")[0]


def test_auto_runs_the_reference_while_the_loops_compile(background, monkeypatch):
    """The first call never waits for numba: it runs the reference and starts compiling;
    once the loops are ready, ``auto`` takes them."""
    started = []
    warm = cpu._warm

    def slow_warm(*args):
        started.append(args[2])
        import time

        time.sleep(0.5)
        return warm(*args)

    monkeypatch.setattr(cpu, "_warm", slow_warm)
    x = drive((9, 2, 5), F32)
    layer = LIF()
    assert _picked(layer, x) == "reference"
    out, s = layer(x)
    ref, s_ref = LIF(backend="reference")(x)
    assert torch.equal(out, ref) and torch.equal(s.v, s_ref.v)
    background.wait(120)
    assert started[:2] == ["forward", "backward"]
    assert _picked(layer, x) == "cpu"


def test_backward_uses_the_reference_until_its_loops_compile(background, monkeypatch):
    """Forward ready, backward of this variant not yet: the gradients come from autograd
    through the reference, and that variant starts compiling."""
    x = drive((9, 2, 5), F64)
    layer = LIF()
    layer(x)
    background.wait(120)  # forward, and the backward of a per-step output gradient
    requested = []
    request = background.request
    monkeypatch.setattr(background, "request", lambda *a: requested.append(a[2]) or request(*a))
    out, s = layer(x)  # fused forward
    (g,) = torch.autograd.grad(out.sum() + s.v.sum(), x)  # a broadcast gradient: another variant
    out_r, s_r = LIF(backend="reference")(x)
    (g_r,) = torch.autograd.grad(out_r.sum() + s_r.v.sum(), x)
    torch.testing.assert_close(g, g_r, rtol=1e-12, atol=1e-12)
    assert "backward" in requested
    background.wait(120)
    out, s = layer(x)
    (g,) = torch.autograd.grad(out.sum() + s.v.sum(), x)
    torch.testing.assert_close(g, g_r, rtol=1e-9, atol=1e-12)


def test_a_failed_background_compilation_leaves_the_reference(background, monkeypatch):
    def broken(*args):
        raise RuntimeError("no LLVM here")

    monkeypatch.setattr(cpu, "_warm", broken)
    x = drive((5, 2, 3), F32)
    layer = LIF()
    layer(x)
    background.wait(60)
    assert "could not compile" in (_picked(layer, x) == "reference" and background._failed and
                                   next(iter(background._failed.values())))  # fmt: skip
    out, _ = layer(x)
    assert torch.equal(out, LIF(backend="reference")(x)[0])


def test_a_short_process_leaves_its_loops_compiled_for_the_next(tmp_path):
    """A process that exits before its background compilation ends hands it to a detached
    process: the next process finds the loops in numba's disk cache."""
    import subprocess
    import time

    code = (
        "import torch, norse.torch as nt; x = torch.rand(5, 2, 3).requires_grad_(); "
        "z, s = nt.LIF()(x); (z * torch.rand_like(z)).sum().backward()"
    )
    root = __import__("pathlib").Path(__file__).resolve().parents[2]
    env = {**os.environ, "NORSE_CACHE_DIR": str(tmp_path), "NORSE_CPU_COMPILE": "background"}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, env=env, timeout=120)
    deadline = time.monotonic() + 180
    found: list = []
    while time.monotonic() < deadline:
        found = [p.name for p in tmp_path.rglob("*.nbi")]
        if any("forward_chunks" in n for n in found) and any("backward_chunks" in n for n in found):
            break
        time.sleep(0.5)
    assert any("forward_chunks" in n for n in found), found
    assert any("backward_chunks" in n for n in found), found


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_matches_libm(dtype):
    """The loops' vectorisable ``exp``: within 2 ulp of numpy's on its range, inf above it,
    the clamp's tiny value below it (never a denormal), NaN for NaN."""
    from numba import njit

    from norse.torch.kernels import _cpu_numba

    @njit
    def run(xs, out):
        for j in range(xs.size):
            out[j] = _cpu_numba._exp(xs[j])

    lo, hi = (-86.0, 88.7) if dtype == np.float32 else (-708.0, 709.7)
    gen = np.random.default_rng(0)
    xs = np.concatenate(
        [gen.uniform(lo - 30, hi, 100_000), gen.uniform(-1, 1, 10_000),
         [0.0, -0.0, lo, hi, np.nan, -np.inf, np.inf, hi + 1, 1e30]]
    ).astype(dtype)  # fmt: skip
    out = np.empty_like(xs)
    run(xs, out)
    with np.errstate(over="ignore"):
        want = np.exp(np.maximum(xs.astype(np.float64), lo)).astype(dtype)
    finite = np.isfinite(want) & ~np.isnan(xs)
    err = np.abs(out[finite] - want[finite]) / want[finite]
    assert err.max() <= 2 * np.finfo(dtype).eps, err.max()
    assert np.isposinf(out[np.isposinf(want)]).all()
    assert out.dtype == dtype and np.isnan(out[np.isnan(xs)]).all()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_compiles_afresh(background):
    """A child forked while the parent's loops compile does not wait for the parent's thread
    (which it does not have): its own first call starts compiling again."""
    import multiprocessing

    layer = LIF()
    layer(drive((5, 2, 3), F32))  # the parent queues its loops
    assert background._pending or background._ready
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        fresh = pool.apply_async(_child_compiler_state).get(timeout=120)
    assert fresh == (True, False)
    background.wait(120)


def _child_compiler_state():
    return (
        not cpu._COMPILER._pending and not cpu._COMPILER._queued,
        cpu._COMPILER._thread is not None,
    )
