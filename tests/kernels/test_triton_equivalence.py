"""The fused Triton sequence kernels against the reference loop: outputs, states, gradients.

Without a GPU the kernels run through Triton's interpreter (``TRITON_INTERPRET=1``, set below
unless the environment says otherwise) on CPU tensors at small sizes; on a GPU machine with
``TRITON_INTERPRET=0`` the same tests run compiled on CUDA, and the ``cuda``-marked tests add
full-size runs.
"""

from __future__ import annotations

import os

os.environ.setdefault("TRITON_INTERPRET", "1")

import dataclasses  # noqa: E402
import math  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

pytest.importorskip("triton")

from norse.torch import kernels  # noqa: E402
from norse.torch._spec import is_namedtuple  # noqa: E402
from norse.torch.functional import iaf, lif, lif_box, lif_refrac  # noqa: E402
from norse.torch.functional import leaky_integrator as li  # noqa: E402
from norse.torch.functional import leaky_integrator_box as li_box  # noqa: E402
from norse.torch.functional.reset import reset_subtract  # noqa: E402
from norse.torch.functional.threshold import METHODS  # noqa: E402
from norse.torch.kernels import Call, reference, triton_backend  # noqa: E402
from norse.torch.kernels.triton import KERNELS  # noqa: E402
from norse.torch.kernels.triton import _common as C  # noqa: E402

if C.INTERPRETED:
    DEV = torch.device("cpu")
elif torch.cuda.is_available():
    DEV = torch.device("cuda")
else:  # pragma: no cover - compiled Triton without a GPU
    pytest.skip("the Triton kernels need a GPU or TRITON_INTERPRET=1", allow_module_level=True)

DT = 1e-3


# ----------------------------------------------------------------------------- models
def _vals(lo: float, hi: float, pshape: tuple[int, ...], dtype, learn: bool = True):
    """Per-neuron values spread over [lo, hi] (a 0-dim mean for ``pshape == ()``)."""
    if pshape:
        t = torch.linspace(lo, hi, math.prod(pshape), dtype=dtype).reshape(pshape)
    else:
        t = torch.tensor((lo + hi) / 2, dtype=dtype)
    return t.to(DEV).requires_grad_(learn)


def _scalar(value: float, dtype, learn: bool = True):
    return torch.tensor(value, dtype=dtype, device=DEV).requires_grad_(learn)


def _lif_p(ps, dtype, method="super"):
    return lif.LIFParameters(
        tau_syn_inv=_vals(150.0, 250.0, ps, dtype),
        tau_mem_inv=_scalar(110.0, dtype),
        v_leak=_scalar(0.05, dtype),
        v_th=_vals(0.3, 0.5, ps, dtype),
        v_reset=_scalar(-0.1, dtype),
        method=method,
        alpha=_vals(3.0, 8.0, ps, dtype, learn=False),
    )


def _lif_box_p(ps, dtype, method="super", reset=None):
    kw = {} if reset is None else {"reset_method": reset}
    return lif_box.LIFBoxParameters(
        tau_mem_inv=_vals(80.0, 120.0, ps, dtype),
        v_leak=_scalar(0.05, dtype),
        v_th=_vals(0.3, 0.5, ps, dtype),
        v_reset=_scalar(-0.1, dtype),
        method=method,
        alpha=_scalar(5.0, dtype, learn=False),
        **kw,
    )


def _li_p(ps, dtype, method=None):
    return li.LIParameters(
        tau_syn_inv=_vals(150.0, 250.0, ps, dtype),
        tau_mem_inv=_scalar(110.0, dtype),
        v_leak=_vals(-0.1, 0.1, ps, dtype),
    )


def _li_box_p(ps, dtype, method=None):
    return li_box.LIBoxParameters(
        tau_mem_inv=_vals(80.0, 120.0, ps, dtype), v_leak=_scalar(0.05, dtype)
    )


def _refrac_p(ps, dtype, method="super"):
    return lif_refrac.LIFRefracParameters(
        lif=_lif_p(ps, dtype, method), rho_reset=_vals(2.0, 3.0, ps, dtype)
    )


def _iaf_p(ps, dtype, method="super"):
    return iaf.IAFParameters(
        v_th=_vals(0.8, 1.2, ps, dtype),
        v_reset=_scalar(-0.1, dtype),
        method=method,
        alpha=_vals(3.0, 8.0, ps, dtype, learn=False),
    )


def _rand(shape, dtype, lo=0.0, hi=1.0):
    return (torch.rand(shape, dtype=dtype, device=DEV) * (hi - lo) + lo).requires_grad_()


def _lif_s(n, dtype):
    return lif.LIFFeedForwardState(v=_rand(n, dtype, 0.0, 0.2), i=_rand(n, dtype, 0.0, 0.5))


def _lif_box_s(n, dtype):
    return lif_box.LIFBoxFeedForwardState(v=_rand(n, dtype, 0.0, 0.2))


def _li_s(n, dtype):
    return li.LIState(v=_rand(n, dtype, 0.0, 0.2), i=_rand(n, dtype, 0.0, 0.5))


def _li_box_s(n, dtype):
    return li_box.LIBoxState(v=_rand(n, dtype, 0.0, 0.2))


def _iaf_s(n, dtype):
    return iaf.IAFFeedForwardState(v=_rand(n, dtype, 0.0, 0.2))


def _refrac_s(n, dtype):
    rho = torch.randint(0, 3, n, device=DEV).to(dtype).requires_grad_()
    return lif_refrac.LIFRefracFeedForwardState(_lif_s(n, dtype), rho)


@dataclasses.dataclass(frozen=True)
class Model:
    spec: Any
    params: Callable[..., Any]
    state: Callable[..., Any]
    scale: float  # input amplitude: spikes now and then

    @property
    def spiking(self) -> bool:
        return self.spec.output == "spikes"


MODELS = {
    "lif": Model(lif.SPEC, _lif_p, _lif_s, 3.0),
    "lif_box": Model(lif_box.SPEC, _lif_box_p, _lif_box_s, 6.0),
    "li": Model(li.SPEC, _li_p, _li_s, 1.0),
    "li_box": Model(li_box.SPEC, _li_box_p, _li_box_s, 1.0),
    "lif_refrac": Model(lif_refrac.SPEC, _refrac_p, _refrac_s, 3.0),
    "iaf": Model(iaf.SPEC, _iaf_p, _iaf_s, 0.6),
}
SPIKING = [name for name, m in MODELS.items() if m.spiking]


def _leaves(tree) -> list[torch.Tensor]:
    if is_namedtuple(tree):
        return [leaf for value in tree for leaf in _leaves(value)]
    return [tree] if isinstance(tree, torch.Tensor) else []


def _run(model: Model, x, state, p, backend: str):
    if backend == "reference":
        return reference.run(model.spec.step, x, state, p, DT)
    return kernels.run(model.spec.step, x, state, p, DT, spec=model.spec, backend=backend)


def _grads(out, state, wrt, seed: int = 1):
    """Gradients of a random linear function of the outputs and the final state."""
    gen = torch.Generator().manual_seed(seed)
    loss = 0
    for t in [out, *_leaves(state)]:
        # bf16-representable weights: the same numbers in every dtype
        w = torch.randn(t.shape, generator=gen).to(torch.bfloat16).to(t.device, t.dtype)
        loss = loss + (t * w).sum()
    grads = torch.autograd.grad(loss, wrt, allow_unused=True)
    return [torch.zeros_like(w) if g is None else g for g, w in zip(grads, wrt, strict=True)]


def _check(model, x, state, p, *, exact: bool, grad_tol: dict | None = None):
    """Fused (explicit ``backend="triton"``) against the reference: forward and gradients."""
    out_f, st_f = _run(model, x, state, p, "triton")
    out_r, st_r = _run(model, x, state, p, "reference")
    assert out_f.shape == out_r.shape and out_f.dtype == out_r.dtype
    assert type(st_f) is type(st_r)
    pairs = list(zip(_leaves(st_f), _leaves(st_r), strict=True))
    if exact:
        if model.spiking:
            assert torch.equal(out_f, out_r)
        else:
            torch.testing.assert_close(out_f, out_r, atol=1e-12, rtol=0)
        for a, b in pairs:
            assert a.shape == b.shape and a.dtype == b.dtype
            torch.testing.assert_close(a, b, atol=1e-12, rtol=0)
    else:
        torch.testing.assert_close(out_f, out_r)
        for a, b in pairs:
            torch.testing.assert_close(a, b)
    wrt = [x] + [t for t in _leaves(state) + _leaves(p) if t.requires_grad]
    g_f = _grads(out_f, st_f, wrt)
    g_r = _grads(out_r, st_r, wrt)
    for k, (a, b) in enumerate(zip(g_f, g_r, strict=True)):
        torch.testing.assert_close(
            a, b, msg=lambda m, k=k: f"gradient {k}: {m}", **(grad_tol or {})
        )
    return out_f, st_f


def _input(layout: str, T: int, N: int, dtype, scale: float):
    """An input of the given layout, a leaf that requires grad; returns ``(x, param_shape)``."""
    if layout == "batched":
        x = torch.rand(T, 2, N, dtype=dtype, device=DEV)
    elif layout == "unbatched":
        x = torch.rand(T, N, dtype=dtype, device=DEV)
    elif layout == "noncontig":  # neurons not contiguous: the kernels get a copy
        x = torch.rand(T, N, 2, dtype=dtype, device=DEV).transpose(1, 2)
    elif layout == "time_strided":  # every other step of a longer run: a strided view
        x = torch.rand(2 * T, 2, N, dtype=dtype, device=DEV)[::2]
    elif layout == "scalar":  # no neuron dimension at all
        return (torch.rand(T, dtype=dtype, device=DEV) * scale).requires_grad_(), ()
    else:  # pragma: no cover
        raise ValueError(layout)
    return (x * scale).detach().requires_grad_(), (N,)


# ----------------------------------------------------------------------------- tests
def test_every_threshold_method_has_a_surrogate():
    assert set(C.METHOD_IDS) == set(METHODS)


def test_kernel_table_names_registered_models():
    from norse.torch._registry import MODELS as REGISTERED

    names = {spec.name for spec in REGISTERED}
    assert set(KERNELS) <= names
    assert set(MODELS) == set(KERNELS)


# odd sizes in the batched layout; every other layout at one size (the interpreter is slow)
_SHAPES = [
    pytest.param(1, 1, "batched", id="T1-N1"),
    pytest.param(5, 7, "batched", id="T5-N7"),
    pytest.param(5, 63, "batched", id="T5-N63"),
    pytest.param(5, 7, "unbatched", id="T5-N7-unbatched"),
    pytest.param(5, 7, "noncontig", id="T5-N7-noncontig"),
    pytest.param(5, 7, "time_strided", id="T5-N7-time_strided"),
]


@pytest.mark.parametrize("T,N,layout", _SHAPES)
@pytest.mark.parametrize("name", list(MODELS))
def test_float64_matches_reference(name, T, N, layout):
    model = MODELS[name]
    x, ps = _input(layout, T, N, torch.float64, model.scale)
    nshape = tuple(x.shape[1:])
    _check(
        model, x, model.state(nshape, torch.float64), model.params(ps, torch.float64), exact=True
    )


@pytest.mark.parametrize("name", list(MODELS))
def test_no_neuron_dimension(name):
    model = MODELS[name]
    x, ps = _input("scalar", 5, 1, torch.float64, model.scale)
    _check(model, x, model.state((), torch.float64), model.params(ps, torch.float64), exact=True)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", SPIKING)
def test_every_surrogate_method(name, method):
    model = MODELS[name]
    x, ps = _input("batched", 5, 7, torch.float64, model.scale)
    p = model.params(ps, torch.float64, method)
    z, _ = _check(model, x, model.state((2, 7), torch.float64), p, exact=True)
    assert 0 < z.sum() < z.numel()  # some spikes, not all: the surrogates matter
    assert z.requires_grad == (method != "heaviside")


def test_lif_box_reset_subtract():
    model = MODELS["lif_box"]
    x, ps = _input("batched", 5, 7, torch.float64, model.scale)
    p = _lif_box_p(ps, torch.float64, reset=reset_subtract)
    _check(model, x, model.state((2, 7), torch.float64), p, exact=True)


@pytest.mark.parametrize("name", list(MODELS))
def test_scalar_state_and_parameters(name):
    """0-dim initial state (as cells build it) and 0-dim learnable parameters."""
    model = MODELS[name]
    x, _ = _input("batched", 5, 7, torch.float64, model.scale)
    state = model.state((), torch.float64)
    _check(model, x, state, model.params((), torch.float64), exact=True)


@pytest.mark.parametrize("name", list(MODELS))
def test_float32_matches_reference(name):
    model = MODELS[name]
    x, ps = _input("batched", 5, 63, torch.float32, model.scale)
    _check(
        model, x, model.state((2, 63), torch.float32), model.params(ps, torch.float32), exact=False
    )


@pytest.mark.parametrize("name", list(MODELS))
def test_thousand_neurons(name):
    model = MODELS[name]
    x, ps = _input("unbatched", 5, 1000, torch.float32, model.scale)
    _check(
        model, x, model.state((1000,), torch.float32), model.params(ps, torch.float32), exact=False
    )


def _cast(tree, dtype):
    """A differentiable copy of a (nested) state or parameter tuple in ``dtype``."""
    if is_namedtuple(tree):
        return type(tree)(*[_cast(v, dtype) for v in tree])
    if isinstance(tree, torch.Tensor) and tree.is_floating_point():
        return tree.to(dtype)
    return tree


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("name", list(MODELS))
def test_half_inputs_compute_in_float32(name, dtype):
    """Half inputs and states (0-dim float32 parameters, which keep the half dtype): the
    kernels compute in float32 and round only what they store, so they agree with the float32
    reference on the same values, rounded."""
    model = MODELS[name]
    x, _ = _input("batched", 5, 7, dtype, model.scale)
    state = model.state((2, 7), dtype)
    p = model.params((), torch.float32)
    out_f, st_f = _run(model, x, state, p, "triton")
    out_h, _ = _run(model, x, state, p, "reference")
    assert out_f.dtype == out_h.dtype == dtype and out_f.shape == out_h.shape

    x32, state32 = x.float(), _cast(state, torch.float32)
    out_r, st_r = _run(model, x32, state32, p, "reference")
    torch.testing.assert_close(out_f, out_r.to(dtype))
    for a, b in zip(_leaves(st_f), _leaves(st_r), strict=True):
        assert a.dtype == dtype
        torch.testing.assert_close(a, b.to(dtype))
    wrt = [x] + [t for t in _leaves(state) + _leaves(p) if t.requires_grad]
    g_f = _grads(out_f, st_f, wrt)
    g_r = _grads(out_r, st_r, wrt)
    for a, b in zip(g_f, g_r, strict=True):
        assert a.dtype == b.dtype
        torch.testing.assert_close(a, b)


def test_mixed_dtypes_follow_reference_promotion():
    """float32 input with float64 per-neuron parameters: the reference promotes to float64."""
    model = MODELS["lif"]
    x, ps = _input("batched", 5, 7, torch.float32, model.scale)
    p = _lif_p(ps, torch.float64)
    out_f, st_f = _check(model, x, model.state((2, 7), torch.float32), p, exact=False)
    assert out_f.dtype == torch.float64 and st_f.v.dtype == torch.float64


@pytest.mark.parametrize("dtype", [torch.bool, torch.int64])
def test_integer_input(dtype):
    model = MODELS["lif"]
    x = (torch.rand(5, 2, 7, device=DEV) > 0.3).to(dtype)
    state = model.state((2, 7), torch.float32)
    out_f, st_f = _run(model, x, state, model.params((7,), torch.float32), "triton")
    out_r, st_r = _run(model, x, state, model.params((7,), torch.float32), "reference")
    assert out_f.dtype == out_r.dtype == torch.float32
    torch.testing.assert_close(out_f, out_r)
    torch.testing.assert_close(st_f.v, st_r.v)


@pytest.mark.parametrize("name", list(MODELS))
def test_only_some_gradients(name):
    """Gradients w.r.t. the input alone, and w.r.t. parameters alone (input without grad)."""
    model = MODELS[name]
    x, ps = _input("batched", 5, 7, torch.float64, model.scale)
    p = model.params(ps, torch.float64)
    state = model.state((2, 7), torch.float64)
    out_f, _ = _run(model, x, state, p, "triton")
    g = torch.autograd.grad(out_f.sum(), x)[0]  # only the outputs, only the input
    out_r, _ = _run(model, x, state, p, "reference")
    torch.testing.assert_close(g, torch.autograd.grad(out_r.sum(), x)[0])
    x0 = x.detach()
    learn = [t for t in _leaves(p) if t.requires_grad]
    _, st_f = _run(model, x0, state, p, "triton")
    _, st_r = _run(model, x0, state, p, "reference")
    last = _leaves(st_f)[0]
    torch.testing.assert_close(
        torch.autograd.grad(last.sum(), learn, allow_unused=True, materialize_grads=True),
        torch.autograd.grad(
            _leaves(st_r)[0].sum(), learn, allow_unused=True, materialize_grads=True
        ),
    )


def test_no_grad_runs_and_saves_nothing():
    model = MODELS["lif"]
    x, ps = _input("batched", 5, 7, torch.float32, model.scale)
    state, p = model.state((2, 7), torch.float32), model.params(ps, torch.float32)
    with torch.no_grad():
        out_f, st_f = _run(model, x, state, p, "triton")
        out_r, _ = _run(model, x, state, p, "reference")
    assert not out_f.requires_grad and not st_f.v.requires_grad
    torch.testing.assert_close(out_f, out_r)


@pytest.mark.parametrize("name", list(MODELS))
def test_memory_held_for_backward(name):
    """Forward keeps at most one input-sized float tensor (besides the input itself)."""
    model = MODELS[name]
    T, N = 32, 63
    x, ps = _input("batched", T, N, torch.float32, model.scale)
    state, p = model.state((2, N), torch.float32), model.params(ps, torch.float32)
    saved: list[torch.Tensor] = []

    def pack(t):
        saved.append(t)
        return t

    def held(backend):
        saved.clear()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out, st = _run(model, x, state, p, backend)
        mine = {x.untyped_storage().data_ptr(), out.untyped_storage().data_ptr()}
        seen, total = set(), 0
        for t in saved:
            ptr = t.untyped_storage().data_ptr()
            if ptr not in mine and ptr not in seen:
                seen.add(ptr)
                total += t.untyped_storage().nbytes()
        return total

    fused = held("triton")
    assert fused <= x.numel() * 4 + 32 * N * 8  # one float32 (T, B, N) tensor + per-neuron bits
    assert fused < held("reference")


# ----------------------------------------------------------------------------- modules
def test_modules_pick_triton_explicitly():
    from norse.torch.module.lif import LIF

    x = (torch.rand(5, 2, 7, device=DEV) * 3).requires_grad_()
    fused = LIF(backend="triton").to(DEV)
    ref = LIF(backend="reference").to(DEV)
    z_f, s_f = fused(x)
    z_r, s_r = ref(x)
    assert torch.equal(z_f, z_r)
    torch.testing.assert_close(s_f.v, s_r.v)
    g_f = torch.autograd.grad((z_f.sum() + s_f.v.sum()), x)[0]
    g_r = torch.autograd.grad((z_r.sum() + s_r.v.sum()), x)[0]
    torch.testing.assert_close(g_f, g_r)


def test_module_learnable_parameters():
    """nn.Parameter fields of a module's parameters get the reference's gradients."""
    from norse.torch.module.lif import LIF

    def make(backend):
        p = lif.LIFParameters(
            tau_mem_inv=torch.nn.Parameter(torch.full((7,), 90.0)),
            v_th=torch.nn.Parameter(torch.tensor(0.4)),
        )
        return LIF(p, backend=backend).to(DEV)

    x = torch.rand(5, 2, 7, device=DEV) * 3
    grads = []
    for layer in (make("triton"), make("reference")):
        z, s = layer(x)
        (z.sum() + s.v.sum()).backward()
        grads.append([q.grad for q in layer.parameters()])
    assert len(grads[0]) == 2
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)


def test_auto_keeps_cpu_tensors_off_triton():
    x = torch.rand(3, 4)
    state = lif.LIFFeedForwardState(torch.zeros(4), torch.zeros(4))
    call = Call(lif.lif_feed_forward_step, x, state, lif.LIFParameters(), DT, spec=lif.SPEC)
    name, _ = kernels.select(call, "auto")
    assert name != "triton"
    assert triton_backend.backend.unsupported(call) == "the input is not on a CUDA device"


def test_explicit_cpu_without_interpreter_says_why(monkeypatch):
    from norse.torch.module.lif import LIF

    monkeypatch.setattr(triton_backend, "_interpreting", lambda: False)
    with pytest.raises(NotImplementedError, match="not on a CUDA device"):
        LIF(backend="triton")(torch.rand(3, 4))


def test_missing_triton_says_so(monkeypatch):
    monkeypatch.setattr(triton_backend, "_triton_installed", lambda: False)
    call = Call(
        lif.lif_feed_forward_step,
        torch.rand(3, 4, device=DEV),
        None,
        lif.LIFParameters(),
        DT,
        spec=lif.SPEC,
    )
    assert "triton is not installed" in triton_backend.backend.unsupported(call)


def test_triton_lookup_is_cached(monkeypatch):
    """Every layer call asks the Triton backend first: it looks for triton once, not each time."""
    import importlib.util

    looked = []
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: looked.append(name) or find_spec(name, *a)
    )
    triton_backend._triton_installed.cache_clear()
    call = _call()
    first = triton_backend.backend.unsupported(call)
    for _ in range(3):
        assert triton_backend.backend.unsupported(call) == first
    assert looked.count("triton") == 1


def _call(**kw):
    x = kw.pop("x", torch.rand(3, 2, 4, device=DEV))
    spec = kw.pop("spec", lif.SPEC)
    state = kw.pop(
        "state",
        lif.LIFFeedForwardState(torch.zeros(2, 4, device=DEV), torch.zeros(2, 4, device=DEV)),
    )
    p = kw.pop("p", lif.LIFParameters())
    step = kw.pop("step", None) or spec.step
    return Call(step, x, state, p, DT, spec=spec, explicit=True, **kw)


@pytest.mark.parametrize(
    "call,reason",
    [
        (lambda: _call(record_states=True), "record_states"),
        (lambda: _call(weights=(torch.ones(4, 4),)), "recurrent"),
        (lambda: _call(x=torch.rand(3, 2, 4, device=DEV).to_sparse()), "sparse"),
        (lambda: _call(spec=None, step=lif.lif_feed_forward_step), "spec"),
        (lambda: _call(step=lambda x, s, p, dt: (x, s)), "step function"),
        (lambda: _call(x=torch.rand(3, 2, 4, dtype=torch.complex64, device=DEV)), "dtype"),
        (lambda: _call(x=torch.rand(0, 2, 4, device=DEV)), "T >= 1"),
        (
            lambda: _call(state=li.LIState(torch.zeros(2, 4), torch.zeros(2, 4))),
            "LIFFeedForwardState",
        ),
        (lambda: _call(p=lif.LIFParameters(method="bogus")), "bogus"),
        (lambda: _call(p=lif.LIFParameters(v_th=torch.ones(3))), "does not broadcast"),
        (lambda: _call(p=lif.LIFParameters(v_th=torch.ones(5, 1, 1))), "neuron shape"),
        (lambda: _call(p=lif.LIFParameters(v_leak="0")), "rejects"),
        (
            lambda: _call(
                spec=lif_box.SPEC,
                state=lif_box.LIFBoxFeedForwardState(torch.zeros(2, 4, device=DEV)),
                p=lif_box.LIFBoxParameters(reset_method=lambda z, v, r, th: v),
            ),
            "reset_method",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_unsupported_calls_say_why(call, reason):
    got = triton_backend.backend.unsupported(call())
    assert got is not None and reason in got


def test_model_without_kernel():
    from norse.torch.functional import lsnn

    call = _call(spec=lsnn.SPEC)
    assert "no Triton kernel for the 'lsnn' model" in triton_backend.backend.unsupported(call)


def test_explicit_backend_raises_with_reason():
    from norse.torch.module.lif import LIF

    with pytest.raises(NotImplementedError, match="record_states"):
        LIF(backend="triton", record_states=True)(torch.rand(3, 2, 4, device=DEV))


@pytest.mark.parametrize(
    "args,error",
    [
        (lambda: ([1.0, 2.0],), TypeError),
        (
            lambda: (
                torch.rand(3, 2, 4, device=DEV),
                lif.LIFFeedForwardState(torch.zeros(3, 4), torch.zeros(3, 4)),
            ),
            ValueError,
        ),
    ],
)
def test_bad_input_same_errors_as_reference(args, error):
    from norse.torch.module.lif import LIF

    with pytest.raises(error) as fused:
        LIF(backend="triton")(*args())
    with pytest.raises(error) as ref:
        LIF(backend="reference")(*args())
    assert str(fused.value) == str(ref.value)


# ----------------------------------------------------------------------------- GPU code
_COMPILE = """
import sys
import triton
import triton.language as tl
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from norse.torch.kernels.triton import KERNELS, kernel_module

try:
    from triton.backends.nvidia.compiler import CUDABackend  # noqa: F401
except ImportError:
    sys.exit(77)
for name in KERNELS:
    module = kernel_module(name)
    for attr in sorted(vars(module)):
        fn = getattr(module, attr)
        if not (attr.endswith("_kernel") and isinstance(fn, triton.runtime.JITFunction)):
            continue
        sig, consts = {}, {}
        for a in fn.arg_names:
            if a.endswith("_ptr"):
                sig[a] = "*fp32"
            elif a in ("N", "T") or not a.isupper():
                sig[a] = "i32"
            else:  # every flag on: the largest variant; METHOD=1 (super)
                consts[a] = {"DT": tl.float32, "BLOCK": 256, "METHOD": 1}.get(a, True)
                sig[a] = "constexpr"
        src = ASTSource(fn, signature=sig, constexprs=consts)
        kernel = triton.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": 8})
        assert "cubin" in kernel.asm, attr
        print(attr)
"""


@pytest.mark.slow
def test_kernels_compile_for_hopper():
    """Every kernel compiles to sm_90 machine code (no GPU needed; the interpreter cannot
    catch what only the compiler rejects)."""
    import subprocess
    import sys

    env = {**os.environ, "TRITON_INTERPRET": "0", "TRITON_DEFAULT_FP_FUSION": "1"}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", _COMPILE], env=env, capture_output=True, text=True, timeout=300
    )
    if done.returncode == 77:
        pytest.skip("this triton has no NVIDIA backend")
    assert done.returncode == 0, done.stderr[-3000:]
    compiled = done.stdout.split()
    assert len(compiled) == 2 * len(KERNELS), compiled


# ----------------------------------------------------------------------------- GPU, full size
@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("name", list(MODELS))
def test_cuda_full_size(name, dtype):
    if C.INTERPRETED:
        pytest.skip("full sizes need compiled kernels (TRITON_INTERPRET=0)")
    model = MODELS[name]
    T, B, N = 200, 32, 1000
    x = (torch.rand(T, B, N, device="cuda") * model.scale).to(dtype).requires_grad_()
    state = model.state((B, N), dtype)
    p = model.params((N,), torch.float32)
    call = Call(model.spec.step, x, state, p, DT, spec=model.spec)
    assert kernels.select(call, "auto")[0] == "triton"
    if dtype == torch.float32:
        _check(model, x, state, p, exact=False, grad_tol={"rtol": 1e-4, "atol": 1e-4})
    else:
        # 0-dim float32 parameters keep bf16 outputs; the kernels compute in float32, so they
        # follow the float32 reference on the same values
        p = model.params((), torch.float32)
        out_f, st_f = _run(model, x, state, p, "auto")
        out_h, _ = _run(model, x, state, p, "reference")
        out_r, st_r = _run(model, x.float(), _cast(state, torch.float32), p, "reference")
        assert out_f.dtype == out_h.dtype == dtype
        if model.spiking:
            assert (out_f.float() != out_r).float().mean() < 1e-3
        else:
            torch.testing.assert_close(out_f, out_r.to(dtype))
        # a rare spike flip (float32 rounding on both sides) changes that neuron's run:
        # compare in aggregate
        v_f, v_r = _leaves(st_f)[0].float(), _leaves(st_r)[0]
        assert (v_f - v_r).norm() <= 0.02 * v_r.norm() + 1e-3
        g_f = torch.autograd.grad(out_f.float().sum(), x)[0]
        g_r = torch.autograd.grad(out_r.sum(), x)[0]
        assert g_f.dtype == dtype
        assert (g_f.float() - g_r.float()).norm() <= 0.02 * g_r.float().norm() + 1e-3
