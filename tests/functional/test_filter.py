"""The exponential filter step."""

import math

import numpy as np
import pytest
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


def _promoted(old, new, parameter):
    """torch's promotion of 1.1.0's expression, whose parameter is a float."""
    return (float(parameter) * old + new).dtype


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool])
@pytest.mark.parametrize("parameter", [0.5, 2, True, np.float32(0.25), np.int64(3)])
def test_integer_and_bool_inputs(dtype, parameter):
    old = torch.tensor([0, 1, 1], dtype=dtype)
    new = torch.tensor([1, 0, 1], dtype=dtype)
    out = exp_filter_step(old, new, parameter)
    assert out.dtype == _promoted(old, new, parameter) == torch.get_default_dtype()
    expected = [float(parameter) * o + n for o, n in zip(old.tolist(), new.tolist(), strict=True)]
    assert out.tolist() == pytest.approx(expected)


@pytest.mark.parametrize(
    ("old_dtype", "new_dtype"),
    [
        (torch.int64, torch.float64),
        (torch.bool, torch.int32),
        (torch.float16, torch.int64),
        (torch.int32, torch.bfloat16),
        (torch.float64, torch.float64),
    ],
)
def test_mixed_dtypes_follow_torch_promotion(old_dtype, new_dtype):
    old = torch.ones(2, dtype=old_dtype)
    new = torch.ones(2, dtype=new_dtype)
    for parameter in (0.5, 1):
        assert exp_filter_step(old, new, parameter).dtype == _promoted(old, new, parameter)


def test_integer_tensor_parameter_is_a_float():
    old = torch.tensor([1, 2])
    out = exp_filter_step(old, torch.tensor([0, 1]), torch.tensor(2))
    assert out.dtype == torch.get_default_dtype() and out.tolist() == [2.0, 5.0]


def test_bad_parameter():
    with pytest.raises(TypeError, match="exp_filter_step: parameter must be a float"):
        exp_filter_step(torch.ones(2), torch.ones(2), "0.5")
