"""Refractory LIF: the absolute refractory period and its equivalence to LIF without one."""

from __future__ import annotations

import pytest
import torch

from norse.torch.functional.lif import (
    LIFFeedForwardState,
    LIFParameters,
    LIFState,
    lif_feed_forward_step,
    lif_step,
)
from norse.torch.functional.lif_refrac import (
    LIFRefracFeedForwardState,
    LIFRefracParameters,
    LIFRefracState,
    compute_refractory_update,
    lif_refrac_feed_forward_step,
    lif_refrac_step,
    lif_refrac_step_sparse,
)
from norse.torch.module.lif_refrac import (
    LIFRefrac,
    LIFRefracCell,
    LIFRefracRecurrent,
    LIFRefracRecurrentCell,
)


def ff_state(shape, dtype=torch.float32):
    z = torch.zeros(shape, dtype=dtype)
    return LIFRefracFeedForwardState(LIFFeedForwardState(v=z, i=z), rho=z)


def test_sanity_trace_from_the_spec():
    """API.md §2.9: constant input 4 from rest gives (z, v, rho) below."""
    expected = [(0, 0.4, 0), (1, 0, 5), (0, 0, 4), (0, 0, 3), (0, 0, 2), (0, 0, 1), (0, 0, 0)]
    expected.append((1, 0, 5))
    s = ff_state((1,))
    for z_e, v_e, rho_e in expected:
        z, s = lif_refrac_feed_forward_step(torch.tensor([4.0]), s)
        assert z.item() == z_e
        assert s.lif.v.item() == pytest.approx(v_e, abs=1e-6)
        assert s.rho.item() == rho_e


@pytest.mark.parametrize("rho_reset", [1, 3, 7])
def test_no_spike_within_the_refractory_period(rho_reset):
    """After each spike exactly ``rho_reset`` silent steps follow, even under strong drive."""
    p = LIFRefracParameters(rho_reset=torch.tensor(float(rho_reset)))
    s = ff_state((1,))
    spikes = []
    for _ in range(60):
        z, s = lif_refrac_feed_forward_step(torch.tensor([50.0]), s, p)
        spikes.append(int(z.item()))
    times = [t for t, z in enumerate(spikes) if z]
    assert len(times) > 3
    gaps = {b - a for a, b in zip(times, times[1:], strict=False)}
    assert gaps == {rho_reset + 1}


def test_current_keeps_integrating_while_refractory():
    """The synaptic current follows plain LIF; only v and z are masked."""
    x = torch.rand(30, 4) * 6
    s = ff_state((4,))
    s_lif = LIFFeedForwardState(v=torch.zeros(4), i=torch.zeros(4))
    refractory_seen = False
    for x_t in x.unbind(0):
        held_v = s.lif.v
        refractory = s.rho > 0
        z, s = lif_refrac_feed_forward_step(x_t, s)
        _, s_lif = lif_feed_forward_step(x_t, s_lif, LIFParameters())
        torch.testing.assert_close(s.lif.i, s_lif.i)
        # refractory neurons hold their voltage and stay silent
        assert torch.equal(s.lif.v[refractory], held_v[refractory])
        assert (z[refractory] == 0).all()
        refractory_seen |= bool(refractory.any())
        s_lif = LIFFeedForwardState(v=s.lif.v, i=s_lif.i)  # follow the masked voltage
    assert refractory_seen


def test_zero_refractory_period_is_plain_lif_feed_forward():
    p = LIFRefracParameters(rho_reset=torch.tensor(0.0))
    x = torch.rand(40, 3, dtype=torch.float64) * 8
    s = ff_state((3,), torch.float64)
    s_lif = LIFFeedForwardState(v=torch.zeros(3, dtype=torch.float64), i=s.lif.i)
    total = 0.0
    for x_t in x.unbind(0):
        z, s = lif_refrac_feed_forward_step(x_t, s, p)
        z_lif, s_lif = lif_feed_forward_step(x_t, s_lif, p.lif)
        assert torch.equal(z, z_lif)
        assert torch.equal(s.lif.v, s_lif.v) and torch.equal(s.lif.i, s_lif.i)
        total += z.sum().item()
    assert total > 0


def test_zero_refractory_period_is_plain_lif_recurrent():
    p = LIFRefracParameters(rho_reset=torch.tensor(0.0))
    w_in, w_rec = torch.rand(4, 3) * 2, torch.randn(4, 4)
    z0 = torch.zeros(2, 4)
    s = LIFRefracState(LIFState(z=z0, v=z0, i=z0), rho=z0)
    s_lif = LIFState(z=z0, v=z0, i=z0)
    for x_t in (torch.rand(20, 2, 3) * 4).unbind(0):
        z, s = lif_refrac_step(x_t, s, w_in, w_rec, p)
        z_lif, s_lif = lif_step(x_t, s_lif, w_in, w_rec, p.lif)
        assert torch.equal(z, z_lif)
        for a, b in zip(s.lif, s_lif, strict=True):
            assert torch.equal(a, b)


def test_sparse_recurrent_step_matches_dense():
    w_in, w_rec = torch.rand(4, 3) * 3, torch.rand(4, 4)
    z0 = torch.zeros(2, 4)
    dense = LIFRefracState(LIFState(z=z0, v=z0, i=z0), rho=z0)
    sparse = LIFRefracState(LIFState(z=z0.to_sparse(), v=z0, i=z0), rho=z0)
    for x_t in (torch.rand(10, 2, 3) > 0.3).float().unbind(0):
        z_d, dense = lif_refrac_step(x_t, dense, w_in, w_rec)
        z_s, sparse = lif_refrac_step_sparse(x_t.to_sparse(), sparse, w_in, w_rec)
        assert z_s.is_sparse
        assert torch.equal(z_s.to_dense(), z_d)
        torch.testing.assert_close(sparse.lif.v, dense.lif.v)
        torch.testing.assert_close(sparse.rho, dense.rho)


def test_refractory_mask_has_surrogate_gradient_wrt_rho():
    rho = torch.tensor([0.0, 0.5], requires_grad=True)
    s = LIFRefracFeedForwardState(LIFFeedForwardState(v=torch.zeros(2), i=torch.zeros(2)), rho)
    v, z, _ = compute_refractory_update(s, torch.ones(2), torch.full((2,), 0.7))
    z.sum().backward()
    assert rho.grad is not None and (rho.grad < 0).all()


# ----------------------------------------------------------------------------- modules
def test_layer_is_the_feed_forward_time_loop():
    x = torch.rand(25, 2, 3) * 5
    z, s = LIFRefrac()(x)
    cell = LIFRefracCell()
    state = None
    for t, x_t in enumerate(x.unbind(0)):
        z_t, state = cell(x_t, state)
        assert torch.equal(z[t], z_t)
    assert z.sum() > 0
    torch.testing.assert_close(s.rho, state.rho)


def test_initial_states_follow_1_1_0_shapes():
    x = torch.zeros(5, 2)
    s = LIFRefracCell().initial_state(x)
    assert s.lif.v.shape == (5, 2) and s.rho.shape == (5, 2)
    s = LIFRefracRecurrentCell(2, 3).initial_state(x)
    assert s.lif.v.shape == () and s.lif.v.requires_grad
    assert s.lif.z.shape == s.lif.i.shape == s.rho.shape == (5, 3)
    s = LIFRefracRecurrent(2, 3).initial_state(torch.zeros(4, 5, 2))
    assert s.lif.v.shape == (5, 3)


def test_v_leak_is_the_initial_voltage():
    p = LIFRefracParameters(LIFParameters(v_leak=torch.tensor(0.25)))
    s = LIFRefracCell(p).initial_state(torch.zeros(3))
    assert torch.equal(s.lif.v.detach(), torch.full((3,), 0.25))


def test_adjoint_method_is_accepted_at_construction():
    p = LIFRefracParameters(LIFParameters(method="adjoint"))
    assert LIFRefracCell(p).p.method == "adjoint"


@pytest.mark.parametrize("cls", [LIFRefracCell, LIFRefrac])
def test_bad_parameters(cls):
    with pytest.raises(TypeError, match="LIFRefracParameters"):
        cls(LIFParameters())
    with pytest.raises(ValueError, match="method"):
        cls(LIFRefracParameters(LIFParameters(method="nope")))
    with pytest.raises(TypeError, match="input"):
        cls(2, 4)
