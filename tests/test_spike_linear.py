"""spike_linear / SpikeLinear and SequentialState's spike-sparse synapses: the same values and
gradients as F.linear / nn.Linear, the sparse path taken where it should be, clear errors."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import norse.torch as snn
import norse.torch.functional.spike_linear as sl
import norse.torch.module.sequential as sequential
from norse.torch import SpikeLinear, spike_linear

# torch's own export/compile stack still calls its deprecated torch.jit helpers
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning")

IN, OUT = 300, 512
DT = torch.float64


@pytest.fixture
def count_sparse(monkeypatch):
    """Counts the calls that take the sparse path; small problems qualify."""
    for name in ("MIN_ROWS", "MIN_OUT_FEATURES", "MIN_MULTIPLY_ADDS"):
        monkeypatch.setattr(sl, name, 0)
    monkeypatch.setattr(sl, "_FULL_ACTIVITY_OUT_FEATURES", 1)
    calls = []
    forward = sl._SpikeLinearFunction.forward

    def counted(ctx, *args):
        calls.append(args[0].shape)
        return forward(ctx, *args)

    monkeypatch.setattr(sl._SpikeLinearFunction, "forward", staticmethod(counted))
    return calls


def spikes(shape, activity, dtype=DT, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) < activity).to(dtype)


def params(bias=True, dtype=DT, seed=1):
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(OUT, IN, generator=g, dtype=dtype).requires_grad_()
    b = torch.randn(OUT, generator=g, dtype=dtype).requires_grad_() if bias else None
    return weight, b


def compare(x, weight, bias, atol=1e-12):
    """Values and gradients of spike_linear and F.linear agree."""
    leaves = [t for t in (x, weight, bias) if t is not None and t.requires_grad]
    out = spike_linear(x, weight, bias)
    ref = F.linear(x, weight, bias)
    torch.testing.assert_close(out, ref, atol=atol, rtol=0)
    if not leaves:
        return
    g = torch.randn_like(ref)
    got = torch.autograd.grad(out, leaves, g)
    want = torch.autograd.grad(ref, leaves, g)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, atol=atol, rtol=0)


# ----------------------------------------------------------------------------- values, gradients
@pytest.mark.parametrize("activity", [0.0, 0.02, 0.5, 1.0])
def test_binary_spikes_equal_dense(activity, count_sparse, monkeypatch):
    monkeypatch.setattr(sl, "MAX_ACTIVITY", 1.0)  # the sparse path even for dense input
    x = spikes((50, IN), activity).requires_grad_()
    compare(x, *params())
    assert count_sparse == [(50, IN)]


@pytest.mark.parametrize("shape", [(IN,), (20, IN), (4, 5, IN)], ids=["1d", "2d", "3d"])
def test_shapes_and_non_binary_values(shape, count_sparse):
    x = spikes(shape, 0.05) * torch.randn(shape, dtype=DT)  # sparse, any values
    compare(x.requires_grad_(), *params())
    assert len(count_sparse) == 1


def test_input_or_weight_without_grad_and_no_bias(count_sparse):
    x = spikes((30, IN), 0.05)
    weight, bias = params()
    compare(x, weight, bias)  # input does not require grad
    compare(x.requires_grad_(), weight.detach(), bias)  # weight does not
    compare(x, weight, None)
    compare(x, weight.detach(), bias.detach())
    assert len(count_sparse) == 4


def test_float32_and_dense_fallbacks(count_sparse):
    x = spikes((30, IN), 0.05, torch.float32).requires_grad_()
    weight, bias = params(dtype=torch.float32)
    compare(x, weight, bias, atol=1e-5)
    assert len(count_sparse) == 1
    # denser than MAX_ACTIVITY, bfloat16, a non-contiguous weight: all correct
    compare(spikes((30, IN), 0.5).requires_grad_(), *params())
    xb = spikes((30, IN), 0.05, torch.bfloat16)
    wb, bb = params(dtype=torch.bfloat16)
    torch.testing.assert_close(spike_linear(xb, wb, bb), F.linear(xb, wb, bb))
    assert len(count_sparse) == 1
    w_t = torch.randn(IN, OUT, dtype=DT).t()
    compare(spikes((30, IN), 0.05).requires_grad_(), w_t.requires_grad_(), None)
    assert len(count_sparse) == 2


def test_large_problem_takes_the_sparse_path_by_default(monkeypatch):
    sums = []  # the tables of the sparse sums: weight.T (forward), grad (weight gradient)
    sum_rows = sl._sum_rows
    monkeypatch.setattr(
        sl, "_sum_rows", lambda table, *a: sums.append(table.shape) or sum_rows(table, *a)
    )
    x = spikes((4, 256, IN), 0.02, torch.float32).requires_grad_()
    weight, bias = params(dtype=torch.float32)
    assert 1024 >= sl.MIN_ROWS and OUT >= sl.MIN_OUT_FEATURES
    assert 1024 * IN * OUT >= sl.MIN_MULTIPLY_ADDS
    compare(x, weight, bias, atol=1e-4)
    assert sums == [(IN, OUT), (1024, OUT)]
    spike_linear(x[:2], weight, bias)  # too few rows: dense
    spike_linear((torch.rand(4, 256, IN) < 0.5).float(), weight, bias)  # too dense
    spike_linear(x.double(), weight.double(), bias.double())  # float64: MKL where present
    assert len(sums) == 3


def test_second_derivatives_and_inplace_check(count_sparse, monkeypatch):
    monkeypatch.setattr(sl, "MAX_ACTIVITY", 1.0)
    x = (spikes((6, 5), 0.3) * torch.randn(6, 5, dtype=DT)).requires_grad_()
    weight = torch.randn(4, 5, dtype=DT, requires_grad=True)
    bias = torch.randn(4, dtype=DT, requires_grad=True)
    assert torch.autograd.gradgradcheck(spike_linear, (x, weight, bias))
    assert count_sparse
    out = spike_linear(x.detach().clone().requires_grad_(), weight, bias)
    with torch.no_grad():
        weight.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


# ----------------------------------------------------------------------------- errors
def test_errors_name_the_argument():
    weight, bias = params()
    with pytest.raises(TypeError, match=r"spike_linear: input must be a tensor, got list"):
        spike_linear([0.0] * IN, weight)
    with pytest.raises(TypeError, match="spike_linear: weight must be a tensor"):
        spike_linear(torch.zeros(IN, dtype=DT), "w")
    with pytest.raises(ValueError, match=rf"in_features={IN}.*got shape \(2, 7\)"):
        spike_linear(torch.zeros(2, 7, dtype=DT), weight)
    with pytest.raises(ValueError, match="0-dim"):
        spike_linear(torch.tensor(1.0, dtype=DT), weight)
    with pytest.raises(TypeError, match=r"input dtype must match .*float64, got torch.float32"):
        spike_linear(torch.zeros(2, IN), weight)
    with pytest.raises(TypeError, match="bias dtype"):
        spike_linear(torch.zeros(2, IN, dtype=DT), weight, bias.float())
    with pytest.raises(ValueError, match=rf"bias must have shape \({OUT},\)"):
        spike_linear(torch.zeros(2, IN, dtype=DT), weight, torch.zeros(3, dtype=DT))
    with pytest.raises(ValueError, match="weight must have shape"):
        spike_linear(torch.zeros(2, IN, dtype=DT), weight[None])
    with pytest.raises(ValueError, match="in_features=4"):
        SpikeLinear(4, 2)(torch.zeros(3, 5))


# ----------------------------------------------------------------------------- SpikeLinear
def test_spike_linear_module_is_a_linear(count_sparse):
    torch.manual_seed(0)
    layer = SpikeLinear(IN, OUT, dtype=DT)
    plain = nn.Linear(IN, OUT, dtype=DT)
    plain.load_state_dict(layer.state_dict())
    assert isinstance(layer, nn.Linear) and list(layer.state_dict()) == ["weight", "bias"]
    x = spikes((3, 7, IN), 0.05)
    torch.testing.assert_close(layer(x), plain(x), atol=1e-12, rtol=0)
    layer(x).sum().backward()
    plain(x).sum().backward()
    torch.testing.assert_close(layer.weight.grad, plain.weight.grad, atol=1e-12, rtol=0)
    torch.testing.assert_close(layer.bias.grad, plain.bias.grad, atol=1e-12, rtol=0)
    assert len(count_sparse) == 2
    assert SpikeLinear(3, 2, bias=False).bias is None


def test_spike_linear_module_traces_and_compiles(count_sparse):
    torch.manual_seed(0)
    layer = SpikeLinear(6, 3)
    x = spikes((4, 6), 0.1, torch.float32)
    traced = torch.jit.trace(layer, x, check_trace=False)
    assert "linear" in str(traced.inlined_graph) and not count_sparse
    torch.testing.assert_close(traced(x), layer(x))
    scripted = torch.jit.script(layer)
    torch.testing.assert_close(scripted(x), F.linear(x, layer.weight, layer.bias))
    compiled = torch.compile(layer, backend="eager", fullgraph=True)
    torch.testing.assert_close(compiled(x), F.linear(x, layer.weight, layer.bias))
    exported = torch.export.export(layer, (x,))
    targets = {str(n.target) for n in exported.graph.nodes if n.op == "call_function"}
    assert "aten.linear.default" in targets
    torch.testing.assert_close(exported.module()(x), layer(x))


def test_spike_linear_module_exports_to_onnx_as_a_plain_linear(count_sparse, tmp_path):
    onnx = pytest.importorskip("onnx")
    layer = SpikeLinear(6, 3)
    path = tmp_path / "spike_linear.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(layer, (spikes((4, 6), 0.1, torch.float32),), str(path), dynamo=False)
    assert [n.op_type for n in onnx.load(str(path)).graph.node] == ["Gemm"]
    assert not count_sparse


def test_autocast_runs_dense(count_sparse):
    x = spikes((8, IN), 0.05, torch.float32)
    weight = torch.randn(OUT, IN, dtype=torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = spike_linear(x, weight)
        assert out.dtype == torch.bfloat16
        torch.testing.assert_close(out, F.linear(x, weight))
    assert not count_sparse


def test_functorch_and_forward_ad_run_dense(count_sparse):
    weight, bias = params()
    x = spikes((5, IN), 0.05)
    out = torch.func.vmap(lambda row: spike_linear(row, weight, bias))(x)
    torch.testing.assert_close(out, F.linear(x, weight, bias))
    import torch.autograd.forward_ad as fwad

    with fwad.dual_level():
        dual = fwad.make_dual(x, torch.ones_like(x))
        tangent = fwad.unpack_dual(spike_linear(dual, weight.detach(), None)).tangent
    torch.testing.assert_close(tangent, F.linear(torch.ones_like(x), weight.detach()))
    assert not count_sparse


# ----------------------------------------------------------------------------- SequentialState
def _network(**kwargs):
    torch.manual_seed(0)
    return snn.SequentialState(
        nn.Linear(8, IN), snn.LIFCell(), nn.Linear(IN, OUT), snn.LICell(), **kwargs
    ).double()


def _train_step(model):
    model.zero_grad()
    x = torch.rand(12, 8, dtype=DT, generator=torch.Generator().manual_seed(2)) * 4
    state, outs = None, []
    for _ in range(6):
        out, state = model(x, state)
        outs.append(out)
    torch.stack(outs).pow(2).sum().backward()
    return torch.stack(outs), {n: p.grad.clone() for n, p in model.named_parameters()}


def test_sequential_state_uses_spike_linear_after_spiking_modules(count_sparse, monkeypatch):
    monkeypatch.setattr(sl, "MAX_ACTIVITY", 1.0)
    calls = []
    monkeypatch.setattr(
        sequential, "spike_linear", lambda x, w, b: calls.append(x.shape) or spike_linear(x, w, b)
    )
    fast, slow = _network(), _network(spike_synapses=False)
    out_fast, grads_fast = _train_step(fast)
    assert calls == [(12, IN)] * 6  # the second Linear only; the first gets the raw input
    assert count_sparse  # and some steps had spikes to take the sparse path
    n = len(calls)
    out_slow, grads_slow = _train_step(slow)
    assert len(calls) == n
    torch.testing.assert_close(out_fast, out_slow, atol=1e-12, rtol=0)
    for name in grads_slow:
        torch.testing.assert_close(grads_fast[name], grads_slow[name], atol=1e-12, rtol=0)
    assert list(fast.state_dict()) == list(slow.state_dict())
    assert type(fast[2]) is nn.Linear  # not replaced


def test_sequential_state_keeps_linear_hooks_and_other_modules(monkeypatch):
    calls = []
    monkeypatch.setattr(
        sequential, "spike_linear", lambda x, w, b: calls.append(1) or spike_linear(x, w, b)
    )
    model = _network()
    seen = []
    handle = model[2].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    model(torch.rand(2, 8, dtype=DT))
    assert seen == [(2, OUT)] and not calls  # with a hook: called as a module
    handle.remove()
    model(torch.rand(2, 8, dtype=DT))
    assert calls == [1]
    # through Flatten and Dropout too; not after a non-spiking module, nor for subclasses
    torch.manual_seed(0)
    model = snn.SequentialState(
        snn.LIFCell(), nn.Flatten(), nn.Dropout(0.0), nn.Linear(6, 2), nn.ReLU(), nn.Linear(2, 2)
    )
    model(torch.rand(3, 2, 3))
    assert calls == [1, 1]
    snn.SequentialState(snn.LICell(), nn.Linear(3, 2))(torch.rand(1, 3))
    snn.SequentialState(snn.LIFCell(), SpikeLinear(3, 2))(torch.rand(1, 3))
    assert calls == [1, 1]
    recurrent = snn.RecurrentSequential(nn.Linear(3, 3), snn.LIFCell(), nn.Linear(3, 3))
    recurrent(torch.rand(2, 3))
    assert calls == [1, 1, 1]
    snn.RecurrentSequential(snn.LIFCell(), nn.Linear(3, 3), spike_synapses=False)(torch.ones(1, 3))
    assert calls == [1, 1, 1]
