"""The fused CPU engine against the reference loop, for every model of the registry.

The kernels are generated from each model's step (``norse.torch.kernels._graph``); these
tests read nothing but the registry: the model's layer class, ``SPEC.example`` (constructor
arguments) and ``SPEC.drive`` (an input amplitude that makes it spike). float64 spikes must
be identical and states within 1e-12 of the reference, every gradient (input, initial
state, parameters) within 1e-9 of autograd through the reference.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn

pytest.importorskip("numba")

from norse.torch import kernels  # noqa: E402
from norse.torch._registry import MODELS, module_classes  # noqa: E402
from norse.torch._spec import is_namedtuple  # noqa: E402
from norse.torch.functional.threshold import METHODS, threshold  # noqa: E402
from norse.torch.kernels._graph import flat  # noqa: E402
from norse.torch.module.snn import SNN  # noqa: E402

F64, F32 = torch.float64, torch.float32
LAYERS = {
    spec.name: (spec, module_classes(spec)["layer"])
    for spec in MODELS
    if spec.fused and "layer" in module_classes(spec)
}
SPIKING = [name for name, (spec, _) in LAYERS.items() if spec.output == "spikes"]


# ----------------------------------------------------------------------------- set-up
def layer(name: str, backend: str, p: Any = None, **kw: Any) -> nn.Module:
    spec, cls = LAYERS[name]
    module = cls(**dict(spec.example), backend=backend, **kw)
    if p is not None:
        module.p = p
    return module


def drive(name: str, shape: tuple[int, ...], dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    """Input that makes the model spike, with some negative values."""
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(shape, generator=gen, dtype=F64) * 1.6 - 0.2) * LAYERS[name][0].drive
    return x.to(dtype).requires_grad_()


def vary(p: Any, shape: tuple[int, ...], dtype: torch.dtype, learn: bool) -> Any:
    """Every floating parameter tensor spread by +-10% over the neurons (``shape``), as
    learnable ``nn.Parameter`` if ``learn``; surrogate widths (``alpha``) stay fixed."""
    values = []
    for name, value in zip(p._fields, p, strict=True):
        if is_namedtuple(value):
            value = vary(value, shape, dtype, learn)
        elif isinstance(value, torch.Tensor) and value.is_floating_point() and name != "alpha":
            n = math.prod(shape)
            spread = 1 + 0.1 * torch.linspace(-1, 1, n, dtype=dtype).reshape(shape)
            value = value.to(dtype) * spread if shape else value.to(dtype)
            value = nn.Parameter(value.detach().clone()) if learn else value
        values.append(value)
    return type(p)(*values)


def start(name: str, x: torch.Tensor, seed: int = 2) -> Any:
    """A state away from rest: the resting state plus noise, every field requiring grad."""
    rest = layer(name, "reference").initial_state(x)
    gen = torch.Generator().manual_seed(seed)
    leaves = []
    for leaf in flat(rest):
        noise = torch.rand(leaf.shape, generator=gen, dtype=F64).to(leaf.dtype)
        scale = max(1.0, float(leaf.detach().abs().max())) * 0.1
        leaves.append((leaf.detach() + noise * scale).requires_grad_())
    from norse.torch.kernels._graph import rebuild

    return rebuild(rest, leaves)


def run(module: nn.Module, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, list]:
    out, s = module(x, state)
    return out, flat(s)


def compare(name: str, x, state, p, *, grads: bool = True, **kw) -> None:
    """Both backends on the same input, state and parameters: outputs, states, gradients."""
    ref = layer(name, "reference", p, **kw)
    fused = layer(name, "cpu", p, **kw)
    out_r, s_r = run(ref, x, state)
    out_f, s_f = run(fused, x, state)
    assert out_f.dtype == out_r.dtype and out_f.shape == out_r.shape
    if x.dtype == F64:
        assert torch.equal(out_f, out_r), "outputs differ"
        for a, b in zip(s_f, s_r, strict=True):
            assert a.shape == b.shape and a.dtype == b.dtype
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12 * max(1.0, b.abs().max().item()))
    else:
        torch.testing.assert_close(out_f, out_r)
        for a, b in zip(s_f, s_r, strict=True):
            torch.testing.assert_close(a, b)
    assert out_f.requires_grad == out_r.requires_grad
    if not grads:
        return
    params = [v for v in flat(ref.p) if isinstance(v, torch.Tensor) and v.requires_grad]
    inputs = [
        t for t in (x, *(flat(state) if state is not None else []), *params) if t.requires_grad
    ]
    gen = torch.Generator().manual_seed(1)
    weights = [torch.randn(t.shape, generator=gen, dtype=F64).to(t.dtype) for t in (out_r, *s_r)]

    def loss(out, s):
        return sum((t * w).sum() for t, w in zip((out, *s), weights, strict=True))

    g_r = torch.autograd.grad(loss(out_r, s_r), inputs, allow_unused=True)
    g_f = torch.autograd.grad(loss(out_f, s_f), inputs, allow_unused=True)
    for k, (a, b) in enumerate(zip(g_f, g_r, strict=True)):
        what = f"gradient of input {k} {tuple(inputs[k].shape)}"
        if a is None or b is None:
            a = torch.zeros_like(inputs[k]) if a is None else a
            b = torch.zeros_like(inputs[k]) if b is None else b
        if x.dtype == F64:
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12, msg=what)
        else:
            atol = 1e-5 * max(1.0, b.abs().max().item())
            torch.testing.assert_close(a, b, rtol=1e-4, atol=atol, msg=what)


# ----------------------------------------------------------------------------- tests
@pytest.mark.parametrize("dtype", [F64, F32], ids=["f64", "f32"])
@pytest.mark.parametrize("T", [1, 13])
@pytest.mark.parametrize("n", [1, 7, 63, 1000])
@pytest.mark.parametrize("name", list(LAYERS))
def test_matches_reference(name, n, T, dtype):
    """Sizes, one step, both dtypes, from a state away from rest."""
    x = drive(name, (T, 2, n), dtype)
    p = vary(layer(name, "reference").p, (), dtype, learn=False)
    compare(name, x, start(name, x), p)


@pytest.mark.parametrize("pshape", [(), (7,), (3, 7)], ids=str)
@pytest.mark.parametrize("name", list(LAYERS))
def test_learnable_parameters(name, pshape):
    """Learnable parameters, shared or per neuron: their gradients, reduced to their shape."""
    x = drive(name, (17, 3, 7), F64)
    p = vary(layer(name, "reference").p, pshape, F64, learn=True)
    compare(name, x, start(name, x), p)


@pytest.mark.parametrize("method", METHODS)
def test_every_surrogate(method):
    """Every threshold method's surrogate derivative, traced from its autograd function."""
    name = "lif"
    p = layer(name, "reference").p._replace(method=method)
    p = vary(p, (7,), F64, learn=True)
    x = drive(name, (17, 3, 7), F64)
    compare(name, x, start(name, x), p)


@pytest.mark.parametrize("name", SPIKING)
def test_heaviside_spikes_carry_no_gradient(name):
    p = layer(name, "reference").p
    if "method" not in getattr(p, "_fields", ()):
        pytest.skip("the model has no method parameter")
    p = p._replace(method="heaviside")
    x = drive(name, (9, 2, 5), F64)
    compare(name, x, start(name, x), p)


@pytest.mark.parametrize("layout", ["unbatched", "non_contiguous", "3d_neurons", "scalar_state"])
@pytest.mark.parametrize("name", ["lif", "lsnn", "lif_adex_refrac", "izhikevich"])
def test_layouts(name, layout):
    if layout == "unbatched":
        x = drive(name, (11, 6), F64)
        state = start(name, x)
    elif layout == "non_contiguous":
        x = drive(name, (6, 11, 4), F64).detach().transpose(0, 1).requires_grad_()
        assert not x.is_contiguous()
        state = start(name, x)
    elif layout == "3d_neurons":
        x = drive(name, (11, 2, 3, 4), F64)
        state = start(name, x)
    else:
        x = drive(name, (11, 2, 4), F64)
        state = None  # the modules' own initial state (some fields 0-dim, v requires grad)
    compare(name, x, state, None)


@pytest.mark.parametrize("name", list(LAYERS))
def test_without_input_gradient(name):
    """Gradients of the parameters and the state only (the input needs none)."""
    x = drive(name, (9, 2, 5), F64).detach()
    p = vary(layer(name, "reference").p, (5,), F64, learn=True)
    compare(name, x, start(name, x), p)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", ["lif", "lsnn", "lif_adex"])
def test_16_bit_inputs_compute_in_float32(name, dtype):
    """16-bit inputs: the loops compute in float32 and store outputs and states in the input's
    dtype, so they equal the float32 reference's results, rounded once."""
    x16 = drive(name, (13, 2, 9), dtype)
    x32 = x16.detach().float().requires_grad_()
    out16, s16 = layer(name, "cpu")(x16)
    out32, s32 = layer(name, "reference")(x32)
    assert out16.dtype == dtype and all(v.dtype == dtype for v in flat(s16))
    assert torch.equal(out16, out32.to(dtype))
    for a, b in zip(flat(s16), flat(s32), strict=True):
        assert torch.equal(a, b.to(dtype))
    (g16,) = torch.autograd.grad(out16.float().sum() + flat(s16)[0].float().sum(), x16)
    (g32,) = torch.autograd.grad(out32.sum() + flat(s32)[0].sum(), x32)
    assert g16.dtype == dtype
    torch.testing.assert_close(g16, g32.to(dtype))


def test_auto_picks_the_fused_kernel_for_every_model():
    for name in LAYERS:
        module = layer(name, "auto")
        x = torch.rand(3, 2, 4)
        call = kernels.Call(
            module.activation, x, module.initial_state(x), module.p, module.dt, module.spec
        )
        assert kernels.select(call, "auto")[0] == "cpu", name


# ----------------------------------------------------------------------------- user models
def test_a_users_own_neuron_is_fused():
    """A neuron written by a user in plain PyTorch gets the fused loops with no kernel code."""
    from typing import NamedTuple

    class QuadraticParameters(NamedTuple):
        tau_inv: torch.Tensor = torch.tensor(50.0)
        v_th: torch.Tensor = torch.tensor(1.0)
        method: str = "super"
        alpha: float = 50.0

    class QuadraticState(NamedTuple):
        v: torch.Tensor

    def quadratic_step(x, s, p, dt=0.001):
        v = s.v + dt * p.tau_inv * (s.v * s.v + x)
        z = threshold(v - p.v_th, p.method, p.alpha)
        return z, QuadraticState(v=(1 - z) * v)

    def at_rest(x):  # (a layer's fallback sees the whole sequence)
        return QuadraticState(v=torch.zeros_like(x[0]))

    x = (torch.rand(20, 3, 5, dtype=F64) * 30).requires_grad_()
    p = QuadraticParameters(tau_inv=nn.Parameter(torch.full((5,), 50.0, dtype=F64)))
    fused = SNN(quadratic_step, at_rest, p=p, backend="cpu")
    ref = SNN(quadratic_step, at_rest, p=p, backend="reference")
    (out_f, s_f), (out_r, s_r) = fused(x), ref(x)
    assert out_r.sum() > 0
    assert torch.equal(out_f, out_r) and torch.equal(s_f.v, s_r.v)
    g_f = torch.autograd.grad(out_f.sum() + s_f.v.sum(), (x, p.tau_inv))
    g_r = torch.autograd.grad(out_r.sum() + s_r.v.sum(), (x, p.tau_inv))
    for a, b in zip(g_f, g_r, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_a_step_that_is_not_elementwise_runs_on_the_reference():
    def mixing_step(x, s, p, dt=0.001):
        v = s.v + x.mean(-1, keepdim=True)
        return v, type(s)(v=v)

    from norse.torch.functional.leaky_integrator_box import LIBoxState

    def at_rest(x):
        return LIBoxState(v=torch.zeros_like(x[0]))

    x = torch.rand(4, 2, 3)
    with pytest.raises(NotImplementedError, match="mean"):
        SNN(mixing_step, at_rest, p=(), backend="cpu")(x)
    out, _ = SNN(mixing_step, at_rest, p=(), backend="auto")(x)
    ref, _ = SNN(mixing_step, at_rest, p=(), backend="reference")(x)
    assert torch.equal(out, ref)


# ----------------------------------------------------------------------------- compile, export
def test_torch_compile_keeps_the_fused_sequence():
    """A compiled layer (``fullgraph=True``) records one custom operator for the sequence,
    runs the fused loops, and matches eager in outputs, states and gradients."""
    from torch._dynamo.testing import CompileCounterWithBackend

    counter = CompileCounterWithBackend("aot_eager")
    x = drive("lsnn", (15, 2, 6), F32)
    eager = layer("lsnn", "auto")
    compiled = torch.compile(layer("lsnn", "auto"), backend=counter, fullgraph=True)
    (out_c, s_c), (out_e, s_e) = compiled(x), eager(x)
    assert torch.equal(out_c, out_e) and all(
        torch.equal(a, b) for a, b in zip(flat(s_c), flat(s_e), strict=True)
    )
    targets = {str(n.target) for g in counter.graphs for n in g.graph.nodes}
    assert any("norse.fused_sequence" in t for t in targets), targets
    (g_c,) = torch.autograd.grad(out_c.sum() + flat(s_c)[0].sum(), x)
    (g_e,) = torch.autograd.grad(out_e.sum() + flat(s_e)[0].sum(), x)
    torch.testing.assert_close(g_c, g_e)


def test_torch_export_records_the_fused_sequence():
    from norse.torch import SequentialState

    model = SequentialState(nn.Linear(4, 5), layer("lif_adex", "auto"))
    x = torch.rand(12, 3, 4) * 4
    program = torch.export.export(model, (x,))
    targets = [str(n.target) for n in program.graph.nodes]
    assert any("norse.fused_sequence" in t for t in targets), targets
    out, _ = program.module()(x)
    torch.testing.assert_close(out, model(x)[0])


def test_the_documented_example_runs():
    """``examples/custom_neuron.py`` (docs/custom_neuron.md): fused equals the reference."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "custom_neuron.py"
    spec = importlib.util.spec_from_file_location("custom_neuron", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    x = (torch.rand(30, 2, 7, dtype=F64) * 30).requires_grad_()
    p = example.QIFParameters(tau_inv=nn.Parameter(torch.full((7,), 50.0, dtype=F64)))
    (z_f, s_f) = example.qif_layer(p, backend="cpu")(x)
    (z_r, s_r) = example.qif_layer(p, backend="reference")(x)
    assert z_r.sum() > 0 and torch.equal(z_f, z_r) and torch.equal(s_f.v, s_r.v)
    g_f = torch.autograd.grad(z_f.sum() + s_f.v.sum(), (x, p.tau_inv))
    g_r = torch.autograd.grad(z_r.sum() + s_r.v.sum(), (x, p.tau_inv))
    for a, b in zip(g_f, g_r, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_a_frozen_parameter_may_go_through_any_elementwise_operation():
    """Gradients are traced only for parameters that require them, so a frozen one may pass
    through an operation whose derivative the kernels do not implement (``softplus``); it runs
    in torch, once per call (the prologue). Learnable, the same step runs on the reference."""
    from typing import NamedTuple

    class P(NamedTuple):
        raw_tau: torch.Tensor
        v_th: torch.Tensor = torch.tensor(1.0, dtype=torch.float64)

    class S(NamedTuple):
        v: torch.Tensor

    def step(x, s, p, dt=0.001):
        v = s.v + dt * torch.nn.functional.softplus(p.raw_tau) * (x - s.v)
        z = threshold(v - p.v_th, "super", 50.0)
        return z, S(v=(1 - z) * v)

    def rest(x):
        return S(v=torch.zeros_like(x[0]))

    x = (torch.rand(12, 2, 5, dtype=F64) * 3).requires_grad_()
    frozen = P(raw_tau=torch.linspace(50.0, 150.0, 5, dtype=F64))
    (out_f, s_f) = SNN(step, rest, p=frozen, backend="cpu")(x)
    (out_r, s_r) = SNN(step, rest, p=frozen, backend="reference")(x)
    assert torch.equal(out_f, out_r) and torch.equal(s_f.v, s_r.v)
    (g_f,) = torch.autograd.grad(out_f.sum() + s_f.v.sum(), x)
    (g_r,) = torch.autograd.grad(out_r.sum() + s_r.v.sum(), x)
    torch.testing.assert_close(g_f, g_r, rtol=1e-9, atol=1e-12)
    learnable = P(raw_tau=nn.Parameter(frozen.raw_tau.clone()))
    with pytest.raises(NotImplementedError, match="softplus"):
        SNN(step, rest, p=learnable, backend="cpu")(x)


def test_torch_compile_with_learnable_parameters():
    x = drive("lif", (15, 2, 6), F32)
    p = vary(layer("lif", "reference").p, (6,), F32, learn=True)
    eager = layer("lif", "auto", p)
    compiled = torch.compile(layer("lif", "auto", p), backend="aot_eager", fullgraph=True)
    (out_c, s_c), (out_e, s_e) = compiled(x), eager(x)
    assert torch.equal(out_c, out_e)
    params = [v for v in flat(eager.p) if isinstance(v, torch.Tensor) and v.requires_grad]
    g_c = torch.autograd.grad(out_c.sum() + s_c.v.sum(), (x, *params))
    g_e = torch.autograd.grad(out_e.sum() + s_e.v.sum(), (x, *params))
    for a, b in zip(g_c, g_e, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_torch_compile_of_a_users_step_without_parameters():
    """``SNN(step, fallback, p=())`` (1.1.0 accepts any ``p``) compiles with the fused operator."""
    from norse.torch.functional.leaky_integrator_box import LIBoxState

    def step(x, s, p, dt=0.001):
        v = s.v + 0.5 * (x - s.v)
        return v, LIBoxState(v=v)

    layer = SNN(step, lambda x: LIBoxState(v=torch.zeros_like(x[0])), p=())
    x = torch.rand(6, 2, 3).requires_grad_()
    out_c, _ = torch.compile(layer, backend="aot_eager", fullgraph=True)(x)
    out_e, _ = layer(x)
    torch.testing.assert_close(out_c, out_e)
    (g_c,) = torch.autograd.grad(out_c.sum(), x)
    (g_e,) = torch.autograd.grad(out_e.sum(), x)
    torch.testing.assert_close(g_c, g_e)


def test_a_tensor_captured_from_outside_keeps_the_step_on_the_reference():
    """A step reading a tensor that is not its input, state or a parameter (a global, a
    closure) could change it between calls; the kernels would keep the traced value, so the
    step runs on the reference (and a named backend says why). Literals made in the step
    (``torch.tensor(0.25)``) are fine."""
    from norse.torch.functional.leaky_integrator_box import LIBoxState

    gain = torch.tensor(0.5)

    def step(x, s, p, dt=0.001):
        v = s.v + gain * x + torch.tensor(0.25) * s.v
        return v, LIBoxState(v=v)

    def rest(x):
        return LIBoxState(v=torch.zeros_like(x[0]))

    x = torch.rand(5, 2, 3)
    with pytest.raises(NotImplementedError, match="from outside"):
        SNN(step, rest, p=(), backend="cpu")(x)
    layer = SNN(step, rest, p=(), backend="auto")
    first, _ = layer(x)
    gain.fill_(2.0)
    second, _ = layer(x)
    assert torch.equal(second, SNN(step, rest, p=(), backend="reference")(x)[0])
    assert not torch.equal(first, second)
