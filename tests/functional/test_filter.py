"""The exponential filter step."""

import math

import torch

from norse.torch.functional.filter import exp_filter_step


def test_impulse_response_is_power_of_parameter():
    a = 0.7
    y = torch.tensor(1.0)
    response = [y.item()]
    for _ in range(6):
        y = exp_filter_step(y, torch.tensor(0.0), a)
        response.append(y.item())
    assert all(math.isclose(r, a**t, rel_tol=1e-6) for t, r in enumerate(response))


def test_step_response_converges_to_geometric_sum():
    a = 0.5
    y = torch.zeros(3)
    for _ in range(60):
        y = exp_filter_step(y, torch.ones(3), a)
    assert torch.allclose(y, torch.full((3,), 1 / (1 - a)))


def test_tensor_parameter_and_gradient():
    a = torch.tensor(0.3, requires_grad=True)
    old = torch.tensor([2.0])
    exp_filter_step(old, torch.tensor([1.0]), a).sum().backward()
    assert a.grad.item() == 2.0
