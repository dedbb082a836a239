"""Tsodyks-Markram short-term plasticity (API.md §2.31)."""

from __future__ import annotations

import pytest
import torch

from norse.torch.functional.tsodyks_makram import (
    TsodyksMakramParameters,
    TsodyksMakramState,
    stp_step,
)

FACILITATING = TsodyksMakramParameters(tau_f_inv=1 / 0.75, tau_d_inv=1 / 0.05, U=0.15)
DEPRESSING = TsodyksMakramParameters(tau_f_inv=1 / 0.02, tau_d_inv=1 / 0.75, U=0.5)


def _responses(p, n_spikes=6, isi=50, batch=()):
    """Release per spike of a regular train (``isi`` steps of 1 ms apart)."""
    s = TsodyksMakramState(u=torch.zeros(batch), x=torch.ones(batch))
    out = []
    for t in range(n_spikes * isi):
        z = torch.full(batch, 1.0 if t % isi == 0 else 0.0)
        y, s = stp_step(z, s, p)
        if t % isi == 0:
            out.append(y)
        else:
            assert torch.all(y == 0), "no release without a spike"
    return torch.stack(out)


def test_sanity_values_from_spec():
    s = TsodyksMakramState(u=torch.tensor(0.0), x=torch.tensor(1.0))
    outs = []
    for z in (1.0, 0.0, 1.0):
        y, s = stp_step(torch.tensor(z), s, TsodyksMakramParameters())
        outs.append(y.item())
    assert outs == pytest.approx([0.45, 0.0, 0.37646], abs=1e-5)


def test_output_uses_new_u_and_old_x():
    s = TsodyksMakramState(u=torch.tensor(0.2), x=torch.tensor(0.6))
    p = TsodyksMakramParameters()
    y, s2 = stp_step(torch.tensor(1.0), s, p)
    u_new = 0.2 + 0.001 * (-p.tau_f_inv * 0.2) + p.U * (1 - 0.2)
    assert s2.u.item() == pytest.approx(u_new, rel=1e-6)
    assert y.item() == pytest.approx(u_new * 0.6, rel=1e-6)
    assert s2.x.item() == pytest.approx(0.6 + 0.001 * p.tau_d_inv * 0.4 - u_new * 0.6, rel=1e-6)


def test_facilitation_regime_grows():
    r = _responses(FACILITATING)
    assert torch.all(r[1:4] > r[:3]), r
    assert r[-1] > 1.5 * r[0]


@pytest.mark.parametrize("p", [DEPRESSING, TsodyksMakramParameters()], ids=["strong", "default"])
def test_depression_regime_shrinks(p):
    r = _responses(p)
    assert torch.all(r[1:] < r[:-1]), r
    assert r[-1] < 0.7 * r[0]


@pytest.mark.parametrize("p", [FACILITATING, DEPRESSING], ids=["facilitating", "depressing"])
def test_recovers_after_silence(p):
    s = TsodyksMakramState(u=torch.zeros(1), x=torch.ones(1))
    first, s = stp_step(torch.ones(1), s, p)
    for _ in range(5):
        _, s = stp_step(torch.ones(1), s, p)
    for _ in range(1000):  # 10 s in 10 ms steps: far beyond every time constant
        _, s = stp_step(torch.zeros(1), s, p, dt=0.01)
    again, _ = stp_step(torch.ones(1), s, p)
    torch.testing.assert_close(again, first, atol=1e-4, rtol=0)


def test_resources_and_utilisation_stay_in_unit_interval():
    torch.manual_seed(0)
    z = (torch.rand(300, 4, 7) < 0.3).float()
    for p in (FACILITATING, DEPRESSING):
        s = TsodyksMakramState(u=torch.zeros(4, 7), x=torch.ones(4, 7))
        for zt in z.unbind(0):
            y, s = stp_step(zt, s, p)
            assert y.shape == (4, 7)
            assert torch.all((s.u >= 0) & (s.u <= 1)) and torch.all((s.x >= 0) & (s.x <= 1))


def test_tau_s_inv_is_unused():
    a = _responses(TsodyksMakramParameters(tau_s_inv=1.0))
    b = _responses(TsodyksMakramParameters(tau_s_inv=1e4))
    assert torch.equal(a, b)


def test_batched_matches_single():
    single = _responses(FACILITATING)
    batched = _responses(FACILITATING, batch=(3, 2))
    torch.testing.assert_close(batched, single[:, None, None].expand(-1, 3, 2))


def test_bad_state_raises():
    with pytest.raises(TypeError, match="TsodyksMakramState"):
        stp_step(torch.ones(1), (torch.zeros(1), torch.ones(1)), TsodyksMakramParameters())


def test_top_level_exports():
    import norse.torch

    for name in ("TsodyksMakramParameters", "TsodyksMakramState", "stp_step"):
        assert name in norse.torch.__all__
    assert norse.torch.stp_step is stp_step
