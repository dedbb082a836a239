"""Contract tests run over every neuron model in ``norse.torch._registry.MODELS``.

Each model's module classes (cell, recurrent cell, layer, recurrent layer: whichever exist)
must honour the same contract: shapes, dtype/device, layer == repeated cell steps, initial
state, state continuation, ``record_states``, serialisation, surrogate gradients, spikes.
A new model gets all of these by being added to the registry; its constructor kwargs and
input drive go into ``tests/conftest.py``.
"""

from __future__ import annotations

import copy
import math
import pickle
import time
from collections.abc import Iterator
from typing import Any

import pytest
import torch

import norse.torch  # noqa: F401  (imports every module class so the registry can find them)
from norse.torch._registry import MODELS, module_classes
from norse.torch.functional.threshold import METHODS

IN, HID, B, N, T = 3, 4, 2, 5, 6
RECURRENT = ("recurrent_cell", "recurrent")
LAYERS = ("layer", "recurrent")
PAIRS = (("cell", "layer"), ("recurrent_cell", "recurrent"))


# ----------------------------------------------------------------------------- helpers
def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def leaves(state: Any, prefix: str = "state") -> Iterator[tuple[str, Any]]:
    """``(path, value)`` for every leaf of a (nested) state tuple."""
    for name, value in zip(state._fields, state, strict=True):
        if _is_namedtuple(value):
            yield from leaves(value, f"{prefix}.{name}")
        else:
            yield f"{prefix}.{name}", value


def has_field(cls: type, name: str) -> bool:
    """Whether a (nested) parameter tuple class has a field ``name``."""
    if name in cls._fields:
        return True
    defaults = getattr(cls, "_field_defaults", {})
    return any(_is_namedtuple(d) and has_field(type(d), name) for d in defaults.values())


def replace_field(p: Any, name: str, value: Any) -> Any:
    """Replace the field ``name`` everywhere in a (nested) parameter tuple."""
    changes = {}
    for field, old in zip(p._fields, p, strict=True):
        if field == name:
            changes[field] = value
        elif _is_namedtuple(old):
            changes[field] = replace_field(old, name, value)
    return p._replace(**changes)


def state_field(state: Any, name: str) -> Any:
    """The first leaf called ``name`` in a (nested) state."""
    for path, value in leaves(state):
        if path.rsplit(".", 1)[-1] == name:
            return value
    raise KeyError(name)


def assert_states_close(actual: Any, expected: Any, **tol: Any) -> None:
    assert type(actual) is type(expected)
    for (path, a), (_, e) in zip(leaves(actual), leaves(expected), strict=True):
        torch.testing.assert_close(
            torch.as_tensor(a), torch.as_tensor(e), msg=lambda m, path=path: f"{path}: {m}", **tol
        )


def make(spec, kind: str, model_kwargs, **extra: Any) -> torch.nn.Module:
    cls = module_classes(spec)[kind]
    kwargs = {**model_kwargs(spec.name), **extra}
    if kind in RECURRENT:
        return cls(IN, HID, **kwargs)
    return cls(**kwargs)


def neuron_shape(kind: str, batch: tuple[int, ...] = (B,)) -> tuple[int, ...]:
    return (*batch, HID if kind in RECURRENT else N)


def make_input(
    kind: str,
    drive: float,
    batch: tuple[int, ...] = (B,),
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    steps: int = T,
) -> torch.Tensor:
    """A positive random drive around ``drive`` in the shape the module kind expects."""
    shape = (*batch, IN if kind in RECURRENT else N)
    if kind in LAYERS:
        shape = (steps, *shape)
    x = drive * (0.5 + torch.rand(shape, dtype=torch.float64))
    return x.to(dtype=dtype, device=device)


def expected_state_class(spec, kind: str) -> type:
    return spec.recurrent_state if kind in RECURRENT else spec.state


def with_weights(spec, kind, model_kwargs, dtype=torch.float64):
    """Constructor kwargs sharing one set of recurrent weights (for cell/layer pairs)."""
    if kind not in RECURRENT:
        return {}
    w_in = torch.rand(HID, IN, dtype=dtype) * 2 / IN
    w_rec = torch.randn(HID, HID, dtype=dtype) * 0.5
    return {"input_weights": w_in, "recurrent_weights": w_rec}


def run_cell(cell: torch.nn.Module, x: torch.Tensor, state: Any = None):
    outputs = []
    for x_t in x.unbind(0):
        out, state = cell(x_t, state)
        outputs.append(out)
    return torch.stack(outputs), state


def is_spiking(spec) -> bool:
    return spec.output == "spikes"


# ----------------------------------------------------------------------------- cases
CASES = [
    pytest.param(spec, kind, id=f"{spec.name}-{kind}")
    for spec in MODELS
    for kind in module_classes(spec)
]
LAYER_CASES = [
    pytest.param(spec, kind, id=f"{spec.name}-{kind}")
    for spec in MODELS
    for kind in module_classes(spec)
    if kind in LAYERS
]
PAIR_CASES = [
    pytest.param(spec, cell, layer, id=f"{spec.name}-{cell}-{layer}")
    for spec in MODELS
    for cell, layer in PAIRS
    if cell in module_classes(spec) and layer in module_classes(spec)
]
SPIKING_CASES = [
    pytest.param(spec, kind, id=f"{spec.name}-{kind}")
    for spec in MODELS
    if is_spiking(spec)
    for kind in module_classes(spec)
]
SURROGATES = [m for m in METHODS if m != "heaviside"]


def test_registry_is_not_empty():
    assert MODELS, "norse.torch._registry.MODELS lists no models"
    for spec in MODELS:
        assert module_classes(spec), f"no module class is built on spec {spec.name!r}"


# ----------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("batch", [(B,), (), (2, 3)], ids=["batched", "unbatched", "batch2d"])
@pytest.mark.parametrize("spec, kind", CASES)
def test_shapes(spec, kind, batch, model_kwargs, model_drive):
    m = make(spec, kind, model_kwargs)
    x = make_input(kind, model_drive(spec.name), batch)
    out, state = m(x)
    expected = neuron_shape(kind, batch)
    time_dim = (T,) if kind in LAYERS else ()
    assert out.shape == (*time_dim, *expected)
    assert isinstance(state, expected_state_class(spec, kind))
    for path, leaf in leaves(state):
        assert isinstance(leaf, torch.Tensor), f"{path} is a {type(leaf).__name__}"
        assert leaf.shape == expected, f"{path}: {tuple(leaf.shape)} != {expected}"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16], ids=str)
@pytest.mark.parametrize("spec, kind", CASES)
def test_dtype_and_device_follow_input(spec, kind, dtype, device, model_kwargs, model_drive):
    m = make(spec, kind, model_kwargs).to(device)
    if kind in RECURRENT:
        m = m.to(dtype)  # the weights must match the input for the linear maps
    x = make_input(kind, model_drive(spec.name), dtype=dtype, device=device)
    out, state = m(x)
    assert out.dtype == dtype and out.device.type == device.type
    for path, leaf in leaves(state):
        assert leaf.dtype == dtype, f"{path}: {leaf.dtype} != {dtype}"
        assert leaf.device.type == device.type, f"{path} on {leaf.device}"


# ----------------------------------------------------------------------------- time
@pytest.mark.parametrize("spec, cell_kind, layer_kind", PAIR_CASES)
def test_layer_equals_cell_steps(spec, cell_kind, layer_kind, model_kwargs, model_drive):
    shared = with_weights(spec, cell_kind, model_kwargs)
    layer = make(spec, layer_kind, model_kwargs, **shared).double()
    cell = make(spec, cell_kind, model_kwargs, **shared).double()
    x = make_input(layer_kind, model_drive(spec.name), dtype=torch.float64)
    out_layer, state_layer = layer(x)
    out_cell, state_cell = run_cell(cell, x)
    tol = {"rtol": 1e-12, "atol": 1e-12}
    torch.testing.assert_close(out_layer, out_cell, **tol)
    assert_states_close(state_layer, state_cell, **tol)
    if is_spiking(spec) and cell_kind == "cell":
        assert out_layer.sum() > 0, "MODEL_DRIVE should make the model spike; raise it"


@pytest.mark.parametrize("spec, kind", CASES)
def test_module_matches_step_function(spec, kind, model_kwargs, model_drive):
    """A cell (or layer) computes the spec's step function; passing its state back continues."""
    m = make(spec, kind, model_kwargs)
    x = make_input(kind, model_drive(spec.name), steps=4)
    weights = (m.input_weights, m.recurrent_weights) if kind in RECURRENT else ()
    step = spec.recurrent_step if kind in RECURRENT else spec.step
    if kind in LAYERS:
        xs = x.unbind(0)
        out, state = m(x[:2])
        out2, state = m(x[2:], state)
        out = torch.cat([out, out2])
    else:
        xs = (x, 2 * x)
        out1, state = m(xs[0])
        out2, state = m(xs[1], state)
        out = torch.stack([out1, out2])
    # the same with the functional step, from the module's initial state
    expected_state = m.initial_state(x)
    expected = []
    for x_t in xs:
        o, expected_state = step(x_t, expected_state, *weights, m.p, m.dt)
        expected.append(o)
    torch.testing.assert_close(out, torch.stack(expected))
    assert_states_close(state, expected_state)


@pytest.mark.parametrize("spec, kind", CASES)
def test_initial_state(spec, kind, model_kwargs, model_drive):
    m = make(spec, kind, model_kwargs)
    x = make_input(kind, model_drive(spec.name))
    state = m.initial_state(x)
    assert type(state) is expected_state_class(spec, kind)
    shape = neuron_shape(kind)
    scalar = set(getattr(type(m), "scalar_state", ()))
    for path, leaf in leaves(state):
        field = path.removeprefix("state.")
        assert isinstance(leaf, torch.Tensor), f"{path} is a {type(leaf).__name__}"
        assert leaf.shape == (() if field in scalar else shape), f"{path}: {tuple(leaf.shape)}"
        if field.rsplit(".", 1)[-1] in spec.grad_fields:
            assert leaf.requires_grad, f"{path} should require grad (1.1.0 convention)"
    if "initial_state" not in type(m).__dict__:
        # the generic initial state is the spec's resting state, broadcast
        rest = spec.rest(m.p, kind in RECURRENT)
        for (path, leaf), (_, value) in zip(leaves(state), leaves(rest), strict=True):
            value = torch.as_tensor(value, dtype=leaf.dtype)
            assert torch.equal(leaf.detach(), torch.broadcast_to(value, leaf.shape)), path
    # state=None uses exactly this state
    out_none, s_none = m(x)
    out_explicit, s_explicit = m(x, m.initial_state(x))
    torch.testing.assert_close(out_none, out_explicit)
    assert_states_close(s_none, s_explicit)


@pytest.mark.parametrize("spec, kind", LAYER_CASES)
def test_record_states(spec, kind, model_kwargs, model_drive):
    m = make(spec, kind, model_kwargs, record_states=True)
    x = make_input(kind, model_drive(spec.name))
    out, states = m(x)
    assert type(states) is expected_state_class(spec, kind)
    for path, leaf in leaves(states):
        assert leaf.shape == (T, *neuron_shape(kind)), f"{path}: {tuple(leaf.shape)}"
    m.record_states = False
    out_last, last = m(x)
    torch.testing.assert_close(out, out_last)
    for (path, stacked), (_, final) in zip(leaves(states), leaves(last), strict=True):
        torch.testing.assert_close(stacked[-1], final, msg=path)


# ----------------------------------------------------------------------------- serialisation
@pytest.mark.parametrize("spec, kind", CASES)
def test_state_dict_round_trip(spec, kind, model_kwargs, model_drive):
    m1 = make(spec, kind, model_kwargs)
    m2 = make(spec, kind, model_kwargs)
    x = make_input(kind, model_drive(spec.name))
    if kind in RECURRENT:
        keys = set(m1.state_dict())
        assert {"input_weights", "recurrent_weights"} <= keys, keys
        assert not torch.equal(m1.input_weights, m2.input_weights)
    m2.load_state_dict(m1.state_dict())
    out1, s1 = m1(x)
    out2, s2 = m2(x)
    torch.testing.assert_close(out1, out2, rtol=0, atol=0)
    assert_states_close(s1, s2, rtol=0, atol=0)


@pytest.mark.parametrize("copier", ["pickle", "deepcopy"])
@pytest.mark.parametrize("spec, kind", CASES)
def test_pickle_and_deepcopy(spec, kind, copier, model_kwargs, model_drive):
    m = make(spec, kind, model_kwargs)
    if copier == "pickle":
        clone = pickle.loads(pickle.dumps(m))
    else:
        clone = copy.deepcopy(m)
    assert type(clone) is type(m)
    assert str(clone) == str(m)
    x = make_input(kind, model_drive(spec.name))
    out1, s1 = m(x)
    out2, s2 = clone(x)
    torch.testing.assert_close(out1, out2, rtol=0, atol=0)
    assert_states_close(s1, s2, rtol=0, atol=0)


# ----------------------------------------------------------------------------- gradients
def _first_input(kind: str, x: torch.Tensor) -> torch.Tensor:
    return x[:1] if kind in LAYERS else x


def _land_on_threshold(m: torch.nn.Module, kind: str, x: torch.Tensor) -> bool:
    """Set ``v_th`` per neuron to the voltage the first step reaches, so that ``v - v_th`` is
    exactly 0 there. Returns whether that worked (checked: no spike at ``v_th = v``, a spike
    just below)."""
    p = m.p
    if not has_field(type(p), "v_th"):
        return False
    with torch.no_grad():
        m.p = replace_field(p, "v_th", torch.tensor(1e6))
        _, state = m(_first_input(kind, x))
        v = state_field(state, "v").detach().clone()
        m.p = replace_field(p, "v_th", v)
        z_at, _ = m(_first_input(kind, x))
        m.p = replace_field(p, "v_th", torch.nextafter(v, torch.full_like(v, -math.inf)))
        z_below, _ = m(_first_input(kind, x))
    m.p = replace_field(p, "v_th", v)
    return bool((z_at == 0).all() and (z_below == 1).all())


@pytest.mark.parametrize("spec, kind", CASES)
def test_surrogate_gradients_are_finite(spec, kind, model_kwargs, model_drive):
    """For every surrogate method (one loop, to keep the test count down)."""
    methods = SURROGATES if has_field(spec.parameters, "method") else [None]
    x0 = make_input(kind, model_drive(spec.name))
    for method in methods:
        torch.manual_seed(0)
        m = make(spec, kind, model_kwargs)
        if method is not None:
            m.p = replace_field(m.p, "method", method)
        x = x0.clone().requires_grad_(True)
        if is_spiking(spec):
            _land_on_threshold(m, kind, x0)  # where possible, v - v_th == 0 exactly
        out, state = m(x)
        # the state carries the input in decay-first models, whose spikes see it a step late
        loss = out.sum() + sum(leaf.sum() for _, leaf in leaves(state) if leaf.is_floating_point())
        loss.backward()
        where = f"method={method!r}"
        assert x.grad is not None, where
        assert torch.isfinite(x.grad).all(), f"non-finite input gradient with {where}"
        assert x.grad.abs().sum() > 0, f"no gradient reaches the input with {where}"
        if kind in RECURRENT:
            for name in ("input_weights", "recurrent_weights"):
                grad = getattr(m, name).grad
                assert grad is not None, f"{name} got no gradient with {where}"
                assert torch.isfinite(grad).all(), f"{name} gradient is not finite with {where}"
            assert m.input_weights.grad.abs().sum() > 0, where


@pytest.mark.parametrize("kind", ["cell", "recurrent_cell", "layer", "recurrent"])
def test_landing_on_threshold_works_for_lif(kind, model_kwargs, model_drive):
    """The helper above really puts LIF voltages exactly on the threshold."""
    spec = next(s for s in MODELS if s.name == "lif")
    m = make(spec, kind, model_kwargs)
    assert _land_on_threshold(m, kind, make_input(kind, model_drive("lif")))


@pytest.mark.parametrize("spec, kind", [c for c in LAYER_CASES if c.values[1] == "layer"])
def test_gradient_reaches_initial_state(spec, kind, model_kwargs, model_drive):
    m = make(spec, kind, model_kwargs)
    x = make_input(kind, model_drive(spec.name))
    state = m.initial_state(x)
    out, last = m(x, state)
    (out.sum() + sum(leaf.sum() for _, leaf in leaves(last))).backward()
    v0 = state_field(state, "v")
    assert v0.grad is not None and torch.isfinite(v0.grad).all()


# ----------------------------------------------------------------------------- spikes
@pytest.mark.parametrize("spec, kind", SPIKING_CASES)
def test_spikes_are_binary(spec, kind, model_kwargs, model_drive):
    m = make(spec, kind, model_kwargs)
    x = make_input(kind, model_drive(spec.name), steps=8)
    out, _ = m(x)
    if kind not in LAYERS:
        out, _ = run_cell(m, torch.stack([x] * 8))
    values = set(out.unique().tolist())
    assert values <= {0.0, 1.0}, values
    if kind not in RECURRENT:
        assert 1.0 in values, "MODEL_DRIVE should make the model spike within 8 steps"


@pytest.mark.parametrize("spec, kind", SPIKING_CASES)
def test_no_spikes_at_rest_without_input(spec, kind, model_kwargs):
    m = make(spec, kind, model_kwargs)
    x = torch.zeros((8, *neuron_shape(kind)[:-1], IN if kind in RECURRENT else N))
    if kind in LAYERS:
        out, _ = m(x)
    else:
        out, _ = run_cell(m, x)
    assert out.sum() == 0


# ----------------------------------------------------------------------------- compile
def _compile_case(cls, x):
    m = cls()
    compiled = torch.compile(m, fullgraph=True, backend="aot_eager")
    out, state = compiled(x)
    expected, expected_state = m(x)
    torch.testing.assert_close(out, expected)
    assert_states_close(state, expected_state)
    return compiled


def test_compile_lif_cell():
    _compile_case(norse.torch.LIFCell, 3 * torch.rand(2, 5))


def test_compile_lif_layer():
    x = 3 * torch.rand(T, 2, 5)
    compiled = _compile_case(norse.torch.LIF, x)
    xg = x.clone().requires_grad_(True)
    compiled(xg)[0].sum().backward()
    assert xg.grad is not None and torch.isfinite(xg.grad).all() and xg.grad.abs().sum() > 0


@pytest.mark.slow
def test_compile_lif_default_backend():
    """One smoke test through inductor (compiles C++; a few seconds)."""
    start = time.perf_counter()
    x = 3 * torch.rand(T, 2, 5)
    m = norse.torch.LIF()
    out, _ = torch.compile(m, fullgraph=True)(x)
    torch.testing.assert_close(out, m(x)[0])
    assert time.perf_counter() - start < 120


@pytest.mark.parametrize("layer", [True, False])
def test_overridden_initial_state_is_used(layer):
    """A subclass's own initial_state is what state=None builds (layers and cells alike)."""
    from norse.torch.module.lif import LIF, LIFCell

    class Charged(LIF if layer else LIFCell):
        def initial_state(self, input_tensor):
            s = super().initial_state(input_tensor)
            return s._replace(v=s.v.detach() + 0.9)

    x = torch.full((4, 2, 3) if layer else (2, 3), 0.1)
    m = Charged()
    out_none, s_none = m(x)
    out_explicit, s_explicit = m(x, m.initial_state(x))
    torch.testing.assert_close(out_none, out_explicit)
    assert_states_close(s_none, s_explicit)
    _, s_plain = (LIF if layer else LIFCell)()(x)
    assert not torch.equal(s_none.v, s_plain.v)  # the charged start makes a difference
