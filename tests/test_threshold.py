"""Spike thresholds (API.md §2.1-§2.3): Heaviside forward with Θ(0) = 0 for every method,
each surrogate's backward equal to the derivative of its smooth counterpart, finite
gradients everywhere, method validation, ``sign``, and the sampling ``logistic_fn`` /
``circ_dist_fn``."""

from __future__ import annotations

import math

import pytest
import torch

from norse.torch.functional.heaviside import heaviside
from norse.torch.functional.superspike import super_fn
from norse.torch.functional.threshold import (
    METHODS,
    circ_dist_fn,
    heavi_circ_fn,
    heavi_erfc_fn,
    heavi_tanh_fn,
    logistic_fn,
    sign,
    superspike_fn,
    threshold,
    triangle_fn,
)

SURROGATES = [m for m in METHODS if m != "heaviside"]


def _triangle_primitive(x, a):
    inside = x - x * x.abs() / 2
    return a * torch.where(x.abs() <= 1, inside, 0.5 * torch.sign(x))


#: A smooth function whose derivative is each method's documented surrogate derivative.
SMOOTH = {
    "super": lambda x, a: x / (1 + a * x.abs()),
    "heavi_erfc": lambda x, a: torch.erf(a * x) / a,
    "tanh": lambda x, a: torch.tanh(a * x) / a,
    "heavi_tanh": lambda x, a: torch.tanh(a * x) / a,
    "logistic": lambda x, a: torch.tanh(a * x) / a,
    "circ": lambda x, a: a * x / torch.sqrt(x**2 + a**2),
    "heavi_circ": lambda x, a: a * x / torch.sqrt(x**2 + a**2),
    "circ_dist": lambda x, a: a * x / torch.sqrt(x**2 + a**2),
    "triangle": _triangle_primitive,
}

#: The documented derivative formulas (§2.2, §2.3, with SuperSpike using alpha).
FORMULA = {
    "super": lambda x, a: 1 / (a * x.abs() + 1) ** 2,
    "heavi_erfc": lambda x, a: 2 * torch.exp(-((a * x) ** 2)) / math.sqrt(math.pi),
    "tanh": lambda x, a: 1 - torch.tanh(a * x) ** 2,
    "heavi_tanh": lambda x, a: 1 - torch.tanh(a * x) ** 2,
    "logistic": lambda x, a: 1 - torch.tanh(a * x) ** 2,
    "circ": lambda x, a: a**3 / (x**2 + a**2) ** 1.5,
    "heavi_circ": lambda x, a: a**3 / (x**2 + a**2) ** 1.5,
    "circ_dist": lambda x, a: a**3 / (x**2 + a**2) ** 1.5,
    "triangle": lambda x, a: a * torch.relu(1 - x.abs()),
}


def test_every_method_is_covered():
    assert set(SURROGATES) == set(SMOOTH), "add the new method's smooth counterpart here"
    assert {"super", "heaviside", "triangle", "tanh", "circ", "heavi_erfc"} <= set(METHODS)


# ----------------------------------------------------------------------------- forward
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16], ids=str)
def test_forward_is_heaviside_with_zero_at_zero(method, dtype):
    x = torch.tensor([-1e4, -1.0, -1e-6, 0.0, -0.0, 1e-6, 0.5, 1e4], dtype=dtype)
    z = threshold(x, method, 100.0)
    assert z.dtype == dtype
    assert z.tolist() == [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0]


def test_heaviside():
    assert heaviside(torch.tensor([-2.0, 0.0, 3.0])).tolist() == [0.0, 0.0, 1.0]
    ints = heaviside(torch.tensor([-2, 0, 3]))
    assert ints.dtype == torch.int64 and ints.tolist() == [0, 0, 1]
    x = torch.tensor([1.0, -1.0], requires_grad=True)
    assert not heaviside(x).requires_grad
    assert not threshold(x, "heaviside", 100.0).requires_grad


@pytest.mark.parametrize(
    "fn",
    [heavi_erfc_fn, heavi_tanh_fn, heavi_circ_fn, triangle_fn, super_fn],
    ids=lambda f: f.__name__,
)
def test_deterministic_functions_forward(fn):
    x = torch.tensor([-1.0, 0.0, 1.0])
    assert fn(x, 1.0).tolist() == [0.0, 0.0, 1.0]


# ----------------------------------------------------------------------------- backward
X = torch.tensor([-3.0, -1.0, -0.7, -0.01, 0.0, 0.01, 0.3, 0.999, 1.0, 2.5], dtype=torch.float64)


@pytest.mark.parametrize("alpha", [0.5, 2.0, 100.0])
@pytest.mark.parametrize("method", SURROGATES)
def test_backward_is_derivative_of_smooth_counterpart(method, alpha):
    x = X.clone().requires_grad_(True)
    threshold(x, method, alpha).sum().backward()
    smooth = SMOOTH[method]
    expected = torch.func.vmap(torch.func.grad(lambda v: smooth(v, alpha)))(X)
    torch.testing.assert_close(x.grad, expected)
    torch.testing.assert_close(x.grad, FORMULA[method](X, alpha))


@pytest.mark.parametrize("method", SURROGATES)
def test_alpha_as_tensor_or_number(method):
    a = torch.as_tensor(3.0, dtype=torch.float64)
    g = []
    for alpha in (3.0, a):
        x = X.clone().requires_grad_(True)
        threshold(x, method, alpha).sum().backward()
        g.append(x.grad)
    torch.testing.assert_close(g[0], g[1])


@pytest.mark.parametrize("method", SURROGATES)
def test_works_under_torch_func(method):
    grad = torch.func.grad(lambda v: threshold(v, method, 2.0).sum())(X)
    torch.testing.assert_close(grad, FORMULA[method](X, 2.0))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16], ids=str)
@pytest.mark.parametrize("method", SURROGATES)
def test_gradients_finite_everywhere(method, dtype):
    big = torch.finfo(dtype).max / 4
    x = torch.tensor([-big, -1e30, -1e4, -1.0, -1e-30, 0.0, 1e-30, 1.0, 1e4, 1e30, big])
    x = x.to(dtype).requires_grad_(True)
    for alpha in (1e-3, 1.0, 100.0, 1e4):
        x.grad = None
        threshold(x, method, alpha).sum().backward()
        assert torch.isfinite(x.grad).all(), f"{method}, alpha={alpha}: {x.grad}"
        assert (x.grad >= 0).all()
        assert x.grad[5] > 0, "every surrogate is positive at the threshold"


def test_superspike_uses_alpha():
    """Changed on purpose from 1.1.0 (which ignored alpha): 1 / (alpha |x| + 1)^2."""
    grads = []
    for alpha in (1.0, 10.0):
        x = torch.tensor([0.5], requires_grad=True)
        super_fn(x, alpha).sum().backward()
        grads.append(float(x.grad))
    assert grads[0] == pytest.approx(1 / 1.5**2)
    assert grads[1] == pytest.approx(1 / 6.0**2)
    assert superspike_fn is super_fn


def test_triangle_default_alpha():
    x = torch.tensor([0.0, 0.5], requires_grad=True)
    triangle_fn(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([0.3, 0.15]))


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("bad", ["adjoint", "unknown", "Super", ""])
def test_unknown_method_lists_valid_names(bad):
    with pytest.raises(ValueError, match="method") as info:
        threshold(torch.zeros(2), bad, 100.0)
    message = str(info.value)
    assert repr(bad) in message
    for name in METHODS:
        assert name in message, f"{name!r} missing from {message!r}"


def test_non_string_method_is_a_type_error():
    with pytest.raises(TypeError, match="method"):
        threshold(torch.zeros(2), None, 100.0)


# ----------------------------------------------------------------------------- sign
@pytest.mark.parametrize("method", METHODS)
def test_sign(method):
    x = torch.tensor([-2.0, 0.0, 2.0])
    assert sign(x, method, 1.0).tolist() == [-1.0, -1.0, 1.0]


def test_sign_gradient_is_twice_the_surrogate():
    x = torch.tensor([-0.5, 0.0, 0.5], requires_grad=True)
    sign(x, "super", 1.0).sum().backward()
    torch.testing.assert_close(x.grad, 2 / (x.detach().abs() + 1) ** 2)


# ----------------------------------------------------------------------------- sampling
def test_logistic_fn_samples_with_tanh_probability():
    """P(spike) = (1 + tanh(k x)) / 2; here k x = atanh(0.4), so P = 0.7."""
    n, k = 20000, 2.0
    x = torch.full((n,), math.atanh(0.4) / k)
    z = logistic_fn(x, k)
    assert set(z.unique().tolist()) <= {0.0, 1.0}
    assert abs(float(z.mean()) - 0.7) < 4 * math.sqrt(0.21 / n)
    assert logistic_fn(torch.full((100,), -1e3), 1.0).sum() == 0
    assert logistic_fn(torch.full((100,), 1e3), 1.0).sum() == 100


def test_circ_dist_fn_samples_with_circ_probability():
    """P(spike) = (1 + x / sqrt(x^2 + a^2)) / 2; x = 0.75 a gives 0.8."""
    n, a = 20000, 2.0
    z = circ_dist_fn(torch.full((n,), 0.75 * a), a)
    assert set(z.unique().tolist()) <= {0.0, 1.0}
    assert abs(float(z.mean()) - 0.8) < 4 * math.sqrt(0.16 / n)
    # at x = 0 it is a fair coin
    assert abs(float(circ_dist_fn(torch.zeros(n), a).mean()) - 0.5) < 4 * math.sqrt(0.25 / n)


@pytest.mark.parametrize(
    "fn, method", [(logistic_fn, "logistic"), (circ_dist_fn, "circ_dist")], ids=["logistic", "circ"]
)
def test_sampling_functions_backward(fn, method):
    x = X.clone().requires_grad_(True)
    fn(x, 2.0).sum().backward()
    torch.testing.assert_close(x.grad, FORMULA[method](X, 2.0))
