"""Multi-compartment refractory LIF: decay-first order, uncoupled-dt coupling, refractory counter."""

import pytest
import torch

from norse.torch.functional.lif import LIFFeedForwardState, LIFParameters, LIFState
from norse.torch.functional.lif_mc_refrac import (
    lif_mc_refrac_feed_forward_step,
    lif_mc_refrac_step,
)
from norse.torch.functional.lif_refrac import (
    LIFRefracFeedForwardState,
    LIFRefracParameters,
    LIFRefracState,
)
from norse.torch.module.lif_mc_refrac import LIFMCRefracRecurrentCell

DT = 0.001


def _ff(v, i, rho):
    return LIFRefracFeedForwardState(LIFFeedForwardState(v, i), rho)


def test_step_equations():
    torch.manual_seed(0)
    n = 4
    v, i = torch.rand(2, n) * 1.2, torch.rand(2, n) * 30
    rho = torch.tensor([[0.0, 1.0, 0.0, 3.0], [2.0, 0.0, 0.0, 0.0]])
    z_old = (torch.rand(2, n) < 0.5).float()
    x = torch.rand(2, 3)
    w_in, w_rec, g = torch.rand(n, 3), torch.rand(n, n), torch.rand(n, n) * 0.1
    p = LIFRefracParameters()
    z, s = lif_mc_refrac_step(x, LIFRefracState(LIFState(z_old, v, i), rho), w_in, w_rec, g, p)
    m = (rho > 0).float()
    v1 = v + (1 - m) * DT * 100.0 * ((0.0 - v) + i) + v @ g.T  # coupling without dt, unmasked
    z_ref = (v1 > 1.0).float()
    assert 0 < z_ref.sum() < z_ref.numel()
    assert torch.equal(z, z_ref)
    torch.testing.assert_close(s.lif.v, (1 - z_ref) * v1)
    torch.testing.assert_close(s.lif.i, i * (1 - DT * 200.0) + x @ w_in.T + z_old @ w_rec.T)
    torch.testing.assert_close(s.rho, (1 - z_ref) * torch.relu(rho - m) + z_ref * 5.0)
    assert torch.equal(s.lif.z, z)


def test_decay_first_input_reaches_voltage_one_step_later():
    s = _ff(torch.zeros(1), torch.zeros(1), torch.zeros(1))
    vs = []
    for _ in range(3):
        _, s = lif_mc_refrac_feed_forward_step(torch.ones(1), s, torch.zeros(1, 1))
        vs.append(s.lif.v.item())
    assert vs[0] == 0.0  # the first input only lands on the current
    assert vs[1] == pytest.approx(DT * 100 * 1.0)
    assert vs[2] > vs[1]


def test_refractory_counter_and_frozen_leak():
    p = LIFRefracParameters(rho_reset=torch.tensor(3.0))
    s = _ff(torch.tensor([0.0]), torch.tensor([30.0]), torch.zeros(1))
    trace = []
    for _ in range(7):
        z, s = lif_mc_refrac_feed_forward_step(torch.zeros(1), s, torch.zeros(1, 1), p)
        trace.append((z.item(), round(s.lif.v.item(), 6), s.rho.item()))
    # step 1 spikes (v = 3 > 1), then 3 refractory steps with the voltage held at the reset
    # value although a large current flows; then it integrates again and, the current being
    # still large (30 * 0.8**4), spikes right away
    assert trace[0] == (1.0, 0.0, 3.0)
    assert trace[1:4] == [(0.0, 0.0, 2.0), (0.0, 0.0, 1.0), (0.0, 0.0, 0.0)]
    assert trace[4] == (1.0, 0.0, 3.0)


def test_refractory_neuron_can_be_pushed_over_by_coupling():
    # spikes are not masked: coupling (not masked either) drives a refractory compartment
    g = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    s = _ff(torch.tensor([0.5, 0.8]), torch.zeros(2), torch.tensor([2.0, 0.0]))
    z, s = lif_mc_refrac_feed_forward_step(torch.zeros(2), s, g)
    assert z[0].item() == 1.0  # 0.5 + 0.8 > 1 without any dt factor
    assert s.rho[0].item() == 5.0  # reloaded


def test_feed_forward_equals_recurrent_with_identity_input_weights():
    torch.manual_seed(2)
    v, i, rho = torch.rand(3, 4), torch.rand(3, 4) * 20, (torch.rand(3, 4) < 0.3).float() * 2
    x, g = torch.rand(3, 4), torch.rand(4, 4) * 0.05
    z_ff, s_ff = lif_mc_refrac_feed_forward_step(x, _ff(v, i, rho), g)
    state = LIFRefracState(LIFState(torch.zeros(3, 4), v, i), rho)
    z_r, s_r = lif_mc_refrac_step(x, state, torch.eye(4), torch.zeros(4, 4), g)
    assert torch.equal(z_ff, z_r) and torch.equal(s_ff.rho, s_r.rho)
    torch.testing.assert_close(s_ff.lif.i, s_r.lif.i)
    assert torch.equal(s_ff.lif.v, s_r.lif.v)


def test_surrogate_gradient_flows():
    v = torch.full((2,), 0.5, requires_grad=True)
    s = _ff(v, torch.full((2,), 10.0), torch.zeros(2))
    z, s = lif_mc_refrac_feed_forward_step(torch.zeros(2), s, torch.zeros(2, 2))
    (z.sum() + s.lif.v.sum()).backward()
    assert torch.isfinite(v.grad).all() and v.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- module
def test_module_matches_functional_step():
    torch.manual_seed(3)
    cell = LIFMCRefracRecurrentCell(3, 4, g_coupling=torch.rand(4, 4) * 0.01)
    x = torch.rand(2, 3) * 30
    s0 = cell.initial_state(x)
    assert isinstance(s0, LIFRefracState)
    assert s0.lif.v.shape == (2, 4) and s0.lif.v.requires_grad and s0.rho.shape == (2, 4)
    z, s = cell(x)
    z_ref, s_ref = lif_mc_refrac_step(
        x, s0, cell.input_weights, cell.recurrent_weights, cell.g_coupling, cell.p, cell.dt
    )
    assert torch.equal(z, z_ref) and torch.equal(s.lif.i, s_ref.lif.i)
    for _ in range(3):
        z, s = cell(x, s)
    assert s.rho.max() > 0  # neurons went refractory


def test_module_parameters_and_errors():
    p = LIFRefracParameters(lif=LIFParameters(v_leak=torch.tensor(0.1)))
    cell = LIFMCRefracRecurrentCell(3, 4, p=p)
    assert torch.all(cell.initial_state(torch.zeros(1, 3)).lif.v == 0.1)
    assert isinstance(cell.g_coupling, torch.nn.Parameter)
    with pytest.raises(TypeError, match="LIFRefracParameters"):
        LIFMCRefracRecurrentCell(3, 4, p=LIFParameters())
    with pytest.raises(ValueError, match="g_coupling"):
        LIFMCRefracRecurrentCell(3, 4, g_coupling=torch.zeros(4, 3))
