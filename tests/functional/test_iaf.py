"""Integrate-and-fire: perfect integration, strict threshold, reset, and module conventions."""

from __future__ import annotations

import math

import pytest
import torch

from norse.torch.functional.iaf import (
    IAFFeedForwardState,
    IAFParameters,
    IAFState,
    iaf_feed_forward_step,
    iaf_step,
)
from norse.torch.module.iaf import IAF, IAFCell

D = torch.float64


def test_input_equal_to_threshold_does_not_spike():
    z, s = iaf_feed_forward_step(torch.tensor([1.0]), IAFFeedForwardState(v=torch.zeros(1)))
    assert z.item() == 0 and s.v.item() == 1.0
    z, s = iaf_feed_forward_step(torch.tensor([1e-6]), s)
    assert z.item() == 1 and s.v.item() == 0.0


@pytest.mark.parametrize("dt", [1e-3, 0.5])
def test_integrates_without_leak_independently_of_dt(dt):
    p = IAFParameters(v_th=torch.tensor(1e9, dtype=D))
    x = torch.randn(50, 4, dtype=D)
    s = IAFFeedForwardState(v=torch.zeros(4, dtype=D))
    for x_t in x.unbind(0):
        _, s = iaf_feed_forward_step(x_t, s, p, dt)
    torch.testing.assert_close(s.v, x.sum(0))


@pytest.mark.parametrize("c", [0.3, 0.25, 0.26, 0.5, 0.51, 1.2])
def test_constant_input_fires_every_k_steps(c):
    """From v_reset = 0 the neuron fires when k * c first exceeds v_th: every ceil-ish k steps."""
    s = IAFFeedForwardState(v=torch.zeros(1, dtype=D))
    spikes = []
    for _ in range(60):
        z, s = iaf_feed_forward_step(torch.tensor([c], dtype=D), s)
        spikes.append(int(z.item()))
    k = math.floor(1.0 / c) + 1  # smallest k with k * c > 1
    times = [t + 1 for t, z in enumerate(spikes) if z]
    assert times == list(range(k, 61, k))


def test_reset_value_and_bio_default():
    p = IAFParameters.bio_default()
    assert p.v_th.item() == -55.0 and p.v_reset.item() == -70.0
    s = IAFFeedForwardState(v=torch.tensor([-70.0, -70.0]))
    z, s = iaf_feed_forward_step(torch.tensor([10.0, 20.0]), s, p)
    assert z.tolist() == [0.0, 1.0] and s.v.tolist() == [-60.0, -70.0]


def test_recurrent_step_is_feed_forward_through_weights():
    w_in = torch.rand(3, 2, dtype=D)
    x = torch.rand(30, 5, 2, dtype=D)
    s = IAFState(z=torch.zeros(5, 3, dtype=D), v=torch.zeros(5, 3, dtype=D))
    s_ff = IAFFeedForwardState(v=torch.zeros(5, 3, dtype=D))
    total = 0.0
    for x_t in x.unbind(0):
        z, s = iaf_step(x_t, s, w_in, torch.zeros(3, 3, dtype=D))
        z_ff, s_ff = iaf_feed_forward_step(x_t @ w_in.T, s_ff)
        assert torch.equal(z, z_ff)
        torch.testing.assert_close(s.v, s_ff.v)
        total += z.sum().item()
    assert total > 0


def test_recurrent_spikes_arrive_on_the_next_step():
    w_rec = torch.tensor([[0.0, 0.0], [0.7, 0.0]])  # neuron 0 excites neuron 1
    s = IAFState(z=torch.zeros(1, 2), v=torch.zeros(1, 2))
    x = torch.tensor([[2.0]])
    w_in = torch.tensor([[1.0], [0.0]])
    z, s = iaf_step(x, s, w_in, w_rec)
    assert z.tolist() == [[1.0, 0.0]] and s.v[0, 1] == 0
    z, s = iaf_step(torch.zeros(1, 1), s, w_in, w_rec)
    assert s.v[0, 1].item() == pytest.approx(0.7)


def test_modules_start_at_v_reset_without_touching_the_defaults():
    p = IAFParameters(v_reset=torch.tensor(-0.5))
    s = IAFCell(p).initial_state(torch.zeros(4, 3))
    assert s.v.shape == () and s.v.item() == -0.5 and s.v.requires_grad
    assert p.v_reset.requires_grad is False
    IAFCell()(torch.zeros(2))
    assert IAFParameters().v_reset.requires_grad is False  # 1.1.0 mutated the shared default
    z, s = IAF()(torch.zeros(10, 1))
    assert s.v.shape == (1,)


def test_layer_and_cell_agree():
    x = torch.rand(20, 3, 4)
    z, s = IAF()(x)
    cell, state = IAFCell(), None
    for t, x_t in enumerate(x.unbind(0)):
        z_t, state = cell(x_t, state)
        assert torch.equal(z[t], z_t)
    assert z.sum() > 0


def test_bad_parameters():
    with pytest.raises(TypeError, match="IAFParameters"):
        IAFCell(IAFFeedForwardState(v=torch.zeros(1)))
    with pytest.raises(ValueError, match="method"):
        IAF(IAFParameters(method="nope"))
    with pytest.raises(ValueError, match="dt"):
        IAF(dt=0.0)


def test_sparse_input_equals_dense():
    x = (torch.rand(8, 4, 3) > 0.5).float()
    z, s = IAF()(x.to_sparse())
    z_dense, s_dense = IAF()(x)
    assert torch.equal(z, z_dense) and torch.equal(s.v, s_dense.v) and z.sum() > 0
