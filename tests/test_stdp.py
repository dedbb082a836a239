"""STDP (API.md §2.29), the STDP sensor (§2.30) and the STDP learner module."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from norse.torch.functional.stdp import (
    STDPParameters,
    STDPState,
    stdp_step_conv2d,
    stdp_step_linear,
)
from norse.torch.functional.stdp_sensor import (
    STDPSensorParameters,
    STDPSensorState,
    stdp_sensor_step,
)

ALGORITHMS = ["additive", "additive_step", "multiplicative_pow", "multiplicative_relu"]
DT = 0.001


def _pair(lag: int, p: STDPParameters, w0: float = 0.5) -> float:
    """Weight change of one synapse after a pre spike at step 0 and a post spike at ``lag``
    (negative lag: post first), running until both traces have passed."""
    w = torch.full((1, 1), w0, dtype=torch.float64)
    s = STDPState(torch.zeros(1, 1, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64))
    t_pre, t_post = (0, lag) if lag >= 0 else (-lag, 0)
    for t in range(max(t_pre, t_post) + 1):
        zp = torch.tensor([[float(t == t_pre)]], dtype=torch.float64)
        zq = torch.tensor([[float(t == t_post)]], dtype=torch.float64)
        w, s = stdp_step_linear(zp, zq, w, s, p, DT)
    return w.item() - w0


@pytest.mark.parametrize("lag", [1, 4, 15])
def test_pre_before_post_potentiates_with_tau_pre(lag):
    p = STDPParameters(tau_pre_inv=torch.tensor(20.0), tau_post_inv=torch.tensor(50.0))
    decay = 1 - DT * 20.0
    expected = p.eta_plus * DT * 20.0 * decay**lag
    assert _pair(lag, p) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("lag", [1, 4, 15])
def test_post_before_pre_depresses_with_tau_post(lag):
    p = STDPParameters(tau_pre_inv=torch.tensor(20.0), tau_post_inv=torch.tensor(50.0))
    decay = 1 - DT * 50.0
    expected = -p.eta_minus * DT * 50.0 * decay**lag
    assert _pair(-lag, p) == pytest.approx(expected, rel=1e-6)


def test_window_shape_approaches_exponential():
    """Over lags, the window is exp(-lag*dt/tau) on each side (up to O(dt) discretisation)."""
    p = STDPParameters(tau_pre_inv=torch.tensor(10.0), tau_post_inv=torch.tensor(40.0))
    for lag, tau_inv in ((30, 10.0), (-10, 40.0)):
        ratio = _pair(lag, p) / _pair(int(lag / abs(lag)), p)
        continuous = torch.exp(torch.tensor(-(abs(lag) - 1) * DT * tau_inv)).item()
        assert ratio == pytest.approx(continuous, rel=0.02)


def test_amplitudes_scale_with_a_and_eta():
    base = _pair(3, STDPParameters())
    assert _pair(3, STDPParameters(a_pre=torch.tensor(2.0), eta_plus=3e-3)) == pytest.approx(
        6 * base, rel=1e-6
    )
    dep = _pair(-3, STDPParameters())
    assert _pair(-3, STDPParameters(a_post=torch.tensor(0.5))) == pytest.approx(dep / 2, rel=1e-6)


def test_simultaneous_spikes_cancel_for_symmetric_additive_rule():
    assert _pair(0, STDPParameters()) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_algorithm_has_the_right_sign(algorithm):
    p = STDPParameters(stdp_algorithm=algorithm, mu=0.5)
    assert _pair(5, p, w0=0.4) > 0
    assert _pair(-5, p, w0=0.4) < 0


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_weights_stay_in_hard_bounds(algorithm):
    torch.manual_seed(0)
    p = STDPParameters(
        w_min=-0.2, w_max=0.7, eta_plus=5.0, eta_minus=4.0, stdp_algorithm=algorithm, mu=2.0
    )
    w = torch.rand(6, 9) - 0.1
    w = w.clamp(-0.2, 0.7)
    s = STDPState(torch.zeros(3, 9), torch.zeros(3, 6))
    for _ in range(200):
        zp = (torch.rand(3, 9) < 0.3).float()
        zq = (torch.rand(3, 6) < 0.3).float()
        w, s = stdp_step_linear(zp, zq, w, s, p)
        assert w.min() >= -0.2 and w.max() <= 0.7
    assert w.min() == -0.2 or w.max() == 0.7  # the bounds were actually hit


def test_multiplicative_relu_soft_bounds_without_hardbound():
    torch.manual_seed(1)
    p = STDPParameters(eta_plus=0.5, eta_minus=0.5, stdp_algorithm="multiplicative_relu")
    p.hardbound = False
    w = torch.rand(4, 5)
    s = STDPState(torch.zeros(1, 5), torch.zeros(1, 4))
    for _ in range(300):
        zp = (torch.rand(1, 5) < 0.5).float()
        zq = (torch.rand(1, 4) < 0.5).float()
        w, s = stdp_step_linear(zp, zq, w, s, p)
    assert w.min() >= 0 and w.max() <= 1


def test_additive_step_stops_at_the_bound():
    p = STDPParameters(stdp_algorithm="additive_step")
    assert _pair(2, p, w0=1.0) == 0.0
    assert _pair(-2, p, w0=0.0) == 0.0


def test_batch_sums_the_pairs_of_each_sample():
    torch.manual_seed(2)
    zp = (torch.rand(5, 2, 7) < 0.4).float()
    zq = (torch.rand(5, 2, 3) < 0.4).float()
    p = STDPParameters(hardbound=False)
    w0 = torch.full((3, 7), 0.5)

    def run(zp, zq):
        w, s = w0.clone(), STDPState(torch.zeros_like(zp[0]), torch.zeros_like(zq[0]))
        for a, b in zip(zp.unbind(0), zq.unbind(0), strict=True):
            w, s2 = stdp_step_linear(a, b, w, s, p)
            assert s2 is s  # the state object is updated in place and returned
        return w - w0

    single = run(zp[:, :1], zq[:, :1]) + run(zp[:, 1:], zq[:, 1:])
    torch.testing.assert_close(run(zp, zq), single)


def test_step_does_not_modify_weights_in_place():
    w = torch.full((1, 1), 0.5)
    s = STDPState(torch.ones(1, 1), torch.zeros(1, 1))
    w2, _ = stdp_step_linear(torch.zeros(1, 1), torch.ones(1, 1), w, s)
    assert w.item() == 0.5 and w2.item() > 0.5


def test_state_decay_follows_the_trace_equation():
    s = STDPState(torch.tensor([1.0]), torch.tensor([2.0]))
    s.decay(torch.tensor([1.0]), torch.tensor([0.0]), 20.0, 50.0, 3.0, 1.0, dt=0.001)
    torch.testing.assert_close(s.t_pre, torch.tensor([1.0 + 0.02 * (-1.0 + 3.0)]))
    torch.testing.assert_close(s.t_post, torch.tensor([2.0 - 0.05 * 2.0]))


def test_parameters_per_algorithm():
    assert STDPParameters().mu.item() == 0.0
    assert STDPParameters(stdp_algorithm="multiplicative_pow", mu=0.3).mu.item() == pytest.approx(
        0.3
    )
    assert STDPParameters(stdp_algorithm="multiplicative_relu", mu=0.3).mu.item() == 1.0
    w = torch.tensor([0.0, 0.25, 1.0])
    p = STDPParameters(stdp_algorithm="multiplicative_pow", mu=2.0)
    torch.testing.assert_close(p.A_plus(w), 1e-3 * (1 - w) ** 2)
    torch.testing.assert_close(p.A_minus(w), 1e-3 * w**2)
    assert torch.equal(STDPParameters(hardbound=False).bounding_func(w * 3), w * 3)


# ----------------------------------------------------------------------------- conv2d
@pytest.mark.parametrize(
    "geometry",
    [
        dict(stride=1, padding=0, dilation=1),
        dict(stride=2, padding=1, dilation=1),
        dict(stride=1, padding=2, dilation=2),
    ],
    ids=["plain", "stride2-pad1", "dilated"],
)
def test_conv2d_matches_the_convolution_gradient(geometry):
    """The correlation of post spikes with unfolded pre traces is d/dw of <z_post, conv(t_pre, w)>."""
    torch.manual_seed(3)
    zp = (torch.rand(2, 3, 9, 8) < 0.3).double()
    w0 = torch.rand(4, 3, 3, 2, dtype=torch.float64)
    out_shape = F.conv2d(zp, w0, **geometry).shape
    zq = (torch.rand(out_shape) < 0.3).double()
    p = STDPParameters(hardbound=False, convolutional=True, **geometry)
    s = STDPState(torch.zeros_like(zp), torch.zeros_like(zq))
    w, s = stdp_step_conv2d(zp, zq, w0, s, p)

    t_pre, t_post = DT * 20.0 * zp, DT * 20.0 * zq  # traces after one step from zero
    wr = w0.clone().requires_grad_()
    plus = torch.autograd.grad((zq * F.conv2d(t_pre, wr, **geometry)).sum(), wr)[0]
    minus = torch.autograd.grad((t_post * F.conv2d(zp, wr, **geometry)).sum(), wr)[0]
    torch.testing.assert_close(w, w0 + 1e-3 * plus - 1e-3 * minus)
    torch.testing.assert_close(s.t_pre, t_pre)


def test_conv2d_with_full_kernel_equals_linear():
    torch.manual_seed(4)
    zp = (torch.rand(6, 3, 2, 2, 2) < 0.4).float()
    zq = (torch.rand(6, 3, 5, 1, 1) < 0.4).float()
    w_conv = torch.rand(5, 2, 2, 2)
    w_lin = w_conv.reshape(5, 8).clone()
    p = STDPParameters(convolutional=True, eta_plus=0.1, eta_minus=0.05)
    sc = STDPState(torch.zeros(3, 2, 2, 2), torch.zeros(3, 5, 1, 1))
    sl = STDPState(torch.zeros(3, 8), torch.zeros(3, 5))
    for a, b in zip(zp.unbind(0), zq.unbind(0), strict=True):
        w_conv, sc = stdp_step_conv2d(a, b, w_conv, sc, p)
        w_lin, sl = stdp_step_linear(a.reshape(3, 8), b.reshape(3, 5), w_lin, sl, p)
    torch.testing.assert_close(w_conv.reshape(5, 8), w_lin)


# ----------------------------------------------------------------------------- errors
def test_linear_shape_mismatch_errors():
    s = STDPState(torch.zeros(1), torch.zeros(1))
    with pytest.raises(ValueError, match=r"need w of shape \(3, 4\)"):
        stdp_step_linear(torch.zeros(2, 4), torch.zeros(2, 3), torch.zeros(4, 3), s)
    with pytest.raises(ValueError, match="equal batch sizes"):
        stdp_step_linear(torch.zeros(2, 4), torch.zeros(1, 3), torch.zeros(3, 4), s)
    with pytest.raises(ValueError, match="unsqueeze"):
        stdp_step_linear(torch.zeros(4), torch.zeros(3), torch.zeros(3, 4), s)
    with pytest.raises(TypeError, match="w must be a torch.Tensor"):
        stdp_step_linear(torch.zeros(1, 4), torch.zeros(1, 3), [[0.0] * 4] * 3, s)
    with pytest.raises(TypeError, match="state_stdp"):
        stdp_step_linear(torch.zeros(1, 4), torch.zeros(1, 3), torch.zeros(3, 4), None)


def test_conv2d_geometry_errors():
    s = STDPState(torch.zeros(1), torch.zeros(1))
    with pytest.raises(ValueError, match="maps z_pre of spatial size"):  # kernel too big
        stdp_step_conv2d(
            torch.zeros(1, 1, 3, 3), torch.zeros(1, 2, 1, 1), torch.zeros(2, 1, 5, 5), s
        )
    with pytest.raises(ValueError, match=r"to \(3, 3\)"):  # wrong output size
        stdp_step_conv2d(
            torch.zeros(1, 1, 5, 5), torch.zeros(1, 2, 5, 5), torch.zeros(2, 1, 3, 3), s
        )
    with pytest.raises(ValueError, match="channels"):
        stdp_step_conv2d(
            torch.zeros(1, 3, 5, 5), torch.zeros(1, 2, 3, 3), torch.zeros(2, 1, 3, 3), s
        )
    with pytest.raises(ValueError, match=r"z_pre \(B, C, H, W\)"):
        stdp_step_conv2d(torch.zeros(1, 5, 5), torch.zeros(1, 2, 3, 3), torch.zeros(2, 1, 3, 3), s)


@pytest.mark.parametrize("name", ["tau_pre_inv", "tau_post_inv"])
def test_negative_time_constants_are_rejected(name):
    with pytest.raises(ValueError, match=name):
        STDPParameters(**{name: torch.tensor(-1.0)})
    with pytest.raises(ValueError, match=name):
        STDPParameters(**{name: -5.0})
    with pytest.raises(TypeError, match=name):
        STDPParameters(**{name: "fast"})


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError, match="stdp_algorithm"):
        STDPParameters(stdp_algorithm="hebbian")
    with pytest.raises(ValueError, match="w_min"):
        STDPParameters(w_min=1.0, w_max=0.0)


# ----------------------------------------------------------------------------- sensor
def test_sensor_traces_jump_and_decay_with_tau_c():
    p = STDPSensorParameters(eta_p=torch.tensor(2.0), eta_m=torch.tensor(0.5))
    s = STDPSensorState(torch.zeros(2, 3), torch.zeros(2, 1))
    s = stdp_sensor_step(torch.ones(2, 3), torch.ones(2, 1), s, p)
    assert torch.all(s.a_pre == 2.0) and torch.all(s.a_post == 0.5)
    for _ in range(100):
        s = stdp_sensor_step(torch.zeros(2, 3), torch.zeros(2, 1), s, p)
    torch.testing.assert_close(s.a_pre, torch.full((2, 3), 2.0 * 0.99**100))
    torch.testing.assert_close(s.a_post, torch.full((2, 1), 0.5 * 0.99**100))


def test_sensor_ignores_tau_ac_inv():
    s = STDPSensorState(torch.ones(3), torch.ones(3))
    a = stdp_sensor_step(torch.zeros(3), torch.ones(3), s, STDPSensorParameters())
    b = stdp_sensor_step(
        torch.zeros(3), torch.ones(3), s, STDPSensorParameters(tau_ac_inv=torch.tensor(1e3))
    )
    assert torch.equal(a.a_pre, b.a_pre) and torch.equal(a.a_post, b.a_post)


def test_sensor_bad_state():
    with pytest.raises(TypeError, match="STDPSensorState"):
        stdp_sensor_step(torch.zeros(1), torch.zeros(1), (torch.zeros(1), torch.zeros(1)))


# ----------------------------------------------------------------------------- learner
def _spikes(*shape, rate=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g) < rate).float()


def test_learner_linear_matches_functional_loop():
    from norse.torch.module.lif import LIFCell
    from norse.torch.module.stdp import STDPLearner

    torch.manual_seed(0)
    layer = torch.nn.Linear(6, 3, bias=True)
    torch.nn.init.uniform_(layer.weight, 0.2, 0.8)
    ref_w = layer.weight.detach().clone()
    p = STDPParameters(eta_plus=0.02, eta_minus=0.01)
    learner = STDPLearner(layer, p=p)
    x = _spikes(30, 2, 6) * 4
    cell, s_ref, traces, st = LIFCell(), None, None, None
    for xt in x.unbind(0):
        z, st = learner(xt, st)
        zr, s_ref = cell(torch.nn.functional.linear(xt, ref_w, layer.bias), s_ref)
        traces = traces or STDPState(torch.zeros_like(xt), torch.zeros_like(zr))
        ref_w, traces = stdp_step_linear(xt, zr.detach(), ref_w, traces, p)
        assert torch.equal(z, zr)
    assert x.sum() > 0 and not torch.equal(ref_w, torch.full_like(ref_w, 0.5))
    torch.testing.assert_close(layer.weight.detach(), ref_w)
    torch.testing.assert_close(st.stdp.t_post, traces.t_post)


@pytest.mark.parametrize("mode", ["eval", "learning_off"])
def test_learner_frozen_keeps_weights_but_tracks_traces(mode):
    from norse.torch.module.stdp import STDPLearner

    learner = STDPLearner(torch.nn.Linear(5, 2), learning=mode != "learning_off")
    if mode == "eval":
        learner.eval()
    w0 = learner.layer.weight.detach().clone()
    state = None
    for xt in (_spikes(20, 1, 5) * 10).unbind(0):
        _, state = learner(xt, state)
    assert torch.equal(learner.layer.weight, w0)
    assert state.stdp.t_pre.abs().sum() > 0


@pytest.mark.parametrize(
    ("conv", "padding"),
    [
        (dict(kernel_size=3, stride=2, padding=1), (1, 1)),
        (dict(kernel_size=(3, 1), padding="same"), (1, 0)),
        (dict(kernel_size=2, dilation=2, padding="valid"), (0, 0)),
    ],
    ids=["stride2", "same", "dilated"],
)
def test_learner_conv2d_matches_functional_loop(conv, padding):
    from norse.torch.module.lif import LIFCell
    from norse.torch.module.stdp import STDPLearner

    torch.manual_seed(1)
    layer = torch.nn.Conv2d(2, 3, bias=False, **conv)
    torch.nn.init.uniform_(layer.weight, 0.3, 0.7)
    ref_w = layer.weight.detach().clone()
    learner = STDPLearner(layer, p=STDPParameters(eta_plus=0.05, eta_minus=0.04))
    geometry = {
        "stride": layer.stride,
        "padding": padding,
        "dilation": layer.dilation,
    }
    p = STDPParameters(eta_plus=0.05, eta_minus=0.04, convolutional=True, **geometry)
    x = _spikes(15, 2, 2, 7, 6, rate=0.5) * 3
    cell, s_ref, traces, st = LIFCell(), None, None, None
    for xt in x.unbind(0):
        z, st = learner(xt, st)
        zr, s_ref = cell(torch.nn.functional.conv2d(xt, ref_w, **geometry), s_ref)
        traces = traces or STDPState(torch.zeros_like(xt), torch.zeros_like(zr))
        ref_w, traces = stdp_step_conv2d(xt, zr.detach(), ref_w, traces, p)
        assert torch.equal(z, zr)
    assert x.sum() > 0
    torch.testing.assert_close(layer.weight.detach(), ref_w)
    assert learner.p.convolutional and learner.p.stride == tuple(layer.stride)


def test_learner_unbatched_inputs_and_bounds():
    from norse.torch.module.stdp import STDPLearner

    lin = STDPLearner(torch.nn.Linear(4, 3), p=STDPParameters(eta_plus=1.0, eta_minus=0.5))
    state = None
    for xt in (_spikes(40, 4) * 20).unbind(0):
        z, state = lin(xt, state)
        assert z.shape == (3,)
    assert lin.layer.weight.min() >= 0 and lin.layer.weight.max() <= 1
    conv = STDPLearner(torch.nn.Conv2d(1, 2, 3))
    z, state = conv(torch.ones(1, 5, 5))
    assert z.shape == (2, 3, 3)
    z, state = lin(torch.ones(2, 5, 4))  # extra leading dims are batch
    assert z.shape == (2, 5, 3) and state.stdp.t_pre.shape == (10, 4)


def test_learner_errors():
    from norse.torch.module.stdp import STDPLearner

    with pytest.raises(TypeError, match="layer must be"):
        STDPLearner(torch.nn.Conv1d(1, 1, 3))
    with pytest.raises(ValueError, match="groups=1"):
        STDPLearner(torch.nn.Conv2d(2, 2, 3, groups=2))
    with pytest.raises(ValueError, match="pads unevenly"):
        STDPLearner(torch.nn.Conv2d(1, 1, 2, padding="same"))
    with pytest.raises(TypeError, match="p must be"):
        STDPLearner(torch.nn.Linear(2, 2), p={"eta_plus": 1.0})
    with pytest.raises(ValueError, match="in_features=3"):
        STDPLearner(torch.nn.Linear(3, 2))(torch.ones(1, 4))
    with pytest.raises(ValueError, match="C=2"):
        STDPLearner(torch.nn.Conv2d(2, 1, 3))(torch.ones(1, 1, 5, 5))
    with pytest.raises(ValueError, match="does not fit"):
        STDPLearner(torch.nn.Conv2d(1, 1, 7))(torch.ones(1, 1, 5, 5))
    with pytest.raises(TypeError, match="STDPLearnerState"):
        STDPLearner(torch.nn.Linear(3, 2))(torch.ones(1, 3), (None, None))


# ----------------------------------------------------------------------------- example
def test_pattern_example_finds_the_pattern(tmp_path, capsys):
    """The STDP example (norse.task.stdp_pattern), shortened: after 4 s the strongest weights
    sit on the pattern afferents and the neuron fires in most pattern copies."""
    pytest.importorskip("matplotlib")
    from norse.task import stdp_pattern

    image = tmp_path / "stdp.png"
    result = stdp_pattern.main(["--seconds", "4", "--plot", str(image)])
    n = result.n_pattern
    strongest = result.weights.topk(30).indices
    assert (strongest < n).sum() >= 25
    assert result.weights[:n].mean() > result.weights[n:].mean()
    assert result.hits(20) >= 0.6
    assert result.weights.min() >= 0 and result.weights.max() <= 1
    assert "wrote" in capsys.readouterr().out

    import matplotlib.image

    pixels = torch.as_tensor(matplotlib.image.imread(image))
    assert pixels.var() > 0


def test_namespaces():
    """The sensor is re-exported at the top level; the STDP rule is reachable by path only."""
    import norse.torch

    for name in ("STDPSensorParameters", "STDPSensorState", "stdp_sensor_step"):
        assert name in norse.torch.__all__
    for name in ("STDPState", "STDPParameters", "stdp_step_linear", "stdp_step_conv2d"):
        assert name not in norse.torch.__all__
