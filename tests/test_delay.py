"""Synaptic and axonal delays: exact shifts, interpolation, gradients, cells vs layers, errors."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import norse.torch as norse
from norse.torch.functional.delay import (
    DelayLineState,
    axonal_delay,
    axonal_delay_step,
    delay_kernel,
    synaptic_delay,
    synaptic_delay_step,
)
from norse.torch.module.delay import AxonalDelay, AxonalDelayCell, SynapticDelay, SynapticDelayCell


def _shift(x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Reference: ``y[t, ..., i] = x[t - d_i, ..., i]`` by a loop over neurons."""
    flat_x, flat_d = x.reshape(x.shape[0], -1, d.numel()), d.reshape(-1)
    out = torch.zeros_like(flat_x)
    for i, di in enumerate(flat_d.tolist()):
        if di < x.shape[0]:
            out[di:, :, i] = flat_x[: x.shape[0] - di, :, i]
    return out.reshape(x.shape)


def _synaptic_reference(x, w, d, b=None):
    """``y[t, b, o] = sum_i w[o, i] x[t - d[o, i], b, i]`` by loops (float64)."""
    T, out = x.shape[0], torch.zeros(*x.shape[:-1], w.shape[0], dtype=x.dtype)
    for o in range(w.shape[0]):
        for i in range(w.shape[1]):
            k = int(d[o, i])
            out[k:, ..., o] += w[o, i] * x[: T - k, ..., i]
    return out if b is None else out + b


# ----------------------------------------------------------------------------- exactness
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_integer_axonal_delay_is_an_exact_shift(dtype):
    x = torch.randn(13, 4, 2, 3, dtype=dtype)
    d = torch.tensor([[0, 3, 12], [5, 1, 7]])
    y, _ = axonal_delay(x, d, max_delay=12)
    assert torch.equal(y, _shift(x, d))
    y0, _ = axonal_delay(x, torch.tensor(4))  # one delay for all neurons
    assert torch.equal(y0[4:], x[:-4]) and not y0[:4].any()


def test_learnable_delays_at_integers_equal_the_integer_delay():
    x = torch.randn(20, 3, 5, dtype=torch.float64)
    d = torch.tensor([0, 1, 4, 6, 6])
    y_int, _ = axonal_delay(x, d, max_delay=6)
    y_float, _ = axonal_delay(x, d.double(), max_delay=6)
    torch.testing.assert_close(y_float, y_int, rtol=0, atol=1e-15)
    w = torch.randn(4, 5, dtype=torch.float64)
    ds = torch.randint(0, 7, (4, 5))
    s_int, _ = synaptic_delay(x, w, ds, max_delay=6)
    s_float, _ = synaptic_delay(x, w, ds.double(), max_delay=6)
    torch.testing.assert_close(s_float, s_int, rtol=0, atol=1e-12)
    torch.testing.assert_close(s_int, _synaptic_reference(x, w, ds), rtol=0, atol=1e-12)


def test_fractional_delay_interpolates_neighbours():
    x = torch.randn(10, 2, 1, dtype=torch.float64)
    y, _ = axonal_delay(x, torch.tensor([2.25], dtype=torch.float64), max_delay=4)
    expected = 0.75 * _shift(x, torch.tensor([2])) + 0.25 * _shift(x, torch.tensor([3]))
    torch.testing.assert_close(y, expected)


def test_kernel_sums_to_one_and_is_one_hot_at_integers():
    d = torch.tensor([0.0, 0.3, 2.0, 4.7, 5.0])
    k = delay_kernel(d, 5)
    torch.testing.assert_close(k.sum(-1), torch.ones(5))
    assert torch.equal(k[2], torch.eye(6)[2]) and torch.equal(k[4], torch.eye(6)[5])
    g = delay_kernel(d, 5, sigma=1.5)
    torch.testing.assert_close(g.sum(-1), torch.ones(5))
    assert int(g[2].argmax()) == 2


# ----------------------------------------------------------------------------- gradients
def test_gradcheck_axonal_sequence_and_step():
    torch.manual_seed(0)
    x = torch.randn(7, 2, 3, dtype=torch.float64, requires_grad=True)
    d = torch.tensor([0.3, 1.6, 2.4], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, d: axonal_delay(x, d, 3)[0], (x, d))
    s = DelayLineState(torch.randn(4, 2, 3, dtype=torch.float64), torch.tensor(2))
    assert torch.autograd.gradcheck(lambda x, d: axonal_delay_step(x[0], s, d, 3)[0], (x, d))
    assert torch.autograd.gradcheck(
        lambda x, d: delay_kernel(d, 3, sigma=0.8) @ x[:4, 0, :], (x, d)
    )


def test_gradcheck_synaptic_sequence_and_step():
    torch.manual_seed(0)
    x = torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    d = (torch.rand(2, 3, dtype=torch.float64) * 2.8 + 0.1).requires_grad_()
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, w, d, b: synaptic_delay(x, w, d, 3, b)[0], (x, w, d, b)
    )
    assert torch.autograd.gradcheck(
        lambda x, w, d, b: synaptic_delay_step(x[0], None, w, d, 3, b)[0], (x, w, d, b)
    )


def test_delay_gradient_is_the_difference_of_neighbours():
    x = torch.randn(12, 1, dtype=torch.float64)
    d = torch.tensor([2.0], dtype=torch.float64, requires_grad=True)  # a whole number
    y, _ = axonal_delay(x, d, 5)
    y.sum().backward()
    # dy_t/dd = x[t-3] - x[t-2] (the right derivative)
    expected = (_shift(x, torch.tensor([3])) - _shift(x, torch.tensor([2]))).sum()
    torch.testing.assert_close(d.grad.sum(), expected)


# ----------------------------------------------------------------------------- state
@pytest.mark.parametrize("learnable", [True, False])
def test_cells_stepped_equal_layers_and_states_continue(learnable):
    torch.manual_seed(0)
    x = torch.randn(11, 3, 4, dtype=torch.float64)
    delays = torch.tensor([0.0, 1.5, 3.0, 4.2]) if learnable else torch.tensor([0, 1, 3, 4])
    layer = AxonalDelay(delays=delays, max_delay=5, learnable=learnable).double()
    cell = AxonalDelayCell(delays=delays, max_delay=5, learnable=learnable).double()
    syn = SynapticDelay(4, 2, max_delay=5, delays=torch.rand(2, 4) * 5 if learnable else
                        torch.randint(0, 6, (2, 4)), learnable=learnable).double()  # fmt: skip
    syn_cell = SynapticDelayCell(4, 2, max_delay=5, delays=syn.delay, learnable=learnable)
    syn_cell = syn_cell.double()
    syn_cell.load_state_dict(syn.state_dict())
    for seq, step in ((layer, cell), (syn, syn_cell)):
        y, _ = seq(x)
        outs, s = [], None
        for x_t in x:
            o, s = step(x_t, s)
            outs.append(o)
        torch.testing.assert_close(torch.stack(outs), y)
        # a layer's state continues in the cell, and a layer continues a layer
        y1, s1 = seq(x[:4])
        y2, _ = seq(x[4:], s1)
        torch.testing.assert_close(torch.cat((y1, y2)), y)
        o, _ = step(x[4], s1)
        torch.testing.assert_close(o, y[4])
        # and a cell's state continues in the layer
        s = None
        for x_t in x[:6]:
            _, s = step(x_t, s)
        torch.testing.assert_close(seq(x[6:], s)[0], y[6:])


def test_sequential_state_with_layers_and_cells():
    torch.manual_seed(0)
    layers = norse.SequentialState(
        SynapticDelay(3, 5, max_delay=4), norse.LIF(), AxonalDelay(5, max_delay=3),
        torch.nn.Linear(5, 2),
    )  # fmt: skip
    cells = norse.SequentialState(
        SynapticDelayCell(3, 5, max_delay=4), norse.LIFCell(), AxonalDelayCell(5, max_delay=3),
        torch.nn.Linear(5, 2),
    )  # fmt: skip
    cells.load_state_dict(layers.state_dict())
    assert layers.stateful_layers == [True, True, True, False]
    x = (torch.rand(15, 2, 3) < 0.3).float() * 3
    y, _ = layers(x)
    outs, state = [], None
    for x_t in x:
        o, state = cells(x_t, state)
        outs.append(o)
    torch.testing.assert_close(torch.stack(outs), y)
    y.sum().backward()
    assert layers[0].delay.grad is not None and layers[2].delay.grad is not None


# ----------------------------------------------------------------------------- modules
def test_eval_rounds_to_an_exact_shift_and_clamps():
    layer = AxonalDelay(delays=torch.tensor([0.4, 1.6, 2.5]), max_delay=3)
    x = torch.randn(9, 2, 3)
    with torch.no_grad():
        layer.delay[0] = -2.0  # an optimiser pushed it out of range: clamped to 0
    layer.eval()
    y, _ = layer(x)
    assert torch.equal(y, _shift(x, torch.tensor([0, 2, 2])))
    assert layer.rounded_delays().tolist() == [0, 2, 2]
    layer.round_in_eval = False
    y2, _ = layer(x)
    assert not torch.equal(y2, y)


def test_module_parameters_state_dict_and_pickle():
    torch.manual_seed(0)
    syn = SynapticDelay(np.int64(3), np.int32(2), max_delay=np.int64(4))
    assert {n for n, _ in syn.named_parameters()} == {"weight", "bias", "delay"}
    fixed = AxonalDelay(delays=torch.tensor([1, 2]), learnable=False)
    assert list(fixed.parameters()) == [] and fixed.max_delay == 2
    assert "delay" in fixed.state_dict()
    x = torch.rand(5, 1, 3)
    clone = pickle.loads(pickle.dumps(syn))
    torch.testing.assert_close(clone(x)[0], syn(x)[0])
    assert "max_delay=4" in repr(syn)
    given = torch.nn.Parameter(torch.tensor([0.5, 1.0]))
    assert AxonalDelay(delays=given, max_delay=2).delay is given


@pytest.mark.parametrize(
    "make",
    [
        lambda: SynapticDelay(3, 2, max_delay=4),
        lambda: AxonalDelay(delays=torch.tensor([1, 2, 0]), learnable=False),
        lambda: AxonalDelayCell(3, max_delay=3),
    ],
    ids=["synaptic", "fixed_axonal", "axonal_cell"],
)
def test_compile_and_export(make):
    layer = make()
    x = torch.rand(6, 2, 3) if layer._sequence else torch.rand(2, 3)
    compiled = torch.compile(layer, backend="eager", fullgraph=True)
    torch.testing.assert_close(compiled(x)[0], layer(x)[0])
    exported = torch.export.export(layer, (x,))
    torch.testing.assert_close(exported.module()(x)[0], layer(x)[0])


# ----------------------------------------------------------------------------- errors
def test_bad_delays_raise_errors_naming_the_argument():
    x = torch.rand(5, 2, 3)
    with pytest.raises(ValueError, match="delays must be >= 0"):
        axonal_delay(x, torch.tensor([0, -1, 2]))
    with pytest.raises(ValueError, match="max_delay=2"):
        axonal_delay(x, torch.tensor([0, 1, 3]), max_delay=2)
    with pytest.raises(ValueError, match="max_delay is needed"):
        axonal_delay(x, torch.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match="max_delay must be an integer"):
        axonal_delay(x, torch.tensor([0, 1, 2]), max_delay=2.5)
    with pytest.raises(ValueError, match="finite"):
        axonal_delay(x, torch.tensor([0.0, float("nan"), 1.0]), max_delay=2)
    with pytest.raises(ValueError, match="AxonalDelay: delays must be whole numbers"):
        AxonalDelay(delays=torch.tensor([0.0, 1.5]), learnable=False)
    with pytest.raises(ValueError, match="SynapticDelay: delays must be <= max_delay=3"):
        SynapticDelay(2, 1, max_delay=3, delays=torch.tensor([[1.0, 4.0]]))
    with pytest.raises(ValueError, match="AxonalDelay: delays must be >= 0"):
        AxonalDelay(delays=torch.tensor([-0.5, 1.0]), max_delay=2)
    with pytest.raises(ValueError, match=r"SynapticDelay: delays must have shape \(1, 2\)"):
        SynapticDelay(2, 1, max_delay=3, delays=torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="max_delay is required"):
        AxonalDelay(3)
    with pytest.raises(ValueError, match="delays is required"):
        AxonalDelay(3, max_delay=2, learnable=False)
    with pytest.raises(TypeError, match="learnable must be a bool"):
        AxonalDelay(3, max_delay=2, learnable=1)
    with pytest.raises(TypeError, match="features must be an int"):
        AxonalDelay("3", max_delay=2)
    with pytest.raises(ValueError, match="in_features must be positive"):
        SynapticDelay(0, 1, max_delay=2)
    with pytest.raises(TypeError, match="delays must hold numbers"):
        axonal_delay(x, [True, False, True])
    with pytest.raises(ValueError, match="sigma must be"):
        delay_kernel(torch.tensor([1.0]), 2, sigma=-1.0)


def test_fixed_delays_set_after_construction_are_checked():
    layer = AxonalDelay(delays=torch.tensor([1, 2]), learnable=False)
    layer.delay = torch.tensor([1, 5])
    with pytest.raises(ValueError, match="AxonalDelay: delay must be <= max_delay=2"):
        layer(torch.rand(4, 1, 2))
    layer.delay = torch.tensor([1, 2, 0])
    with pytest.raises(ValueError, match=r"AxonalDelay: delay has shape \(3,\)"):
        layer(torch.rand(4, 1, 2))
    layer.delay = torch.tensor([0, 2])
    layer.max_delay = 1  # a new maximum is checked against the delays too
    with pytest.raises(ValueError, match="delay must be <= max_delay=1"):
        layer(torch.rand(4, 1, 2))
    with pytest.raises(ValueError, match="AxonalDelay: max_delay must be at least 0"):
        layer.max_delay = -1
    layer.max_delay = 2
    with torch.no_grad():
        layer.delay = torch.tensor([0, 1])
        layer.delay[0] = -1  # an in-place edit is noticed too
    with pytest.raises(ValueError, match="delay must be >= 0"):
        layer(torch.rand(4, 1, 2))


def test_bad_inputs_and_states():
    layer = SynapticDelay(3, 2, max_delay=2)
    with pytest.raises(ValueError, match="SynapticDelay: input of shape"):
        layer(torch.rand(4, 1, 5))
    with pytest.raises(TypeError, match="SynapticDelay: input must be a floating tensor"):
        layer(torch.ones(4, 1, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="SynapticDelay: delay has dtype torch.float32"):
        layer(torch.rand(4, 1, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="state must be a DelayLineState"):
        layer(torch.rand(4, 1, 3), (torch.zeros(3, 1, 3), torch.tensor(0)))
    with pytest.raises(ValueError, match=r"state.buffer must have shape \(3, 1, 3\)"):
        layer(torch.rand(4, 1, 3), DelayLineState(torch.zeros(2, 1, 3), torch.tensor(0)))
    cell = AxonalDelayCell(delays=torch.tensor([1, 0]), learnable=False)
    with pytest.raises(TypeError, match="position must be a 0-dim integer"):
        cell(torch.rand(2), DelayLineState(torch.zeros(2, 2), torch.tensor(0.0)))
    with pytest.raises(ValueError, match="weight must be an"):
        synaptic_delay(torch.rand(3, 2), torch.rand(2), torch.tensor([0, 1]))


def test_layers_cells_and_gradients_on_every_device(device):
    """The same code on the GPU (cuDNN convolution, gather, ring buffer) as on the CPU."""
    torch.manual_seed(0)
    syn = SynapticDelay(3, 4, max_delay=5)
    axo = AxonalDelay(delays=torch.tensor([0, 2, 5]), learnable=False)
    x = torch.rand(9, 2, 3)
    y_cpu, _ = syn(x)
    y_cpu.sum().backward()
    grad_cpu = syn.delay.grad.clone()
    syn.zero_grad()
    syn_d, axo_d, x_d = syn.to(device), axo.to(device), x.to(device)
    y, state = syn_d(x_d)
    assert state.buffer.device.type == device.type
    y.sum().backward()
    torch.testing.assert_close(y.cpu(), y_cpu, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(syn_d.delay.grad.cpu(), grad_cpu, atol=1e-4, rtol=1e-4)
    assert torch.equal(axo_d(x_d)[0].cpu(), _shift(x, torch.tensor([0, 2, 5])))
    cell = SynapticDelayCell(3, 4, max_delay=5, delays=syn.delay.detach().cpu()).to(device)
    cell.load_state_dict(syn_d.state_dict())
    outs, s = [], None
    for x_t in x_d:
        o, s = cell(x_t, s)
        outs.append(o)
    torch.testing.assert_close(torch.stack(outs), y.detach(), atol=1e-5, rtol=1e-5)


NAMES_AN_ARGUMENT = re.compile(r"\b(delays|delay|max_delay|input|features|learnable)\b")


@settings(max_examples=60, deadline=None)
@given(
    delays=st.lists(
        st.one_of(
            st.integers(-2, 6), st.floats(-1, 7), st.sampled_from([float("nan"), float("inf")])
        ),
        min_size=1,
        max_size=3,
    ),
    max_delay=st.sampled_from([None, 0, 3, 5, 2.5, -1, np.int64(4)]),
    learnable=st.booleans(),
    shape=st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple),
    dtype=st.sampled_from([torch.float32, torch.float64, torch.int64]),
    cell=st.booleans(),
)
def test_random_arguments_work_or_raise_naming_the_argument(
    delays, max_delay, learnable, shape, dtype, cell
):
    kind = AxonalDelayCell if cell else AxonalDelay
    x = torch.ones((*([] if cell else [4]), *shape), dtype=dtype)
    try:
        layer = kind(delays=torch.tensor(delays), max_delay=max_delay, learnable=learnable)
        if learnable:
            layer = layer.to(dtype) if dtype.is_floating_point else layer
        y, state = layer(x)
    except (TypeError, ValueError) as error:
        assert NAMES_AN_ARGUMENT.search(str(error)), str(error)
        assert str(error).startswith("AxonalDelay"), str(error)
        return
    assert y.shape == x.shape and y.dtype == x.dtype
    assert state.buffer.shape == (layer.max_delay + 1, *x.shape[0 if cell else 1 :])
