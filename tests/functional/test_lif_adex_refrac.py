"""Refractory AdEx: refractory period on top of AdEx; AdEx exactly when the period is zero."""

from __future__ import annotations

import pytest
import torch

from norse.torch.functional.lif_adex import (
    LIFAdExFeedForwardState,
    LIFAdExParameters,
    LIFAdExState,
    lif_adex_feed_forward_step,
    lif_adex_step,
)
from norse.torch.functional.lif_adex_refrac import (
    LIFAdExRefracFeedForwardState,
    LIFAdExRefracParameters,
    LIFAdExRefracState,
    compute_refractore_update,
    compute_refractory_update,
    lif_adex_refrac_feed_forward_step,
    lif_adex_refrac_step,
)
from norse.torch.module.lif_adex_refrac import (
    LIFAdExRefrac,
    LIFAdExRefracCell,
    LIFAdExRefracRecurrent,
    LIFAdExRefracRecurrentCell,
)

D = torch.float64


def ff_state(shape, dtype=D):
    z = torch.zeros(shape, dtype=dtype)
    return LIFAdExRefracFeedForwardState(LIFAdExFeedForwardState(v=z, i=z, a=z), rho=z)


@pytest.mark.parametrize("rho_reset", [2, 5])
def test_no_spike_within_the_refractory_period(rho_reset):
    p = LIFAdExRefracParameters(rho_reset=torch.tensor(float(rho_reset)))
    s = ff_state(1)
    times = []
    for t in range(60):
        z, s = lif_adex_refrac_feed_forward_step(torch.tensor([20.0], dtype=D), s, p)
        if z.item():
            times.append(t)
    assert len(times) > 3
    assert {b - a for a, b in zip(times, times[1:], strict=False)} == {rho_reset + 1}


def test_zero_refractory_period_is_plain_adex():
    p = LIFAdExRefracParameters(rho_reset=torch.tensor(0.0))
    x = torch.rand(40, 3, dtype=D) * 8
    s = ff_state(3)
    s_adex = s.lif_adex
    total = 0
    for x_t in x.unbind(0):
        z, s = lif_adex_refrac_feed_forward_step(x_t, s, p)
        z_a, s_adex = lif_adex_feed_forward_step(x_t, s_adex, p.lif_adex)
        assert torch.equal(z, z_a)
        for a, b in zip(s.lif_adex, s_adex, strict=True):
            assert torch.equal(a, b)
        total += z.sum().item()
    assert total > 0


def test_zero_refractory_period_is_plain_adex_recurrent():
    p = LIFAdExRefracParameters(rho_reset=torch.tensor(0.0))
    w_in, w_rec = torch.rand(4, 3, dtype=D) * 3, torch.randn(4, 4, dtype=D)
    z0 = torch.zeros(2, 4, dtype=D)
    s = LIFAdExRefracState(LIFAdExState(z=z0, v=z0, i=z0, a=z0), rho=z0)
    s_adex = s.lif_adex
    for x_t in (torch.rand(20, 2, 3, dtype=D) * 2).unbind(0):
        z, s = lif_adex_refrac_step(x_t, s, w_in, w_rec, p)
        z_a, s_adex = lif_adex_step(x_t, s_adex, w_in, w_rec, p.lif_adex)
        assert torch.equal(z, z_a)
        for a, b in zip(s.lif_adex, s_adex, strict=True):
            assert torch.equal(a, b)


def test_suppressed_spikes_still_increment_the_adaptation():
    """1.1.0 keeps the AdEx step's adaptation: spikes the mask removes still count there."""
    p = LIFAdExRefracParameters(
        LIFAdExParameters(
            adaptation_current=torch.tensor(0.0),
            tau_ada_inv=torch.tensor(0.0),
            adaptation_spike=torch.tensor(0.5),
        )
    )
    s = ff_state(1)
    emitted = 0
    for _ in range(12):
        z, s = lif_adex_refrac_feed_forward_step(torch.tensor([20.0], dtype=D), s, p)
        emitted += int(z.item())
    assert emitted == 2
    assert s.lif_adex.a.item() == pytest.approx(0.5 * 12)  # the AdEx step fired every step


def test_refractory_update_and_its_1_1_0_alias():
    assert compute_refractore_update is compute_refractory_update
    s = ff_state(2)._replace(rho=torch.tensor([0.0, 3.0], dtype=D))
    v, z, rho = compute_refractory_update(s, torch.ones(2, dtype=D), torch.full((2,), 0.5, dtype=D))
    assert z.tolist() == [1.0, 0.0] and rho.tolist() == [5.0, 2.0] and v.tolist() == [0.5, 0.0]


def test_layer_is_the_feed_forward_time_loop():
    x = torch.rand(25, 2, 3) * 30
    z, s = LIFAdExRefrac()(x)
    cell, state = LIFAdExRefracCell(), None
    for t, x_t in enumerate(x.unbind(0)):
        z_t, state = cell(x_t, state)
        assert torch.equal(z[t], z_t)
    assert z.sum() > 0
    torch.testing.assert_close(s.rho, state.rho)


def test_module_initial_states():
    x = torch.zeros(5, 2)
    s = LIFAdExRefracCell().initial_state(x)
    assert s.lif_adex.v.shape == () and s.lif_adex.v.requires_grad and s.rho.shape == (5, 2)
    s = LIFAdExRefracRecurrentCell(2, 3).initial_state(x)
    assert s.lif_adex.v.shape == (5, 3) and s.lif_adex.z.shape == (5, 3)
    s = LIFAdExRefracRecurrent(2, 3).initial_state(torch.zeros(4, 5, 2))
    assert s.rho.shape == (5, 3)


def test_bad_parameters():
    with pytest.raises(TypeError, match="LIFAdExRefracParameters"):
        LIFAdExRefracCell(LIFAdExParameters())
    with pytest.raises(ValueError, match="method"):
        LIFAdExRefrac(LIFAdExRefracParameters(LIFAdExParameters(method="adjoint")))
