"""The generic Triton kernels (``backend="triton"``) against the reference loop, for every model.

Every model of the registry (``norse.torch._registry.MODELS``) with a sequence layer runs
through both backends on the same input, initial state and parameters: float64 spikes must
be identical, states equal to 1e-12 and gradients (input, initial state, learnable per-neuron
parameters) within 1e-9 relative of autograd through the reference; float32 close; 16-bit
inputs equal to the reference computed in float32 on the same values, rounded.

Without a GPU the kernels run through Triton's interpreter (``TRITON_INTERPRET=1``, set below
unless the environment says otherwise) on CPU tensors at small sizes; with
``TRITON_INTERPRET=0`` on a GPU machine the same tests run compiled on CUDA, and the
``cuda``-marked test adds full-size runs.
"""

from __future__ import annotations

import os

os.environ.setdefault("TRITON_INTERPRET", "1")

import math  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

pytest.importorskip("triton")

from norse.torch import kernels  # noqa: E402
from norse.torch._registry import MODELS, module_classes  # noqa: E402
from norse.torch._spec import is_namedtuple  # noqa: E402
from norse.torch.functional import lif  # noqa: E402
from norse.torch.functional.threshold import METHODS  # noqa: E402
from norse.torch.kernels import Call, triton_backend  # noqa: E402
from norse.torch.kernels._graph import leaves, rebuild  # noqa: E402
from norse.torch.kernels.triton import INTERPRETED  # noqa: E402

if INTERPRETED:
    DEV = torch.device("cpu")
elif torch.cuda.is_available():
    DEV = torch.device("cuda")
else:  # pragma: no cover - compiled Triton without a GPU
    pytest.skip("the Triton kernels need a GPU or TRITON_INTERPRET=1", allow_module_level=True)

F64, F32 = torch.float64, torch.float32
SPECS = {s.name: s for s in MODELS if "layer" in module_classes(s) and s.fused}
NAMES = list(SPECS)


# ----------------------------------------------------------------------------- set-up
def _layer(name: str):
    spec = SPECS[name]
    return module_classes(spec)["layer"](**spec.example).to(DEV)


def _tensors(tree: Any) -> list[torch.Tensor]:
    return [v for _, v in leaves(tree) if isinstance(v, torch.Tensor)]


def _params(layer, pshape: tuple[int, ...], dtype, learn: bool = True):
    """The layer's parameters, every floating tensor spread by +-10% over ``pshape`` (a 0-dim
    copy for ``()``) in ``dtype``; learnable when ``learn``."""
    values = []
    for _, v in leaves(layer.p):
        if isinstance(v, torch.Tensor) and v.is_floating_point():
            v = v.detach().to(DEV, dtype)
            if pshape:
                spread = torch.linspace(-0.1, 0.1, math.prod(pshape), dtype=dtype, device=DEV)
                v = v * (1 + spread.reshape(pshape))
            v = v.clone().requires_grad_(learn)
        values.append(v)
    return rebuild(layer.p, values)


def _state(layer, x, scalar: bool = False):
    """The layer's resting state for ``x`` nudged at random, each field a leaf that requires
    grad, per neuron; ``scalar``: 0-dim fields (broadcast to the neurons) where the model
    takes them."""
    rest = layer.initial_state(x)
    values = []
    for path, s in leaves(rest):
        # (a model whose output is computed from the state alone needs it per neuron)
        if scalar and path.split(".")[-1] not in layer.spec.full_fields:
            s = s.detach().reshape(-1)[0]
        else:
            s = s.detach().expand(x.shape[1:])
        values.append((s + 0.1 * torch.rand(s.shape, dtype=s.dtype, device=DEV)).requires_grad_())
    return rebuild(rest, values)


def _input(name: str, shape, dtype, layout: str = "contiguous"):
    """A leaf input that requires grad, ``drive`` times uniform noise, in a given layout."""
    drive = SPECS[name].drive
    if layout == "noncontig":  # neurons not contiguous: the kernels get a copy
        T, B, N = shape
        x = (torch.rand(T, N, B, device=DEV) * drive).to(dtype).transpose(1, 2)
    elif layout == "time_strided":  # every other step of a longer run: a strided view
        x = (torch.rand(2 * shape[0], *shape[1:], device=DEV) * drive).to(dtype)[::2]
    else:
        x = (torch.rand(shape, device=DEV) * drive).to(dtype)
    return x.detach().requires_grad_()


def _run(name: str, x, state, p, backend: str):
    layer = _layer(name)
    return kernels.run(layer.activation, x, state, p, layer.dt, spec=layer.spec, backend=backend)


def _weights(out, state, seed: int = 1):
    """Random loss weights for the outputs and final state (bf16-representable: the same
    numbers in every dtype)."""
    gen = torch.Generator().manual_seed(seed)
    return [
        torch.randn(t.shape, generator=gen).to(torch.bfloat16).to(t.device, t.dtype)
        for t in [out, *_tensors(state)]
    ]


def _grads(out, state, weights, wrt):
    loss = sum((t * w).sum() for t, w in zip([out, *_tensors(state)], weights, strict=True))
    if not loss.requires_grad:
        return [torch.zeros_like(w) for w in wrt]
    grads = torch.autograd.grad(loss, wrt, allow_unused=True)
    return [torch.zeros_like(w) if g is None else g for g, w in zip(grads, wrt, strict=True)]


def _wrt(x, state, p) -> list[torch.Tensor]:
    return [t for t in [x, *_tensors(state), *_tensors(p)] if t.requires_grad]


def check(name: str, x, state, p, *, exact: bool, grads: bool = True):
    """Fused against reference: outputs, final states, gradients of a random loss."""
    out_f, st_f = _run(name, x, state, p, "triton")
    out_r, st_r = _run(name, x, state, p, "reference")
    assert out_f.shape == out_r.shape and out_f.dtype == out_r.dtype
    assert out_f.requires_grad == out_r.requires_grad
    assert type(st_f) is type(st_r)
    pairs = list(zip(_tensors(st_f), _tensors(st_r), strict=True))
    if exact:
        if SPECS[name].output == "spikes":
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
    if not grads:
        return out_f, st_f
    wrt = _wrt(x, state, p)
    w = _weights(out_r, st_r)
    g_f, g_r = _grads(out_f, st_f, w, wrt), _grads(out_r, st_r, w, wrt)
    for k, (a, b) in enumerate(zip(g_f, g_r, strict=True)):
        assert a.shape == b.shape and a.dtype == b.dtype
        scale = max(1.0, b.abs().max().item())
        tol = (
            {"rtol": 1e-9, "atol": 1e-12 * scale} if exact else {"rtol": 1e-4, "atol": 1e-5 * scale}
        )
        torch.testing.assert_close(a, b, msg=lambda m, k=k: f"gradient {k}: {m}", **tol)
    return out_f, st_f


# ----------------------------------------------------------------------------- equivalence
_SIZES = [pytest.param(1, 1, id="T1-N1"), pytest.param(5, 7, id="T5-N7"),
          pytest.param(5, 63, id="T5-N63")]  # fmt: skip


@pytest.mark.parametrize("T,N", _SIZES)
@pytest.mark.parametrize("name", NAMES)
def test_float64_matches_reference(name, T, N):
    """Odd sizes, one step; learnable per-neuron parameters, a given initial state."""
    x = _input(name, (T, 2, N), F64)
    layer = _layer(name)
    check(name, x, _state(layer, x), _params(layer, (N,), F64), exact=True)


@pytest.mark.parametrize("name", NAMES)
def test_scalar_state_and_parameters(name):
    """0-dim initial state (broadcast to the neurons) and 0-dim learnable parameters."""
    x = _input(name, (5, 2, 7), F64)
    layer = _layer(name)
    check(name, x, _state(layer, x, scalar=True), _params(layer, (), F64), exact=True)


@pytest.mark.parametrize("name", NAMES)
def test_float32_close(name):
    x = _input(name, (5, 2, 63), F32)
    layer = _layer(name)
    check(name, x, _state(layer, x), _params(layer, (63,), F32), exact=False)


def _float(tree):
    """A differentiable float32 copy of a (nested) state tuple."""
    if is_namedtuple(tree):
        return type(tree)(*[_float(v) for v in tree])
    return tree.float() if isinstance(tree, torch.Tensor) else tree


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("name", NAMES)
def test_half_inputs_compute_in_float32(name, dtype):
    """16-bit input and state (the layer's 0-dim float32 parameters keep the 16-bit dtype):
    the kernels compute in float32 and round only what they store, so they agree with the
    float32 reference on the same values, rounded."""
    x = _input(name, (5, 2, 7), dtype)
    layer = _layer(name)
    state, p = _state(layer, x), _params(layer, (), F32, learn=False)
    out_f, st_f = _run(name, x, state, p, "triton")
    out_h, _ = _run(name, x, state, p, "reference")
    assert out_f.dtype == out_h.dtype == dtype and out_f.shape == out_h.shape
    x32, state32 = x.float(), _float(state)
    out_r, st_r = _run(name, x32, state32, p, "reference")
    torch.testing.assert_close(out_f, out_r.to(dtype))
    for a, b in zip(_tensors(st_f), _tensors(st_r), strict=True):
        assert a.dtype == dtype
        torch.testing.assert_close(a, b.to(dtype))
    wrt = _wrt(x, state, p)
    w = _weights(out_r, st_r)
    g_f = _grads(out_f, st_f, [v.to(dtype) for v in w], wrt)
    g_r = _grads(out_r, st_r, w, wrt)
    for a, b in zip(g_f, g_r, strict=True):
        assert a.dtype == b.dtype == dtype
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("layout", ["noncontig", "time_strided"])
@pytest.mark.parametrize("name", ["lif", "lif_adex_refrac", "izhikevich"])
def test_input_layouts(name, layout):
    x = _input(name, (5, 2, 7), F64, layout)
    assert not x.is_contiguous()
    layer = _layer(name)
    check(name, x, _state(layer, x), _params(layer, (), F64, learn=False), exact=True)


@pytest.mark.parametrize("name", ["lif", "lif_adex_refrac", "izhikevich"])
def test_no_neuron_dimension(name):
    """An input of shape ``(T,)``: one neuron, 0-dim states."""
    x = _input(name, (5,), F64)
    layer = _layer(name)
    check(name, x, _state(layer, x), _params(layer, (), F64), exact=True)


@pytest.mark.parametrize("name", ["lif", "lsnn"])
def test_several_programs(name):
    """More neurons than one program takes (the last one partly masked)."""
    x = _input(name, (3, 1100), F64)
    layer = _layer(name)
    check(name, x, _state(layer, x), _params(layer, (1100,), F64), exact=True)


@pytest.mark.parametrize("method", METHODS)
def test_every_surrogate(method):
    """Every threshold method (the surrogates call exp, tanh, erfc, powers)."""
    x = _input("lif", (5, 2, 7), F64)
    layer = _layer("lif")
    p = _params(layer, (7,), F64)._replace(method=method)
    out, _ = check("lif", x, _state(layer, x), p, exact=True)
    assert 0 < out.sum() < out.numel()  # some spikes, not all: the surrogates matter
    assert out.requires_grad == (method != "heaviside")


@pytest.mark.parametrize("name", ["lif", "lif_refrac", "li"])
def test_gradient_paths(name):
    """Loss on the outputs only, on the final state only, input gradient only, and none."""
    x = _input(name, (5, 2, 7), F64)
    layer = _layer(name)
    state, p = _state(layer, x), _params(layer, (7,), F64)
    picks = [lambda out, s: out.sum(), lambda out, s: sum(t.sum() for t in _tensors(s))]
    for pick in picks:
        for wrt in ([x], _wrt(x, state, p)):
            got = [
                torch.autograd.grad(pick(*_run(name, x, state, p, b)), wrt, allow_unused=True)
                for b in ("triton", "reference")
            ]
            for a, b in zip(*got, strict=True):
                if a is None or b is None:
                    assert a is None or not a.any()
                    assert b is None or not b.any()
                else:
                    torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    x0 = x.detach()
    check(name, x0, state, p, exact=True)  # no input gradient
    with torch.no_grad():
        out, s = _run(name, x, state, p, "triton")
    assert not out.requires_grad and not any(t.requires_grad for t in _tensors(s))


#: A user's own step (no model, no spec), with most of the operations the kernels implement;
#: also compiled in :func:`test_kernels_compile_for_hopper`.
_USER_STEP = """
from typing import NamedTuple

import torch


class UserState(NamedTuple):
    v: torch.Tensor
    w: torch.Tensor


class UserParameters(NamedTuple):
    a: torch.Tensor
    b: torch.Tensor


def user_step(x, s, p, dt):
    u = s.v + dt * (torch.tanh(x) - s.v * p.a) + torch.sigmoid(s.w) * 0.1
    w = torch.clamp(s.w + torch.expm1(x * 0.1) - torch.log1p(torch.abs(u)), -1.0, 1.0)
    w = w + torch.erf(u) * 0.01 + torch.erfc(u) * 0.01 + torch.sqrt(torch.abs(w) + 1)
    w = w - torch.rsqrt(p.b + u * u + 1) + torch.exp(-u * u) - torch.log(p.b + 2)
    m = torch.logical_or(torch.logical_and(u > 0.1, torch.logical_not(w < -0.5)), x > 0.9)
    out = torch.where(m, torch.sin(u), torch.cos(w)) + torch.relu(u - 0.5) + u * p.b / (1 + x)
    out = out + torch.floor(u * 3) + torch.round(w * 2) + torch.sign(u) + torch.trunc(w * 5)
    out = out + torch.pow(torch.abs(u) + 1, 2.5) + torch.pow(torch.abs(w) + 1, p.b)
    out = out + torch.clamp_min(w, 0.2) + 1 / (2 + u * u)
    return out, UserState(u, w)
"""
_USER: dict[str, Any] = {}
exec(_USER_STEP, _USER)  # noqa: S102 - test code, shared with the compile test


@pytest.mark.parametrize("dtype", [F64, F32], ids=["f64", "f32"])
def test_a_users_own_step(dtype):
    """A step function of the user's own runs fused too (no model, no spec). (float64 to
    rounding: under the interpreter numpy evaluates exp & co., not torch's own code.)"""
    x = torch.rand(5, 2, 7, dtype=dtype, device=DEV, requires_grad=True)
    state = _USER["UserState"](*(torch.rand(2, 7, dtype=dtype, device=DEV) for _ in "vw"))
    state = type(state)(*(t.requires_grad_() for t in state))
    p = _USER["UserParameters"](
        torch.linspace(0.5, 1.5, 7, dtype=dtype, device=DEV).requires_grad_(),
        torch.tensor(0.7, dtype=dtype, device=DEV, requires_grad=True),
    )
    step = _USER["user_step"]
    out_f, st_f = kernels.run(step, x, state, p, 1e-3, backend="triton")
    out_r, st_r = kernels.run(step, x, state, p, 1e-3, backend="reference")
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == F64 else {}
    for a, b in zip([out_f, *st_f], [out_r, *st_r], strict=True):
        torch.testing.assert_close(a, b, **tol)
    wrt = [x, *state, *p]
    w = _weights(out_r, st_r)
    for a, b in zip(_grads(out_f, st_f, w, wrt), _grads(out_r, st_r, w, wrt), strict=True):
        torch.testing.assert_close(a, b, **tol)


def test_module_learnable_parameters():
    """nn.Parameter fields of a layer's parameters get the reference's gradients."""
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


def test_outputs_can_be_modified_in_place():
    """The outputs and final state are tensors of their own (no views of one another, which
    autograd would forbid to modify in place)."""
    x = _input("lif", (5, 2, 7), F64)
    layer = _layer("lif")
    state, p = _state(layer, x), _params(layer, (7,), F64)
    grads = []
    for backend in ("triton", "reference"):
        out, st = _run("lif", x, state, p, backend)
        out.mul_(2)
        st.v.add_(1)
        grads.append(torch.autograd.grad(out.sum() + st.v.pow(2).sum(), x)[0])
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-9, atol=1e-12)


def test_memory_held_for_backward():
    """Forward keeps no input-sized tensor besides the input itself."""
    x = _input("lif", (32, 2, 63), F32)
    layer = _layer("lif")
    state, p = _state(layer, x), _params(layer, (63,), F32)
    saved: list[torch.Tensor] = []

    def pack(t):
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out, _ = _run("lif", x, state, p, "triton")
    mine = {x.untyped_storage().data_ptr(), out.untyped_storage().data_ptr()}
    others = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in saved}
    assert sum(n for ptr, n in others.items() if ptr not in mine) <= 64 * x[0].numel()
    out.sum().backward()


# ----------------------------------------------------------------------------- selection
def _call(**kw):
    x = kw.pop("x", torch.rand(3, 2, 4, device=DEV))
    state = kw.pop(
        "state",
        lif.LIFFeedForwardState(torch.zeros(2, 4, device=DEV), torch.zeros(2, 4, device=DEV)),
    )
    p = kw.pop("p", lif.LIFParameters())
    step = kw.pop("step", lif.lif_feed_forward_step)
    return Call(step, x, state, p, 1e-3, spec=lif.SPEC, explicit=True, **kw)


def _not_elementwise(x, s, p, dt):
    return x.cumsum(-1), s  # (cumsum: not an elementwise operation)


@pytest.mark.parametrize(
    "call,reason",
    [
        (lambda: _call(record_states=True), "record_states"),
        (lambda: _call(weights=(torch.ones(4, 4),)), "recurrent"),
        (lambda: _call(x=torch.rand(3, 2, 4, device=DEV).to_sparse()), "sparse"),
        (lambda: _call(x=torch.rand(3, 2, 4, dtype=torch.complex64, device=DEV)), "dtype"),
        (lambda: _call(x=torch.ones(3, 2, 4, dtype=torch.int64, device=DEV)), "dtype"),
        (lambda: _call(step=_not_elementwise), "cumsum"),
        (lambda: _call(p=lif.LIFParameters(method="bogus")), "could not be traced"),
        (lambda: _call(p=lif.LIFParameters(v_th=torch.full((4,), 0.5, dtype=F64))), "wider"),
        (lambda: _call(p=lif.LIFParameters(v_th=torch.ones(4, device="meta"))), "is on meta"),
        (
            lambda: _call(
                state=lif.LIFFeedForwardState(
                    torch.zeros(2, 4, device="meta"), torch.zeros(2, 4, device="meta")
                )
            ),
            "is on meta",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_unsupported_calls_say_why(call, reason):
    got = triton_backend.backend.unsupported(call())
    assert got is not None and reason in got, got


def test_auto_keeps_cpu_tensors_off_triton():
    x = torch.rand(3, 4)
    state = lif.LIFFeedForwardState(torch.zeros(4), torch.zeros(4))
    call = Call(lif.lif_feed_forward_step, x, state, lif.LIFParameters(), 1e-3, spec=lif.SPEC)
    name, _ = kernels.select(call, "auto")
    assert name != "triton"
    assert triton_backend.backend.unsupported(call) == "the input is not on a CUDA device"


@pytest.mark.cuda
def test_auto_never_picks_the_interpreter(monkeypatch):
    monkeypatch.setattr(triton_backend, "_interpreting", lambda: True)
    x = torch.rand(3, 2, 4, device="cuda")
    state = lif.LIFFeedForwardState(torch.zeros_like(x[0]), torch.zeros_like(x[0]))
    call = _call(x=x, state=state)
    call.explicit = False
    assert "interpreter" in triton_backend.backend.unsupported(call)


def test_explicit_cpu_without_interpreter_says_why(monkeypatch):
    from norse.torch.module.lif import LIF

    monkeypatch.setattr(triton_backend, "_interpreting", lambda: False)
    with pytest.raises(NotImplementedError, match="not on a CUDA device"):
        LIF(backend="triton")(torch.rand(3, 4))


def test_missing_triton_says_so(monkeypatch):
    monkeypatch.setattr(triton_backend, "_triton_installed", lambda: False)
    assert "triton is not installed" in triton_backend.backend.unsupported(_call())


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


def test_explicit_backend_raises_with_reason():
    from norse.torch.module.lif import LIF

    with pytest.raises(NotImplementedError, match="record_states"):
        LIF(backend="triton", record_states=True)(torch.rand(3, 2, 4, device=DEV))


@pytest.mark.parametrize(
    "args,error",
    [
        (lambda: ([1.0, 2.0],), TypeError),
        (lambda: (torch.rand(0, 2, 4, device=DEV),), ValueError),
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
from typing import Any

import torch
import triton
import triton.language as tl
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
try:
    from triton.backends.nvidia.compiler import CUDABackend  # noqa: F401
except ImportError:
    sys.exit(77)
from norse.torch._registry import MODELS, module_classes
from norse.torch.kernels import _graph, triton_backend
from norse.torch.kernels.triton import Variant, kernels

class User(NamedTuple):  # (the user's step, as a layer)
    p: Any
    dt: float = 1e-3
    activation: Any = user_step

    def initial_state(self, x):
        return UserState(x[0] * 0, x[0] * 0)


names = sys.argv[1].split(",")
layers = {s.name: lambda s=s: module_classes(s)["layer"](**s.example) for s in MODELS}
layers["user"] = lambda: User(UserParameters(torch.rand(5), torch.tensor(0.7)))
for name in names:
    layer = layers[name]()
    for xdtype, work in ((torch.bfloat16, torch.float32), (torch.float64, torch.float64)):
        x = torch.rand(3, 2, 5, dtype=xdtype)
        prog = _graph.trace(layer.activation, layer.initial_state(x), layer.p, layer.dt, work)
        params = [v for v in _graph.flat(layer.p) if isinstance(v, torch.Tensor)]
        _, _, kinds = triton_backend._hoisted(prog, tuple(params), x.shape[1:], 10, work, "cpu")
        wide = work == torch.float64
        every = tuple(range(prog.n_params))
        variants = [
            ("forward", Variant(True, kinds, wide)),
            ("forward", Variant(False, kinds, wide)),
            ("backward", Variant(True, kinds, wide, True, True, every)),
            ("backward", Variant(False, kinds, wide, False, False, ())),
        ]
        x_ty = "*bf16" if xdtype == torch.bfloat16 else "*fp64"
        w_ty = "*fp64" if wide else "*fp32"
        for part, variant in variants:
            fn = kernels(prog, variant, part).kernel
            sig, consts = {}, {"DT": tl.float64 if wide else tl.float32, "BLOCK": 256}
            for a in fn.arg_names:
                if a in consts:
                    sig[a] = "constexpr"
                elif a in ("x_ptr", "out_ptr", "gx_ptr", "go_ptr") or a.startswith("sT"):
                    sig[a] = x_ty
                elif a.endswith("_ptr"):
                    sig[a] = w_ty
                else:
                    sig[a] = "i64" if a.startswith(("last", "stride_sc")) else "i32"
            src = ASTSource(fn, signature=sig, constexprs=consts)
            opts = {"num_warps": 4, "enable_fp_fusion": False}
            k = triton.compile(src, target=GPUTarget("cuda", 90, 32), options=opts)
            assert "cubin" in k.asm
            print(name, part, xdtype, variant.per_neuron)
"""


@pytest.mark.slow
def test_kernels_compile_for_hopper(tmp_path):
    """The generated kernels compile to sm_90 machine code (no GPU needed; the interpreter
    cannot catch what only the compiler rejects): forward and backward, in float32 (for
    bf16 input) and float64, per-neuron and shared parameters, of a few models and a step of
    the user's own that between them use most operations."""
    import subprocess
    import sys

    names = ["lif", "lif_adex_refrac", "izhikevich", "user"]
    env = {**os.environ, "TRITON_INTERPRET": "0", "NORSE_CACHE_DIR": str(tmp_path)}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", _USER_STEP + _COMPILE, ",".join(names)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if done.returncode == 77:
        pytest.skip("this triton has no NVIDIA backend")
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(done.stdout.splitlines()) == 8 * len(names), done.stdout


# ----------------------------------------------------------------------------- GPU, full size
@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [F32, torch.bfloat16, F64], ids=["fp32", "bf16", "fp64"])
@pytest.mark.parametrize("name", NAMES)
def test_cuda_full_size(name, dtype):
    if INTERPRETED:
        pytest.skip("full sizes need compiled kernels (TRITON_INTERPRET=0)")
    T, B, N = 100, 16, 4096
    x = _input(name, (T, B, N), dtype)
    layer = _layer(name)
    call = Call(layer.activation, x, layer.initial_state(x), layer.p, layer.dt, spec=layer.spec)
    assert kernels.select(call, "auto")[0] == "triton"
    if dtype == F64:
        check(name, x, _state(layer, x), _params(layer, (N,), F64), exact=True)
        return
    state, p = _state(layer, x), _params(layer, (), F32, learn=False)
    out_f, st_f = _run(name, x, state, p, "auto")
    out_r, st_r = _run(name, x.float(), _float(state), p, "reference")
    assert out_f.dtype == dtype
    # a rare spike flip (float32 rounding on both sides) changes that neuron's run: compare
    # in aggregate
    if SPECS[name].output == "spikes":
        assert (out_f.float() != out_r).float().mean() < 1e-3
    else:
        assert (out_f.float() - out_r).norm() <= 0.02 * out_r.norm() + 1e-3
    for a, b in zip(_tensors(st_f), _tensors(st_r), strict=True):
        assert (a.float() - b).norm() <= 0.02 * b.norm() + 1e-3
    w = _weights(out_r, st_r)
    g_f = torch.autograd.grad(out_f.float().mul(w[0]).sum(), x)[0]
    g_r = torch.autograd.grad(out_r.mul(w[0]).sum(), x)[0]
    assert g_f.dtype == dtype
    assert (g_f.float() - g_r.float()).norm() <= 0.02 * g_r.float().norm() + 1e-3


@pytest.mark.parametrize("name", ["lif", "lsnn", "izhikevich"])
def test_a_cell_as_a_sequence_of_one_step(name):
    """A feed-forward cell off the CPU runs the sequence kernels at T = 1
    (``kernels.SequenceCell``; named explicitly here, as ``auto`` never picks the
    interpreter): outputs, states and gradients as the reference step's, step after step."""
    from norse.torch import kernels
    from norse.torch._registry import MODELS, module_classes

    spec = next(s for s in MODELS if s.name == name)
    cell = module_classes(spec)["cell"](**dict(spec.example)).to(F64)
    runner = kernels.SequenceCell(cell.activation, cell.p, cell.dt, backend="triton")
    xs = (torch.rand(6, 2, 5, dtype=F64, device=DEV) * spec.drive * 1.5).requires_grad_()
    s_f = s_r = None
    outs_f, outs_r = [], []
    for x in xs.unbind(0):
        s0 = cell.initial_state(x) if s_f is None else s_f
        out, s_f = runner(x, s0)
        outs_f.append(out)
        out, s_r = cell.activation(
            x, cell.initial_state(x) if s_r is None else s_r, cell.p, cell.dt
        )
        outs_r.append(out)
    out_f, out_r = torch.stack(outs_f), torch.stack(outs_r)
    assert torch.equal(out_f, out_r)
    loss_f = out_f.sum() + sum(t.sum() for t in s_f)
    loss_r = out_r.sum() + sum(t.sum() for t in s_r)
    (g_f,) = torch.autograd.grad(loss_f, xs)
    (g_r,) = torch.autograd.grad(loss_r, xs)
    torch.testing.assert_close(g_f, g_r, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["lif", "lsnn", "lif_adex_refrac"])
def test_recurrent_layer_step_kernels(name):
    """Recurrent layers with Triton: one generated step kernel per step around the step's
    product, the hand-written backward through time; as the reference loop."""
    from norse.torch._registry import MODELS, module_classes
    from norse.torch.kernels._graph import flat

    spec = next(s for s in MODELS if s.name == name)
    cls = module_classes(spec)["recurrent"]
    gen = torch.Generator().manual_seed(3)
    w_in = torch.nn.Parameter(torch.rand(6, 4, generator=gen, dtype=F64).to(DEV))
    w_rec = torch.nn.Parameter((torch.randn(6, 6, generator=gen, dtype=F64) / 3).to(DEV))
    kw = dict(spec.example, input_weights=w_in, recurrent_weights=w_rec)
    fused = cls(4, 6, backend="triton", **kw).to(F64)
    ref = cls(4, 6, backend="reference", **kw).to(F64)
    x = (torch.rand(12, 3, 4, generator=gen, dtype=F64) * spec.drive).to(DEV).requires_grad_()
    out_f, s_f = fused(x)
    out_r, s_r = ref(x)
    assert torch.equal(out_f, out_r) and 0 < out_r.sum() < out_r.numel()
    for a, b in zip(flat(s_f), flat(s_r), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    gen_w = [torch.randn(t.shape, generator=gen, dtype=F64).to(DEV) for t in (out_r, *flat(s_r))]

    def loss(out, s):
        return sum((t * w).sum() for t, w in zip((out, *flat(s)), gen_w, strict=True))

    g_f = torch.autograd.grad(loss(out_f, s_f), [x, w_in, w_rec])
    g_r = torch.autograd.grad(loss(out_r, s_r), [x, w_in, w_rec])
    for a, b in zip(g_f, g_r, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.cuda
def test_cuda_recurrent_layers_and_cells():
    """The two tests above on the GPU (``make gpu-check`` runs the ``cuda``-marked tests)."""
    if INTERPRETED:
        pytest.skip("compiled Triton only (TRITON_INTERPRET=0)")
    for name in ("lif", "lsnn", "lif_adex_refrac"):
        test_recurrent_layer_step_kernels(name)
    for name in ("lif", "lsnn", "izhikevich"):
        test_a_cell_as_a_sequence_of_one_step(name)
    test_a_recurrent_cell_as_a_recurrent_layer_of_one_step()


def test_a_recurrent_cell_as_a_recurrent_layer_of_one_step():
    """Off the CPU a recurrent cell runs the recurrent step kernels for one step
    (``kernels.SequenceCell`` with the cell's weights)."""
    from norse.torch import LIFRecurrentCell, kernels
    from norse.torch.kernels._graph import flat

    cell = LIFRecurrentCell(4, 5).to(F64).to(DEV)
    weights = (cell.input_weights, cell.recurrent_weights)
    runner = kernels.SequenceCell(cell.activation, cell.p, cell.dt, backend="triton")
    xs = (torch.rand(6, 2, 4, dtype=F64, device=DEV) * 3).requires_grad_()
    s_f = s_r = cell.initial_state(xs[0])
    s_f = s_r = type(s_f)(*(torch.zeros_like(t).expand(2, 5).clone() for t in s_f))
    outs_f, outs_r = [], []
    for x in xs.unbind(0):
        out, s_f = runner(x, s_f, weights)
        outs_f.append(out)
        out, s_r = cell.activation(x, s_r, *weights, cell.p, cell.dt)
        outs_r.append(out)
    out_f, out_r = torch.stack(outs_f), torch.stack(outs_r)
    assert torch.equal(out_f, out_r) and out_r.sum() > 0
    loss_f = out_f.sum() + sum(t.sum() for t in flat(s_f))
    loss_r = out_r.sum() + sum(t.sum() for t in flat(s_r))
    g_f = torch.autograd.grad(loss_f, [xs, *weights])
    g_r = torch.autograd.grad(loss_r, [xs, *weights])
    for a, b in zip(g_f, g_r, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
