"""The maths of ``norse.torch.functional.leaky_integrator`` (API.md §2.6): sanity trace,
jump-first order, steady state, convergence to the exact solution, and gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from norse.torch.functional.leaky_integrator import (
    LIParameters,
    LIState,
    li_feed_forward_step,
    li_step,
)


def within_stated_digits(actual: float, stated: float) -> bool:
    """``actual`` rounds to ``stated`` at the precision the spec wrote it with."""
    text = repr(stated)
    decimals = len(text.split(".")[1]) if "." in text else 0
    return abs(actual - stated) <= 0.5 * 10**-decimals + 1e-7


def test_default_parameters():
    p = LIParameters()
    assert p._fields == ("tau_syn_inv", "tau_mem_inv", "v_leak")
    assert [float(t) for t in p] == [200.0, 100.0, 0.0]
    assert all(t.shape == () and t.dtype == torch.float32 for t in p)
    assert LIState._fields == ("v", "i")


def test_sanity_trace():
    """§2.6: input 1 from a zero state."""
    stated_v = [0.1, 0.27, 0.487, 0.7335]
    stated_i = [0.8, 1.44, 1.952, 2.3616]
    state = LIState(torch.zeros(1), torch.zeros(1))
    for step, (sv, si) in enumerate(zip(stated_v, stated_i, strict=True)):
        v, state = li_feed_forward_step(torch.ones(1), state)
        assert torch.equal(v, state.v), "the output is the new voltage"
        assert within_stated_digits(float(v), sv), f"step {step + 1}: v={float(v)}"
        assert within_stated_digits(float(state.i), si), f"step {step + 1}: i={float(state.i)}"


def test_jump_first():
    x = torch.tensor([0.5, -2.0])
    v, s = li_feed_forward_step(x, LIState(torch.zeros(2), torch.zeros(2)))
    torch.testing.assert_close(v, 0.1 * x)
    torch.testing.assert_close(s.i, 0.8 * x)


def test_weighted_step_equals_feed_forward_of_weighted_input():
    w = torch.randn(4, 3)
    x = torch.randn(2, 3)
    state = LIState(torch.randn(2, 4), torch.randn(2, 4))
    v, s = li_step(x, state, w)
    v_ff, s_ff = li_feed_forward_step(F.linear(x, w), state)
    torch.testing.assert_close(v, v_ff)
    torch.testing.assert_close(s.i, s_ff.i)


def test_steady_state_under_constant_input():
    """With input x every step the current settles where its decay balances the jump,
    i* = x (1 - a dt) / (a dt) = 4 x, and the voltage at v_leak + i* + x = v_leak + 5 x."""
    p = LIParameters(v_leak=torch.tensor(0.3)).double()
    x = torch.tensor([0.5, 2.0], dtype=torch.float64)
    state = LIState(torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64))
    for _ in range(400):
        v, state = li_feed_forward_step(x, state, p)
    torch.testing.assert_close(state.i, 4 * x)
    torch.testing.assert_close(v, 0.3 + 5 * x)


def test_at_rest_stays_at_rest():
    p = LIParameters(v_leak=torch.tensor(-0.7))
    state = LIState(torch.full((3,), -0.7), torch.zeros(3))
    v, s = li_feed_forward_step(torch.zeros(3), state, p)
    assert torch.equal(v, state.v) and torch.equal(s.i, state.i)


def _exact(t, v0, i0, p):
    """Solution of v' = b (v_leak - v + i), i' = -a i (a != b)."""
    a, b, vl = float(p.tau_syn_inv), float(p.tau_mem_inv), float(p.v_leak)
    c = b * i0 / (b - a)
    return vl + c * math.exp(-a * t) + (v0 - vl - c) * math.exp(-b * t)


@pytest.mark.parametrize("tau_syn_inv", [200.0, 50.0])
def test_euler_converges_at_first_order(tau_syn_inv):
    p = LIParameters(tau_syn_inv=torch.tensor(tau_syn_inv), v_leak=torch.tensor(-0.2)).double()
    v0, i0, t_end = 0.4, 2.0, 0.03
    exact = _exact(t_end, v0, i0, p)
    errors = []
    for dt in (2e-4, 1e-4, 5e-5):
        state = LIState(torch.tensor([v0]).double(), torch.tensor([i0]).double())
        for _ in range(round(t_end / dt)):
            v, state = li_feed_forward_step(torch.zeros(1, dtype=torch.float64), state, p, dt)
        errors.append(abs(float(v) - exact))
    assert errors[-1] < 1e-2
    for coarse, fine in zip(errors, errors[1:], strict=False):
        assert 1.8 < coarse / fine < 2.2, f"halving dt should halve the error: {errors}"


def test_gradcheck():
    p = LIParameters().double()

    def run(x, w, v0, i0):
        state = LIState(v0, i0)
        outputs = []
        for x_t in x.unbind(0):
            v, state = li_step(x_t, state, w, p)
            outputs.append(v)
        return torch.stack(outputs), state.i

    inputs = (
        torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True),
        torch.randn(2, 3, dtype=torch.float64, requires_grad=True),
        torch.randn(2, 2, dtype=torch.float64, requires_grad=True),
        torch.randn(2, 2, dtype=torch.float64, requires_grad=True),
    )
    assert torch.autograd.gradcheck(run, inputs)
