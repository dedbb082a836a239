"""The fused CPU kernels (``backend="cpu"``) against the reference loop.

Every supported model runs through both backends on the same input, initial state and
parameters; float64 outputs and states must be identical, float32 ones close, and every
gradient (input, initial state, parameters) must match autograd through the reference.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("numba")

from norse.torch import kernels  # noqa: E402
from norse.torch.functional import iaf, lif, lif_box, lif_refrac  # noqa: E402
from norse.torch.functional import leaky_integrator as li  # noqa: E402
from norse.torch.functional import leaky_integrator_box as li_box  # noqa: E402
from norse.torch.functional.reset import reset_subtract  # noqa: E402
from norse.torch.functional.threshold import METHODS  # noqa: E402
from norse.torch.kernels import cpu  # noqa: E402
from norse.torch.module.iaf import IAF  # noqa: E402
from norse.torch.module.leaky_integrator import LI  # noqa: E402
from norse.torch.module.leaky_integrator_box import LIBox  # noqa: E402
from norse.torch.module.lif import LIF, LIFRecurrent  # noqa: E402
from norse.torch.module.lif_box import LIFBox  # noqa: E402
from norse.torch.module.lif_refrac import LIFRefrac  # noqa: E402

F64 = torch.float64
F32 = torch.float32


# ----------------------------------------------------------------------------- models
def _value(lo: float, hi: float, pshape: tuple[int, ...], dtype, learn: bool) -> torch.Tensor:
    """A parameter: values spread over [lo, hi] per neuron, or their mean as a 0-dim tensor."""
    if pshape:
        t = torch.linspace(lo, hi, math.prod(pshape), dtype=dtype).reshape(pshape)
    else:
        t = torch.tensor((lo + hi) / 2, dtype=dtype)
    return nn.Parameter(t) if learn else t


def _lif_p(ps, dtype, method, learn):
    return lif.LIFParameters(
        tau_syn_inv=_value(150.0, 250.0, ps, dtype, learn),
        tau_mem_inv=_value(90.0, 130.0, ps, dtype, learn),
        v_leak=_value(0.0, 0.1, ps, dtype, learn),
        v_th=_value(0.3, 0.5, ps, dtype, learn),
        v_reset=_value(-0.2, 0.0, ps, dtype, learn),
        method=method,
        alpha=_value(3.0, 8.0, ps, dtype, False),
    )


def _lif_box_p(ps, dtype, method, learn, reset=None):
    kw = {} if reset is None else {"reset_method": reset}
    return lif_box.LIFBoxParameters(
        tau_mem_inv=_value(80.0, 120.0, ps, dtype, learn),
        v_leak=_value(0.0, 0.1, ps, dtype, learn),
        v_th=_value(0.3, 0.5, ps, dtype, learn),
        v_reset=_value(-0.2, 0.0, ps, dtype, learn),
        method=method,
        alpha=_value(3.0, 8.0, ps, dtype, False),
        **kw,
    )


def _li_p(ps, dtype, method, learn):
    return li.LIParameters(
        tau_syn_inv=_value(150.0, 250.0, ps, dtype, learn),
        tau_mem_inv=_value(90.0, 130.0, ps, dtype, learn),
        v_leak=_value(0.0, 0.1, ps, dtype, learn),
    )


def _li_box_p(ps, dtype, method, learn):
    return li_box.LIBoxParameters(
        tau_mem_inv=_value(80.0, 120.0, ps, dtype, learn),
        v_leak=_value(0.0, 0.1, ps, dtype, learn),
    )


def _iaf_p(ps, dtype, method, learn):
    return iaf.IAFParameters(
        v_th=_value(0.8, 1.2, ps, dtype, learn),
        v_reset=_value(-0.2, 0.0, ps, dtype, learn),
        method=method,
        alpha=_value(3.0, 8.0, ps, dtype, False),
    )


def _lif_refrac_p(ps, dtype, method, learn):
    return lif_refrac.LIFRefracParameters(
        lif=_lif_p(ps, dtype, method, learn), rho_reset=_value(2.0, 3.0, ps, dtype, learn)
    )


def _rand(shape, dtype, scale=0.5):
    return (torch.rand(shape, dtype=dtype) * scale).requires_grad_()


@dataclass(frozen=True)
class Model:
    module: type
    params: Callable[..., Any]  # (pshape, dtype, method, learn) -> parameters
    state: Callable[..., Any]  # (shape of v, shape of the rest, dtype) -> initial state
    drive: float  # input scale that makes the neurons spike a few times in 17 steps
    spiking: bool = True


MODELS = {
    "lif": Model(
        LIF,
        _lif_p,
        lambda sv, s, d: lif.LIFFeedForwardState(v=_rand(sv, d), i=_rand(s, d)),
        1.5,
    ),
    "lif_box": Model(
        LIFBox, _lif_box_p, lambda sv, s, d: lif_box.LIFBoxFeedForwardState(v=_rand(sv, d)), 12.0
    ),
    "lif_box_sub": Model(
        LIFBox,
        lambda ps, d, m, learn: _lif_box_p(ps, d, m, learn, reset=reset_subtract),
        lambda sv, s, d: lif_box.LIFBoxFeedForwardState(v=_rand(sv, d)),
        12.0,
    ),
    "li": Model(
        LI, _li_p, lambda sv, s, d: li.LIState(v=_rand(sv, d), i=_rand(s, d)), 1.0, spiking=False
    ),
    "li_box": Model(
        LIBox, _li_box_p, lambda sv, s, d: li_box.LIBoxState(v=_rand(sv, d)), 1.0, spiking=False
    ),
    "iaf": Model(IAF, _iaf_p, lambda sv, s, d: iaf.IAFFeedForwardState(v=_rand(sv, d)), 0.5),
    "lif_refrac": Model(
        LIFRefrac,
        _lif_refrac_p,
        lambda sv, s, d: lif_refrac.LIFRefracFeedForwardState(
            lif.LIFFeedForwardState(v=_rand(sv, d), i=_rand(s, d)), rho=_rand(s, d, 3.0)
        ),
        3.0,
    ),
}
SPIKING = [name for name, m in MODELS.items() if m.spiking]


# ----------------------------------------------------------------------------- comparison
def leaves(tree: Any) -> Iterator[Any]:
    """Tensor leaves of a (nested) state or parameter tuple."""
    for value in tree:
        if isinstance(value, tuple):
            yield from leaves(value)
        elif isinstance(value, torch.Tensor):
            yield value


def run(name: str, backend: str, x, state, p, **kw):
    return MODELS[name].module(p=p, backend=backend, **kw)(x, state)


def assert_same(fused: torch.Tensor, ref: torch.Tensor) -> None:
    """float64: identical; float32: ``assert_close`` defaults."""
    assert fused.dtype == ref.dtype and fused.shape == ref.shape
    if ref.dtype == F64:
        assert torch.equal(fused, ref), (fused - ref).abs().max()
    else:
        torch.testing.assert_close(fused, ref)


def assert_grad_close(fused, ref, dtype, what: str, reduced: bool) -> None:
    """float64: to 1e-9 relative; float32: ``assert_close`` defaults, and for gradients that
    are sums over neurons and steps (``reduced``, parameters) a tolerance for float32 sums."""
    fused = torch.zeros_like(ref) if fused is None and ref is not None else fused
    ref = torch.zeros_like(fused) if ref is None and fused is not None else ref
    if ref is None:
        return
    assert fused.shape == ref.shape and fused.dtype == ref.dtype, what
    if dtype == F64:
        torch.testing.assert_close(fused, ref, rtol=1e-9, atol=1e-12, msg=what)
    elif reduced:
        atol = 1e-5 * max(1.0, ref.abs().max().item())
        torch.testing.assert_close(fused, ref, rtol=1e-4, atol=atol, msg=what)
    else:
        torch.testing.assert_close(fused, ref, msg=what)


def check(name: str, x, state, p, *, grads: bool = True) -> None:
    """Run both backends; compare outputs, final states and the gradients of a random loss."""
    out_r, s_r = run(name, "reference", x, state, p)
    out_c, s_c = run(name, "cpu", x, state, p)
    assert_same(out_c, out_r)
    assert type(s_c) is type(s_r)
    for a, b in zip(leaves(s_c), leaves(s_r), strict=True):
        assert_same(a, b)
    assert out_c.requires_grad == out_r.requires_grad
    if not grads:
        return
    inputs = [
        t
        for t in (x, *leaves(state or ()), *leaves(p))
        if isinstance(t, torch.Tensor) and t.requires_grad
    ]
    gen = torch.Generator().manual_seed(1)
    weights = [torch.randn(t.shape, generator=gen, dtype=t.dtype) for t in (out_r, *leaves(s_r))]

    def loss(out, s):
        return sum((t * w).sum() for t, w in zip((out, *leaves(s)), weights, strict=True))

    g_r = torch.autograd.grad(loss(out_r, s_r), inputs, allow_unused=True)
    g_c = torch.autograd.grad(loss(out_c, s_c), inputs, allow_unused=True)
    # Gradients of parameters and of broadcast state fields are sums over neurons and steps.
    per_element = {id(x)} | {id(t) for t in leaves(state or ()) if t.shape == x.shape[1:]}
    for k, (a, b) in enumerate(zip(g_c, g_r, strict=True)):
        what = f"gradient of input {k} ({tuple(inputs[k].shape)})"
        assert_grad_close(a, b, x.dtype, what, reduced=id(inputs[k]) not in per_element)


def drive(name: str, shape, dtype, gen_seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(gen_seed)
    x = torch.rand(shape, generator=gen, dtype=dtype) * MODELS[name].drive
    return x.requires_grad_()


# ----------------------------------------------------------------------------- tests
@pytest.mark.parametrize("dtype", [F64, F32], ids=["f64", "f32"])
@pytest.mark.parametrize("T", [1, 17])
@pytest.mark.parametrize("n", [1, 7, 63, 1000])
@pytest.mark.parametrize("name", list(MODELS))
def test_matches_reference(name, n, T, dtype):
    """Sizes, one step, both dtypes; the layer's own initial state (``v`` requires grad)."""
    p = MODELS[name].params((), dtype, "super", False)
    x = drive(name, (T, 2, n), dtype)
    state = MODELS[name].module(p=p).initial_state(x)
    check(name, x, state, p)


# The surrogate method is compiled into the backward loop, so every (model, method) pair is a
# separate compilation (~3 s each). Every method runs through each of the three places the
# loops evaluate a surrogate: the LIF branch (LIF, LI, LIFRefrac's voltage), the one-variable
# branch (LIFBox, its subtract reset, IAF) and LIFRefrac's counter; the other models meet
# every method's code there and run with SuperSpike and Heaviside in the tests around.
SURROGATE_MODELS = ["lif", "lif_box_sub", "lif_refrac"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", SURROGATE_MODELS)
def test_every_surrogate(name, method):
    """Every threshold method, with learnable per-neuron parameters and a given state."""
    p = MODELS[name].params((7,), F64, method, True)
    x = drive(name, (17, 3, 7), F64)
    state = MODELS[name].state((3, 7), (3, 7), F64)
    check(name, x, state, p)


@pytest.mark.parametrize("alpha", [4.0, 100.0])
@pytest.mark.parametrize("method", ["tanh", "heavi_erfc", "circ"])
def test_library_function_surrogates_float32(method, alpha):
    """The surrogates whose formula calls exp, tanh or a power, in float32 (their own code).

    With ``alpha = 100`` most steps lie where the reference's derivative underflows to 0 or a
    denormal, and the fused one is clamped to a tiny normal number instead.
    """
    p = lif.LIFParameters(
        tau_syn_inv=torch.tensor(200.0), tau_mem_inv=torch.tensor(110.0),
        v_th=torch.tensor(0.4), method=method, alpha=torch.tensor(alpha),
    )  # fmt: skip
    x = drive("lif", (40, 3, 33), F32)
    check("lif", x, MODELS["lif"].state((3, 33), (3, 33), F32), p)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_matches_libm(dtype):
    """The kernels' vectorisable ``exp``: within 2 ulp of numpy's on its whole range."""
    from numba import njit

    from norse.torch.kernels import _cpu_numba

    @njit
    def run(xs, out):
        for j in range(xs.size):
            out[j] = _cpu_numba._exp(xs[j])

    lo = -87.0 if dtype == np.float32 else -708.0
    gen = np.random.default_rng(0)
    xs = np.concatenate(
        [gen.uniform(lo - 30, 88 if dtype == np.float32 else 709, 100_000),
         gen.uniform(-1, 1, 10_000), [0.0, -0.0, lo, np.nan, -np.inf]]
    ).astype(dtype)  # fmt: skip
    out = np.empty_like(xs)
    run(xs, out)
    want = np.exp(np.maximum(xs.astype(np.float64), lo))  # below ``lo``: exp(lo), never denormal
    finite = ~np.isnan(xs)
    err = np.abs(out[finite] - want[finite]) / want[finite]
    assert err.max() <= 2 * np.finfo(dtype).eps, err.max()
    assert out.dtype == dtype and np.isnan(out[~finite]).all()


# float32 with per-neuron parameters for two models only: each model, dtype and parameter
# layout is a separate compilation, and the others' float32 paths are covered with 0-dim ones.
LEARNABLE = [(name, F64) for name in MODELS] + [(name, F32) for name in ("lif", "lif_refrac")]


@pytest.mark.parametrize("pshape", [(), (7,), (1, 7), (3, 7)], ids=str)
@pytest.mark.parametrize(
    "name, dtype", LEARNABLE, ids=[f"{n}-{'f64' if d == F64 else 'f32'}" for n, d in LEARNABLE]
)
def test_learnable_parameters(name, dtype, pshape):
    """0-dim and per-neuron ``nn.Parameter``s get the reference's gradients, reduced to shape."""
    p = MODELS[name].params(pshape, dtype, "super", True)
    x = drive(name, (17, 3, 7), dtype)
    state = MODELS[name].state((3, 7), (3, 7), dtype)
    check(name, x, state, p)


@pytest.mark.parametrize("layout", ["unbatched", "non_contiguous", "3d_neurons", "broadcast_state"])
@pytest.mark.parametrize("name", list(MODELS))
def test_layouts(name, layout):
    p = MODELS[name].params((), F64, "super", False)
    if layout == "unbatched":
        x, state = drive(name, (17, 9), F64), MODELS[name].state((9,), (9,), F64)
    elif layout == "non_contiguous":
        x = drive(name, (17, 9, 4), F64).transpose(1, 2)  # (17, 4, 9), strides permuted
        assert not x.is_contiguous()
        state = MODELS[name].state((4, 9), (4, 9), F64)
    elif layout == "3d_neurons":
        x, state = drive(name, (17, 2, 3, 5), F64), MODELS[name].state((2, 3, 5), (2, 3, 5), F64)
    else:  # a 0-dim voltage broadcast over the neurons (the only state that broadcasts)
        x, state = drive(name, (17, 4, 9), F64), MODELS[name].state((), (4, 9), F64)
    check(name, x, state, p)


@pytest.mark.parametrize("name", list(MODELS))
def test_gradient_paths(name):
    """Loss on the outputs only, on the final state only, and no autograd at all."""
    p = MODELS[name].params((), F64, "super", False)
    x = drive(name, (17, 2, 5), F64)
    for pick in (lambda out, s: out.sum(), lambda out, s: sum(t.sum() for t in leaves(s))):
        grads = []
        for backend in ("reference", "cpu"):
            out, s = run(name, backend, x, None, p)
            grads.append(torch.autograd.grad(pick(out, s), x)[0])
        torch.testing.assert_close(grads[1], grads[0], rtol=1e-9, atol=1e-12)
    with torch.no_grad():
        out, s = run(name, "cpu", x, None, p)
    assert not out.requires_grad and not any(t.requires_grad for t in leaves(s))


@pytest.mark.parametrize("T", [1, 2, 17])
@pytest.mark.parametrize("name", list(MODELS))
def test_gradients_without_input_gradient(name, T):
    """Only the initial state and the parameters want gradients: the adjoint writes its input
    gradients to scratch rows (two in turn) and still carries them to the initial state."""
    p = MODELS[name].params((), F64, "super", True)
    x = drive(name, (T, 3, 5), F64).detach()
    check(name, x, MODELS[name].state((3, 5), (3, 5), F64), p)


@pytest.mark.parametrize("name", SPIKING)
def test_heaviside_spikes_carry_no_gradient(name):
    p = MODELS[name].params((), F64, "heaviside", False)
    x = drive(name, (17, 2, 5), F64)
    out, _ = run(name, "cpu", x, None, p)
    assert not out.requires_grad
    check(name, x, None, p)


def test_python_number_parameters():
    """LIFBox keeps python floats in its parameters; they enter the loops like the reference."""
    p = lif_box.LIFBoxParameters(tau_mem_inv=90.0, v_leak=0.1, v_th=0.45, v_reset=-0.1, alpha=4.0)
    for dtype in (F64, F32):
        check("lif_box", drive("lif_box", (17, 3, 7), dtype), None, p)


@pytest.mark.parametrize("name", ["lif", "lif_refrac"])
def test_several_threads(name, monkeypatch, two_threads):
    """The work split across threads and chunks (chunk edges, block edges) changes nothing."""
    monkeypatch.setattr(cpu, "_MIN_WORK", 1)  # split even this small a sequence
    chunks = []
    entry = cpu._entry

    def spy(loop, literals, args):
        chunks.append(len(args[-3]) - 1)  # (..., edges, counter, blk)
        return entry(loop, literals, args)

    monkeypatch.setattr(cpu, "_entry", spy)
    p = MODELS[name].params((1000,), F64, "super", True)
    x = drive(name, (17, 5, 1000), F64)
    check(name, x, MODELS[name].state((5, 1000), (5, 1000), F64), p)
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
    x = drive("lif", (40, 4, 8200), F64)  # enough work for several chunks on two threads
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
    check("lif", x, None, lif.LIFParameters())


def test_environment_variable_turns_openmp_threads_off():
    import subprocess

    code = (
        "import torch; from norse.torch.kernels import cpu; torch.set_num_threads(2); "
        "import numpy as np; x = np.random.rand(40, 32800) * 0.5; "
        "from norse.torch.kernels._cpu_layout import LIF, N_PARAMS; "
        "o, s = np.empty_like(x), np.zeros((3, x.shape[1])); "
        "cpu._launch('forward', (LIF, 0), (x, o, s, np.zeros((N_PARAMS, 1)), s.copy()), "
        "x.shape[1], x.size, 512); print(cpu._OpenMP.get() is None)"
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
    assert cpu._own_directory(shared, ours) == ours / f"norse-openmp-{os.getuid()}"
    with pytest.raises(OSError, match="no writable directory"):
        cpu._own_directory(shared)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_runs_the_loops(two_threads):
    """After the parent used OpenMP, a forked child runs the loops on its own thread pool.

    (GNU OpenMP does not survive ``fork``: torch's own parallel operations hang in such a
    child, so it calls the loops directly, on numpy arrays.)
    """
    import multiprocessing

    _lif_run(drive("lif", (40, 4, 8200), F64))  # the parent's threads are now in use
    x = np.random.default_rng(0).random((40, 8200 * 4)) * 0.5
    expected = _forward_loops(x)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        used_openmp, got = pool.apply_async(_forward_loops_in_child, (x,)).get(timeout=120)
    assert not used_openmp
    assert np.array_equal(got, expected)


def _forward_loops(x):
    from norse.torch.kernels._cpu_layout import LIF, N_PARAMS, TH, A

    prm = np.zeros((N_PARAMS, 1))
    prm[A], prm[TH] = 0.1, 0.3
    out, s0, sT = np.empty_like(x), np.zeros((3, x.shape[1])), np.zeros((3, x.shape[1]))
    cpu._launch("forward", (LIF, 0), (x, out, s0, prm, sT), x.shape[1], x.size, 512)
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
    x = drive("lif", (40, 4, 50), F32)
    saved: list[torch.Tensor] = []

    def pack(t):
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out, _ = run("lif", "cpu", x, None, MODELS["lif"].params((), F32, "super", True))
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
        ("bfloat16", "bfloat16"),
        ("recurrent", "recurrent"),
        ("adjoint", "feed-forward step"),
        ("custom_reset", "reset_method"),
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
    elif case == "bfloat16":
        x = x.to(torch.bfloat16)
    elif case == "adjoint":
        layer_cls = LIFRefrac
        p = lif_refrac.LIFRefracParameters(lif.LIFParameters(method="adjoint"))
    elif case == "custom_reset":
        layer_cls = LIFBox
        p = lif_box.LIFBoxParameters(reset_method=lambda z, v, r, th: v - z)
    elif case == "wide_parameter":
        p = lif.LIFParameters(v_th=torch.full((3,), 0.5, dtype=F64))
    elif case == "no_numba":
        monkeypatch.setattr(cpu, "_HAS_NUMBA", False)
    if case == "recurrent":
        make = lambda backend: LIFRecurrent(3, 4, backend=backend)  # noqa: E731
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
    p = MODELS["li"].params((), F64, "super", False)
    unpack = torch.autograd.forward_ad.unpack_dual
    with torch.autograd.forward_ad.dual_level():
        dual = torch.autograd.forward_ad.make_dual(x, tangent)
        with pytest.raises(NotImplementedError, match="forward-mode AD"):
            run("li", "cpu", dual, None, p)
        out, _ = run("li", "auto", dual, None, p)
        out_ref, _ = run("li", "reference", dual, None, p)
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
    from norse.torch.kernels import _cpu_numba

    def broken(signature):
        raise RuntimeError("no LLVM here")

    monkeypatch.setattr(cpu, "_ENTRIES", {})
    monkeypatch.setattr(cpu, "_BROKEN", None)
    monkeypatch.setattr(_cpu_numba.forward_chunks, "compile", broken)
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
