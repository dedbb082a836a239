"""The maths of ``norse.torch.functional.lif`` (API.md §2.4): update order, sanity trace,
convergence of the Euler step to the exact sub-threshold solution, resets, detaching,
sparse and integral variants, the current encoder, and gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from norse.torch.functional.lif import (
    LIFFeedForwardState,
    LIFParameters,
    LIFState,
    default_bio_initial_state,
    default_bio_parameters,
    lif_current_encoder,
    lif_feed_forward_integral,
    lif_feed_forward_step,
    lif_feed_forward_step_sparse,
    lif_step,
    lif_step_integral,
    lif_step_sparse,
)

UNREACHABLE = 1e6  # a threshold the voltage never reaches: purely sub-threshold dynamics


def within_stated_digits(actual: float, stated: float) -> bool:
    """``actual`` rounds to ``stated`` at the precision the spec wrote it with."""
    text = repr(stated)
    decimals = len(text.split(".")[1]) if "." in text else 0
    return abs(actual - stated) <= 0.5 * 10**-decimals + 1e-7


def test_default_parameters():
    p = LIFParameters()
    expected = {"tau_syn_inv": 200.0, "tau_mem_inv": 100.0, "v_leak": 0.0, "v_th": 1.0}
    for name, value in expected.items():
        t = getattr(p, name)
        assert t.shape == () and t.dtype == torch.float32 and float(t) == value, name
    assert float(p.v_reset) == 0.0 and p.method == "super" and float(p.alpha) == 100.0
    assert p._fields == (
        "tau_syn_inv",
        "tau_mem_inv",
        "v_leak",
        "v_th",
        "v_reset",
        "method",
        "alpha",
    )
    assert LIFState._fields == ("z", "v", "i")
    assert LIFFeedForwardState._fields == ("v", "i")


def test_bio_defaults():
    assert float(default_bio_parameters.v_th) == -50.0
    assert float(default_bio_parameters.v_leak) == -65.0
    assert float(default_bio_parameters.tau_mem_inv) == pytest.approx(0.05)
    assert float(default_bio_initial_state.v) == -65.0
    bio = LIFParameters.bio_default()
    assert (float(bio.v_leak), float(bio.v_th), float(bio.v_reset)) == (-70.0, -55.0, -70.0)
    assert float(bio.tau_mem_inv) == pytest.approx(0.1)
    assert float(LIFParameters.bio_default(v_th=torch.tensor(-50.0)).v_th) == -50.0


# ----------------------------------------------------------------------------- update order
def test_sanity_trace():
    """§2.4: constant input 0.5 from a zero state with the default parameters."""
    stated_v = [0.05, 0.135, 0.2435, 0.36675, 0.49815, 0.6328, 0.76709, 0.89844, 0.0, 0.22316]
    state = LIFFeedForwardState(v=torch.zeros(1), i=torch.zeros(1))
    spikes, voltages = [], []
    for _ in stated_v:
        z, state = lif_feed_forward_step(torch.full((1,), 0.5), state, LIFParameters())
        spikes.append(float(z))
        voltages.append(float(state.v))
    assert spikes == [0.0] * 8 + [1.0, 0.0], "the first spike comes at step 9"
    for step, (v, stated) in enumerate(zip(voltages, stated_v, strict=True)):
        assert within_stated_digits(v, stated), f"step {step + 1}: v={v}, spec {stated}"


def _python_reference(x, v, i, p, dt):
    """The feed-forward step written out in the documented order of operations."""
    i1 = i + x
    dv = dt * p.tau_mem_inv * ((p.v_leak - v) + i1)
    v1 = v + dv
    di = -dt * p.tau_syn_inv * i1
    i2 = i1 + di
    z = (v1 - p.v_th > 0).to(v1.dtype)
    return z, (1 - z) * v1 + z * p.v_reset, i2


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_order_of_operations_is_bit_exact(dtype):
    """§0.4: evaluating in the documented order gives bit-identical floats."""
    p = LIFParameters(v_reset=torch.tensor(-0.1)).to(dtype)
    x, v, i = (torch.randn(64, dtype=dtype) for _ in range(3))
    v = v + 0.5
    z, s = lif_feed_forward_step(x, LIFFeedForwardState(v, i), p, dt=0.001)
    z_ref, v_ref, i_ref = _python_reference(x, v, i, p, 0.001)
    assert z_ref.sum() > 0, "the test should include spikes"
    assert torch.equal(z, z_ref) and torch.equal(s.v, v_ref) and torch.equal(s.i, i_ref)


def test_jump_first_input_reaches_voltage_in_the_same_step():
    x = torch.tensor([0.3, 1.0, 4.0])
    zero = torch.zeros(3)
    _, s = lif_feed_forward_step(x, LIFFeedForwardState(zero, zero), LIFParameters())
    # dt * tau_mem_inv = 0.1; the current then decays by dt * tau_syn_inv = 0.2
    torch.testing.assert_close(s.v, 0.1 * x)
    torch.testing.assert_close(s.i, 0.8 * x)


def test_recurrent_step_equals_feed_forward_step_of_the_weighted_input():
    w_in, w_rec = torch.randn(4, 3), torch.randn(4, 4)
    x = torch.randn(2, 3)
    state = LIFState(z=(torch.rand(2, 4) > 0.5).float(), v=torch.rand(2, 4), i=torch.randn(2, 4))
    z, s = lif_step(x, state, w_in, w_rec, LIFParameters())
    drive = F.linear(x, w_in) + F.linear(state.z, w_rec)
    z_ff, s_ff = lif_feed_forward_step(
        drive, LIFFeedForwardState(state.v, state.i), LIFParameters()
    )
    torch.testing.assert_close(z, z_ff)
    torch.testing.assert_close(s.v, s_ff.v)
    torch.testing.assert_close(s.i, s_ff.i)
    assert torch.equal(s.z, z)


# ----------------------------------------------------------------------------- exact solution
def _exact(t, v0, i0, p):
    """Sub-threshold solution of v' = b (v_leak - v + i), i' = -a i (a != b)."""
    a, b, vl = float(p.tau_syn_inv), float(p.tau_mem_inv), float(p.v_leak)
    c = b * i0 / (b - a)
    return vl + c * math.exp(-a * t) + (v0 - vl - c) * math.exp(-b * t), i0 * math.exp(-a * t)


def _euler(dt, t_end, v0, i0, p):
    state = LIFFeedForwardState(
        torch.tensor([v0], dtype=torch.float64), torch.tensor([i0]).double()
    )
    for _ in range(round(t_end / dt)):
        _, state = lif_feed_forward_step(torch.zeros(1, dtype=torch.float64), state, p, dt)
    return float(state.v), float(state.i)


def test_euler_converges_to_exact_solution_at_first_order():
    p = LIFParameters(v_leak=torch.tensor(0.2), v_th=torch.tensor(UNREACHABLE)).double()
    v0, i0, t_end = -0.5, 3.0, 0.02
    v_exact, i_exact = _exact(t_end, v0, i0, p)
    errors = []
    for dt in (2e-4, 1e-4, 5e-5):
        v, i = _euler(dt, t_end, v0, i0, p)
        errors.append(abs(v - v_exact))
        assert abs(i - i_exact) < 50 * dt * abs(i0)
    assert errors[-1] < 1e-2
    for coarse, fine in zip(errors, errors[1:], strict=False):
        assert 1.8 < coarse / fine < 2.2, f"halving dt should halve the error: {errors}"


# ----------------------------------------------------------------------------- reset
def test_reset_to_v_reset_and_current_keeps_flowing():
    p = LIFParameters(v_reset=torch.tensor(-0.3))
    state = LIFFeedForwardState(v=torch.tensor([0.95, 0.5]), i=torch.tensor([2.0, 0.0]))
    z, s = lif_feed_forward_step(torch.zeros(2), state, p)
    assert z.tolist() == [1.0, 0.0]
    assert float(s.v[0]) == pytest.approx(-0.3)
    assert float(s.i[0]) == pytest.approx(2.0 * 0.8), "the current is not reset"


def test_exactly_at_threshold_does_not_spike():
    """Θ(0) = 0: v stays exactly at v_leak = v_th, which is not above the threshold."""
    p = LIFParameters(v_leak=torch.tensor(1.0))
    state = LIFFeedForwardState(v=torch.ones(3), i=torch.zeros(3))
    z, s = lif_feed_forward_step(torch.zeros(3), state, p)
    assert z.sum() == 0 and torch.equal(s.v, torch.ones(3))
    z, _ = lif_feed_forward_step(torch.full((3,), 1e-3), state, p)
    assert z.sum() == 3


def test_recurrent_step_detaches_spikes_in_the_reset():
    """§0.5: ``lif_step`` resets with ``z.detach()``; ``lif_feed_forward_step`` does not."""
    p = LIFParameters(v_reset=torch.tensor(-0.5))
    x = torch.full((1, 2), 20.0, requires_grad=True)  # v1 = 2 > v_th: both spike
    v0, i0 = torch.zeros(1, 2), torch.zeros(1, 2)
    z, s = lif_feed_forward_step(x, LIFFeedForwardState(v0, i0), p)
    assert z.sum() == 2
    (grad_ff,) = torch.autograd.grad(s.v.sum(), x)
    assert (grad_ff != 0).all(), "no detach: the reset passes the surrogate gradient"
    state = LIFState(z=torch.zeros(1, 2), v=v0, i=i0)
    z, s = lif_step(x, state, torch.eye(2), torch.zeros(2, 2), p)
    assert z.sum() == 2
    (grad_rec,) = torch.autograd.grad(s.v.sum(), x, retain_graph=True)
    assert torch.equal(grad_rec, torch.zeros(1, 2)), "detached reset: (1 - z) = 0 blocks it"
    (grad_z,) = torch.autograd.grad(z.sum(), x)
    assert (grad_z != 0).all(), "the spikes themselves still carry the surrogate gradient"


# ----------------------------------------------------------------------------- variants
def test_feed_forward_sparse_matches_dense():
    x = torch.where(torch.rand(3, 4) > 0.5, 30.0, 0.0)
    state = LIFFeedForwardState(v=torch.rand(3, 4), i=torch.zeros(3, 4))
    z_dense, s_dense = lif_feed_forward_step(x, state, LIFParameters())
    z, s = lif_feed_forward_step_sparse(x.to_sparse(), state, LIFParameters())
    assert z.is_sparse and not s.v.is_sparse and not s.i.is_sparse
    assert z_dense.sum() > 0
    torch.testing.assert_close(z.to_dense(), z_dense)
    torch.testing.assert_close(s.v, s_dense.v)
    torch.testing.assert_close(s.i, s_dense.i)


def test_recurrent_sparse_matches_dense():
    w_in, w_rec = torch.rand(4, 3) * 20, torch.rand(4, 4)
    x = (torch.rand(2, 3) > 0.3).float()
    z0 = (torch.rand(2, 4) > 0.5).float()
    state = LIFState(z=z0, v=torch.zeros(2, 4), i=torch.zeros(2, 4))
    z_dense, s_dense = lif_step(x, state, w_in, w_rec, LIFParameters())
    sparse_state = LIFState(z=z0.to_sparse(), v=state.v, i=state.i)
    z, s = lif_step_sparse(x.to_sparse(), sparse_state, w_in, w_rec, LIFParameters())
    assert z.is_sparse and s.z.is_sparse
    assert z_dense.sum() > 0
    torch.testing.assert_close(z.to_dense(), z_dense)
    torch.testing.assert_close(s.z.to_dense(), z_dense)
    torch.testing.assert_close(s.v, s_dense.v)
    torch.testing.assert_close(s.i, s_dense.i)


def test_feed_forward_integral_stacks_every_step():
    x = 3 * torch.rand(6, 2, 3)
    state = LIFFeedForwardState(torch.zeros(2, 3), torch.zeros(2, 3))
    z, final = lif_feed_forward_integral(x, state, LIFParameters())
    expected, s = [], state
    for x_t in x.unbind(0):
        z_t, s = lif_feed_forward_step(x_t, s, LIFParameters())
        expected.append(z_t)
    assert z.shape == (6, 2, 3) and z.sum() > 0
    torch.testing.assert_close(z, torch.stack(expected))
    torch.testing.assert_close(final.v, s.v)


def test_step_integral_returns_every_steps_spikes():
    """A deliberate difference from 1.1.0 (which returned only the last step's spikes)."""
    w_in, w_rec = torch.rand(4, 3) * 2, torch.randn(4, 4)
    x = 3 * torch.rand(6, 2, 3)
    state = LIFState(torch.zeros(2, 4), torch.zeros(2, 4), torch.zeros(2, 4))
    z, final = lif_step_integral(x, state, w_in, w_rec, LIFParameters())
    expected, s = [], state
    for x_t in x.unbind(0):
        z_t, s = lif_step(x_t, s, w_in, w_rec, LIFParameters())
        expected.append(z_t)
    assert z.shape == (6, 2, 4) and z.sum() > 0
    torch.testing.assert_close(z, torch.stack(expected))
    torch.testing.assert_close(final.v, s.v)
    torch.testing.assert_close(final.z, s.z)


# ----------------------------------------------------------------------------- encoder
def test_current_encoder_step():
    """§2.4: a current-free step, reset written as ``v - z (v - v_reset)``."""
    p = LIFParameters(v_reset=torch.tensor(-0.2))
    current = torch.tensor([1.0, 5.0, 30.0])
    voltage = torch.tensor([0.0, 0.4, 0.5])
    z, v = lif_current_encoder(current, voltage, p)
    v1 = voltage + 0.001 * p.tau_mem_inv * ((p.v_leak - voltage) + current)
    assert z.tolist() == [0.0, 0.0, 1.0]
    torch.testing.assert_close(v[:2], v1[:2])
    torch.testing.assert_close(v[2], torch.tensor(-0.2))


def test_current_encoder_fires_periodically():
    """With a constant current I the voltage follows I (1 - 0.9^n) between spikes, so it
    fires every n* = ceil(log(1 - v_th / I) / log(0.9)) steps."""
    current = torch.tensor([2.0, 4.0])
    v = torch.zeros(2)
    spikes = []
    for _ in range(40):
        z, v = lif_current_encoder(current, v, LIFParameters())
        spikes.append(z)
    spikes = torch.stack(spikes)
    for j, amplitude in enumerate(current.tolist()):
        period = math.ceil(math.log(1 - 1.0 / amplitude) / math.log(0.9))
        times = spikes[:, j].nonzero().flatten().tolist()
        assert times[0] == period - 1
        assert all(b - a == period for a, b in zip(times, times[1:], strict=False))


# ----------------------------------------------------------------------------- gradients
def test_gradcheck_sub_threshold_feed_forward():
    p = LIFParameters(v_th=torch.tensor(UNREACHABLE)).double()

    def run(x, v0, i0):
        _, s = lif_feed_forward_integral(x, LIFFeedForwardState(v0, i0), p)
        return s.v, s.i

    inputs = (
        torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True),
        torch.randn(2, 3, dtype=torch.float64, requires_grad=True),
        torch.randn(2, 3, dtype=torch.float64, requires_grad=True),
    )
    assert torch.autograd.gradcheck(run, inputs)


def test_gradcheck_sub_threshold_recurrent():
    p = LIFParameters(v_th=torch.tensor(UNREACHABLE)).double()

    def run(x, w_in, v0):
        state = LIFState(torch.zeros_like(v0), v0, torch.zeros_like(v0))
        _, s = lif_step_integral(x, state, w_in, torch.zeros(3, 3, dtype=torch.float64), p)
        return s.v, s.i

    inputs = (
        torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True),
        torch.randn(3, 2, dtype=torch.float64, requires_grad=True),
        torch.randn(2, 3, dtype=torch.float64, requires_grad=True),
    )
    assert torch.autograd.gradcheck(run, inputs)
