"""ToSpikeTimes and SpikesToTimesDecoder: sorted spike indices, inf padding, gradient."""

import math
import pickle

import numpy as np
import pytest
import torch

from norse.torch.functional.spikes_to_times_decoder import ToSpikeTimes
from norse.torch.module.spikes_to_times_decoder import SpikesToTimesDecoder


def _reference_times(z, count):
    """Per neuron: the list of spike indices, the first ``count``, padded with inf."""
    T = z.shape[0]
    flat = z.reshape(T, -1)
    cols = []
    for n in range(flat.shape[1]):
        idx = [float(t) for t in range(T) if flat[t, n] == 1]
        idx = (idx + [math.inf] * T)[: min(count, T)]
        cols.append(idx)
    return torch.tensor(cols).T.reshape((min(count, T), *z.shape[1:]))


@pytest.mark.parametrize("count", [1, 2, 3, 10])
def test_sorted_indices_padded_with_inf(count):
    torch.manual_seed(0)
    z = (torch.rand(6, 3, 4) < 0.3).float()
    out = ToSpikeTimes.apply(z, count)
    assert out.shape == (min(count, 6), 3, 4)
    assert torch.equal(out, _reference_times(z, count))


def test_spike_count_as_tensor_and_int_input():
    z = torch.tensor([[[0, 1]], [[1, 1]]])
    out = ToSpikeTimes.apply(z, torch.as_tensor(2))
    assert out.dtype == torch.float32
    assert out.squeeze(1).tolist() == [[1.0, 0.0], [math.inf, 1.0]]


def test_gradient_is_minus_grad_at_returned_spikes_even_with_inf_entries():
    z = torch.zeros(4, 1, 3)
    z[1, 0, 0] = z[3, 0, 0] = 1  # neuron 0: spikes at 1 and 3
    z[2, 0, 1] = 1  # neuron 1: one spike at 2; neuron 2: none
    z.requires_grad_(True)
    out = ToSpikeTimes.apply(z, 2)
    assert torch.isinf(out).any()
    weights = torch.arange(1.0, 7.0).reshape(2, 1, 3)
    # inf * 0 is nan in the forward, so weight only the finite entries of the loss
    loss = torch.where(torch.isfinite(out), out * weights, torch.zeros_like(out)).sum()
    loss.backward()
    expected = torch.zeros(4, 1, 3)
    expected[1, 0, 0] = -weights[0, 0, 0]
    expected[3, 0, 0] = -weights[1, 0, 0]
    expected[2, 0, 1] = -weights[0, 0, 1]
    assert torch.equal(z.grad, expected)
    # the gradient of the whole output (inf entries included) is still finite
    z.grad = None
    ToSpikeTimes.apply(z, 3).sum().backward()
    assert torch.isfinite(z.grad).all()
    assert z.grad.sum().item() == -3.0  # three spikes selected, each gets -1


@pytest.mark.parametrize("convert", [True, False])
def test_decoder_module(convert):
    dt = 0.002
    decoder = SpikesToTimesDecoder(torch.as_tensor(2), convert_indices_to_times=convert, dt=dt)
    assert decoder.convert_to_time is convert and decoder.dt == dt
    z = torch.zeros(5, 2, 3)
    z[0, 0, 0] = z[4, 0, 0] = z[2, 1, 2] = 1
    z.requires_grad_(True)
    out = decoder(z)
    scale = dt if convert else 1.0
    assert out.shape == (2, 2, 3)
    assert out[0, 0, 0].item() == pytest.approx(0.0)
    assert out[1, 0, 0].item() == pytest.approx(4 * scale)
    assert out[0, 1, 2].item() == pytest.approx(2 * scale)
    assert torch.isinf(out[1, 1, 2])
    out[torch.isfinite(out)].sum().backward()
    assert z.grad[4, 0, 0].item() == pytest.approx(-scale)
    assert z.grad[2, 1, 2].item() == pytest.approx(-scale)
    assert z.grad.abs().sum().item() == pytest.approx(3 * scale)


def test_decoder_default_and_pickle():
    decoder = SpikesToTimesDecoder()
    assert int(decoder.spike_count) == 1
    z = (torch.rand(4, 2, 3) < 0.5).float()
    again = pickle.loads(pickle.dumps(decoder))
    assert torch.equal(decoder(z), again(z))
    assert decoder(z).shape == (1, 2, 3)


@pytest.mark.parametrize("count", [0, torch.as_tensor(0), np.int64(0)])
def test_zero_spike_count_gives_empty_times_and_zero_gradient(count):
    # 1.1.0 keeps the first `spike_count if spike_count < T else T` rows: none
    z = (torch.rand(5, 2, 3, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    z.requires_grad_(True)
    out = ToSpikeTimes.apply(z, count)
    assert out.shape == (0, 2, 3) and out.dtype == z.dtype
    out.sum().backward()
    assert z.grad.shape == z.shape and torch.equal(z.grad, torch.zeros_like(z))
    z.grad = None
    decoder = SpikesToTimesDecoder(count)
    times = decoder(z)
    assert times.shape == (0, 2, 3)
    (times * 3.0).sum().backward()
    assert torch.equal(z.grad, torch.zeros_like(z))
    assert ToSpikeTimes.apply(torch.zeros(0, 2, 3), 1).shape == (0, 2, 3)  # T = 0


def test_spike_count_accepts_integral_numbers():
    z = torch.tensor([[[0.0, 1.0]], [[1.0, 1.0]]])
    for count in (np.int64(2), np.prod([2]), torch.tensor([2], dtype=torch.int32)):
        assert ToSpikeTimes.apply(z, count).shape == (2, 1, 2)
        assert SpikesToTimesDecoder(count)(z).shape == (2, 1, 2)


def test_bad_input():
    with pytest.raises(ValueError, match="ToSpikeTimes: spike_count must be at least 0, got -1"):
        ToSpikeTimes.apply(torch.ones(3, 1, 1), -1)
    with pytest.raises(TypeError, match="spike_count must be an integer, got float"):
        ToSpikeTimes.apply(torch.ones(3, 1, 1), 1.5)
    with pytest.raises(TypeError, match="spike_count must be an integer, got bool"):
        ToSpikeTimes.apply(torch.ones(3, 1, 1), True)
    with pytest.raises(TypeError, match="spike_count"):
        ToSpikeTimes.apply(torch.ones(3, 1, 1), torch.tensor(1.0))
    with pytest.raises(TypeError, match="spike_input"):
        ToSpikeTimes.apply([1.0], 1)
    with pytest.raises(ValueError, match="SpikesToTimesDecoder: spike_count must be at least 0"):
        SpikesToTimesDecoder(torch.as_tensor(-2))
    with pytest.raises(TypeError, match="SpikesToTimesDecoder: spike_count"):
        SpikesToTimesDecoder(2.0)
    with pytest.raises(ValueError, match="dt"):
        SpikesToTimesDecoder(dt=-1.0)
