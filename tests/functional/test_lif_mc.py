"""Multi-compartment LIF: coupling order, reduction to LIF, and the LIFMCRecurrentCell module."""

import pickle

import pytest
import torch

from norse.torch.functional.lif import (
    LIFFeedForwardState,
    LIFParameters,
    LIFState,
    lif_feed_forward_step,
    lif_step,
)
from norse.torch.functional.lif_mc import lif_mc_feed_forward_step, lif_mc_step
from norse.torch.module.lif_mc import LIFMCRecurrentCell

DT = 0.001


def test_zero_coupling_is_plain_lif():
    torch.manual_seed(0)
    x = torch.rand(3, 2) * 10
    s = LIFState(torch.zeros(3, 4), torch.rand(3, 4), torch.rand(3, 4))
    w_in, w_rec, g = torch.rand(4, 2) * 5, torch.rand(4, 4), torch.zeros(4, 4)
    z, s_mc = lif_mc_step(x, s, w_in, w_rec, g)
    z_ref, s_ref = lif_step(x, s, w_in, w_rec, LIFParameters())
    assert torch.equal(z, z_ref)
    assert all(torch.equal(a, b) for a, b in zip(s_mc, s_ref, strict=True))
    ff = LIFFeedForwardState(torch.rand(3, 4), torch.rand(3, 4))
    z, s_ff = lif_mc_feed_forward_step(x[:, :1].expand(3, 4) * 3, ff, g)
    z_ref, s_ff_ref = lif_feed_forward_step(x[:, :1].expand(3, 4) * 3, ff, LIFParameters())
    assert torch.equal(z, z_ref) and torch.equal(s_ff.v, s_ff_ref.v)


def test_recurrent_coupling_acts_after_the_reset():
    # compartment 0 spikes and resets; compartment 1 (at v=0.5) couples into it afterwards
    g = torch.tensor([[0.0, 200.0], [0.0, 0.0]])
    s = LIFState(torch.zeros(1, 2), torch.tensor([[0.0, 0.5]]), torch.zeros(1, 2))
    w_in = torch.tensor([[20.0], [0.0]])
    z, s_new = lif_mc_step(torch.ones(1, 1), s, w_in, torch.zeros(2, 2), g)
    assert z.tolist() == [[1.0, 0.0]]
    v1_after_lif = 0.5 + DT * 100 * (0.0 - 0.5)  # compartment 1 only leaks
    # compartment 0: reset to 0, then coupled with the post-step voltage of compartment 1
    assert s_new.v[0, 0].item() == pytest.approx(DT * 200.0 * v1_after_lif)
    assert s_new.v[0, 1].item() == pytest.approx(v1_after_lif)
    assert torch.equal(s_new.z, z)


def test_feed_forward_coupling_acts_before_the_step():
    # compartment 0 alone would stay below threshold; the coupling from compartment 1 is
    # applied first and pushes it over in the same step
    g = torch.tensor([[0.0, 100.0], [0.0, 0.0]])
    s = LIFFeedForwardState(torch.tensor([0.95, 2.0]), torch.zeros(2))
    z_plain, _ = lif_feed_forward_step(torch.zeros(2), s, LIFParameters(v_th=torch.tensor(3.0)))
    z, s_new = lif_mc_feed_forward_step(torch.zeros(2), s, g, LIFParameters(v_th=torch.tensor(1.0)))
    assert z_plain[0] == 0
    v0 = 0.95 + DT * 100 * 2.0  # coupled first: 1.15
    expected = v0 + DT * 100 * (0.0 - v0)  # then leaks: 1.035 > 1
    assert z[0].item() == 1.0
    assert s_new.v[0].item() == 0.0  # reset
    ff = lif_feed_forward_step(
        torch.zeros(2),
        LIFFeedForwardState(torch.tensor([v0, 2.2]), torch.zeros(2)),
        LIFParameters(),
    )
    assert expected > 1.0 and torch.equal(z, ff[0])


def test_diffusive_coupling_equalises_voltages():
    # G = g [[-1, 1], [1, -1]] moves charge between compartments and conserves the sum
    g = 50.0 * torch.tensor([[-1.0, 1.0], [1.0, -1.0]])
    p = LIFParameters(tau_mem_inv=torch.tensor(0.0), v_th=torch.tensor(10.0))
    s = LIFFeedForwardState(torch.tensor([1.0, 0.0]), torch.zeros(2))
    gaps = []
    for _ in range(30):
        _, s = lif_mc_feed_forward_step(torch.zeros(2), s, g, p)
        gaps.append((s.v[0] - s.v[1]).item())
        assert s.v.sum().item() == pytest.approx(1.0)
    assert all(b < a for a, b in zip(gaps, gaps[1:], strict=False))
    assert gaps[-1] == pytest.approx(0.9**30, rel=1e-4)


# ----------------------------------------------------------------------------- module
def test_module_matches_functional_step():
    torch.manual_seed(1)
    cell = LIFMCRecurrentCell(3, 4)
    x = torch.rand(2, 3) * 5
    z, s = cell(x)
    assert s.v.shape == (2, 4) and z.shape == (2, 4)
    s0 = cell.initial_state(x)
    z_ref, s_ref = lif_mc_step(
        x, s0, cell.input_weights, cell.recurrent_weights, cell.g_coupling, cell.p, cell.dt
    )
    assert torch.equal(z, z_ref) and torch.equal(s.v, s_ref.v)
    z2, s2 = cell(x, s)
    assert s2.i.shape == (2, 4)


def test_module_initial_state():
    cell = LIFMCRecurrentCell(3, 4, p=LIFParameters(v_leak=torch.tensor(0.25)))
    s = cell.initial_state(torch.zeros(5, 3, dtype=torch.float64))
    assert isinstance(s, LIFState)
    assert s.v.shape == (5, 4) and s.v.dtype == torch.float64 and s.v.requires_grad
    assert torch.all(s.v == 0.25) and torch.all(s.z == 0) and torch.all(s.i == 0)
    assert cell.initial_state(torch.zeros(5, 3, dtype=torch.bool)).v.dtype == torch.float32


def test_module_g_coupling_and_weights():
    cell = LIFMCRecurrentCell(3, 4)
    assert isinstance(cell.g_coupling, torch.nn.Parameter)
    assert any(p is cell.g_coupling for p in cell.parameters())
    assert torch.all(cell.recurrent_weights.diagonal() == 0)
    g = torch.eye(4)
    cell = LIFMCRecurrentCell(3, 4, g_coupling=g, autapses=True, dt=0.002)
    assert cell.g_coupling is g and cell.dt == 0.002
    z, s = cell(torch.rand(2, 3))
    (s.v.sum() + z.sum()).backward()
    assert cell.input_weights.grad is not None


def test_module_gradient_reaches_g_coupling():
    cell = LIFMCRecurrentCell(3, 4)
    _, s = cell(torch.rand(2, 3))
    _, s = cell(torch.rand(2, 3), s)
    s.v.sum().backward()
    assert cell.g_coupling.grad is not None and cell.g_coupling.grad.abs().sum() > 0


def test_module_pickle_and_state_dict():
    cell = LIFMCRecurrentCell(3, 4)
    clone = pickle.loads(pickle.dumps(cell))
    x = torch.rand(2, 3)
    assert torch.equal(cell(x)[1].v, clone(x)[1].v)
    other = LIFMCRecurrentCell(3, 4)
    other.load_state_dict(cell.state_dict())
    assert torch.equal(other.g_coupling, cell.g_coupling)


def test_module_bad_input():
    with pytest.raises(ValueError, match="g_coupling"):
        LIFMCRecurrentCell(3, 4, g_coupling=torch.zeros(3, 3))
    with pytest.raises(TypeError, match="g_coupling"):
        LIFMCRecurrentCell(3, 4, g_coupling=[[0.0]])
    with pytest.raises(TypeError, match="unexpected keyword"):
        LIFMCRecurrentCell(3, 4, record_states=True)
    with pytest.raises(TypeError, match="p must be a LIFParameters"):
        LIFMCRecurrentCell(3, 4, p=3.0)
    with pytest.raises(ValueError, match="method"):
        LIFMCRecurrentCell(3, 4, p=LIFParameters(method="nope"))
    cell = LIFMCRecurrentCell(3, 4)
    with pytest.raises(ValueError, match="input_size=3"):
        cell(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="state.v"):
        cell(torch.zeros(2, 3), LIFState(torch.zeros(2, 4), torch.zeros(2, 7), torch.zeros(2, 4)))
