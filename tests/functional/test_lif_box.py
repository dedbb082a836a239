"""The maths of ``norse.torch.functional.lif_box`` (API.md §2.5) and the reset functions
(§2.27): sanity trace, resets, convergence to the exact solution, gradients."""

from __future__ import annotations

import math

import pytest
import torch

from norse.torch.functional.lif_box import (
    LIFBoxFeedForwardState,
    LIFBoxParameters,
    LIFBoxState,
    lif_box_feed_forward_step,
)
from norse.torch.functional.reset import reset_subtract, reset_value

UNREACHABLE = 1e6


def within_stated_digits(actual: float, stated: float) -> bool:
    """``actual`` rounds to ``stated`` at the precision the spec wrote it with."""
    text = repr(stated)
    decimals = len(text.split(".")[1]) if "." in text else 0
    return abs(actual - stated) <= 0.5 * 10**-decimals + 1e-7


def test_default_parameters():
    p = LIFBoxParameters()
    assert p._fields == (
        "tau_mem_inv",
        "v_leak",
        "v_th",
        "v_reset",
        "method",
        "alpha",
        "reset_method",
    )
    assert [float(t) for t in (p.tau_mem_inv, p.v_leak, p.v_th, p.v_reset, p.alpha)] == [
        100.0,
        0.0,
        1.0,
        0.0,
        100.0,
    ]
    assert p.method == "super" and p.reset_method is reset_value
    assert LIFBoxState._fields == ("z", "v")
    assert LIFBoxFeedForwardState._fields == ("v",)


def test_sanity_trace():
    """§2.5: input 2 from v = 0 (a python number: arithmetic promotes it)."""
    stated = [0.2, 0.38, 0.542, 0.6878, 0.819, 0.9371]
    state = LIFBoxFeedForwardState(v=0.0)
    for step, sv in enumerate(stated):
        z, state = lif_box_feed_forward_step(torch.full((1,), 2.0), state)
        assert float(z) == 0.0
        assert within_stated_digits(float(state.v), sv), f"step {step + 1}: {float(state.v)}"
    z, state = lif_box_feed_forward_step(torch.full((1,), 2.0), state)
    assert float(z) == 1.0 and float(state.v) == 0.0


def test_input_drives_the_voltage_directly():
    """No current: the voltage moves by dt tau_mem_inv (x + v_leak - v) in the same step."""
    p = LIFBoxParameters(v_leak=torch.tensor(0.1))
    x = torch.tensor([1.0, -3.0])
    v = torch.tensor([0.2, 0.0])
    _, s = lif_box_feed_forward_step(x, LIFBoxFeedForwardState(v), p)
    torch.testing.assert_close(s.v, v + 0.1 * (x + 0.1 - v))


@pytest.mark.parametrize(
    "reset_method, expected", [(reset_value, -0.25), (reset_subtract, 0.5)], ids=["value", "sub"]
)
def test_reset_methods(reset_method, expected):
    p = LIFBoxParameters(v_reset=torch.tensor(-0.25), reset_method=reset_method)
    state = LIFBoxFeedForwardState(torch.tensor([1.0, 0.2]))
    # v1 = 1.0 + 0.1 * (6.0 - 1.0) = 1.5 for the first neuron; the second stays below
    z, s = lif_box_feed_forward_step(torch.tensor([6.0, 0.0]), state, p)
    assert z.tolist() == [1.0, 0.0]
    assert float(s.v[0]) == pytest.approx(expected)
    assert float(s.v[1]) == pytest.approx(0.2 + 0.1 * (0.0 - 0.2))


def test_reset_functions():
    z = torch.tensor([0.0, 1.0])
    v = torch.tensor([0.7, 1.4])
    assert torch.allclose(
        reset_value(z, v, torch.tensor(-1.0), torch.tensor(1.0)), torch.tensor([0.7, -1.0])
    )
    assert torch.allclose(
        reset_subtract(z, v, torch.tensor(-1.0), torch.tensor(1.0)), torch.tensor([0.7, 0.4])
    )


def test_exactly_at_threshold_does_not_spike():
    p = LIFBoxParameters(v_leak=torch.tensor(1.0))
    z, s = lif_box_feed_forward_step(torch.zeros(2), LIFBoxFeedForwardState(torch.ones(2)), p)
    assert z.sum() == 0 and torch.equal(s.v, torch.ones(2))


def test_euler_converges_at_first_order():
    """Constant drive x: v(t) = v_leak + x + (v0 - v_leak - x) exp(-t tau_mem_inv)."""
    p = LIFBoxParameters(v_th=torch.tensor(UNREACHABLE), v_leak=torch.tensor(0.1)).double()
    v0, x, t_end = -0.3, 0.8, 0.02
    exact = 0.1 + x + (v0 - 0.1 - x) * math.exp(-100.0 * t_end)
    errors = []
    for dt in (2e-4, 1e-4, 5e-5):
        state = LIFBoxFeedForwardState(torch.tensor([v0], dtype=torch.float64))
        for _ in range(round(t_end / dt)):
            _, state = lif_box_feed_forward_step(torch.tensor([x]).double(), state, p, dt)
        errors.append(abs(float(state.v) - exact))
    assert errors[-1] < 1e-2
    for coarse, fine in zip(errors, errors[1:], strict=False):
        assert 1.8 < coarse / fine < 2.2, f"halving dt should halve the error: {errors}"


def test_gradcheck_sub_threshold():
    p = LIFBoxParameters(v_th=torch.tensor(UNREACHABLE)).double()

    def run(x, v0):
        state = LIFBoxFeedForwardState(v0)
        for x_t in x.unbind(0):
            _, state = lif_box_feed_forward_step(x_t, state, p)
        return state.v

    inputs = (
        torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True),
        torch.randn(2, 3, dtype=torch.float64, requires_grad=True),
    )
    assert torch.autograd.gradcheck(run, inputs)
