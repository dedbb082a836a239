"""AdEx: adaptation lowers the firing rate, the adaptation's own dynamics, LIFEx limit."""

from __future__ import annotations

import pytest
import torch

from norse.torch.functional.lif_adex import (
    LIFAdExFeedForwardState,
    LIFAdExParameters,
    LIFAdExState,
    lif_adex_current_encoder,
    lif_adex_feed_forward_step,
    lif_adex_step,
)
from norse.torch.functional.lif_ex import (
    LIFExFeedForwardState,
    LIFExParameters,
    lif_ex_feed_forward_step,
)
from norse.torch.module.lif_adex import LIFAdEx, LIFAdExCell, LIFAdExRecurrent, LIFAdExRecurrentCell

D = torch.float64


def zero_ff(shape, dtype=D):
    z = torch.zeros(shape, dtype=dtype)
    return LIFAdExFeedForwardState(v=z, i=z, a=z)


def no_adaptation(**kw):
    return LIFAdExParameters(
        adaptation_current=torch.tensor(0.0, dtype=D),
        adaptation_spike=torch.tensor(0.0, dtype=D),
        **kw,
    )


def spike_times(p, x):
    s = zero_ff(x.shape[1:])
    out = []
    for x_t in x.unbind(0):
        z, s = lif_adex_feed_forward_step(x_t, s, p)
        out.append(z)
    return torch.stack(out), s


def test_without_adaptation_it_is_lif_ex():
    x = torch.rand(40, 5, dtype=D) * 4
    p = no_adaptation()
    s = zero_ff(5)
    s_ex = LIFExFeedForwardState(v=torch.zeros(5, dtype=D), i=torch.zeros(5, dtype=D))
    for x_t in x.unbind(0):
        z, s = lif_adex_feed_forward_step(x_t, s, p)
        z_ex, s_ex = lif_ex_feed_forward_step(x_t, s_ex, LIFExParameters())
        assert torch.equal(z, z_ex)
        assert torch.equal(s.v, s_ex.v) and torch.equal(s.i, s_ex.i)
        assert torch.equal(s.a, torch.zeros_like(s.a))


@pytest.mark.parametrize(
    "adaptation",
    [
        {"adaptation_spike": torch.tensor(0.6)},  # spike-triggered
        {
            "adaptation_current": torch.tensor(1.0),
            "adaptation_spike": torch.tensor(0.0),
            "tau_ada_inv": torch.tensor(20.0),
        },
    ],
    ids=["spike", "subthreshold"],
)
def test_adaptation_lowers_the_rate_under_constant_drive(adaptation):
    x = torch.full((300, 1), 0.3, dtype=D)
    base = dict(adaptation_current=torch.tensor(0.0), adaptation_spike=torch.tensor(0.0))
    z_free, _ = spike_times(LIFAdExParameters(**base), x)
    z_ada, s = spike_times(LIFAdExParameters(**{**base, **adaptation}), x)
    assert z_ada.sum() > 0
    assert z_ada.sum() < 0.8 * z_free.sum()
    assert s.a.item() > 0
    # adaptation builds up: inter-spike intervals grow from the first to the last
    times = z_ada.flatten().nonzero().flatten().tolist()
    if len(times) > 3:
        assert times[-1] - times[-2] >= times[1] - times[0]


def test_adaptation_jumps_by_adaptation_spike_per_spike():
    p = LIFAdExParameters(
        adaptation_current=torch.tensor(0.0),
        tau_ada_inv=torch.tensor(0.0),
        adaptation_spike=torch.tensor(0.25),
    )
    z, s = spike_times(
        p, torch.full((80, 3), 4.0, dtype=D) * torch.tensor([0.0, 1.0, 2.0], dtype=D)
    )
    torch.testing.assert_close(s.a, 0.25 * z.sum(0))
    assert z.sum(0)[2] > z.sum(0)[1] > 0 == z.sum(0)[0]


def test_adaptation_integrates_the_old_voltage_and_relaxes():
    """a1 = a + dt tau_ada (adaptation_current (v - v_leak) - a), with v and a before the step."""
    p = LIFAdExParameters(tau_ada_inv=torch.tensor(50.0, dtype=D), v_th=torch.tensor(1e3, dtype=D))
    s = LIFAdExFeedForwardState(
        v=torch.tensor([0.5], dtype=D), i=torch.zeros(1, dtype=D), a=torch.tensor([0.3], dtype=D)
    )
    _, s1 = lif_adex_feed_forward_step(torch.zeros(1, dtype=D), s, p)
    assert s1.a.item() == pytest.approx(0.3 + 0.001 * 50.0 * (4 * 0.5 - 0.3), rel=1e-12)
    # at rest (v = v_leak) the adaptation decays geometrically
    s = LIFAdExFeedForwardState(v=torch.zeros(1, dtype=D), i=torch.zeros(1, dtype=D), a=s.a)
    a_prev = s.a
    for _ in range(5):
        _, s = lif_adex_feed_forward_step(torch.zeros(1, dtype=D), s, p)
        # the adaptation current pulls v below rest, which in turn lowers a further
        assert s.v.item() < 0
        a_prev = s.a
    assert 0 < a_prev.item() < 0.3


def test_current_encoder_is_one_step_without_synaptic_memory():
    v = torch.linspace(-0.5, 0.9, 6, dtype=D)
    a = torch.linspace(0.0, 0.5, 6, dtype=D)
    current = torch.linspace(0.0, 30.0, 6, dtype=D)
    z, v1, a1 = lif_adex_current_encoder(current, v, a)
    z_ff, s = lif_adex_feed_forward_step(current, LIFAdExFeedForwardState(v, v * 0, a))
    assert torch.equal(z, z_ff) and z.sum() > 0
    torch.testing.assert_close(v1, s.v)
    torch.testing.assert_close(a1, s.a)


def test_recurrent_step_is_feed_forward_through_weights():
    w_in = torch.rand(3, 2, dtype=D) * 3
    z0 = torch.zeros(4, 3, dtype=D)
    s = LIFAdExState(z=z0, v=z0, i=z0, a=z0)
    s_ff = zero_ff((4, 3))
    total = 0
    for x_t in torch.rand(25, 4, 2, dtype=D).unbind(0):
        z, s = lif_adex_step(x_t, s, w_in, torch.zeros(3, 3, dtype=D))
        z_ff, s_ff = lif_adex_feed_forward_step(x_t @ w_in.T, s_ff)
        assert torch.equal(z, z_ff)
        torch.testing.assert_close(s.a, s_ff.a)
        total += z.sum().item()
    assert total > 0


def test_integer_default_is_kept_and_state_follows_the_input_dtype():
    assert LIFAdExParameters().adaptation_current.dtype == torch.int64
    z, s = LIFAdEx()(torch.ones(5, 2, dtype=D))
    assert z.dtype == s.v.dtype == s.a.dtype == D
    p = LIFAdExParameters.bio_default()
    assert p.v_leak.item() == -70.0 and p.adaptation_spike.item() == pytest.approx(0.01)


def test_module_initial_states():
    x = torch.zeros(5, 2)
    s = LIFAdExCell().initial_state(x)
    assert s.v.shape == () and s.v.requires_grad and s.a.shape == (5, 2)
    assert LIFAdExRecurrentCell(2, 3).initial_state(x).v.shape == (5, 3)
    assert LIFAdExRecurrent(2, 3).initial_state(torch.zeros(4, 5, 2)).a.shape == (5, 3)


def test_bad_parameters():
    with pytest.raises(TypeError, match="LIFAdExParameters"):
        LIFAdExCell(LIFExParameters())
    with pytest.raises(ValueError, match="method"):
        LIFAdEx(LIFAdExParameters(method="nope"))
