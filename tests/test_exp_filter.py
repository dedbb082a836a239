"""ExpFilter: a linear map followed by an exponential filter over time."""

import math
import pickle

import pytest
import torch

from norse.torch.module.exp_filter import ExpFilter


@pytest.mark.parametrize("tau_filter_inv, dt", [(1000.0, 0.001), (200.0, 0.001), (50.0, 0.002)])
def test_impulse_response(tau_filter_inv, dt):
    f = ExpFilter(
        1, 1, tau_filter_inv=tau_filter_inv, dt=dt, input_weights=torch.ones(1, 1), bias=False
    )
    a = math.exp(-dt * tau_filter_inv)
    assert f.parameter == pytest.approx(a)
    x = torch.zeros(8, 1)
    x[0] = 1.0
    out = f(x).squeeze(-1).detach()
    assert torch.allclose(out, torch.tensor([a**t for t in range(8)]), rtol=1e-5, atol=1e-7)


def test_matches_recursion_with_batch_and_bias():
    torch.manual_seed(0)
    f = ExpFilter(3, 2)
    x = torch.randn(5, 4, 3)
    out = f(x)
    y = f.linear(x)
    expected = [y[0]]
    for t in range(1, 5):
        expected.append(f.parameter * expected[-1] + y[t])
    assert out.shape == (5, 4, 2)
    assert torch.allclose(out, torch.stack(expected))


def test_input_weights_copied_and_attributes():
    w = torch.randn(2, 3)
    f = ExpFilter(3, 2, input_weights=w)
    assert torch.equal(f.linear.weight, w)
    assert f.linear.weight is not w
    assert f.input_size.dim() == 0 and int(f.input_size) == 3
    assert int(f.output_size) == 2
    assert isinstance(f.parameter, float)
    assert repr(f).startswith("ExpFilter(\n  input_size=3, output_size=2, parameter=")
    assert ExpFilter(3, 2, bias=False).linear.bias is None


def test_gradient_flows_to_weights():
    f = ExpFilter(3, 2)
    f(torch.randn(4, 3)).sum().backward()
    assert f.linear.weight.grad is not None


def test_pickle_round_trip():
    f = ExpFilter(3, 2)
    g = pickle.loads(pickle.dumps(f))
    x = torch.randn(4, 3)
    assert torch.equal(f(x), g(x))


def test_bad_input():
    with pytest.raises(TypeError, match="input_size"):
        ExpFilter(2.5, 2)
    with pytest.raises(ValueError, match="output_size"):
        ExpFilter(2, 0)
    with pytest.raises(ValueError, match="dt"):
        ExpFilter(2, 2, dt=0.0)
    with pytest.raises(ValueError, match="input_weights"):
        ExpFilter(2, 3, input_weights=torch.ones(2, 3))
    f = ExpFilter(2, 3)
    with pytest.raises(ValueError, match="features"):
        f(torch.ones(4, 5))
    with pytest.raises(TypeError, match="input_tensor"):
        f([1.0, 2.0])
