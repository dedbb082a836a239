"""Encoders (functional and modules): shapes, dtypes, rates, latency, errors."""

from __future__ import annotations

import math
import pickle

import pytest
import torch

from norse.torch.functional import encode
from norse.torch.functional.lif import LIFParameters
from norse.torch.module import encode as mencode
from norse.torch.utils.state import _is_module_stateful

RATE_FUNCTIONS = [encode.poisson_encode, encode.signed_poisson_encode]
STEP_FUNCTIONS = [encode.poisson_encode_step, encode.signed_poisson_encode_step]
LIF_FUNCTIONS = [encode.constant_current_lif_encode, encode.spike_latency_lif_encode]
SEQ_MODULES = [
    mencode.ConstantCurrentLIFEncoder,
    mencode.PoissonEncoder,
    mencode.SignedPoissonEncoder,
    mencode.SpikeLatencyLIFEncoder,
]


def _ids(fns):
    return [f.__name__ for f in fns]


# ----------------------------------------------------------------------------- population
def test_population_encode_sanity_rows():
    out = encode.population_encode(torch.tensor([0.0, 1.0, 2.0]), 3)
    e1, e4 = math.exp(-1), math.exp(-4)
    expected = torch.tensor([[1, e1, e4], [e1, 1, e1], [e4, e1, 1]])
    torch.testing.assert_close(out, expected)


def test_population_encode_formula_with_scale_and_shape():
    x = torch.rand(4, 5)
    out = encode.population_encode(x, 7, scale=3.0)
    assert out.shape == (4, 5, 7)
    centres = torch.linspace(0, 3.0, 7)
    expected = torch.exp(-((x.unsqueeze(-1) - centres) ** 2) * 3.0 / 2)
    torch.testing.assert_close(out, expected)
    # scale 0 counts as "not given": the input's maximum is used
    torch.testing.assert_close(
        encode.population_encode(x, 7, scale=0), encode.population_encode(x, 7, scale=None)
    )


def test_population_encoder_module_and_custom_kernel():
    x = torch.tensor([0.0, 1.0])
    enc = mencode.PopulationEncoder(2, scale=1.0, kernel=lambda d: -d, distance_function=torch.sub)
    torch.testing.assert_close(enc(x), -(x.unsqueeze(-1) - torch.tensor([0.0, 1.0])))
    assert encode.population_encode(x.double(), 3).dtype == torch.float64


def test_gaussian_rbf_and_distance():
    torch.testing.assert_close(
        encode.gaussian_rbf(torch.tensor([0.0, 8.0]), sigma=2.0), torch.tensor([1.0, math.exp(-1)])
    )
    assert encode.euclidean_distance(torch.tensor(1.0), torch.tensor(4.0)) == 9


# ----------------------------------------------------------------------------- rate codes
@pytest.mark.parametrize("fn", RATE_FUNCTIONS, ids=_ids(RATE_FUNCTIONS))
def test_rate_shapes_and_dtypes(fn):
    for dtype in (torch.float32, torch.float64, torch.int64):
        x = torch.ones(2, 3, dtype=dtype)
        z = fn(x, 5)
        assert z.shape == (5, 2, 3)
        assert z.dtype.is_floating_point
    assert encode.poisson_encode(torch.ones(2, dtype=torch.float64), 4).dtype == torch.float32
    assert fn(torch.ones(3), 0).shape == (0, 3)


@pytest.mark.parametrize("fn", RATE_FUNCTIONS, ids=_ids(RATE_FUNCTIONS))
def test_rates_converge_to_dt_fmax_x(fn):
    g = torch.Generator().manual_seed(1234)
    x = torch.tensor([0.0, 0.25, 0.5, 1.0])
    f_max, dt, steps = 200.0, 0.001, 20000
    z = fn(x, steps, f_max=f_max, dt=dt, generator=g)
    p = dt * f_max * x
    # binomial standard error ~ sqrt(p(1-p)/n) <= 0.0029; allow > 5 sigma
    torch.testing.assert_close(z.abs().mean(0), p, atol=0.015, rtol=0)


@pytest.mark.parametrize(
    "fn", RATE_FUNCTIONS + STEP_FUNCTIONS, ids=_ids(RATE_FUNCTIONS + STEP_FUNCTIONS)
)
def test_generator_reproducibility(fn):
    x = torch.rand(16)
    args = (x, 50) if fn in RATE_FUNCTIONS else (x,)
    a = fn(*args, f_max=500, generator=torch.Generator().manual_seed(3))
    b = fn(*args, f_max=500, generator=torch.Generator().manual_seed(3))
    c = fn(*args, f_max=500, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_signed_poisson_has_the_sign_of_the_input_and_the_poisson_magnitude():
    x = torch.linspace(-1, 1, 21)
    s = encode.signed_poisson_encode(x, 200, f_max=300, generator=torch.Generator().manual_seed(5))
    p = encode.poisson_encode(x.abs(), 200, f_max=300, generator=torch.Generator().manual_seed(5))
    assert set(s.unique().tolist()) <= {-1.0, 0.0, 1.0}
    assert torch.equal(s, torch.sign(x) * p)


def test_step_encoders_default_fmax_is_1000():
    # dt * f_max = 1 with the defaults: a value of 1 always fires, 0 never does
    x = torch.tensor([0.0, 1.0, -1.0])
    assert torch.equal(encode.poisson_encode_step(x.clamp(min=0)), torch.tensor([0.0, 1.0, 0.0]))
    assert torch.equal(encode.signed_poisson_encode_step(x), x)
    assert torch.equal(mencode.PoissonEncoderStep()(x.clamp(min=0)), torch.tensor([0.0, 1.0, 0.0]))
    assert torch.equal(mencode.SignedPoissonEncoderStep()(x), x)
    assert mencode.PoissonEncoderStep(f_max=0)(torch.ones(4)).sum() == 0


@pytest.mark.parametrize(
    "fn", RATE_FUNCTIONS + STEP_FUNCTIONS, ids=_ids(RATE_FUNCTIONS + STEP_FUNCTIONS)
)
def test_random_numbers_are_drawn_on_the_input_device(fn, monkeypatch):
    # 1.1.0's signed_poisson_encode drew them on the CPU whatever the input's device
    devices = []
    rand = torch.rand

    def recording_rand(*args, **kwargs):
        devices.append(kwargs.get("device"))
        return rand(*args, **kwargs)

    monkeypatch.setattr(torch, "rand", recording_rand)
    x = torch.ones(3)
    fn(x, 4) if fn in RATE_FUNCTIONS else fn(x)
    assert devices == [x.device]


# ----------------------------------------------------------------------------- current codes
def _lif_steps_to_spike(x: float, p: LIFParameters, dt: float) -> int:
    """Euler steps from v=0 until v > v_th for v' = v + dt/tau (x - v) (v_leak = 0)."""
    a = dt * float(p.tau_mem_inv)
    return math.floor(math.log(1 - float(p.v_th) / x) / math.log(1 - a)) + 1


@pytest.mark.parametrize("x", [1.5, 2.0, 3.3, 10.0])
def test_constant_current_fires_at_the_lif_rate(x):
    p, dt, steps = LIFParameters(), 0.001, 200
    z = encode.constant_current_lif_encode(torch.tensor([x]), steps, p, dt)
    k = _lif_steps_to_spike(x, p, dt)
    # v resets to 0 = the starting value, so the spike train is periodic with period k
    expected = torch.zeros(steps)
    expected[k - 1 :: k] = 1
    assert torch.equal(z[:, 0], expected)


def test_constant_current_rate_matches_continuous_lif_for_small_dt():
    # continuous LIF (tau = 10 ms, v_th = 1): period tau * ln(x / (x - 1))
    x = torch.tensor([1.5, 2.0, 4.0])
    dt, steps = 4e-5, 5000
    z = mencode.ConstantCurrentLIFEncoder(steps, dt=dt)(x)
    expected = steps * dt / (0.01 * torch.log(x / (x - 1)))
    assert torch.all((z.sum(0) - expected).abs() <= 1.5)


def test_subthreshold_current_never_fires_and_output_is_float32():
    z = encode.constant_current_lif_encode(torch.full((2, 3), 0.9, dtype=torch.float64), 100)
    assert z.shape == (100, 2, 3) and z.dtype == torch.float32 and z.sum() == 0
    assert encode.constant_current_lif_encode(torch.ones(2, dtype=torch.int64) * 5, 10).sum() > 0


def test_constant_current_has_surrogate_gradient():
    x = torch.tensor([1.5, 3.0], requires_grad=True)
    encode.constant_current_lif_encode(x, 30).sum().backward()
    assert x.grad is not None and torch.all(x.grad != 0)


def test_spike_latency_encode_keeps_first_spike_and_dtype():
    torch.manual_seed(0)
    for dtype in (torch.int64, torch.bool, torch.float32):
        spikes = (torch.rand(20, 4, 6) < 0.3).to(dtype)
        out = encode.spike_latency_encode(spikes)
        assert out.dtype == dtype and out.shape == spikes.shape
        s, o = spikes.long(), out.long()
        assert torch.all(o.sum(0) == (s.sum(0) > 0).long())  # at most one spike, if any
        first = torch.where(s.sum(0) > 0, s.argmax(0), -1)
        assert torch.all(torch.where(o.sum(0) > 0, o.argmax(0), -1) == first)
    assert torch.equal(mencode.SpikeLatencyEncoder()(spikes), encode.spike_latency_encode(spikes))


def test_spike_latency_lif_encode_is_first_spike_of_constant_current():
    x = torch.tensor([[0.5, 1.2, 2.0], [5.0, 20.0, 100.0]])
    z = encode.spike_latency_lif_encode(x, 50)
    assert torch.equal(z, encode.spike_latency_encode(encode.constant_current_lif_encode(x, 50)))
    # a stronger current spikes earlier
    t = z.argmax(0)[1]
    assert t[0] > t[1] > t[2] or (t[1] == t[2] == 0)
    assert mencode.SpikeLatencyLIFEncoder(50)(x).sum(0).max() == 1


# ----------------------------------------------------------------------------- modules
@pytest.mark.parametrize("cls", SEQ_MODULES, ids=_ids(SEQ_MODULES))
def test_seq_length_at_construction_or_call_time(cls):
    x = torch.rand(2, 3) * 3
    torch.manual_seed(0)
    a = cls(7)(x)
    torch.manual_seed(0)
    b = cls()(x, seq_length=7)
    torch.manual_seed(0)
    c = cls(3)(x, seq_length=7)  # the call wins
    assert a.shape == (7, 2, 3)
    assert torch.equal(a, b) and torch.equal(a, c)
    with pytest.raises(TypeError, match=rf"{cls.__name__}.*seq_length"):
        cls()(x)
    with pytest.raises(ValueError, match="seq_length"):
        cls(-1)
    with pytest.raises(ValueError, match="seq_length"):
        cls()(x, seq_length=2.5)
    assert not _is_module_stateful(cls(3))
    assert pickle.loads(pickle.dumps(cls(3)))(x).shape == (3, 2, 3)


def test_poisson_encoder_module_matches_function():
    x = torch.rand(5)
    torch.manual_seed(1)
    a = mencode.PoissonEncoder(20, f_max=300, dt=0.002)(x)
    torch.manual_seed(1)
    b = encode.poisson_encode(x, 20, f_max=300, dt=0.002)
    assert torch.equal(a, b)


def test_lif_encoder_parameters_follow_the_module():
    enc = mencode.ConstantCurrentLIFEncoder(5)
    assert enc.p.v_th is not LIFParameters().v_th  # defaults are copied, not shared
    assert enc.double().p.v_th.dtype == torch.float64
    v_th = torch.tensor(0.5)
    assert mencode.SpikeLatencyLIFEncoder(5, p=LIFParameters(v_th=v_th)).p.v_th is v_th
    assert "seq_length=5" in repr(enc) and "f_max=100" in repr(mencode.PoissonEncoder(5))


# ----------------------------------------------------------------------------- errors
ALL_SEQ_FUNCTIONS = RATE_FUNCTIONS + LIF_FUNCTIONS


@pytest.mark.parametrize("fn", ALL_SEQ_FUNCTIONS, ids=_ids(ALL_SEQ_FUNCTIONS))
def test_seq_length_errors(fn):
    x = torch.ones(3)
    with pytest.raises(ValueError, match="seq_length"):
        fn(x, -1)
    with pytest.raises(ValueError, match="seq_length"):
        fn(x, 2.0)
    with pytest.raises(TypeError, match="seq_length"):
        fn(x, "10")
    with pytest.raises(TypeError, match="seq_length"):
        fn(x, None)
    with pytest.raises(TypeError, match="input"):
        fn([1.0, 2.0], 3)
    with pytest.raises(ValueError, match="dt"):
        fn(x, 3, dt=-0.001)
    assert fn(x, torch.tensor(4)).shape == (4, 3)


@pytest.mark.parametrize(
    "fn", RATE_FUNCTIONS + STEP_FUNCTIONS, ids=_ids(RATE_FUNCTIONS + STEP_FUNCTIONS)
)
def test_rate_argument_errors(fn):
    args = (torch.ones(3), 3) if fn in RATE_FUNCTIONS else (torch.ones(3),)
    with pytest.raises(ValueError, match="f_max"):
        fn(*args, f_max=-1)
    with pytest.raises(TypeError, match="f_max"):
        fn(*args, f_max="100")
    with pytest.raises(ValueError, match="dt"):
        fn(*args, dt=-1.0)
    with pytest.raises(TypeError, match="generator"):
        fn(*args, generator=0)
    with pytest.raises(TypeError, match="input_values"):
        fn(1.0, *args[1:])


def test_other_encoder_errors():
    with pytest.raises(TypeError, match="out_features"):
        encode.population_encode(torch.ones(2), 2.0)
    with pytest.raises(ValueError, match="out_features"):
        mencode.PopulationEncoder(0)
    with pytest.raises(TypeError, match="input_spikes"):
        encode.spike_latency_encode([0, 1])
    with pytest.raises(ValueError, match="input_spikes"):
        encode.spike_latency_encode(torch.tensor(1.0))
    with pytest.raises(TypeError, match="p must be a LIFParameters"):
        mencode.ConstantCurrentLIFEncoder(3, p=1.0)
    with pytest.raises(ValueError, match="f_max"):
        mencode.PoissonEncoder(3, f_max=-5)
    with pytest.raises(ValueError, match="dt"):
        mencode.PoissonEncoderStep(dt=0)
