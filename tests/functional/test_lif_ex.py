"""Exponential LIF: the spec's trace, the rheobase that the exponential lowers, LIF limit."""

from __future__ import annotations

import pytest
import torch

from norse.torch.functional.lif import LIFFeedForwardState, LIFParameters, lif_feed_forward_step
from norse.torch.functional.lif_ex import (
    LIFExFeedForwardState,
    LIFExParameters,
    LIFExState,
    lif_ex_current_encoder,
    lif_ex_feed_forward_step,
    lif_ex_step,
)
from norse.torch.module.lif_ex import LIFEx, LIFExCell, LIFExRecurrent, LIFExRecurrentCell

D = torch.float64


def zero_ff(shape, dtype=D):
    return LIFExFeedForwardState(
        v=torch.zeros(shape, dtype=dtype), i=torch.zeros(shape, dtype=dtype)
    )


def test_sanity_trace_from_the_spec():
    """API.md §2.12: input 1 from zero gives v = 0.10677, 0.28447, 0.51197, 0.77482."""
    s = zero_ff(1, torch.float32)
    for expected in (0.10677, 0.28447, 0.51197, 0.77482):
        _, s = lif_ex_feed_forward_step(torch.ones(1), s)
        assert s.v.item() == pytest.approx(expected, abs=1e-5)


def test_small_delta_t_recovers_lif_below_threshold():
    p = LIFExParameters(delta_T=torch.tensor(0.01, dtype=D))
    x = torch.rand(30, 4, dtype=D) * 0.3
    s, s_lif = zero_ff(4), LIFFeedForwardState(torch.zeros(4, dtype=D), torch.zeros(4, dtype=D))
    for x_t in x.unbind(0):
        _, s = lif_ex_feed_forward_step(x_t, s, p)
        _, s_lif = lif_feed_forward_step(x_t, s_lif, LIFParameters())
    assert s_lif.v.max() < 0.9
    torch.testing.assert_close(s.v, s_lif.v, rtol=0, atol=1e-4)
    torch.testing.assert_close(s.i, s_lif.i, rtol=0, atol=0)


@pytest.mark.parametrize("delta_t", [0.25, 0.5])
def test_rheobase_is_v_th_minus_delta_t(delta_t):
    """dv/dt = -v + dT exp((v - v_th)/dT) + I has a stable rest iff I <= v_th - dT; above
    that rheobase the neuron fires repetitively, below it never does. Plain LIF (rheobase
    v_th) stays silent at both currents."""
    from norse.torch.functional.lif import lif_current_encoder

    p = LIFExParameters(delta_T=torch.tensor(delta_t, dtype=D))
    current = torch.tensor([-0.05, 0.05], dtype=D) + (1.0 - delta_t)
    v, v_lif = torch.zeros(2, dtype=D), torch.zeros(2, dtype=D)
    spikes, spikes_lif = torch.zeros(2, dtype=D), torch.zeros(2, dtype=D)
    for _ in range(800):
        z, v = lif_ex_current_encoder(current, v, p)
        z_lif, v_lif = lif_current_encoder(current, v_lif, LIFParameters())
        spikes += z
        spikes_lif += z_lif
    assert spikes[0] == 0 and spikes[1] > 2
    assert spikes_lif.sum() == 0


def test_exponential_term_makes_it_fire_no_later_than_lif():
    x = torch.full((40, 1), 0.6, dtype=D)
    s, s_lif = zero_ff(1), LIFFeedForwardState(torch.zeros(1, dtype=D), torch.zeros(1, dtype=D))
    first_ex = first_lif = None
    for t, x_t in enumerate(x.unbind(0)):
        z, s = lif_ex_feed_forward_step(x_t, s)
        z_lif, s_lif = lif_feed_forward_step(x_t, s_lif, LIFParameters())
        if z.item() and first_ex is None:
            first_ex = t
        if z_lif.item() and first_lif is None:
            first_lif = t
    assert first_ex is not None and first_lif is not None and first_ex < first_lif


def test_current_encoder_is_a_step_without_synaptic_memory():
    v = torch.linspace(-0.5, 0.9, 8, dtype=D)
    current = torch.linspace(0.0, 40.0, 8, dtype=D)
    z_enc, v_enc = lif_ex_current_encoder(current, v)
    z, s = lif_ex_feed_forward_step(current, LIFExFeedForwardState(v=v, i=torch.zeros_like(v)))
    assert torch.equal(z_enc, z) and z.sum() > 0
    torch.testing.assert_close(v_enc, s.v)


def test_recurrent_step_is_feed_forward_through_weights():
    w_in = torch.rand(3, 2, dtype=D) * 3
    z0 = torch.zeros(4, 3, dtype=D)
    s = LIFExState(z=z0, v=z0, i=z0)
    s_ff = zero_ff((4, 3))
    total = 0
    for x_t in (torch.rand(25, 4, 2, dtype=D)).unbind(0):
        z, s = lif_ex_step(x_t, s, w_in, torch.zeros(3, 3, dtype=D))
        z_ff, s_ff = lif_ex_feed_forward_step(x_t @ w_in.T, s_ff)
        assert torch.equal(z, z_ff)
        torch.testing.assert_close(s.v, s_ff.v)
        total += z.sum().item()
    assert total > 0


def test_bio_default_has_finite_gradients():
    p = LIFExParameters.bio_default()
    assert p.delta_T.item() == 2.0 and p.v_th.item() == -55.0
    v = torch.full((3,), -70.0, requires_grad=True)
    s = LIFExFeedForwardState(v=v, i=torch.zeros(3))
    for _ in range(20):
        z, s = lif_ex_feed_forward_step(torch.tensor([0.0, 3.0, 8.0]), s, p, dt=1.0)
    s.v.sum().backward()
    assert torch.isfinite(v.grad).all()


def test_module_initial_states_are_full_shape():
    x = torch.zeros(5, 2)
    p = LIFExParameters(v_leak=torch.tensor(-0.2))
    s = LIFExCell(p).initial_state(x)
    assert torch.equal(s.v.detach(), torch.full((5, 2), -0.2)) and s.v.requires_grad
    assert LIFExRecurrentCell(2, 3).initial_state(x).z.shape == (5, 3)
    assert LIFEx().initial_state(torch.zeros(4, 5, 2)).v.shape == (5, 2)
    assert LIFExRecurrent(2, 3).initial_state(torch.zeros(4, 5, 2)).i.shape == (5, 3)


def test_bad_parameters():
    with pytest.raises(TypeError, match="LIFExParameters"):
        LIFExCell(LIFParameters())
    with pytest.raises(ValueError, match="method"):
        LIFEx(LIFExParameters(method="nope"))
