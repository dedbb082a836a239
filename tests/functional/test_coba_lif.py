"""Conductance-based LIF: sign-selected conductances, reversal potentials, the input fix."""

from __future__ import annotations

import pytest
import torch

from norse.torch.functional.coba_lif import (
    CobaLIFFeedForwardState,
    CobaLIFParameters,
    CobaLIFState,
    coba_lif_feed_forward_step,
    coba_lif_step,
    default_bio_parameters,
    default_bio_state,
)
from norse.torch.module.coba_lif import CobaLIF, CobaLIFCell

D = torch.float64


def rest_ff(n, p=CobaLIFParameters(), dtype=D):
    shape = n if isinstance(n, tuple) else (n,)
    z = torch.zeros(shape, dtype=dtype)
    return CobaLIFFeedForwardState(v=torch.full(shape, float(p.v_rest), dtype=dtype), g_e=z, g_i=z)


def test_input_sign_selects_the_conductance():
    _, s = coba_lif_feed_forward_step(torch.tensor([3.0, -2.0, 0.0], dtype=D), rest_ff(3))
    decay = 1 - 0.001 * 0.2
    torch.testing.assert_close(s.g_e, torch.tensor([3.0 * decay, 0, 0], dtype=D))
    torch.testing.assert_close(s.g_i, torch.tensor([0, 2.0 * decay, 0], dtype=D))
    # excitation raises, inhibition lowers the voltage, no input leaves it at rest
    assert s.v[0] > -20 > s.v[1] and s.v[2] == -20


def test_weight_sign_selects_the_conductance_in_the_recurrent_step():
    z0 = torch.zeros(1, 2, dtype=D)
    s = CobaLIFState(z=z0, v=torch.full((1, 2), -20.0, dtype=D), g_e=z0, g_i=z0)
    w_in = torch.tensor([[2.0], [-3.0]], dtype=D)
    _, s = coba_lif_step(torch.ones(1, 1, dtype=D), s, w_in, torch.zeros(2, 2, dtype=D))
    assert s.g_e[0, 0] > 0 and s.g_e[0, 1] == 0
    assert s.g_i[0, 1] > 0 and s.g_i[0, 0] == 0
    # recurrent spikes: neuron 0 excites neuron 1, neuron 1 inhibits neuron 0
    w_rec = torch.tensor([[0.0, -1.5], [2.5, 0.0]], dtype=D)
    s = CobaLIFState(z=torch.ones(1, 2, dtype=D), v=s.v, g_e=z0, g_i=z0)
    _, s = coba_lif_step(torch.zeros(1, 1, dtype=D), s, w_in, w_rec)
    decay = 1 - 0.001 * 0.2
    torch.testing.assert_close(s.g_e, torch.tensor([[0.0, 2.5 * decay]], dtype=D))
    torch.testing.assert_close(s.g_i, torch.tensor([[1.5 * decay, 0.0]], dtype=D))


def test_recurrent_step_adds_its_feed_forward_input():
    """Fixed on purpose: Norse 1.1.0 dropped the input term (docs/compatibility.md)."""
    x = torch.rand(30, 2, 3, dtype=D) * 4
    w_in = torch.rand(3, 3, dtype=D)
    z0 = torch.zeros(2, 3, dtype=D)
    s = CobaLIFState(z=z0, v=torch.full((2, 3), -20.0, dtype=D), g_e=z0, g_i=z0)
    s_ff = rest_ff((2, 3))
    for x_t in x.unbind(0):
        # a non-negative input through weights w_in equals the feed-forward drive w_in x
        z, s = coba_lif_step(x_t, s, w_in, torch.zeros(3, 3, dtype=D))
        z_ff, s_ff = coba_lif_feed_forward_step(x_t @ w_in.T, s_ff)
        assert torch.equal(z, z_ff)
        torch.testing.assert_close(s.v, s_ff.v, rtol=1e-12, atol=1e-12)
    assert s.g_e.abs().sum() > 0


def test_conductances_decay_exponentially():
    p = CobaLIFParameters(
        tau_syn_exc_inv=torch.tensor(50.0, dtype=D), tau_syn_inh_inv=torch.tensor(20.0, dtype=D)
    )
    _, s = coba_lif_feed_forward_step(torch.tensor([1.0, -1.0], dtype=D), rest_ff(2), p)
    for t in range(2, 30):
        _, s = coba_lif_feed_forward_step(torch.zeros(2, dtype=D), s, p)
        assert s.g_e[0].item() == pytest.approx((1 - 0.05) ** t, rel=1e-12)
        assert s.g_i[1].item() == pytest.approx((1 - 0.02) ** t, rel=1e-12)


@pytest.mark.parametrize("g_e, g_i", [(0.5, 0.0), (0.0, 0.8), (1.0, 2.0)])
def test_voltage_settles_at_the_conductance_weighted_reversal_potential(g_e, g_i):
    """With constant conductances and no threshold, v relaxes to
    (g_l v_rest + g_e E_E + g_i E_I) / (g_l + g_e + g_i)."""
    p = CobaLIFParameters(
        tau_syn_exc_inv=torch.tensor(0.0),
        tau_syn_inh_inv=torch.tensor(0.0),
        v_thresh=torch.tensor(1e9),
        c_m_inv=torch.tensor(400.0),
    )
    s = CobaLIFFeedForwardState(
        v=torch.tensor([-20.0], dtype=D),
        g_e=torch.tensor([g_e], dtype=D),
        g_i=torch.tensor([g_i], dtype=D),
    )
    for _ in range(200):
        _, s = coba_lif_feed_forward_step(torch.zeros(1, dtype=D), s, p)
    g_l = 0.25
    expected = (g_l * -20 + g_e * 60 + g_i * -100) / (g_l + g_e + g_i)
    assert s.v.item() == pytest.approx(expected, abs=1e-6)


def test_excitation_makes_it_fire_inhibition_never_does():
    for sign, expect_spikes in ((1.0, True), (-1.0, False)):
        s = rest_ff(1)
        n = 0
        for _ in range(50):
            z, s = coba_lif_feed_forward_step(torch.tensor([sign * 5.0], dtype=D), s)
            n += int(z.item())
        assert (n > 0) == expect_spikes
        if not expect_spikes:
            assert s.v.item() < -20  # pulled towards E_I = -100


def test_bio_defaults_are_at_rest():
    s = CobaLIFFeedForwardState(
        v=torch.full((2,), default_bio_state.v), g_e=torch.zeros(2), g_i=torch.zeros(2)
    )
    z, s2 = coba_lif_feed_forward_step(torch.zeros(2), s, default_bio_parameters, dt=0.1)
    assert z.sum() == 0 and torch.equal(s2.v, s.v)


# ----------------------------------------------------------------------------- modules
def test_cell_weights_follow_1_1_0():
    torch.manual_seed(1)
    cell = CobaLIFCell(400, 300)
    assert isinstance(cell.input_weights, torch.nn.Parameter)
    assert cell.input_weights.std().item() == pytest.approx(1 / 400**0.5, rel=0.05)
    assert cell.recurrent_weights.std().item() == pytest.approx(1 / 300**0.5, rel=0.05)
    assert cell.recurrent_weights.diagonal().abs().sum() > 0  # autapses kept by default
    w = torch.ones(3, 2)
    cell = CobaLIFCell(2, 3, input_weights=w, autapses=False)
    assert cell.input_weights is w
    assert cell.recurrent_weights.diagonal().abs().sum() == 0


def test_positional_dt_and_rest_initial_state():
    cell = CobaLIFCell(2, 3, CobaLIFParameters(), 0.002)
    assert cell.dt == 0.002
    s = cell.initial_state(torch.zeros(4, 2))
    assert torch.equal(s.v.detach(), torch.full((4, 3), -20.0)) and s.v.requires_grad
    assert s.g_e.shape == s.g_i.shape == s.z.shape == (4, 3)
    z, _ = cell(torch.zeros(4, 2))
    assert z.sum() == 0  # 1.1.0 started at v = 0 and fired everywhere on step 1


def test_layer_runs_the_cell_over_time():
    cell = CobaLIFCell(2, 3)
    layer = CobaLIF(
        2, 3, input_weights=cell.input_weights, recurrent_weights=cell.recurrent_weights
    )
    x = torch.rand(20, 4, 2) * 30
    z, s = layer(x)
    state = None
    for t, x_t in enumerate(x.unbind(0)):
        z_t, state = cell(x_t, state)
        assert torch.equal(z[t], z_t)
    torch.testing.assert_close(s.v, state.v)


def test_bad_input():
    with pytest.raises(TypeError, match="CobaLIFParameters"):
        CobaLIFCell(2, 3, p=default_bio_state)
    with pytest.raises(ValueError, match="input_size"):
        CobaLIFCell(2, 3)(torch.zeros(4, 5))
    with pytest.raises(TypeError, match="input_size"):
        CobaLIF(2.5, 3)
