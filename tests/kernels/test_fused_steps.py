"""Fused recurrent layers and fused cells against the reference, for every model of the registry.

Recurrent layers (``LIFRecurrent``, ...) and cells (``LIFCell``, ``LIFRecurrentCell``, ...)
run through ``norse.torch.kernels._cpu_step``: one generated loop per step around the
reference's own matrix products. float64 spikes must be identical and states within 1e-12
of the reference, every gradient (input, input and recurrent weights, initial state,
parameters) within 1e-9 of autograd through the reference.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import torch
from torch import nn

pytest.importorskip("numba")

from norse.torch import kernels  # noqa: E402
from norse.torch._registry import MODELS, module_classes  # noqa: E402
from norse.torch.kernels._graph import flat, leaves, rebuild  # noqa: E402

F64, F32 = torch.float64, torch.float32


def _classes(kind: str) -> dict[str, tuple[Any, type]]:
    found = {}
    for spec in MODELS:
        cls = module_classes(spec).get(kind)
        if spec.fused and cls is not None:
            found[spec.name] = (spec, cls)
    return found


RECURRENT = _classes("recurrent")
CELLS = _classes("cell")
RECURRENT_CELLS = _classes("recurrent_cell")
#: recurrent models whose step is not ``linear(x, W_in) + linear(z, W_rec)`` + elementwise
NOT_FUSED = {"coba_lif"}


@contextmanager
def reference_backend() -> Iterator[None]:
    old = os.environ.get("NORSE_BACKEND")
    os.environ["NORSE_BACKEND"] = "reference"
    try:
        yield
    finally:
        if old is None:
            del os.environ["NORSE_BACKEND"]
        else:
            os.environ["NORSE_BACKEND"] = old


def weights(n_in: int, n_hidden: int, dtype: torch.dtype, seed: int = 3) -> tuple:
    gen = torch.Generator().manual_seed(seed)
    w_in = torch.rand(n_hidden, n_in, generator=gen, dtype=F64) * 2 / n_in**0.5
    w_rec = torch.randn(n_hidden, n_hidden, generator=gen, dtype=F64) / n_hidden**0.5
    return nn.Parameter(w_in.to(dtype)), nn.Parameter(w_rec.to(dtype))


def noisy(state: Any, seed: int = 2) -> Any:
    """``state`` plus noise, every field requiring grad (spikes ``z`` stay spikes)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for path, leaf in leaves(state):
        leaf = leaf.detach()
        noise = torch.rand(leaf.shape, generator=gen, dtype=F64).to(leaf.dtype)
        if path.split(".")[-1] == "z":
            value = (noise > 0.7).to(leaf.dtype)
        else:
            value = leaf + noise * max(1.0, float(leaf.abs().max())) * 0.1
        out.append(value.requires_grad_())
    return rebuild(state, out)


def assert_same(out_f, s_f, out_r, s_r, dtype) -> None:
    assert out_f.shape == out_r.shape and out_f.dtype == out_r.dtype
    if dtype == F64:
        assert torch.equal(out_f, out_r), "outputs differ"
        for a, b in zip(flat(s_f), flat(s_r), strict=True):
            assert a.shape == b.shape and a.dtype == b.dtype
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12 * max(1.0, b.abs().max().item()))
    else:
        torch.testing.assert_close(out_f, out_r)
        for a, b in zip(flat(s_f), flat(s_r), strict=True):
            torch.testing.assert_close(a, b)


def assert_grads(loss_f, loss_r, inputs, dtype) -> None:
    g_r = torch.autograd.grad(loss_r, inputs, allow_unused=True)
    g_f = torch.autograd.grad(loss_f, inputs, allow_unused=True)
    for k, (a, b) in enumerate(zip(g_f, g_r, strict=True)):
        what = f"gradient of input {k} {tuple(inputs[k].shape)}"
        a = torch.zeros_like(inputs[k]) if a is None else a
        b = torch.zeros_like(inputs[k]) if b is None else b
        if dtype == F64:
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12, msg=what)
        else:
            atol = 1e-5 * max(1.0, b.abs().max().item())
            torch.testing.assert_close(a, b, rtol=1e-4, atol=atol, msg=what)


def loss_of(out, state, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    total = 0
    for t in (out, *flat(state)):
        total = total + (t * torch.randn(t.shape, generator=gen, dtype=F64).to(t.dtype)).sum()
    return total


def learnable(p: Any, dtype: torch.dtype) -> Any:
    """Every floating parameter (but surrogate widths) as a learnable ``nn.Parameter``."""
    values = []
    for name, value in zip(p._fields, p, strict=True):
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            value = learnable(value, dtype)
        elif isinstance(value, torch.Tensor) and value.is_floating_point() and name != "alpha":
            value = nn.Parameter(value.detach().to(dtype).clone())
        values.append(value)
    return type(p)(*values)


# ----------------------------------------------------------------------------- recurrent layers
def recurrent_pair(name: str, n_in: int, n_hidden: int, dtype, autapses: bool, learn: bool):
    spec, cls = RECURRENT[name]
    w_in, w_rec = weights(n_in, n_hidden, dtype)
    kw = dict(spec.example, input_weights=w_in, recurrent_weights=w_rec, autapses=autapses)
    fused = cls(n_in, n_hidden, backend="cpu", **kw).to(dtype)
    ref = cls(n_in, n_hidden, backend="reference", **kw).to(dtype)
    if learn:
        fused.p = ref.p = learnable(ref.p, dtype)
    return spec, fused, ref, w_in, w_rec


@pytest.mark.parametrize("dtype", [F64, F32], ids=["f64", "f32"])
@pytest.mark.parametrize("autapses", [False, True], ids=["no-autapses", "autapses"])
@pytest.mark.parametrize("name", [n for n in RECURRENT if n not in NOT_FUSED])
def test_recurrent_layer_matches_reference(name, autapses, dtype):
    spec, fused, ref, w_in, w_rec = recurrent_pair(name, 5, 9, dtype, autapses, learn=False)
    gen = torch.Generator().manual_seed(0)
    x = ((torch.rand(25, 3, 5, generator=gen, dtype=F64) * 1.6 - 0.2) * spec.drive).to(dtype)
    x.requires_grad_()
    state = noisy(ref(x[:1].detach())[1])
    out_f, s_f = fused(x, state)
    out_r, s_r = ref(x, state)
    assert_same(out_f, s_f, out_r, s_r, dtype)
    if spec.output == "spikes":
        assert 0 < out_r.sum() < out_r.numel(), "the test input should make some neurons spike"
    inputs = [x, w_in, w_rec, *flat(state)]
    assert_grads(loss_of(out_f, s_f), loss_of(out_r, s_r), inputs, dtype)


@pytest.mark.parametrize("name", [n for n in RECURRENT if n not in NOT_FUSED])
def test_recurrent_layer_learnable_parameters(name):
    spec, fused, ref, w_in, w_rec = recurrent_pair(name, 4, 6, F64, False, learn=True)
    x = (torch.rand(15, 2, 4, dtype=F64) * spec.drive * 4).requires_grad_()
    out_f, s_f = fused(x)
    out_r, s_r = ref(x)
    assert_same(out_f, s_f, out_r, s_r, F64)
    params = [v for v in flat(ref.p) if isinstance(v, torch.Tensor) and v.requires_grad]
    assert_grads(loss_of(out_f, s_f), loss_of(out_r, s_r), [x, w_in, w_rec, *params], F64)


def test_recurrent_layer_runs_fused_and_keeps_the_users_weights():
    spec, fused, ref, w_in, w_rec = recurrent_pair("lif", 3, 4, F32, False, learn=False)
    fused.backend = "auto"
    assert fused.input_weights is w_in and fused.recurrent_weights is w_rec
    x = torch.rand(10, 2, 3)
    call = kernels.Call(fused.activation, x, ref(x)[1], fused.p, fused.dt, spec, (w_in, w_rec))
    assert kernels.select(call)[0] == "cpu"
    out, _ = fused(x)
    out.sum().backward()
    assert w_rec.grad is not None and torch.all(w_rec.grad.diagonal() == 0)  # (no autapses)
    assert w_in.grad is not None


def test_recurrent_layer_batch_dimensions_and_one_step():
    spec, fused, ref, w_in, w_rec = recurrent_pair("lif", 3, 4, F64, True, learn=False)
    for shape in [(1, 2, 3), (6, 2, 5, 3), (4, 3)]:
        x = (torch.rand(shape, dtype=F64) * 6).requires_grad_()
        out_f, s_f = fused(x)
        out_r, s_r = ref(x)
        assert_same(out_f, s_f, out_r, s_r, F64)
        assert_grads(loss_of(out_f, s_f), loss_of(out_r, s_r), [x, w_in, w_rec], F64)


def test_a_recurrent_step_using_its_weights_otherwise_runs_on_the_reference():
    from norse.torch.functional import lif

    def squared(x, s, w_in, w_rec, p, dt=0.001):  # (the weights squared: not a plain product)
        return lif.lif_step(x, s, w_in * w_in, w_rec, p, dt)

    program = pytest.raises(
        kernels._graph.Untraceable,
        kernels._graph.trace,
        squared,
        lif.LIFState(*(torch.zeros(2) for _ in range(3))),
        lif.LIFParameters(),
        1e-3,
        F64,
        True,
    )
    assert "linear(input, input_weights)" in str(program.value)


# ----------------------------------------------------------------------------- cells
def run_cells(cell: nn.Module, xs: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
    outs = []
    for x in xs:
        out, state = cell(x, state)
        outs.append(out)
    return torch.stack(outs), state


@pytest.mark.parametrize("dtype", [F64, F32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", list(CELLS))
def test_cell_matches_reference(name, dtype):
    spec, cls = CELLS[name]
    cell = cls(**dict(spec.example)).to(dtype)
    gen = torch.Generator().manual_seed(0)
    xs = ((torch.rand(12, 3, 17, generator=gen, dtype=F64) * 1.6 - 0.2) * spec.drive).to(dtype)
    xs.requires_grad_()
    with reference_backend():
        start = noisy(cell(xs[0])[1])
        out_r, s_r = run_cells(cell, xs, start)
    out_f, s_f = run_cells(cell, xs, start)
    assert_same(out_f, s_f, out_r, s_r, dtype)
    inputs = [xs, *(t for t in flat(start) if t.requires_grad)]
    assert_grads(loss_of(out_f, s_f), loss_of(out_r, s_r), inputs, dtype)


@pytest.mark.parametrize("name", list(CELLS))
def test_cell_runs_fused_from_rest_with_learnable_parameters(name):
    spec, cls = CELLS[name]
    cell = cls(**dict(spec.example)).to(F64)
    cell.p = learnable(cell.p, F64)
    xs = (torch.rand(8, 2, 5, dtype=F64) * spec.drive).requires_grad_()
    with reference_backend():
        out_r, s_r = run_cells(cell, xs, None)
    out_f, s_f = run_cells(cell, xs, None)
    assert_same(out_f, s_f, out_r, s_r, F64)
    params = [v for v in flat(cell.p) if isinstance(v, torch.Tensor) and v.requires_grad]
    assert_grads(loss_of(out_f, s_f), loss_of(out_r, s_r), [xs, *params], F64)
    out, _ = cell(xs[0], s_f)
    assert type(out.grad_fn).__name__ == "_FusedCellBackward"
    with reference_backend():
        out, _ = cell(xs[0], s_f)
    assert type(out.grad_fn).__name__ != "_FusedCellBackward"


@pytest.mark.parametrize("name", [n for n in RECURRENT_CELLS if n not in NOT_FUSED])
def test_recurrent_cell_matches_reference(name):
    spec, cls = RECURRENT_CELLS[name]
    w_in, w_rec = weights(4, 6, F64)
    cell = cls(4, 6, input_weights=w_in, recurrent_weights=w_rec, **dict(spec.example)).to(F64)
    xs = (torch.rand(10, 3, 4, dtype=F64) * spec.drive * 4).requires_grad_()
    with reference_backend():
        out_r, s_r = run_cells(cell, xs, None)
    out_f, s_f = run_cells(cell, xs, None)
    assert_same(out_f, s_f, out_r, s_r, F64)
    assert_grads(loss_of(out_f, s_f), loss_of(out_r, s_r), [xs, w_in, w_rec], F64)
    out, _ = cell(xs[0], s_f)
    assert type(out.grad_fn).__name__ == "_FusedCellBackward"


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "f16"])
def test_16_bit_cells_and_recurrent_layers_compute_in_float32(dtype):
    from norse.torch import LIFCell, LIFRecurrent

    x = torch.rand(6, 2, 8, dtype=F64) * 3
    cell = LIFCell()
    with reference_backend():
        want, _ = run_cells(cell, x.float(), None)
    got, s = run_cells(cell, x.to(dtype), None)
    assert got.dtype == dtype and s.v.dtype == dtype
    assert (got.float() != want).float().mean() < 0.05  # (16-bit inputs: a few flips at most)
    layer = LIFRecurrent(8, 4).to(dtype)
    out, s = layer(x.to(dtype))
    out_r, _ = LIFRecurrent(8, 4, backend="reference").to(dtype)(x.to(dtype))
    assert out.dtype == dtype and s.v.dtype == dtype and out.shape == out_r.shape


# ----------------------------------------------------------------------------- background
def test_cells_and_recurrent_layers_compile_in_the_background(background):
    """The first calls never wait for numba: they run the reference while the step loops
    compile, then take the fused step."""
    from norse.torch import LIFCell, LIFRecurrent

    cell = LIFCell()
    x = torch.rand(3, 5, requires_grad=True)
    out, s = cell(x)
    assert type(out.grad_fn).__name__ != "_FusedCellBackward"
    layer = LIFRecurrent(5, 4)
    xs = torch.rand(7, 3, 5)
    call = kernels.Call(layer.activation, xs, layer(xs)[1], layer.p, layer.dt, layer.spec,
                        layer._weights())  # fmt: skip
    assert kernels.select(call)[0] == "reference"
    background.wait(300)
    out, s = cell(x, s)
    assert type(out.grad_fn).__name__ == "_FusedCellBackward"
    out.sum().backward()
    assert x.grad is not None
    assert kernels.select(call)[0] == "cpu"


# ----------------------------------------------------------------------------- training
def test_training_converges_the_same_on_fused_and_reference_paths():
    """A small recurrent classifier on synthetic spike data, trained for 200 Adam steps:
    the loss curve of the fused paths equals the reference's to rounding.

    The fused backward sums the weight gradients in another order (one large product
    instead of one per step), so the two runs differ in the last bits from the first update
    on; in float64 that stays invisible until a neuron sitting exactly at its threshold
    spikes in one run and not in the other (here after ~120 steps), after which the two
    trajectories are different samples of the same training. Checked: the curves agree to
    1e-9 for the first 50 steps, and both end at the same loss level."""
    from norse.torch import LI, LIFRecurrent

    def train(backend: str) -> list[float]:
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(5)
        T, B, n_in, n_hidden, classes = 30, 16, 12, 24, 3
        labels = torch.randint(0, classes, (B,), generator=gen)
        rates = torch.rand(classes, n_in, generator=gen, dtype=F64) * 0.3
        rec = LIFRecurrent(n_in, n_hidden, backend=backend).double()
        readout = nn.Linear(n_hidden, classes).double()
        li = LI(backend=backend)
        opt = torch.optim.Adam([*rec.parameters(), *readout.parameters()], lr=5e-3)
        losses = []
        for _ in range(200):
            x = (torch.rand(T, B, n_in, generator=gen, dtype=F64) < rates[labels]).double()
            z, _ = rec(x)
            v, _ = li(readout(z))
            loss = nn.functional.cross_entropy(v.max(0).values, labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses

    fused, ref = train("auto"), train("reference")
    torch.testing.assert_close(fused[:50], ref[:50], rtol=1e-9, atol=0)
    end_f, end_r = sum(fused[-20:]) / 20, sum(ref[-20:]) / 20
    assert end_r < 0.25 * ref[0], "the classifier should learn"
    assert abs(end_f - end_r) < 0.15 * end_r


def test_a_cell_whose_loops_fail_to_compile_runs_the_reference(monkeypatch):
    from norse.torch import LIFCell
    from norse.torch.kernels import cpu

    def broken(*args):
        raise cpu._CompileError("numba could not compile the CPU kernels (no LLVM here)")

    monkeypatch.setattr(cpu, "_loops", broken)
    monkeypatch.setattr(cpu, "_FAILED", {})  # (where the failure is remembered)
    cell = LIFCell()
    x = torch.rand(3, 4)
    with pytest.warns(RuntimeWarning, match="could not compile"):
        out, s = cell(x)
    out2, _ = cell(x, s)  # (quietly on the reference from then on)
    with reference_backend():
        ref, s_ref = cell(x)
    assert torch.equal(out, ref) and type(out2.grad_fn).__name__ != "_FusedCellBackward"


def test_a_cell_does_not_keep_its_first_inputs_alive():
    import gc
    import weakref

    from norse.torch import LIFCell

    cell = LIFCell()
    x = torch.rand(3, 4, requires_grad=True)
    out, s = cell(x)
    out, s = cell(x, s)
    assert type(out.grad_fn).__name__ == "_FusedCellBackward"
    refs = [weakref.ref(x), weakref.ref(s.v)]
    del x, out, s
    gc.collect()
    assert all(r() is None for r in refs)
