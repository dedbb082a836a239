"""Discrete adjoint steps: forward identical to the plain steps, backward = discrete adjoint.

What is compared:

* forward: every output and state field of the adjoint step is ``torch.equal`` to the plain
  step's (several steps, with spikes);
* sub-threshold (no spikes): the adjoint gradients of the input, the initial state and the
  weights equal autograd through the plain step with ``method="heaviside"`` (float64, several
  steps). Heaviside makes autograd differentiate only the smooth part of the Euler step, which
  is what the adjoint equations are away from spikes;
* with spikes (one step): adjoint gradient minus that autograd gradient equals the documented
  jump term ``z (slope_after * lambda_v + lambda_z) / slope_before`` carried through one Euler
  step, computed by hand here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch

from norse.torch.functional import coba_lif, lif, lif_mc, lif_mc_refrac, lif_refrac, lsnn
from norse.torch.functional.adjoint import (
    coba_lif_adjoint,
    lif_adjoint,
    lif_mc_adjoint,
    lif_mc_refrac_adjoint,
    lif_refrac_adjoint,
    lsnn_adjoint,
)
from norse.torch.functional.coba_lif import CobaLIFParameters, CobaLIFState
from norse.torch.functional.lif import LIFFeedForwardState, LIFParameters, LIFState
from norse.torch.functional.lif_refrac import (
    LIFRefracFeedForwardState,
    LIFRefracParameters,
    LIFRefracState,
)
from norse.torch.functional.lsnn import LSNNFeedForwardState, LSNNParameters, LSNNState

DT = 0.001
B, N_IN, N = 3, 4, 5


def _leaves(state):
    out = []
    for v in state:
        out.extend(_leaves(v) if isinstance(v, tuple) else [v])
    return out


def _rebuild(state, leaves):
    it = iter(leaves)

    def build(s):
        return type(s)(*[build(v) if isinstance(v, tuple) else next(it) for v in s])

    return build(state)


@dataclass
class Case:
    name: str
    plain: Callable  # (x, state, weights, p, dt) -> (z, state)
    adjoint: Callable
    state: Callable  # (generator, dtype, subthreshold) -> state
    params: Callable  # (method, subthreshold) -> p
    weights: Callable  # (generator, dtype) -> tuple of weight tensors
    n_in: int


def _rand(g, *shape, dtype=torch.float64, scale=1.0):
    return torch.rand(*shape, generator=g, dtype=dtype) * scale


def _double(p):
    """Parameters in float64, so that autograd and adjoint agree to float64 precision."""
    if isinstance(p, tuple):
        return type(p)(*[_double(v) for v in p])
    if isinstance(p, torch.Tensor) and p.is_floating_point():
        return p.double()
    return p


def _lif_params(method, sub):
    return _double(LIFParameters(method=method, v_th=torch.tensor(1e3 if sub else 1.0)))


def _lif_ff_state(g, dtype, sub):
    return LIFFeedForwardState(v=_rand(g, B, N, dtype=dtype), i=_rand(g, B, N, dtype=dtype))


def _lif_state(g, dtype, sub):
    return LIFState(
        z=(_rand(g, B, N, dtype=dtype) < 0.5).to(dtype),
        v=_rand(g, B, N, dtype=dtype),
        i=_rand(g, B, N, dtype=dtype),
    )


def _rec_weights(g, dtype):
    return (_rand(g, N, N_IN, dtype=dtype, scale=4.0), _rand(g, N, N, dtype=dtype, scale=2.0))


def _refrac_params(method, sub):
    return LIFRefracParameters(lif=_lif_params(method, sub), rho_reset=torch.tensor(2.0).double())


def _rho(g, dtype):
    return torch.randint(0, 3, (B, N), generator=g).to(dtype)


def _refrac_ff_state(g, dtype, sub):
    return LIFRefracFeedForwardState(_lif_ff_state(g, dtype, sub), _rho(g, dtype))


def _refrac_state(g, dtype, sub):
    return LIFRefracState(_lif_state(g, dtype, sub), _rho(g, dtype))


def _lsnn_params(method, sub):
    return _double(
        LSNNParameters(
            method=method, v_th=torch.tensor(1e3 if sub else 1.0), tau_adapt_inv=torch.tensor(50.0)
        )
    )


def _b(g, dtype, sub):
    return torch.full((B, N), 1e3, dtype=dtype) if sub else 0.5 + _rand(g, B, N, dtype=dtype)


def _lsnn_ff_state(g, dtype, sub):
    s = _lif_ff_state(g, dtype, sub)
    return LSNNFeedForwardState(s.v, s.i * 20, _b(g, dtype, sub))


def _lsnn_state(g, dtype, sub):
    s = _lif_state(g, dtype, sub)
    return LSNNState(s.z, s.v, s.i * 20, _b(g, dtype, sub))


def _coba_params(method, sub):
    return _double(CobaLIFParameters(method=method, v_thresh=torch.tensor(1e3 if sub else -10.0)))


def _coba_state(g, dtype, sub):
    return CobaLIFState(
        z=(_rand(g, B, N, dtype=dtype) < 0.5).to(dtype),
        v=_rand(g, B, N, dtype=dtype, scale=20.0) - 25.0,
        g_e=_rand(g, B, N, dtype=dtype),
        g_i=_rand(g, B, N, dtype=dtype),
    )


def _signed_weights(g, dtype):
    return (_rand(g, N, N_IN, dtype=dtype, scale=4.0) - 2.0, _rand(g, N, N, dtype=dtype) - 0.5)


CASES = [
    Case(
        "lif_ff",
        lambda x, s, w, p, dt: lif.lif_feed_forward_step(x, s, p, dt),
        lambda x, s, w, p, dt: lif_adjoint.lif_feed_forward_adjoint_step(x, s, p, dt),
        _lif_ff_state,
        _lif_params,
        lambda g, dtype: (),
        N,
    ),
    Case(
        "lif",
        lambda x, s, w, p, dt: lif.lif_step(x, s, *w, p, dt),
        lambda x, s, w, p, dt: lif_adjoint.lif_adjoint_step(x, s, *w, p, dt),
        _lif_state,
        _lif_params,
        _rec_weights,
        N_IN,
    ),
    Case(
        "lif_refrac_ff",
        lambda x, s, w, p, dt: lif_refrac.lif_refrac_feed_forward_step(x, s, p, dt),
        lambda x, s, w, p, dt: lif_refrac_adjoint.lif_refrac_feed_forward_adjoint_step(x, s, p, dt),
        _refrac_ff_state,
        _refrac_params,
        lambda g, dtype: (),
        N,
    ),
    Case(
        "lif_refrac",
        lambda x, s, w, p, dt: lif_refrac.lif_refrac_step(x, s, *w, p, dt),
        lambda x, s, w, p, dt: lif_refrac_adjoint.lif_refrac_adjoint_step(x, s, *w, p, dt),
        _refrac_state,
        _refrac_params,
        _rec_weights,
        N_IN,
    ),
    Case(
        "lsnn_ff",
        lambda x, s, w, p, dt: lsnn.lsnn_feed_forward_step(x, s, p, dt),
        lambda x, s, w, p, dt: lsnn_adjoint.lsnn_feed_forward_adjoint_step(x, s, p, dt),
        _lsnn_ff_state,
        _lsnn_params,
        lambda g, dtype: (),
        N,
    ),
    Case(
        "lsnn",
        lambda x, s, w, p, dt: lsnn.lsnn_step(x, s, *w, p, dt),
        lambda x, s, w, p, dt: lsnn_adjoint.lsnn_adjoint_step(x, s, *w, p, dt),
        _lsnn_state,
        _lsnn_params,
        _rec_weights,
        N_IN,
    ),
    Case(
        "lif_mc",
        lambda x, s, w, p, dt: lif_mc.lif_mc_step(x, s, *w, p, dt),
        lambda x, s, w, p, dt: lif_mc_adjoint.lif_mc_adjoint_step(x, s, *w, p, dt),
        _lif_state,
        _lif_params,
        lambda g, dtype: (*_rec_weights(g, dtype), _rand(g, N, N, dtype=dtype, scale=50.0) - 25),
        N_IN,
    ),
    Case(
        "lif_mc_refrac",
        lambda x, s, w, p, dt: lif_mc_refrac.lif_mc_refrac_step(x, s, *w, p, dt),
        lambda x, s, w, p, dt: lif_mc_refrac_adjoint.lif_mc_refrac_adjoint(x, s, *w, p, dt),
        _refrac_state,
        _refrac_params,
        lambda g, dtype: (*_rec_weights(g, dtype), _rand(g, N, N, dtype=dtype, scale=0.1) - 0.05),
        N_IN,
    ),
    Case(
        "coba_lif",
        lambda x, s, w, p, dt: coba_lif.coba_lif_step(x, s, *w, p, dt),
        lambda x, s, w, p, dt: coba_lif_adjoint.coba_lif_adjoint_step(x, s, *w, p, dt),
        _coba_state,
        _coba_params,
        _signed_weights,
        N_IN,
    ),
]


def _run(case, step, x_seq, state, weights, p):
    outs = []
    for x in x_seq.unbind(0):
        z, state = step(x, state, weights, p, DT)
        outs.append((z, state))
    return outs


def _loss(outs, g):
    total = 0
    for z, state in outs:
        for t in [z, *_leaves(state)]:
            total = total + (t * torch.randn(t.shape, generator=g, dtype=t.dtype)).sum()
    return total


def _grads(case, step, x_seq, state, weights, p, seed=1):
    x_seq = x_seq.detach().clone().requires_grad_(True)
    leaves = [t.detach().clone().requires_grad_(True) for t in _leaves(state)]
    weights = tuple(w.detach().clone().requires_grad_(True) for w in weights)
    outs = _run(case, step, x_seq, _rebuild(state, leaves), weights, p)
    _loss(outs, torch.Generator().manual_seed(seed)).backward()
    return outs, [x_seq.grad, *[t.grad for t in leaves], *[w.grad for w in weights]]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_forward_equals_plain_step(case):
    g = torch.Generator().manual_seed(0)
    x_seq = _rand(g, 8, B, case.n_in, dtype=torch.float32, scale=6.0)
    state = case.state(g, torch.float32, False)
    weights = case.weights(g, torch.float32)
    plain = _run(case, case.plain, x_seq, state, weights, case.params("super", False))
    adjoint = _run(case, case.adjoint, x_seq, state, weights, case.params("adjoint", False))
    assert sum(z.sum() for z, _ in plain) > 0  # the comparison includes spikes
    for (z_a, s_a), (z_b, s_b) in zip(adjoint, plain, strict=True):
        assert torch.equal(z_a, z_b)
        for a, b in zip(_leaves(s_a), _leaves(s_b), strict=True):
            assert torch.equal(a, b)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_subthreshold_gradients_equal_autograd(case):
    g = torch.Generator().manual_seed(2)
    x_seq = _rand(g, 6, B, case.n_in, scale=3.0)
    state = case.state(g, torch.float64, True)
    weights = case.weights(g, torch.float64)
    p_ref = case.params("heaviside", True)
    outs, expected = _grads(case, case.plain, x_seq, state, weights, p_ref)
    assert all(z.sum() == 0 for z, _ in outs)
    _, got = _grads(case, case.adjoint, x_seq, state, weights, case.params("adjoint", True))
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b)


def _one_step_grads(step, x, state, weights, p, coeffs):
    x = x.clone().requires_grad_(True)
    leaves = [t.clone().requires_grad_(True) for t in _leaves(state)]
    weights = tuple(w.clone().requires_grad_(True) for w in weights)
    z, s = step(x, _rebuild(state, leaves), weights, p, DT)
    outputs = [z, *_leaves(s)]
    sum((c * o).sum() for c, o in zip(coeffs, outputs, strict=True)).backward()
    return z.detach(), [x.grad, *[t.grad for t in leaves], *[w.grad for w in weights]]


def test_lif_feed_forward_jump_term():
    g = torch.Generator().manual_seed(3)
    p = _double(LIFParameters())
    x = _rand(g, B, N, scale=30.0)
    state = _lif_ff_state(g, torch.float64, False)
    a, b, c = (torch.randn(B, N, generator=g, dtype=torch.float64) for _ in range(3))
    case = CASES[0]
    z, got = _one_step_grads(case.adjoint, x, state, (), p, (a, b, c))
    _, ref = _one_step_grads(case.plain, x, state, (), p._replace(method="heaviside"), (a, b, c))
    assert 0 < z.sum() < z.numel()
    i1 = state.i + x
    before = p.tau_mem_inv * ((p.v_leak - state.v) + i1)
    after = p.tau_mem_inv * ((p.v_leak - p.v_reset) + i1)
    jump = z * (after * b + a) / before  # extra lambda_v1 at the spiking neurons
    torch.testing.assert_close(got[0] - ref[0], DT * p.tau_mem_inv * jump)  # input
    torch.testing.assert_close(got[1] - ref[1], (1 - DT * p.tau_mem_inv) * jump)  # v
    torch.testing.assert_close(got[2] - ref[2], DT * p.tau_mem_inv * jump)  # i


def test_lif_recurrent_jump_term():
    g = torch.Generator().manual_seed(4)
    p = _double(LIFParameters())
    x = _rand(g, B, N_IN, scale=1.0)
    state = _lif_state(g, torch.float64, False)
    w_in, w_rec = _rec_weights(g, torch.float64)
    coeffs = [torch.randn(B, N, generator=g, dtype=torch.float64) for _ in range(4)]
    case = CASES[1]
    z, got = _one_step_grads(case.adjoint, x, state, (w_in, w_rec), p, coeffs)
    _, ref = _one_step_grads(
        case.plain, x, state, (w_in, w_rec), p._replace(method="heaviside"), coeffs
    )
    assert 0 < z.sum() < z.numel()
    a, _, b, _ = coeffs  # on z, z (state), v, i: z appears twice (output and state.z)
    a = coeffs[0] + coeffs[1]
    i1 = state.i + x @ w_in.T + state.z @ w_rec.T
    before = p.tau_mem_inv * ((p.v_leak - state.v) + i1)
    after = p.tau_mem_inv * ((p.v_leak - p.v_reset) + i1)
    d_i1 = DT * p.tau_mem_inv * z * (after * b + a) / before
    torch.testing.assert_close(got[0] - ref[0], d_i1 @ w_in)  # input
    torch.testing.assert_close(got[1] - ref[1], d_i1 @ w_rec)  # previous spikes
    torch.testing.assert_close(got[4] - ref[4], d_i1.T @ x)  # input weights
    torch.testing.assert_close(got[5] - ref[5], d_i1.T @ state.z)  # recurrent weights


def test_lif_refrac_feed_forward_jump_term_and_mask():
    g = torch.Generator().manual_seed(5)
    p = _refrac_params("super", False)
    x = _rand(g, B, N, scale=30.0)
    state = _refrac_ff_state(g, torch.float64, False)
    coeffs = [torch.randn(B, N, generator=g, dtype=torch.float64) for _ in range(4)]
    case = next(c for c in CASES if c.name == "lif_refrac_ff")
    z, got = _one_step_grads(case.adjoint, x, state, (), p, coeffs)
    ref_p = p._replace(lif=p.lif._replace(method="heaviside"))
    _, ref = _one_step_grads(case.plain, x, state, (), ref_p, coeffs)
    assert 0 < z.sum() < z.numel()
    a, b, _, r = coeffs  # on z, v, i, rho
    q = p.lif
    m = (state.rho > 0).double()
    i1 = state.lif.i + x
    before = q.tau_mem_inv * ((q.v_leak - state.lif.v) + i1)
    after = q.tau_mem_inv * ((q.v_leak - q.v_reset) + i1)
    # lambda_z also collects the counter reload: d rho' / d z = rho_reset - relu(rho - m)
    a = a + r * (p.rho_reset - torch.relu(state.rho - m))
    jump = z * (after * b + a) / before  # zero for refractory neurons (z = 0 there)
    assert torch.all(jump[m == 1] == 0)
    torch.testing.assert_close(got[0] - ref[0], DT * q.tau_mem_inv * jump)  # input
    torch.testing.assert_close(got[1] - ref[1], (1 - DT * q.tau_mem_inv) * jump)  # v
    torch.testing.assert_close(got[3] - ref[3], torch.zeros_like(got[3]))  # rho


def test_lsnn_feed_forward_jump_term():
    g = torch.Generator().manual_seed(6)
    p = _lsnn_params("super", False)
    x = _rand(g, B, N)
    state = _lsnn_ff_state(g, torch.float64, False)
    coeffs = [torch.randn(B, N, generator=g, dtype=torch.float64) for _ in range(4)]
    case = next(c for c in CASES if c.name == "lsnn_ff")
    z, got = _one_step_grads(case.adjoint, x, state, (), p, coeffs)
    _, ref = _one_step_grads(case.plain, x, state, (), p._replace(method="heaviside"), coeffs)
    assert 0 < z.sum() < z.numel()
    a, b, _, c = coeffs  # on z, v, i, b
    slope_v = p.tau_mem_inv * ((p.v_leak - state.v) + state.i)
    slope_v_after = p.tau_mem_inv * ((p.v_leak - p.v_reset) + state.i)
    slope_b = p.tau_adapt_inv * (p.v_th - state.b)
    kick = z * (slope_v_after * b - p.tau_adapt_inv * p.beta * c + a) / (slope_v - slope_b)
    torch.testing.assert_close(got[0], ref[0])  # the input lands after the spike decision
    torch.testing.assert_close(got[1] - ref[1], (1 - DT * p.tau_mem_inv) * kick)  # v
    torch.testing.assert_close(got[2] - ref[2], DT * p.tau_mem_inv * kick)  # i
    torch.testing.assert_close(got[3] - ref[3], -(1 - DT * p.tau_adapt_inv) * kick)  # b


def test_lif_mc_refrac_jump_term():
    g = torch.Generator().manual_seed(7)
    p = _refrac_params("super", False)
    case = next(c for c in CASES if c.name == "lif_mc_refrac")
    x = _rand(g, B, N_IN)
    state = _refrac_state(g, torch.float64, False)
    state = state._replace(lif=state.lif._replace(v=state.lif.v * 1.2, i=state.lif.i * 40))
    weights = case.weights(g, torch.float64)
    coeffs = [torch.randn(B, N, generator=g, dtype=torch.float64) for _ in range(5)]
    z, got = _one_step_grads(case.adjoint, x, state, weights, p, coeffs)
    ref_p = p._replace(lif=p.lif._replace(method="heaviside"))
    _, ref = _one_step_grads(case.plain, x, state, weights, ref_p, coeffs)
    assert 0 < z.sum() < z.numel()
    a = coeffs[0] + coeffs[1]  # z is both the output and state.lif.z
    b, r = coeffs[2], coeffs[4]
    q, v, i, rho = p.lif, state.lif.v, state.lif.i, state.rho
    m = (rho > 0).double()
    a = a + r * (p.rho_reset - torch.relu(rho - m))
    gc = weights[2]
    before = (1 - m) * q.tau_mem_inv * ((q.v_leak - v) + i) + v @ gc.T / DT
    after = (
        before + (1 - m) * q.tau_mem_inv * (v - q.v_reset) + gc.diagonal() * (q.v_reset - v) / DT
    )
    kick = z * (after * b + a) / before
    torch.testing.assert_close(got[0], ref[0])  # the input lands after the spike decision
    torch.testing.assert_close(
        got[2] - ref[2], kick * (1 - (1 - m) * DT * q.tau_mem_inv) + kick @ gc
    )  # v
    torch.testing.assert_close(got[3] - ref[3], (1 - m) * DT * q.tau_mem_inv * kick)  # i
    torch.testing.assert_close(got[7] - ref[7], kick.T @ v)  # g_coupling


def test_coba_lif_jump_term():
    g = torch.Generator().manual_seed(8)
    p = _coba_params("super", False)
    case = next(c for c in CASES if c.name == "coba_lif")
    x = _rand(g, B, N_IN)
    state = _coba_state(g, torch.float64, False)
    weights = case.weights(g, torch.float64)
    coeffs = [torch.randn(B, N, generator=g, dtype=torch.float64) for _ in range(5)]
    z, got = _one_step_grads(case.adjoint, x, state, weights, p, coeffs)
    _, ref = _one_step_grads(case.plain, x, state, weights, p._replace(method="heaviside"), coeffs)
    assert 0 < z.sum() < z.numel()
    a, b = coeffs[0] + coeffs[1], coeffs[2]
    w_in, w_rec = weights
    g_e = state.g_e + x @ w_in.clamp(min=0).T + state.z @ w_rec.clamp(min=0).T
    g_i = state.g_i + x @ (-w_in).clamp(min=0).T + state.z @ (-w_rec).clamp(min=0).T
    g_e, g_i = g_e * (1 - DT * p.tau_syn_exc_inv), g_i * (1 - DT * p.tau_syn_inh_inv)

    def slope(u):
        return p.c_m_inv * (p.g_l * (p.v_rest - u) + g_e * (p.e_rev_E - u) + g_i * (p.e_rev_I - u))

    kick = z * (slope(p.v_reset) * b + a) / slope(state.v)
    leak = 1 - DT * p.c_m_inv * (p.g_l + g_e + g_i)
    torch.testing.assert_close(got[2] - ref[2], leak * kick)  # v
    d_ge = (1 - DT * p.tau_syn_exc_inv) * DT * p.c_m_inv * (p.e_rev_E - state.v) * kick
    d_gi = (1 - DT * p.tau_syn_inh_inv) * DT * p.c_m_inv * (p.e_rev_I - state.v) * kick
    torch.testing.assert_close(got[3] - ref[3], d_ge)  # g_e
    torch.testing.assert_close(got[4] - ref[4], d_gi)  # g_i
    expected_x = d_ge @ w_in.clamp(min=0) + d_gi @ (-w_in).clamp(min=0)
    torch.testing.assert_close(got[0] - ref[0], expected_x)  # input


def test_coba_lif_adjoint_module_is_importable():
    # 1.1.0's module failed to import (it subclassed a nonexistent torch.nn.Function)
    import importlib

    module = importlib.import_module("norse.torch.functional.adjoint.coba_lif_adjoint")
    assert issubclass(module.CobaLIFAdjointFunction, torch.autograd.Function)


def test_spike_gradient_points_towards_more_input():
    # d(z)/d(x) through the jump is positive: more input makes the spike come earlier
    x = torch.tensor([15.0, 30.0], requires_grad=True)
    s = LIFFeedForwardState(v=torch.zeros(2), i=torch.zeros(2))
    z, _ = lif_adjoint.lif_feed_forward_adjoint_step(x, s)
    z.sum().backward()
    assert torch.all(x.grad > 0)
    assert x.grad[0] > x.grad[1]  # the marginal spike is the more sensitive one


def test_scalar_initial_voltage_gets_scalar_gradient():
    v = torch.tensor(0.0, requires_grad=True)
    s = LIFFeedForwardState(v=v, i=torch.zeros(2, 3))
    z, s = lif_adjoint.lif_feed_forward_adjoint_step(torch.ones(2, 3), s)
    s.v.sum().backward()
    assert v.grad.shape == () and v.grad.item() == pytest.approx(6 * 0.9)


def test_sparse_variants_match_dense():
    torch.manual_seed(0)
    x = (torch.rand(B, N_IN) < 0.5).float()
    w_in = (torch.rand(N, N_IN) * 20).requires_grad_(True)
    w_rec = torch.rand(N, N).requires_grad_(True)
    z0 = (torch.rand(B, N) < 0.5).float()
    s = LIFState(z0, torch.zeros(B, N), torch.zeros(B, N))
    z_d, s_d = lif_adjoint.lif_adjoint_step(x, s, w_in, w_rec)
    (z_d.sum() + s_d.v.sum()).backward()
    grads = w_in.grad.clone(), w_rec.grad.clone()
    w_in.grad = w_rec.grad = None
    s_sp = LIFState(z0.to_sparse(), torch.zeros(B, N), torch.zeros(B, N))
    z_s, s_s = lif_adjoint.lif_adjoint_step_sparse(x.to_sparse(), s_sp, w_in, w_rec)
    assert z_s.is_sparse and torch.equal(z_s.to_dense(), z_d)
    assert torch.equal(s_s.v, s_d.v)
    (s_s.v.sum() + z_s.to_dense().sum()).backward()
    torch.testing.assert_close(w_in.grad, grads[0])
    torch.testing.assert_close(w_rec.grad, grads[1])

    x_ff = (torch.rand(B, N) * 30).requires_grad_(True)
    s_ff = LIFFeedForwardState(torch.zeros(B, N), torch.zeros(B, N))
    z_ff, _ = lif_adjoint.lif_feed_forward_adjoint_step(x_ff, s_ff)
    z_sp, _ = lif_adjoint.lif_feed_forward_adjoint_step_sparse(x_ff.detach().to_sparse(), s_ff)
    assert not z_sp.is_sparse and torch.equal(z_sp, z_ff)


# ----------------------------------------------------------------------------- modules
def _module_cases():
    from norse.torch.module.lif import LIF, LIFCell, LIFRecurrent, LIFRecurrentCell
    from norse.torch.module.lif_refrac import (
        LIFRefrac,
        LIFRefracCell,
        LIFRefracRecurrent,
        LIFRefracRecurrentCell,
    )

    lif_p = (LIFParameters(method="adjoint"), LIFParameters())
    refrac_p = (
        LIFRefracParameters(lif=LIFParameters(method="adjoint")),
        LIFRefracParameters(),
    )
    ff, rec = lif_adjoint.lif_feed_forward_adjoint_step, lif_adjoint.lif_adjoint_step
    from norse.torch.module.lsnn import LSNN, LSNNCell, LSNNRecurrent, LSNNRecurrentCell

    rff = lif_refrac_adjoint.lif_refrac_feed_forward_adjoint_step
    rrec = lif_refrac_adjoint.lif_refrac_adjoint_step
    lsnn_p = ({"adjoint": True}, {})
    return [
        (LIFCell, lif_p, ff),
        (LIF, lif_p, ff),
        (LIFRecurrentCell, lif_p, rec),
        (LIFRecurrent, lif_p, rec),
        (LIFRefracCell, refrac_p, rff),
        (LIFRefrac, refrac_p, rff),
        (LIFRefracRecurrentCell, refrac_p, rrec),
        (LIFRefracRecurrent, refrac_p, rrec),
        (LSNNCell, lsnn_p, lsnn_adjoint.lsnn_feed_forward_adjoint_step),
        (LSNN, lsnn_p, lsnn_adjoint.lsnn_feed_forward_adjoint_step),
        (LSNNRecurrentCell, lsnn_p, lsnn_adjoint.lsnn_adjoint_step),
        (LSNNRecurrent, lsnn_p, lsnn_adjoint.lsnn_adjoint_step),
    ]


def _voltage(state):
    return state.lif.v if hasattr(state, "lif") else state.v


@pytest.mark.parametrize(
    "cls, params, step", _module_cases(), ids=lambda v: getattr(v, "__name__", "")
)
def test_modules_with_method_adjoint(cls, params, step):
    from norse.torch.module.snn import SNN, SNNRecurrent, SNNRecurrentCell

    torch.manual_seed(0)
    recurrent = issubclass(cls, (SNNRecurrentCell, SNNRecurrent))
    layer = issubclass(cls, (SNN, SNNRecurrent))
    p_adj, p_plain = params
    args = (N_IN, N) if recurrent else ()
    kw_adj, kw_plain = (
        (p_adj, p_plain) if isinstance(p_adj, dict) else ({"p": p_adj}, {"p": p_plain})
    )
    m_adj = cls(*args, **kw_adj)
    m_plain = cls(*args, **kw_plain)
    if recurrent:
        m_plain.input_weights = m_adj.input_weights
        m_plain.recurrent_weights = m_adj.recurrent_weights
    features = N_IN if recurrent else N
    x = (torch.rand(4, B, features) * 8).requires_grad_(True)
    if layer:
        z_adj, s_adj = m_adj(x)
        z_plain, s_plain = m_plain(x)
    else:  # cells: one call per step
        s_adj = s_plain = None
        z_adj, z_plain = [], []
        for x_t in x.unbind(0):
            z, s_adj = m_adj(x_t, s_adj)
            z_adj.append(z)
            z, s_plain = m_plain(x_t, s_plain)
            z_plain.append(z)
        z_adj, z_plain = torch.stack(z_adj), torch.stack(z_plain)
    assert z_adj.sum() > 0
    assert torch.equal(z_adj, z_plain) and torch.equal(_voltage(s_adj), _voltage(s_plain))
    (z_adj.sum() + _voltage(s_adj).sum()).backward()
    grad_module = x.grad.clone()
    # the same computation through the functional adjoint step
    x.grad = None
    state = m_adj.initial_state(x if layer else x[0])
    weights = (m_adj.input_weights, m_adj.recurrent_weights) if recurrent else ()
    zs = []
    for x_t in x.unbind(0):
        z, state = step(x_t, state, *weights, m_adj.p, 0.001)
        zs.append(z)
    (torch.stack(zs).sum() + _voltage(state).sum()).backward()
    torch.testing.assert_close(grad_module, x.grad)


@pytest.mark.parametrize(
    "refrac", [False, True], ids=["LIFMCRecurrentCell", "LIFMCRefracRecurrentCell"]
)
def test_multi_compartment_cells_with_method_adjoint(refrac):
    from norse.torch.module.lif_mc import LIFMCRecurrentCell
    from norse.torch.module.lif_mc_refrac import LIFMCRefracRecurrentCell

    torch.manual_seed(0)
    if refrac:
        cls, step = LIFMCRefracRecurrentCell, lif_mc_refrac_adjoint.lif_mc_refrac_adjoint
        p_adj = LIFRefracParameters(lif=LIFParameters(method="adjoint"))
        p_plain, g = LIFRefracParameters(), torch.rand(N, N) * 0.02
    else:
        cls, step = LIFMCRecurrentCell, lif_mc_adjoint.lif_mc_adjoint_step
        p_adj, p_plain, g = LIFParameters(method="adjoint"), LIFParameters(), torch.rand(N, N) * 20
    g.requires_grad_(True)
    m_adj = cls(N_IN, N, p=p_adj, g_coupling=g)
    m_plain = cls(
        N_IN,
        N,
        p=p_plain,
        g_coupling=g,
        input_weights=m_adj.input_weights,
        recurrent_weights=m_adj.recurrent_weights,
    )
    x = torch.rand(5, B, N_IN) * 8
    s_adj = s_plain = None
    zs = []
    for x_t in x.unbind(0):
        z, s_adj = m_adj(x_t, s_adj)
        z_plain, s_plain = m_plain(x_t, s_plain)
        assert torch.equal(z, z_plain)
        zs.append(z)
    assert torch.stack(zs).sum() > 0
    _voltage(s_adj).sum().backward()
    grad_g = g.grad.clone()
    g.grad = None
    state = m_adj.initial_state(x[0])
    weights = (m_adj.input_weights, m_adj.recurrent_weights, g)
    for x_t in x.unbind(0):
        _, state = step(x_t, state, *weights, m_adj.p, 0.001)
    _voltage(state).sum().backward()
    torch.testing.assert_close(grad_g, g.grad)


def test_sparse_input_selects_sparse_adjoint_steps():
    from norse.torch.module.lif import LIFRecurrent
    from norse.torch.module.lif_refrac import LIFRefracRecurrent

    torch.manual_seed(0)
    x = (torch.rand(5, B, N_IN) < 0.5).float().to_sparse()
    for cls, p in (
        (LIFRecurrent, LIFParameters(method="adjoint")),
        (LIFRefracRecurrent, LIFRefracParameters(lif=LIFParameters(method="adjoint"))),
    ):
        m = cls(N_IN, N, p=p)
        z, s = m(x)
        plain = cls(N_IN, N, input_weights=m.input_weights.detach().clone())
        plain.recurrent_weights = m.recurrent_weights
        z_ref, _ = plain(x)
        assert z.is_sparse and torch.equal(z.to_dense(), z_ref.to_dense())
        _voltage(s).sum().backward()
        assert m.input_weights.grad is not None
