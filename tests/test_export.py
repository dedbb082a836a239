"""Export and tracing: ONNX (both exporters, run under onnxruntime), ``torch.export`` and
``torch.jit.trace`` record the reference path and give the module's own outputs."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import norse.torch as snn
from norse.torch import kernels
from norse.torch._registry import MODELS, module_classes

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

IN, HID = 6, 5

# every neuron Cell that 1.1.0 can export to ONNX
ONNX_CELLS = {
    "LIFCell": lambda: snn.LIFCell(),
    "LIFBoxCell": lambda: snn.LIFBoxCell(),
    "LICell": lambda: snn.LICell(),
    "LIBoxCell": lambda: snn.LIBoxCell(),
    "IAFCell": lambda: snn.IAFCell(),
    "LIFRecurrentCell": lambda: snn.LIFRecurrentCell(IN, HID),
}


def _flat(out) -> list[torch.Tensor]:
    if out is None:
        return []
    if isinstance(out, torch.Tensor):
        return [out]
    return [t for item in out for t in _flat(item)]


def _input(seed: int = 0, shape=(4, IN)) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g) * 3  # drives spikes within a step or two


def _onnx_outputs(path, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    feed = {n: t.detach().numpy() for n, t in zip(names, inputs, strict=True)}
    return [torch.from_numpy(a) for a in session.run(None, feed)]


def _assert_same(got: list[torch.Tensor], want: list[torch.Tensor]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w.detach().expand_as(g), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dynamo", [False, True], ids=["legacy", "dynamo"])
@pytest.mark.parametrize("name", list(ONNX_CELLS))
def test_onnx_export_of_cells_runs_under_onnxruntime(name, dynamo, tmp_path):
    cell = ONNX_CELLS[name]()
    x = _input()
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(cell, (x,), str(path), dynamo=dynamo)
    if dynamo:
        program.save(str(path))
    onnx.checker.check_model(onnx.load(str(path)))
    with torch.no_grad():
        want = _flat(cell(x))
    _assert_same(_onnx_outputs(path, [x]), want)
    # the exported graph computes, not replays: another input gives that input's result
    x2 = _input(1)
    with torch.no_grad():
        want2 = _flat(cell(x2))
    _assert_same(_onnx_outputs(path, [x2]), want2)


def test_onnx_export_of_a_layer_records_the_reference_loop(tmp_path):
    """The dynamo ONNX exporter runs under ``torch.compiler.is_compiling()`` too; a layer must
    not hand it the fused sequence's custom operator, which ONNX cannot express."""
    from norse.torch import LIF

    layer = LIF()
    x = torch.rand(6, 2, 3) * 3
    path = tmp_path / "lif.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(layer, (x,), str(path), dynamo=True)
    program.save(str(path))
    onnx.checker.check_model(onnx.load(str(path)))
    with torch.no_grad():
        want = layer(x)[0]
    torch.testing.assert_close(_onnx_outputs(path, [x])[0], want)


@pytest.mark.parametrize("name", ["LIFCell", "LIFRecurrentCell"])
def test_onnx_export_with_a_state_input(name, tmp_path):
    cell = ONNX_CELLS[name]()
    x = _input()
    with torch.no_grad():
        _, state = cell(x)
        state = type(state)(*(t.detach().clone() for t in state))
        want = _flat(cell(x, state))
    path = tmp_path / "cell.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(cell, (x, state), str(path), dynamo=False)
    _assert_same(_onnx_outputs(path, [x, *state]), want)


def _registry_modules():
    from norse.torch.functional.izhikevich import tonic_spiking

    for spec in MODELS:
        kwargs = {"spiking_method": tonic_spiking} if spec.name == "izhikevich" else {}
        for kind, cls in module_classes(spec).items():
            recurrent = kind in ("recurrent_cell", "recurrent")
            layer = kind in ("layer", "recurrent")
            yield pytest.param(
                (
                    lambda cls=cls, recurrent=recurrent, kwargs=kwargs: (
                        cls(IN, HID, **kwargs) if recurrent else cls(**kwargs)
                    )
                ),
                layer,
                id=f"{spec.name}-{kind}",
            )


@pytest.mark.parametrize("make, layer", list(_registry_modules()))
def test_torch_export_of_every_module(make, layer):
    torch.manual_seed(0)
    m = make()
    x = _input(shape=(7, 4, IN) if layer else (4, IN))
    program = torch.export.export(m, (x,))
    with torch.no_grad():
        want = _flat(m(x))
    _assert_same(_flat(program.module()(x)), want)
    x2 = _input(2, x.shape)
    with torch.no_grad():
        want2 = _flat(m(x2))
    _assert_same(_flat(program.module()(x2)), want2)


def test_torch_export_of_a_sequential_state_network():
    torch.manual_seed(0)
    net = snn.SequentialState(
        nn.Linear(IN, 8), snn.LIFCell(), nn.Linear(8, 3), snn.LIBoxCell(), snn.LICell()
    )
    x = _input()
    program = torch.export.export(net, (x,))
    out, state = program.module()(x)
    with torch.no_grad():
        want_out, want_state = net(x)
    _assert_same([out, *_flat(state)], [want_out, *_flat(want_state)])


def test_torch_export_and_compile_of_a_lifted_convolutional_network():
    """``Lift`` merges time into the batch; export and compile see plain tensor ops."""
    torch.manual_seed(0)
    net = snn.SequentialState(
        snn.Lift(nn.Conv2d(1, 4, 3)),
        snn.LIF(),
        snn.Lift(nn.Flatten()),
        snn.Lift(nn.Linear(4 * 6 * 6, 3)),
        snn.LI(),
    )
    x = torch.rand(5, 2, 1, 8, 8)
    with torch.no_grad():
        want = _flat(net(x))
    _assert_same(_flat(torch.export.export(net, (x,)).module()(x)), want)
    _assert_same(_flat(torch.compile(net, fullgraph=True)(x)), want)


def test_export_sees_the_parameter_child_as_a_module():
    """``torch.export`` walks children by attribute name; ``p`` is the tuple, so the
    tensors live under another name (what made export fail before)."""
    cell = snn.LIFCell()
    names = [name for name, _ in cell.named_modules()]
    for name in names[1:]:
        assert isinstance(cell.get_submodule(name), nn.Module)
        assert isinstance(getattr(cell, name), nn.Module)
    # functional_call swaps the tensors by name, too
    from norse.torch.module._parameters import CHILD

    x = _input()
    out = torch.func.functional_call(cell, {f"{CHILD}.v_th": torch.tensor(100.0)}, (x,))
    assert out[0].sum() == 0  # nothing reaches a threshold of 100


@pytest.mark.parametrize("layer", [False, True], ids=["cell", "layer"])
def test_jit_trace_of_a_cell_and_a_layer(layer):
    m = snn.LIF() if layer else snn.LIFCell()
    x = _input(shape=(7, 4, IN) if layer else (4, IN))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(m, (x,), check_trace=False)
    x2 = _input(3, x.shape)
    with torch.no_grad():
        want = _flat(m(x2))
    _assert_same(_flat(traced(x2)), want)


def test_tracing_takes_the_reference_path(monkeypatch):
    """The fused kernels cannot be recorded: under tracing ``auto`` picks the reference."""
    picked = []
    original = kernels.select

    def spy(call, backend="auto"):
        name, impl = original(call, backend)
        picked.append(name)
        return name, impl

    monkeypatch.setattr(kernels, "select", spy)
    m = snn.LIF()
    x = _input(shape=(5, 4, IN))
    m(x)
    eager = picked[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.trace(m, (x,), check_trace=False)
    assert picked[-1] == "reference"
    torch.export.export(m, (x,))
    assert picked[-1] == "reference"
    assert eager != "reference" or "cpu" not in kernels.available_backends()


def test_named_fused_backend_refuses_to_be_traced():
    if "cpu" not in kernels.available_backends():
        pytest.skip("no fused CPU backend here")
    m = snn.LIF(backend="cpu")
    x = _input(shape=(5, 4, IN))
    with pytest.raises(NotImplementedError, match="traced or exported"):
        torch.jit.trace(m, (x,), check_trace=False)


def test_running_a_layer_does_not_import_the_onnx_exporter():
    """Checking for an ONNX export must not import ``torch.onnx`` (hundreds of modules on the
    first call of every layer)."""
    import subprocess
    import sys

    code = (
        "import sys, torch, norse.torch as snn\n"
        "snn.LIF()(torch.rand(3, 2, 4)); snn.LIFCell()(torch.rand(2, 4))\n"
        "assert 'torch.onnx' not in sys.modules, 'torch.onnx was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
