"""LIF neurons with correlation sensors: functional step and the LIFCorrelation module."""

import pytest
import torch

from norse.torch.functional.correlation_sensor import (
    CorrelationSensorParameters,
    CorrelationSensorState,
    correlation_sensor_step,
)
from norse.torch.functional.lif import LIFParameters, LIFState, lif_step
from norse.torch.functional.lif_correlation import (
    LIFCorrelationParameters,
    LIFCorrelationState,
    lif_correlation_step,
)
from norse.torch.module.lif_correlation import LIFCorrelation

B, N_IN, N = 2, 3, 4


def _state(z=None):
    z = torch.zeros(B, N) if z is None else z
    return LIFCorrelationState(
        LIFState(z, torch.zeros(B, N), torch.zeros(B, N)),
        CorrelationSensorState(*(torch.zeros(B, N_IN, N) for _ in range(3))),
        CorrelationSensorState(*(torch.zeros(B, N, N) for _ in range(3))),
    )


def test_step_composes_lif_and_sensors():
    torch.manual_seed(0)
    x = (torch.rand(B, N_IN) < 0.5).float()
    w_in, w_rec = torch.rand(N, N_IN) * 30, torch.rand(N, N)
    z_old = (torch.rand(B, N) < 0.5).float()
    p = LIFCorrelationParameters(
        recurrent_correlation_parameters=CorrelationSensorParameters(eta_p=torch.tensor(2.0))
    )
    state = _state(z_old)
    z, s = lif_correlation_step(x, state, w_in, w_rec, p, 0.001)
    z_ref, lif_ref = lif_step(x, state.lif_state, w_in, w_rec, LIFParameters(), 0.001)
    assert z.sum() > 0
    assert torch.equal(z, z_ref)
    for got, want in zip(s.lif_state, lif_ref, strict=True):
        assert torch.equal(got, want)
    in_ref = correlation_sensor_step(x, z_ref, state.input_correlation_state)
    # the recurrent sensor sees the previous step's spikes as pre-synaptic
    rec_ref = correlation_sensor_step(
        z_old, z_ref, state.recurrent_correlation_state, p.recurrent_correlation_parameters
    )
    for got, want in zip(s.input_correlation_state, in_ref, strict=True):
        assert torch.equal(got, want)
    for got, want in zip(s.recurrent_correlation_state, rec_ref, strict=True):
        assert torch.equal(got, want)


def test_module_initial_state_and_step():
    m = LIFCorrelation(N_IN, N)
    x = torch.ones(B, N_IN)
    s = m.initial_state(x)
    assert s.lif_state.v.dim() == 0 and s.lif_state.v.requires_grad
    assert s.lif_state.z.shape == (B, N) and s.lif_state.i.shape == (B, N)
    assert all(t.shape == (B, N_IN, N) for t in s.input_correlation_state)
    assert all(t.shape == (B, N, N) for t in s.recurrent_correlation_state)
    w_in, w_rec = torch.ones(N, N_IN), torch.zeros(N, N)
    z1, s1 = m(x, w_in, w_rec, None)
    z2, s2 = m(x, w_in, w_rec, s)
    assert torch.equal(z1, z2) and torch.equal(s1.lif_state.v, s2.lif_state.v)
    z3, s3 = m(x, w_in, w_rec, s1)
    assert z3.shape == (B, N) and s3.lif_state.v.shape == (B, N)


def test_module_pre_post_pairing_over_time():
    # strong input drive: the input spike at t=0 is followed by a post spike
    m = LIFCorrelation(1, 1)
    w_in, w_rec = torch.full((1, 1), 20.0), torch.zeros(1, 1)
    s = None
    for t in range(3):
        _, s = m(torch.full((1, 1), float(t == 0)), w_in, w_rec, s)
    assert s.input_correlation_state.post_pre.item() == 1.0
    assert s.input_correlation_state.correlation_trace.item() > 0


def test_module_parameters_follow_dtype():
    m = LIFCorrelation(N_IN, N).double()
    assert m.p.lif_parameters.v_th.dtype == torch.float64
    z, s = m(
        torch.ones(B, N_IN, dtype=torch.float64),
        torch.ones(N, N_IN).double(),
        torch.zeros(N, N).double(),
        None,
    )
    assert s.lif_state.v.dtype == torch.float64


def test_module_bad_input():
    with pytest.raises(TypeError, match="input_size"):
        LIFCorrelation(2.0, 3)
    with pytest.raises(TypeError, match="p must be"):
        LIFCorrelation(2, 3, p=LIFParameters())
    m = LIFCorrelation(N_IN, N)
    with pytest.raises(ValueError, match="input_size=3"):
        m(torch.ones(B, 5), torch.ones(N, N_IN), torch.zeros(N, N), None)
    with pytest.raises(ValueError, match="input_weights"):
        m(torch.ones(B, N_IN), torch.ones(N_IN, N), torch.zeros(N, N), None)
    with pytest.raises(ValueError, match="state.input_correlation_state"):
        bad = _state()._replace(
            input_correlation_state=CorrelationSensorState(
                *(torch.zeros(B, 9, N) for _ in range(3))
            )
        )
        m(torch.ones(B, N_IN), torch.ones(N, N_IN), torch.zeros(N, N), bad)
