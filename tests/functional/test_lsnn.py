"""LSNN: adaptive threshold, decay-first ordering, detach rules, and the modules' conventions."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from norse.torch.functional.lif import (
    LIFFeedForwardState,
    LIFParameters,
    LIFState,
    lif_feed_forward_step,
    lif_step,
)
from norse.torch.functional.lsnn import (
    LSNNFeedForwardState,
    LSNNParameters,
    LSNNState,
    ada_lif_step,
    lsnn_feed_forward_step,
    lsnn_step,
)
from norse.torch.module.lsnn import LSNN, LSNNCell, LSNNRecurrent, LSNNRecurrentCell

D = torch.float64


def ff_state(n, b=1.0, v=0.0, i=0.0):
    return LSNNFeedForwardState(
        v=torch.full((n,), v, dtype=D),
        i=torch.full((n,), i, dtype=D),
        b=torch.full((n,), b, dtype=D),
    )


def test_threshold_relaxes_towards_v_th_in_closed_form():
    """Without spikes, b - v_th shrinks by (1 - dt/tau_adapt) per step."""
    p = LSNNParameters(tau_adapt_inv=torch.tensor(50.0, dtype=D))
    s = ff_state(2)._replace(b=torch.tensor([3.0, 0.5], dtype=D))
    for t in range(1, 41):
        _, s = lsnn_feed_forward_step(torch.zeros(2, dtype=D), s, p)
        expected = 1.0 + torch.tensor([2.0, -0.5], dtype=D) * (1 - 0.001 * 50.0) ** t
        torch.testing.assert_close(s.b, expected, rtol=1e-12, atol=1e-12)


def test_threshold_jumps_by_beta_after_each_spike_and_relaxes_back():
    p = LSNNParameters(tau_adapt_inv=torch.tensor(20.0))
    s = LSNNFeedForwardState(v=torch.zeros(1), i=torch.zeros(1), b=torch.ones(1))
    b_prev = s.b.clone()
    spikes = 0
    for t in range(300):
        x = torch.tensor([30.0 if t < 100 else 0.0])
        z, s = lsnn_feed_forward_step(x, s, p)
        relaxed = b_prev + 0.001 * 20.0 * (1.0 - b_prev)
        torch.testing.assert_close(s.b, relaxed + z * 1.8)
        spikes += int(z.item())
        b_prev = s.b.clone()
    assert spikes > 3
    # after the drive stops the threshold relaxes back towards v_th from above
    assert 1.0 < s.b.item() < 1.0 + 1.8 * spikes * 0.05


def test_adaptation_lowers_the_rate_under_constant_drive():
    x = torch.full((400, 1), 15.0)
    rates = []
    for beta in (0.0, 1.8):
        p = LSNNParameters(beta=torch.tensor(beta), tau_adapt_inv=torch.tensor(5.0))
        s = LSNNFeedForwardState(v=torch.zeros(1), i=torch.zeros(1), b=torch.ones(1))
        n = 0
        for x_t in x.unbind(0):
            z, s = lsnn_feed_forward_step(x_t, s, p)
            n += int(z.item())
        rates.append(n)
    assert rates[1] < rates[0] / 2


def test_the_spike_compares_v_with_b_not_v_th():
    s = LSNNFeedForwardState(v=torch.full((2,), 0.5), i=torch.zeros(2), b=torch.tensor([0.0, 5.0]))
    z, _ = lsnn_feed_forward_step(torch.zeros(2), s)
    assert z.tolist() == [1.0, 0.0]


@pytest.mark.parametrize("recurrent", [False, True])
def test_without_adaptation_lsnn_is_lif_one_step_later(recurrent):
    """Decay-first: the input reaches v one step later; with beta = 0 and b = v_th every value
    of the LIF run reappears exactly one step later in the LSNN run."""
    p = LSNNParameters(beta=torch.tensor(0.0, dtype=D))
    x = torch.rand(40, 3, dtype=D) * 6
    x[0] = 4.0
    n = 3
    if recurrent:
        w_in = torch.eye(n, dtype=D)
        w_rec = torch.zeros(n, n, dtype=D)
        z0 = torch.zeros(n, dtype=D)
        s = LSNNState(z=z0, v=z0, i=z0, b=torch.ones(n, dtype=D))
        s_lif = LIFState(z=z0, v=z0, i=z0)
    else:
        s = ff_state(n)
        s_lif = LIFFeedForwardState(v=torch.zeros(n, dtype=D), i=torch.zeros(n, dtype=D))
    z_lsnn, v_lsnn, z_lif, v_lif = [], [], [], []
    for x_t in x.unbind(0):
        if recurrent:
            z, s = lsnn_step(x_t, s, w_in, w_rec, p)
            zl, s_lif = lif_step(x_t, s_lif, w_in, w_rec, LIFParameters())
        else:
            z, s = lsnn_feed_forward_step(x_t, s, p)
            zl, s_lif = lif_feed_forward_step(x_t, s_lif, LIFParameters())
        z_lsnn.append(z)
        v_lsnn.append(s.v)
        z_lif.append(zl)
        v_lif.append(s_lif.v)
    assert torch.equal(v_lsnn[0], torch.zeros(n, dtype=D)), "input must not reach v in step 1"
    assert torch.equal(torch.stack(z_lsnn[1:]), torch.stack(z_lif[:-1]))
    assert torch.equal(torch.stack(v_lsnn[1:]), torch.stack(v_lif[:-1]))
    assert torch.stack(z_lif).sum() > 5


def test_recurrent_step_detaches_spikes_in_reset_and_threshold_jump():
    z0 = torch.zeros(1, 1)
    v = torch.full((1, 1), 2.0, requires_grad=True)
    s = LSNNState(z=z0, v=v, i=z0, b=torch.ones(1, 1))
    w = torch.zeros(1, 1)
    z, s_new = lsnn_step(torch.zeros(1, 1), s, w, w)
    assert z.item() == 1.0
    assert not s_new.b.requires_grad  # the jump uses the detached spike
    (g_v,) = torch.autograd.grad(s_new.v.sum(), v)
    assert g_v.abs().sum() == 0  # (1 - z) * dv1/dv with z = 1, no surrogate path
    # the feed-forward step keeps the surrogate path in both
    v2 = torch.full((1,), 2.0, requires_grad=True)
    _, s_ff = lsnn_feed_forward_step(
        torch.zeros(1), LSNNFeedForwardState(v2, *torch.tensor([[0.0], [1.0]]))
    )
    (g_b,) = torch.autograd.grad(s_ff.b.sum(), v2)
    assert g_b.abs().sum() > 0


def test_ada_lif_resets_by_subtraction_and_adapts_as_a_current():
    p = LSNNParameters(v_th=torch.tensor(1.0), v_reset=torch.tensor(0.25))
    s = LSNNState(
        z=torch.zeros(1, 1), v=torch.zeros(1, 1), i=torch.full((1, 1), 20.0), b=torch.zeros(1, 1)
    )
    w = torch.zeros(1, 1)
    z, s1 = ada_lif_step(torch.zeros(1, 1), s, w, w, p)
    v1 = 0.1 * 20.0
    assert z.item() == 1.0
    assert s1.v.item() == pytest.approx(v1 - (1.0 - 0.25))
    assert s1.b.item() == pytest.approx(1.8)
    # the adaptation current now pulls the voltage down
    s1 = s1._replace(v=torch.zeros(1, 1), i=torch.zeros(1, 1))
    s_no_b = s1._replace(b=torch.zeros(1, 1))
    _, a = ada_lif_step(torch.zeros(1, 1), s1, w, w, p)
    _, b = ada_lif_step(torch.zeros(1, 1), s_no_b, w, w, p)
    assert a.v.item() < b.v.item()
    assert a.b.item() == pytest.approx(1.8 * (1 - 0.001 / 800))


def test_bio_default():
    p = LSNNParameters.bio_default(beta=torch.tensor(0.1))
    assert (
        p.v_th.item() == -55.0 and p.v_leak.item() == -70.0 and p.beta.item() == pytest.approx(0.1)
    )
    assert p.tau_adapt_inv.item() == pytest.approx(0.01)


# ----------------------------------------------------------------------------- modules
def test_cell_example_from_the_spec():
    """API.md §3.15: ones twice give no spike; i is exactly 1.8 in float32 (0 -> 1 -> 0.8 + 1)."""
    cell = LSNNCell()
    z, s = cell(torch.ones(1, 2, 2))
    z, s = cell(torch.ones(1, 2, 2), s)
    assert z.sum() == 0
    assert torch.equal(s.i, torch.full((1, 2, 2), 1.8))


def test_initial_states():
    x = torch.zeros(5, 2)
    s = LSNNCell().initial_state(x)
    assert s.b.shape == () and s.b.item() == 1.0 and s.v.shape == (5, 2) and s.v.requires_grad
    s = LSNNRecurrentCell(2, 3).initial_state(x)
    assert s.b.shape == () and s.z.shape == (5, 3)
    s = LSNN().initial_state(torch.zeros(4, 5, 2))
    assert torch.equal(s.b, torch.ones(5, 2))
    s = LSNNRecurrent(2, 3, p=LSNNParameters(v_th=torch.tensor(0.7))).initial_state(
        torch.zeros(4, 5, 2)
    )
    assert torch.equal(s.b, torch.full((5, 3), 0.7))


HAS_ADJOINT = importlib.util.find_spec("norse.torch.functional.adjoint") is not None and (
    importlib.util.find_spec("norse.torch.functional.adjoint.lsnn_adjoint") is not None
)


@pytest.mark.parametrize(
    "cls, args", [(LSNNCell, ()), (LSNN, ()), (LSNNRecurrentCell, (2, 3)), (LSNNRecurrent, (2, 3))]
)
def test_adjoint_flag(cls, args):
    with pytest.raises(TypeError, match="adjoint"):
        cls(*args, adjoint="yes")
    assert cls(*args).adjoint is False
    if HAS_ADJOINT:
        m = cls(*args, adjoint=True)
        assert m.activation.__name__.endswith("adjoint_step")
    else:
        with pytest.raises(NotImplementedError, match="adjoint=True"):
            cls(*args, adjoint=True)


def test_bad_parameters():
    with pytest.raises(TypeError, match="LSNNParameters"):
        LSNNCell(LIFParameters())
    with pytest.raises(ValueError, match="method"):
        LSNN(LSNNParameters(method="nope"))
    with pytest.raises(TypeError, match="input"):
        LSNNCell(2, 4)
