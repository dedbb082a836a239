"""Correlation sensor: trace dynamics for spike pairs, any batch size, weight updates."""

import pytest
import torch

from norse.torch.functional.correlation_sensor import (
    CorrelationSensorParameters,
    CorrelationSensorState,
    correlation_based_update,
    correlation_sensor_step,
    post_mask,
    pre_mask,
)

DT = 0.001
P = CorrelationSensorParameters()


def _zeros(*shape):
    return CorrelationSensorState(*(torch.zeros(*shape) for _ in range(3)))


def _run(pre_times, post_times, steps, p=P):
    s = _zeros(1, 1, 1)
    for t in range(steps):
        z_pre = torch.full((1, 1), float(t in pre_times))
        z_post = torch.full((1, 1), float(t in post_times))
        s = correlation_sensor_step(z_pre, z_post, s, p, DT)
    return s


@pytest.mark.parametrize("lag", [1, 3, 10])
def test_pre_before_post_sets_correlation_trace(lag):
    decay = 1 - DT * P.tau_c_inv.item()
    s = _run({0}, {lag}, lag + 20)
    # the trace jumps by eta_p at the pre spike, decays for `lag` steps, then stays frozen
    assert s.post_pre.item() == 1.0
    assert s.correlation_trace.item() == pytest.approx(decay**lag, rel=1e-5)


def test_closer_pairs_give_larger_correlation():
    traces = [_run({0}, {lag}, 30).correlation_trace.item() for lag in (1, 2, 5, 10)]
    assert traces == sorted(traces, reverse=True)


@pytest.mark.parametrize("lag", [1, 4])
def test_post_before_pre_sets_anti_correlation_trace(lag):
    decay = 1 - DT * P.tau_ac_inv.item()
    s = _run({lag}, {0}, lag + 20)
    assert s.post_pre.item() == 0.0  # cleared by the pre spike
    assert s.anti_correlation_trace.item() == pytest.approx(decay**lag, rel=1e-5)
    # the pre spike raised the correlation trace, which then decays (post_pre == 0)
    assert s.correlation_trace.item() == pytest.approx(
        (1 - DT * P.tau_c_inv.item()) ** 19, rel=1e-5
    )


def test_step_equations():
    torch.manual_seed(0)
    B, n_pre, n_post = 3, 4, 5
    pp = (torch.rand(B, n_pre, n_post) < 0.5).float()
    c, a = torch.rand(B, n_pre, n_post), torch.rand(B, n_pre, n_post)
    z_pre = (torch.rand(B, n_pre) < 0.5).float()
    z_post = (torch.rand(B, n_post) < 0.5).float()
    p = CorrelationSensorParameters(
        eta_p=torch.tensor(0.7), eta_m=torch.tensor(0.3), tau_ac_inv=torch.tensor(20.0)
    )
    s = correlation_sensor_step(z_pre, z_post, CorrelationSensorState(pp, c, a), p, DT)
    for b in range(B):
        for i in range(n_pre):
            for j in range(n_post):
                flag = pp[b, i, j]
                cc = c[b, i, j] + (1 - flag) * (DT * 10.0 * -c[b, i, j])
                aa = a[b, i, j] + flag * (DT * 20.0 * -a[b, i, j])
                new_flag = float(flag + z_post[b, j] - z_pre[b, i] > 0)
                assert s.post_pre[b, i, j].item() == new_flag
                assert s.correlation_trace[b, i, j].item() == pytest.approx(
                    (cc + 0.7 * z_pre[b, i]).item(), rel=1e-6
                )
                assert s.anti_correlation_trace[b, i, j].item() == pytest.approx(
                    (aa + 0.3 * z_post[b, j]).item(), rel=1e-6
                )


@pytest.mark.parametrize("batch", [(), (1,), (2,), (3,), (2, 3)], ids=str)
def test_any_batch_matches_per_sample_runs(batch):
    torch.manual_seed(1)
    n_pre, n_post = 2, 5
    T = 12
    pre = (torch.rand(T, *batch, n_pre) < 0.3).float()
    post = (torch.rand(T, *batch, n_post) < 0.3).float()
    s = _zeros(*batch, n_pre, n_post)
    for t in range(T):
        s = correlation_sensor_step(pre[t], post[t], s)
    flat_pre = pre.reshape(T, -1, n_pre)
    flat_post = post.reshape(T, -1, n_post)
    for b in range(flat_pre.shape[1]):
        single = _zeros(1, n_pre, n_post)
        for t in range(T):
            single = correlation_sensor_step(
                flat_pre[t, b : b + 1], flat_post[t, b : b + 1], single
            )
        for got, want in zip(s, single, strict=True):
            assert torch.equal(got.reshape(-1, n_pre, n_post)[b], want[0])


def test_masks_broadcast_over_pre_and_post():
    w = torch.zeros(2, 3, 4)
    z_pre = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    z_post = torch.tensor([[1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 0.0]])
    assert torch.equal(pre_mask(w, z_pre), z_pre[:, :, None].expand(2, 3, 4))
    assert torch.equal(post_mask(w, z_post), z_post[:, None, :].expand(2, 3, 4))


def _transposing_update(n_pre, n_post):
    """A linear map with dw[j, i] = C[i, j] - A[i, j] (flattened, batch of one)."""
    m = n_pre * n_post
    weight = torch.zeros(m, 2 * m)
    for i in range(n_pre):
        for j in range(n_post):
            weight[j * n_pre + i, i * n_post + j] = 1.0
            weight[j * n_pre + i, m + i * n_post + j] = -1.0
    lin = torch.nn.Linear(2 * m, m, bias=False)
    with torch.no_grad():
        lin.weight.copy_(weight)
    return lin


def test_update_direction_follows_spike_order():
    # synapse 0 -> 0: pre (t=0) before post (t=2), potentiate;
    # synapse 1 -> 0: post (t=2) before pre (t=5), depress.
    # Fast traces, so that the unpaired (free-running) trace of each synapse has decayed.
    p = CorrelationSensorParameters(tau_ac_inv=torch.tensor(100.0), tau_c_inv=torch.tensor(100.0))
    s = _zeros(1, 2, 1)
    events = {0: ([1.0, 0.0], [0.0]), 2: ([0.0, 0.0], [1.0]), 5: ([0.0, 1.0], [0.0])}
    for t in range(65):
        pre, post = events.get(t, ([0.0, 0.0], [0.0]))
        s = correlation_sensor_step(torch.tensor([pre]), torch.tensor([post]), s, p)
    # the paired traces are frozen at decay**lag
    assert s.correlation_trace[0, 0, 0].item() == pytest.approx(0.9**2, rel=1e-4)
    assert s.anti_correlation_trace[0, 1, 0].item() == pytest.approx(0.9**3, rel=1e-4)
    w = torch.zeros(1, 2)
    new = correlation_based_update(6, _transposing_update(2, 1), w, s, 0.1, 3)
    assert new[0, 0] > 0.07 and new[0, 1] < -0.06
    # the traces are zeroed in place after an update
    assert s.correlation_trace.abs().sum() == 0 and s.anti_correlation_trace.abs().sum() == 0


def test_update_only_every_ts_frequency_steps():
    s = CorrelationSensorState(*(torch.ones(1, 2, 3) for _ in range(3)))
    lin = torch.nn.Linear(12, 6)
    w = torch.randn(3, 2)
    assert correlation_based_update(7, lin, w, s, 1.0, 5) is w
    assert s.correlation_trace.sum() == 6  # untouched
    out = correlation_based_update(10, lin, w, s, 1.0, 5)
    assert out.shape == (3, 2) and not out.requires_grad


def test_update_rejects_unbatched_traces():
    s = CorrelationSensorState(*(torch.ones(2, 3) for _ in range(3)))
    with pytest.raises(ValueError, match="correlation_state"):
        correlation_based_update(0, torch.nn.Linear(12, 6), torch.zeros(3, 2), s, 1.0, 1)
