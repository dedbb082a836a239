"""Receptive fields (API.md §2.26, §3.23): kernels from their definitions, parameter tables,
temporal scales, and the spatial / temporal modules (storage sharing, learning, errors)."""

from __future__ import annotations

import copy
import math
import pickle

import pytest
import torch
import torch.nn.functional as F

from norse.torch.functional.receptive_field import (
    _extract_derivatives,
    calculate_normalization,
    covariance_matrix,
    derive_kernel,
    derive_spatial_receptive_field,
    derive_spatial_receptive_field_single,
    gaussian_kernel,
    spatial_parameters,
    spatial_receptive_field,
    spatial_receptive_fields_with_derivatives,
    spatio_temporal_parameters,
    temporal_scale_distribution,
)
from norse.torch.module.receptive_field import (
    ParameterizedSpatialReceptiveField2d,
    SampledSpatialReceptiveField2d,
    SpatialReceptiveField2d,
    TemporalReceptiveField,
)

D64 = torch.float64


def _t(v: float) -> torch.Tensor:
    return torch.tensor(v, dtype=D64)


def _close(actual, expected, rtol=None, atol=None) -> None:
    """``torch.testing.assert_close`` with its default tolerances (that function takes seconds
    to import on first use)."""
    expected = torch.as_tensor(expected, dtype=actual.dtype)
    tol = (1e-7, 1e-7) if actual.dtype == D64 else (1.3e-6, 1e-5)
    rtol = tol[0] if rtol is None else rtol
    atol = tol[1] if atol is None else atol
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    diff = (actual - expected).abs().max().item() if actual.numel() else 0.0
    assert torch.allclose(actual, expected, rtol=rtol, atol=atol), f"max abs diff {diff}"


def _sgd_step(module: torch.nn.Module, lr: float) -> None:
    """What ``torch.optim.SGD(...).step()`` does, in place (without importing the optimiser
    machinery, which costs seconds on first use; one test uses the real optimiser)."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(p.grad, alpha=-lr)


def _field(scale, angle, ratio, size=11, dx=0, dy=0, domain=4.0):
    return spatial_receptive_field(_t(scale), _t(angle), _t(ratio), size, dx, dy, domain)


# ----------------------------------------------------------------------------- Gaussian
def test_gaussian_matches_closed_form():
    s1, s2, phi = 2.0, 0.5, 0.3
    c = covariance_matrix(_t(s1), _t(s2), _t(phi))
    k = gaussian_kernel(7, c, domain=3)  # grid -3..3 in unit steps
    ci = torch.linalg.inv(c)
    norm = 1 / (2 * math.pi * s1 * s2)  # sqrt(det C) = s1 * s2
    for row, col in [(3, 3), (0, 6), (2, 5), (6, 1)]:
        x, y = col - 3.0, row - 3.0  # x along columns, y along rows
        p = torch.tensor([x, y], dtype=D64)
        expected = norm * math.exp(-0.5 * float(p @ ci @ p))
        assert k[row, col].item() == pytest.approx(expected, rel=1e-12)


def test_gaussian_symmetric_about_its_axis_and_under_rotation():
    def k(phi, ratio=2.0):
        return gaussian_kernel(9, covariance_matrix(_t(ratio), _t(1 / ratio), _t(phi)), 4)

    # the axis at angle 0 is the x axis: mirror in x and in y
    _close(k(0.0), k(0.0).flip(0))
    _close(k(0.0), k(0.0).flip(1))
    # at 45 degrees the axis is the diagonal y = x: symmetric under transposition
    _close(k(math.pi / 4), k(math.pi / 4).T)
    # rotating the angle by 90 degrees rotates the kernel; by 180 degrees changes nothing
    _close(k(0.3 + math.pi / 2), torch.rot90(k(0.3), -1))
    _close(k(0.3 + math.pi), k(0.3))
    # circular for ratio 1: the angle does not matter
    _close(k(0.0, 1.0), k(1.1, 1.0))
    # a wide grid holds (almost) all of the mass: the density integrates to one
    wide = gaussian_kernel(101, covariance_matrix(_t(1.5), _t(1.0), _t(0.2)), 10)
    assert (wide.sum() * (20 / 100) ** 2).item() == pytest.approx(1.0, abs=1e-6)


def test_gaussian_batched_equals_single():
    c = covariance_matrix(
        torch.tensor([1.0, 2.0]), torch.tensor([1.0, 0.5]), torch.tensor([0.0, 0.7])
    )
    assert c.shape == (2, 2, 2)
    k = gaussian_kernel(5, c)
    _close(k[1], gaussian_kernel(5, c[1]))


def test_covariance_eigenvalues_and_axis():
    s1, s2, phi = 3.0, 0.5, 0.8
    c = covariance_matrix(_t(s1), _t(s2), _t(phi))
    _close(c, c.T)
    values, vectors = torch.linalg.eigh(c)
    _close(values, torch.tensor([s2**2, s1**2], dtype=D64))
    major = vectors[:, 1] * torch.sign(vectors[0, 1])
    _close(major, torch.tensor([math.cos(phi), math.sin(phi)], dtype=D64))
    # plain numbers are accepted
    _close(covariance_matrix(2, 1, 0), torch.tensor([[4.0, 0.0], [0.0, 1.0]]))


# ----------------------------------------------------------------------------- derivatives
def test_derive_kernel_on_a_linear_ramp():
    rows, cols = torch.meshgrid(torch.arange(5.0), torch.arange(6.0), indexing="ij")
    ramp = 3 * rows + 2 * cols
    for angle in (0.0, 0.5, math.pi / 2):
        d = derive_kernel(ramp, angle)
        expected = 3 * math.cos(angle) + 2 * math.sin(angle)
        _close(d, torch.full_like(ramp, expected))


def test_calculate_normalization():
    assert calculate_normalization(1, 3.0) == pytest.approx(3.0)
    assert calculate_normalization(3, 3.0, 1) == pytest.approx(3.0)  # gamma=1: scale itself
    assert calculate_normalization(2, 3.0, 0.5) == pytest.approx(3.0 ** (2 * 0.5) * 3.0**0.5)
    assert calculate_normalization(2, 3.0, 0.0) == pytest.approx(9.0)


@pytest.mark.parametrize("angle", [0.0, 0.4, 2.0])
@pytest.mark.parametrize("ratio", [1.0, 2.5])
def test_normalised_kernels_sum_to_one_and_derivative_symmetry(angle, ratio):
    k = _field(1.5, angle, ratio)
    assert k.sum().item() == pytest.approx(1.0, abs=1e-12)
    _close(k.flip(0, 1), k)  # point symmetric
    for dx, dy in [(1, 0), (0, 1), (2, 1), (1, 2)]:  # odd total order: odd fields
        d = _field(1.5, angle, ratio, dx=dx, dy=dy)
        assert abs(d.sum().item()) < 1e-12
        _close(d.flip(0, 1), -d)
    for dx, dy in [(2, 0), (0, 2), (1, 1), (2, 2)]:  # even total order: even fields
        d = _field(1.5, angle, ratio, dx=dx, dy=dy)
        _close(d.flip(0, 1), d)
    # second derivative across the axis is negative at the centre of a peak
    assert _field(1.5, angle, ratio, dx=2)[5, 5].item() < 0


def test_first_derivatives_point_along_angle():
    k = _field(1.0, 0.0, 1.0)
    # derivative "dx" at angle 0 uses dim 0 (rows), scaled by the scale
    _close(_field(1.0, 0.0, 1.0, dx=1), torch.gradient(k, dim=0)[0])
    _close(_field(2.0, 0.0, 1.0, dx=1), 2 * torch.gradient(_field(2.0, 0, 1), dim=0)[0])
    # "dy" is the derivative at angle + pi/2: along dim 1 (the columns)
    _close(_field(1.0, 0.0, 1.0, dy=1), torch.gradient(k, dim=1)[0], atol=1e-15, rtol=0)
    # for a circular field, an x-derivative at angle + pi/2 equals the y-derivative at angle
    _close(_field(1.0, 0.3 + math.pi / 2, 1.0, dx=1), _field(1.0, 0.3, 1.0, dy=1))


def test_derive_single_alternates_and_stacks():
    k = _field(1.2, 0.3, 2.0)
    assert derive_spatial_receptive_field_single(k, 1.2, 0.3, 0, 0) is k
    d_x = derive_kernel(k, 0.3) * 1.2
    d_xy = derive_kernel(d_x, 0.3 + math.pi / 2) * 1.2
    d_xyx = derive_kernel(d_xy, 0.3) * 1.2
    _close(derive_spatial_receptive_field_single(k, 1.2, 0.3, 2, 1), d_xyx)
    stack = derive_spatial_receptive_field(k, 1.2, 0.3, [(0, 0), (2, 1)])
    assert stack.shape == (2, 11, 11)
    _close(stack[1], d_xyx)


def _check_gradient(f, x: torch.Tensor, eps: float = 1e-6) -> None:
    """Autograd's gradient of a random projection of ``f`` equals central differences
    (float64; a light ``gradcheck``, which costs seconds to import on first use)."""
    weights = torch.randn(f(x).shape, dtype=D64, generator=torch.Generator().manual_seed(0))
    x = x.clone().requires_grad_()
    (f(x) * weights).sum().backward()
    numeric = torch.zeros_like(x)
    flat = numeric.view(-1)
    for i in range(x.numel()):
        step = torch.zeros_like(x).view(-1)
        step[i] = eps
        step = step.view_as(x)
        with torch.no_grad():
            flat[i] = ((f(x + step) - f(x - step)) * weights).sum() / (2 * eps)
    assert x.grad.abs().gt(0).all()
    _close(x.grad, numeric, rtol=1e-5, atol=1e-8)


def test_fields_are_differentiable_wrt_scale_angle_ratio():
    def f(scale, angle, ratio):
        return spatial_receptive_field(scale, angle, ratio, 5, dx=1, dy=1, domain=2)

    _check_gradient(lambda v: f(*v), torch.tensor([1.3, 0.4, 1.7], dtype=D64))
    orders = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=D64)

    def fields(v):
        return spatial_receptive_fields_with_derivatives(torch.cat([v, orders], 1), 5)

    _check_gradient(fields, torch.tensor([[1.3, 0.4, 1.7], [0.8, 0.1, 1.0]], dtype=D64))


# ----------------------------------------------------------------------------- parameter tables
def test_extract_derivatives():
    assert _extract_derivatives(0) == ([(0, 0)], 0)
    assert _extract_derivatives(1) == ([(0, 0), (0, 1), (1, 0), (1, 1)], 1)
    pairs, n = _extract_derivatives(2)
    assert len(pairs) == 9 and n == 2 and (2, 2) in pairs
    assert _extract_derivatives([(0, 0), (3, 1)]) == ([(0, 0), (3, 1)], 3)
    with pytest.raises(ValueError, match="derivatives"):
        _extract_derivatives("1")
    with pytest.raises(ValueError, match="derivatives"):
        _extract_derivatives([(1, -1)])


def test_spatial_parameters_rows_and_columns():
    scales, angles = torch.tensor([1.0, 2.0, 4.0]), torch.tensor([0.0, 1.0, 2.0])
    ratios = torch.tensor([0.5, 1.0, 2.0])
    p = spatial_parameters(scales, angles, ratios, derivatives=1)
    assert p.shape == (108, 5)
    # every (scale, angle, ratio) appears once with each derivative pair, pairs fastest
    plain = spatial_parameters(scales, angles, ratios, 1, include_replicas=True)
    product = torch.cartesian_prod(scales, angles, ratios)
    _close(plain[::4, :3], product)
    for k, pair in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        assert (plain[k::4, 3:] == torch.tensor(pair, dtype=torch.float32)).all()
    # without replicas: same rows, circular (ratio == 1) fields last
    assert sorted(map(tuple, p.tolist())) == sorted(map(tuple, plain.tolist()))
    assert (p[:72, 2] != 1).all() and (p[72:, 2] == 1).all()
    _close(p[:72:4, :3], product[product[:, 2] != 1])
    # no ratio equal to 1: the plain product
    q = spatial_parameters(scales, angles, torch.tensor([2.0]), [(0, 0), (2, 0)])
    assert q.shape == (18, 5)
    _close(q[::2, :3], torch.cartesian_prod(scales, angles, torch.tensor([2.0])))
    assert spatial_parameters(
        torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([1.0]), 0
    ).shape == (1, 5)


def test_spatial_parameters_keep_autograd():
    scales = torch.tensor([1.0, 2.0], requires_grad=True)
    ratios = torch.tensor([1.0, 3.0], requires_grad=True)
    p = spatial_parameters(scales, torch.tensor([0.0]), ratios, 1)
    (p[:, 0] * p[:, 2]).sum().backward()
    assert scales.grad is not None and ratios.grad is not None


def test_fields_with_derivatives_match_single_fields():
    rows = spatial_parameters(
        torch.tensor([0.5, 1.5], dtype=D64),
        torch.tensor([0.0, 0.7], dtype=D64),
        torch.tensor([1.0, 2.0], dtype=D64),
        1,
    )
    fields = spatial_receptive_fields_with_derivatives(rows, 9, domain=3)
    assert fields.shape == (len(rows), 9, 9)
    for row, field in zip(rows, fields, strict=True):
        s, a, r, dx, dy = row.tolist()
        expected = spatial_receptive_field(_t(s), _t(a), _t(r), 9, int(dx), int(dy), domain=3)
        _close(field, expected)
        if dx == dy == 0:
            assert field.sum().item() == pytest.approx(1.0)


def test_temporal_scale_distribution():
    _close(
        temporal_scale_distribution(4),
        torch.tensor([1.0, math.sqrt(2), 2.0, 2 * math.sqrt(2)]),
        atol=1e-4,
        rtol=0,
    )
    s = temporal_scale_distribution(5, min_scale=2, c=1.5)
    _close(s[1:] / s[:-1], torch.full((4,), 1.5))
    assert s[0].item() == pytest.approx(math.sqrt(2))
    # with max_scale: variances from min_scale to max_scale
    _close(temporal_scale_distribution(3, min_scale=1, max_scale=16), torch.tensor([1.0, 2.0, 4.0]))
    _close(temporal_scale_distribution(1, 4, 9), torch.tensor([2.0]))
    _close(temporal_scale_distribution(1), torch.tensor([1.0]))


def test_spatio_temporal_parameters():
    scales, angles, ratios = torch.tensor([1.0, 2.0]), torch.tensor([0.0]), torch.tensor([1.0, 2.0])
    temporal = torch.tensor([1.0, 2.0, 3.0])
    p = spatio_temporal_parameters(scales, angles, ratios, 1, temporal)
    spatial = spatial_parameters(scales, angles, ratios, 1)
    assert p.shape == (len(spatial) * 3, 6)
    _close(p[:, :5], spatial.repeat_interleave(3, 0))
    _close(p[:, 5], temporal.repeat(len(spatial)))
    two = spatio_temporal_parameters(scales, angles, ratios, 0, torch.ones(2, 2))
    assert two.shape == (4 * 2, 7)


def test_functional_errors():
    c = torch.eye(2)
    with pytest.raises(TypeError, match="size"):
        gaussian_kernel(2.5, c)
    with pytest.raises(ValueError, match="size"):
        gaussian_kernel(0, c)
    with pytest.raises(ValueError, match="c must have shape"):
        gaussian_kernel(5, torch.eye(3))
    with pytest.raises(TypeError, match="c must be"):
        gaussian_kernel(5, [[1, 0], [0, 1]])
    with pytest.raises(ValueError, match="scale must be positive"):
        spatial_receptive_field(-1.0, 0.0, 1.0, 5)
    with pytest.raises(ValueError, match="ratio must be positive"):
        spatial_receptive_field(1.0, 0.0, 0.0, 5)
    with pytest.raises(ValueError, match="dx"):
        spatial_receptive_field(1.0, 0.0, 1.0, 5, dx=-1)
    with pytest.raises(ValueError, match="size >= 2"):
        spatial_receptive_field(1.0, 0.0, 1.0, 1, dx=1)
    with pytest.raises(ValueError, match="2x2"):
        derive_spatial_receptive_field_single(torch.ones(1, 5), 1.0, 0.0, 1, 0)
    with pytest.raises(ValueError, match="scales must be positive"):
        spatial_parameters(torch.tensor([-1.0]), torch.tensor([0.0]), torch.tensor([1.0]), 0)
    with pytest.raises(ValueError, match="1-D"):
        spatial_parameters(torch.ones(2, 2), torch.tensor([0.0]), torch.tensor([1.0]), 0)
    with pytest.raises(ValueError, match=r"shape \(N, 5\)"):
        spatial_receptive_fields_with_derivatives(torch.ones(3, 4), 5)
    with pytest.raises(ValueError, match="scale"):
        spatial_receptive_fields_with_derivatives(torch.tensor([[0.0, 0, 1, 0, 0]]), 5)
    with pytest.raises(ValueError, match="non-negative integers"):
        spatial_receptive_fields_with_derivatives(torch.tensor([[1.0, 0, 1, 0.5, 0]]), 5)
    with pytest.raises(ValueError, match="n_scales"):
        temporal_scale_distribution(0)
    with pytest.raises(ValueError, match="max_scale"):
        temporal_scale_distribution(3, max_scale=-1.0)
    with pytest.raises(ValueError, match="temporal_scales"):
        spatio_temporal_parameters(
            torch.ones(1), torch.zeros(1), torch.ones(1), 0, torch.ones(1, 1, 1)
        )


# ----------------------------------------------------------------------------- modules
def _rows(derivatives=0):
    return spatial_parameters(
        torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.5]), torch.tensor([2.0]), derivatives
    )


def test_spatial_module_shares_storage_with_the_callers_tensor():
    rf = _rows()
    before = rf.clone()
    m = SpatialReceptiveField2d(1, 7, rf, padding=3)
    assert isinstance(m.rf_parameters, torch.nn.Parameter)
    assert m.rf_parameters.data_ptr() == rf.data_ptr()
    optimizer = torch.optim.SGD(m.parameters(), lr=0.1)
    m(torch.rand(2, 1, 10, 10)).pow(2).sum().backward()
    optimizer.step()
    assert not torch.equal(rf, before)
    _close(rf, m.rf_parameters.detach())


def test_spatial_module_aggregate_and_per_channel():
    rf = _rows(1)
    x = torch.rand(2, 3, 12, 12)
    fields = spatial_receptive_fields_with_derivatives(rf, 5, domain=8)
    m = SpatialReceptiveField2d(3, 5, rf, padding=2)
    assert m.out_channels == len(rf)
    assert m.weights.shape == (len(rf), 3, 5, 5)
    expected = sum(F.conv2d(x[:, c : c + 1], fields.unsqueeze(1), padding=2) for c in range(3))
    _close(m(x), expected)
    n = SpatialReceptiveField2d(3, 5, rf, aggregate=False, padding=2)
    assert n.out_channels == 3 * len(rf)
    y = n(x)
    assert y.shape == (2, 3 * len(rf), 12, 12)
    for c in range(3):  # output c * N + k is field k on channel c
        single = F.conv2d(x[:, c : c + 1], fields.unsqueeze(1), padding=2)
        _close(y[:, c * len(rf) : (c + 1) * len(rf)], single)
    assert m(x[0]).shape == (len(rf), 12, 12)  # unbatched input


def test_spatial_module_update_flag_and_gradients():
    rf = _rows(1)
    m = SpatialReceptiveField2d(1, 7, rf, domain=4)
    assert not m.has_updated
    assert torch.equal(m.rf_parameters_previous, rf)
    x = torch.rand(2, 1, 9, 9)
    out = m(x)
    assert not m.has_updated
    out.pow(2).sum().backward()
    assert m.has_updated
    grad = m.rf_parameters.grad
    assert grad[:, :3].abs().sum(0).gt(0).all()  # scale, angle and ratio columns all learn
    assert grad[:, 3:].abs().sum() == 0  # derivative orders are not learned
    w0 = m.weights.detach().clone()
    _sgd_step(m, 0.01)
    m._update_weights()
    assert not m.has_updated
    assert not torch.equal(m.weights, w0)
    _close(m.weights[:, 0], spatial_receptive_fields_with_derivatives(rf, 7, 4))
    # backward twice without an optimiser step in between
    m(x).sum().backward()
    m(x).sum().backward()


def test_spatial_module_caches_weights_without_grad_and_follows_dtype():
    m = SpatialReceptiveField2d(1, 5, _rows())
    with torch.no_grad():
        m(torch.rand(1, 1, 6, 6))
        w = m.weights
        m(torch.rand(1, 1, 6, 6))
        assert m.weights is w
    m.double()
    assert m(torch.rand(1, 1, 6, 6, dtype=D64)).dtype == D64


def test_spatial_module_fixed_fields_and_copies():
    rf = _rows()
    m = SpatialReceptiveField2d(2, 5, rf, optimize_fields=False)
    assert list(m.parameters()) == []
    assert m.rf_parameters is rf
    out = m(torch.rand(1, 2, 5, 5, requires_grad=True))
    assert out.shape == (1, 4, 1, 1)
    n = SpatialReceptiveField2d(2, 5, _rows())
    n(torch.rand(1, 2, 5, 5))
    for module in (m, n):
        for clone in (copy.deepcopy(module), pickle.loads(pickle.dumps(module))):
            x = torch.rand(1, 2, 6, 6)
            _close(clone(x), module(x))


def test_spatial_module_errors():
    with pytest.raises(ValueError, match="rf_parameters"):
        SpatialReceptiveField2d(1, 5, torch.ones(3, 4))
    with pytest.raises(TypeError, match="rf_parameters"):
        SpatialReceptiveField2d(1, 5, [[1.0, 0, 1, 0, 0]])
    with pytest.raises(ValueError, match="scale"):
        SpatialReceptiveField2d(1, 5, torch.tensor([[-1.0, 0, 1, 0, 0]]))
    with pytest.raises(TypeError, match="in_channels"):
        SpatialReceptiveField2d(1.5, 5, _rows())
    with pytest.raises(TypeError, match="stride"):
        SpatialReceptiveField2d(1, 5, _rows(), strides=2)
    with pytest.raises(ValueError, match="groups"):
        SpatialReceptiveField2d(1, 5, _rows(), aggregate=False, groups=1)
    m = SpatialReceptiveField2d(2, 5, _rows())
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\)"):
        m(torch.rand(1, 3, 8, 8))
    with pytest.raises(TypeError, match="dtype"):
        m(torch.rand(1, 2, 8, 8, dtype=D64))


def test_parameterized_module_learns_per_field():
    scales, angles, ratios = (
        torch.tensor([1.0, 2.0]),
        torch.tensor([0.0, 0.5]),
        torch.tensor([1.0, 2.0]),
    )
    m = ParameterizedSpatialReceptiveField2d(1, 7, scales, angles, ratios, 1, padding=3)
    n = len(spatial_parameters(scales, angles, ratios, 1))
    assert sorted(k for k, _ in m.named_parameters()) == ["angles", "ratios", "scales"]
    assert m.scales.shape == (n,)
    _close(m.submodule.rf_parameters, spatial_parameters(scales, angles, ratios, 1))
    x = torch.rand(2, 1, 10, 10)
    out = m(x)
    assert out.shape == (2, n, 10, 10)
    assert not m.has_updated
    out.pow(2).sum().backward()
    assert m.has_updated
    for p in (m.scales, m.angles, m.ratios):
        assert p.grad is not None and p.grad.abs().sum() > 0
    # angles of circular, underived fields get no gradient; all other rows do
    _sgd_step(m, 0.01)
    after = m(x)
    assert not torch.allclose(after, out)
    _close(m.submodule.rf_parameters[:, 0], m.scales.detach())
    fixed = ParameterizedSpatialReceptiveField2d(
        1,
        7,
        scales,
        angles,
        ratios,
        1,
        optimize_scales=False,
        optimize_angles=False,
        optimize_ratios=False,
    )
    assert list(fixed.parameters()) == []
    partial = ParameterizedSpatialReceptiveField2d(
        1, 7, scales, angles, ratios, 0, optimize_angles=False
    )
    assert sorted(k for k, _ in partial.named_parameters()) == ["ratios", "scales"]


def test_sampled_module_learns_shared_values_and_keeps_row_order():
    scales, angles = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.7])
    ratios = torch.tensor([1.0, 2.0])
    m = SampledSpatialReceptiveField2d(2, 7, scales, angles, ratios, [(0, 0), (1, 0)], padding=3)
    assert sorted(k for k, _ in m.named_parameters()) == ["angles", "ratios", "scales"]
    assert m.scales.shape == (2,)
    _close(m.submodule.rf_parameters, spatial_parameters(scales, angles, ratios, [(0, 0), (1, 0)]))
    x = torch.rand(1, 2, 10, 10)
    out = m(x)
    assert out.shape == (1, 16, 10, 10)
    out.pow(2).sum().backward()
    assert m.has_updated
    for p in (m.scales, m.angles, m.ratios):
        assert p.grad is not None and p.grad.abs().sum() > 0
    _sgd_step(m, 0.01)
    assert m.ratios[0].item() != 1.0
    m(x)
    rows = m.submodule.rf_parameters
    # the circular fields stay at the end: only their values moved
    _close(rows[8:, 2], m.ratios[0].detach().expand(8))
    fixed = SampledSpatialReceptiveField2d(
        1,
        5,
        scales,
        angles,
        ratios,
        0,
        optimize_scales=False,
        optimize_angles=False,
        optimize_ratios=False,
    )
    assert list(fixed.parameters()) == []
    fixed(torch.rand(1, 1, 5, 5)).sum()
    assert copy.deepcopy(m)(x).shape == out.shape
    from_lists = SampledSpatialReceptiveField2d(1, 5, [1, 2], [0.0], [2], 0)
    assert from_lists.scales.dtype == torch.float32
    assert from_lists(torch.rand(1, 1, 5, 5)).shape == (1, 2, 1, 1)


def test_temporal_receptive_field_shape_and_values():
    m = TemporalReceptiveField(torch.Size([2, 5]))
    x = torch.rand(4, 2, 5)
    y, state = m(x)
    assert y.shape == (4, m.n_scales, 2, 5) and m.n_scales == 4
    assert m.rf_dimension == 2
    assert m.ps.shape == (4, 2, 1)
    scales = temporal_scale_distribution(4)
    _close(m.ps[:, 0, 0].detach(), 1000 / scales)
    # from rest, one Euler step gives dt * tau_inv * x = x / scale
    _close(y, x.unsqueeze(1) / scales[:, None, None])
    # the state continues the integration: leaky integrators with time constants of scale steps
    y2, _ = m(x, state)
    _close(y2, y + (x.unsqueeze(1) - y) / scales[:, None, None])
    tiny = TemporalReceptiveField(
        (3,), n_scales=2, time_constants=torch.tensor([[10.0], [20.0]]), dt=0.01
    )
    _close(tiny(torch.ones(3))[0], torch.tensor([[0.1] * 3, [0.2] * 3]))


def test_temporal_time_constants_are_learned_once():
    m = TemporalReceptiveField((2, 3), n_scales=3)
    params = list(m.parameters())
    assert len(params) == 1 and params[0] is m.ps
    assert m.neurons.p.tau_mem_inv is m.ps
    y, _ = m(torch.rand(5, 2, 3))
    y.sum().backward()
    assert m.ps.grad is not None and m.ps.grad.abs().sum() > 0
    before = m.ps.detach().clone()
    _sgd_step(m, 1.0)
    assert not torch.equal(m.ps, before)
    _close(m.neurons.p.tau_mem_inv, m.ps)
    assert copy.deepcopy(m)(torch.rand(5, 2, 3))[0].shape == (5, 3, 2, 3)


def test_temporal_errors():
    with pytest.raises(TypeError, match="shape"):
        TemporalReceptiveField(5)
    with pytest.raises(ValueError, match="n_scales"):
        TemporalReceptiveField((2,), n_scales=0)
    with pytest.raises(ValueError, match="time_constants"):
        TemporalReceptiveField((2,), n_scales=3, time_constants=torch.ones(2, 2))
    with pytest.raises(ValueError, match="dt"):
        TemporalReceptiveField((2,), dt=0.0)
    m = TemporalReceptiveField((2, 5))
    with pytest.raises(ValueError, match=r"\(2, 5\)"):
        m(torch.rand(4, 5, 2))


def test_top_level_exports():
    import norse.torch as norse

    for name in (
        "gaussian_kernel",
        "spatial_receptive_field",
        "spatial_receptive_fields_with_derivatives",
        "SpatialReceptiveField2d",
        "ParameterizedSpatialReceptiveField2d",
        "SampledSpatialReceptiveField2d",
        "TemporalReceptiveField",
    ):
        assert name in norse.__all__
    assert norse.TemporalReceptiveField is TemporalReceptiveField
    assert norse.gaussian_kernel is gaussian_kernel


# ----------------------------------------------------------------------------- 1.1.0 shapes
def test_shapes_of_single_fields_are_those_of_1_1_0():
    # numbers, 0-dim and one-element tensors of any shape: one (2, 2) covariance, as 1.1.0's
    # item assignment into a 2 x 2 tensor gives
    for args in [
        (2.0, 1.0, 0.3),
        (2, 1, 0),
        (_t(2.0), _t(1.0), _t(0.3)),
        (torch.tensor([2.0]), torch.tensor([1.0]), torch.tensor([0.3])),
        (torch.tensor([[2.0]]), 1.0, torch.tensor(0.3)),
    ]:
        c = covariance_matrix(*args)
        assert c.shape == (2, 2)
        _close(c, covariance_matrix(2.0, 1.0, float(torch.as_tensor(args[2]))).to(c.dtype))
    c = covariance_matrix(_t(2.0), _t(0.5), _t(0.3))
    assert gaussian_kernel(5, c).shape == (5, 5)
    # one-element scale, angle and ratio give one (size, size) field (1.1.0 broadcast (2, 2)
    # with (1,) and got (size, size))
    one = [torch.tensor([v], dtype=D64) for v in (1.5, 0.3, 2.0)]
    for dx, dy in [(0, 0), (1, 0), (1, 2)]:
        field = spatial_receptive_field(*one, 7, dx, dy, domain=3)
        assert field.shape == (7, 7)
        _close(field, spatial_receptive_field(_t(1.5), _t(0.3), _t(2.0), 7, dx, dy, domain=3))
    mixed = spatial_receptive_field(torch.tensor([[1.5]]), 0.3, torch.tensor([2.0]), 7)
    assert mixed.shape == (7, 7)
    # the helpers that take a field keep its shape or stack along a new first dimension
    k = _field(1.5, 0.3, 2.0)
    assert derive_kernel(k, torch.tensor([0.3])).shape == (11, 11)
    assert derive_spatial_receptive_field_single(k, one[0], one[1], 1, 1).shape == (11, 11)
    assert derive_spatial_receptive_field(k, 1.5, 0.3, [(0, 0), (1, 0), (0, 1)]).shape == (
        3,
        11,
        11,
    )
    assert temporal_scale_distribution(3).shape == (3,)


def test_shapes_of_batched_covariances_and_rows():
    # more elements: a batch (1.1.0 raised for these, so this is a superset)
    c = covariance_matrix(torch.tensor([1.0, 2.0, 3.0]), 1.0, torch.tensor([0.0]))
    assert c.shape == (3, 2, 2)
    assert covariance_matrix(torch.ones(4, 1), 1.0, torch.zeros(3)).shape == (4, 3, 2, 2)
    k = gaussian_kernel(5, c)
    assert k.shape == (3, 5, 5)
    for i in range(3):
        _close(k[i], gaussian_kernel(5, c[i]))
    assert gaussian_kernel(5, c[:1]).shape == (1, 5, 5)
    assert gaussian_kernel(5, c.expand(2, 3, 2, 2)).shape == (2, 3, 5, 5)
    # rows -> one field per row, for any number of rows
    rows = _rows(1)
    assert spatial_receptive_fields_with_derivatives(rows, 7).shape == (len(rows), 7, 7)
    assert spatial_receptive_fields_with_derivatives(rows[:1], 7).shape == (1, 7, 7)
    assert spatial_receptive_fields_with_derivatives(rows[:0], 7).shape == (0, 7, 7)
    # a single field takes single values; for many, the batched function is the one to use
    with pytest.raises(ValueError, match="scale must be a number or a one-element tensor"):
        spatial_receptive_field(torch.tensor([1.0, 2.0]), 0.0, 1.0, 5)
    with pytest.raises(ValueError, match="angle must be .* one-element"):
        spatial_receptive_field(1.0, torch.zeros(2), 1.0, 5)
    with pytest.raises(TypeError, match="angle must be a number"):
        spatial_receptive_field(1.0, "0", 1.0, 5)


def test_singular_covariance_gives_nan_instead_of_an_error():
    # the closed-form 2 x 2 inverse: 0 / 0 where torch.linalg.inv would raise
    assert gaussian_kernel(5, torch.zeros(2, 2)).isnan().all()
    batch = torch.stack([torch.eye(2), torch.zeros(2, 2)])
    k = gaussian_kernel(5, batch)
    assert torch.isfinite(k[0]).all() and k[1].isnan().all()


def test_sizes_accept_integral_numbers():
    np = pytest.importorskip("numpy")
    c = torch.eye(2)
    assert gaussian_kernel(np.int64(5), c).shape == (5, 5)
    assert gaussian_kernel(torch.tensor(5), c).shape == (5, 5)
    field = spatial_receptive_field(1.0, 0.0, 1.0, np.prod((3, 3)), np.int32(1), np.int64(0))
    assert field.shape == (9, 9)
    assert spatial_receptive_fields_with_derivatives(_rows(), np.int64(5)).shape == (4, 5, 5)
    assert temporal_scale_distribution(np.int64(3)).shape == (3,)
    p = spatial_parameters(torch.ones(1), torch.zeros(1), torch.ones(1), np.int64(1))
    assert p.shape == (4, 5)
    q = spatial_parameters(torch.ones(1), torch.zeros(1), torch.ones(1), [(np.int64(1), 0)])
    assert q[:, 3:].tolist() == [[1.0, 0.0]]
    m = SpatialReceptiveField2d(np.int64(2), np.prod((5,)), _rows(), padding=np.int64(2))
    assert (m.in_channels, m.size) == (2, 5) and type(m.size) is int
    assert m(torch.rand(1, 2, 6, 6)).shape == (1, 4, 6, 6)
    t = TemporalReceptiveField((np.int64(2), np.int32(5)), n_scales=np.int64(3))
    assert t.shape == (2, 5) and t.n_scales == 3
    for bad in (True, 5.0, np.float64(5)):
        with pytest.raises(TypeError, match="size must be an integer"):
            gaussian_kernel(bad, c)
        with pytest.raises(TypeError, match="in_channels"):
            SpatialReceptiveField2d(bad, 5, _rows())
    with pytest.raises(TypeError, match="n_scales"):
        temporal_scale_distribution(True)
    with pytest.raises(TypeError, match="shape"):
        TemporalReceptiveField((2, 5.0))
    with pytest.raises(ValueError, match=r"shape\[1\] must be positive"):
        TemporalReceptiveField((2, 0))
    with pytest.raises(ValueError, match="derivatives"):
        spatial_parameters(torch.ones(1), torch.zeros(1), torch.ones(1), True)


# ----------------------------------------------------------------------------- trained values
def _formula_fields(rows: torch.Tensor, size: int, domain: float) -> torch.Tensor:
    """API.md §2.26 written out per row with plain arithmetic (the quadratic form with the
    adjugate of C, derivatives by the documented loop), for any values of the rows."""
    fields = []
    grid = torch.linspace(-domain, domain, size, dtype=D64)
    y, x = grid[:, None], grid[None, :]
    for s, phi, r, dx, dy in rows.detach().to(D64):
        l1, l2 = r**2, (1 / r) ** 2
        cos, sin = torch.cos(phi), torch.sin(phi)
        a = s * (l1 * cos**2 + l2 * sin**2)
        b = s * (l1 - l2) * cos * sin
        d = s * (l1 * sin**2 + l2 * cos**2)
        det = a * d - b * b
        q = (d * x * x - 2 * b * x * y + a * y * y) / det
        k = torch.exp(-q / 2) / (2 * math.pi * torch.sqrt(det))
        k = k / k.sum()
        norm = s ** (1 * (1 - 1)) * (s**2) ** (1 / 2)  # calculate_normalization(1, s, 1) = |s|
        dx, dy = dx.item(), dy.item()
        while dx > 0 or dy > 0:
            for order, angle in ((dx, phi), (dy, phi + math.pi / 2)):
                if order > 0:
                    grad0, grad1 = torch.gradient(k, dim=0)[0], torch.gradient(k, dim=1)[0]
                    k = (torch.cos(angle) * grad0 + torch.sin(angle) * grad1) * norm
            dx, dy = dx - 1, dy - 1
        fields.append(k)
    return torch.stack(fields)


def _assert_fields(actual: torch.Tensor, expected: torch.Tensor) -> None:
    assert actual.shape == expected.shape
    assert torch.equal(actual.isnan(), expected.isnan())
    finite = ~expected.isnan()
    _close(actual[finite], expected[finite], rtol=1e-9, atol=1e-12)


def _step_to(module: torch.nn.Module, targets: dict[str, torch.Tensor]) -> None:
    """One real SGD step (lr=1) whose gradients move each named parameter to its target."""
    params = dict(module.named_parameters())
    for name, target in targets.items():
        params[name].grad = params[name].detach() - target
    torch.optim.SGD(module.parameters(), lr=1.0).step()
    for name, target in targets.items():
        assert torch.equal(params[name].detach(), target)


def test_spatial_module_forward_after_training_moved_scales_and_ratios():
    rows = torch.tensor(
        [
            [1.0, 0.3, 2.0, 0, 0],
            [1.0, 0.3, 2.0, 1, 1],
            [1.5, 0.0, 2.0, 0, 0],
            [2.0, 0.5, 1.5, 0, 1],
            [1.0, 0.2, 0.5, 0, 0],
            [1.2, 0.7, 3.0, 2, 0],
        ],
        dtype=D64,
    )
    m = SpatialReceptiveField2d(1, 7, rows, domain=2, padding=3)
    x = torch.rand(2, 1, 9, 9, dtype=D64)
    m(x).pow(2).sum().backward()
    target = m.rf_parameters.detach().clone()
    target[0, 0] = target[1, 0] = -1.0  # negative scale: inverted Gaussian
    target[2, 0] = 0.0  # zero scale: singular covariance
    target[3, 2] = -1.5  # negative ratio: the field of |ratio|
    target[4, 2] = 0.0  # zero ratio: infinite 1/ratio
    _step_to(m, {"rf_parameters": target})
    out = m(x)  # no error
    expected = _formula_fields(target, 7, 2.0)
    _assert_fields(m.weights[:, 0], expected)
    assert torch.equal(
        out.isnan().flatten(2).all(2), expected.isnan().flatten(1).all(1).expand(2, -1)
    )
    finite = [0, 1, 3, 5]
    _close(out[:, finite], F.conv2d(x, expected[finite].unsqueeze(1), padding=3))
    # the formulas, checked by their properties
    inverted = _formula_fields(torch.tensor([[1.0, 0.3, 2.0, 0, 0]], dtype=D64), 7, 2.0)[0]
    _close(m.weights[0, 0], (1 / inverted) / (1 / inverted).sum())
    assert m.weights[0, 0, 3, 3] == m.weights[0, 0].min()  # smallest at the centre
    assert m.weights[0, 0].sum().item() == pytest.approx(1.0)
    absolute = rows[3:4].clone()
    absolute[0, 2] = 1.5
    _close(m.weights[3, 0], spatial_receptive_fields_with_derivatives(absolute, 7, 2.0)[0])
    assert m.weights[2].isnan().all() and m.weights[4].isnan().all()
    # backward runs too; NaN stays within the rows whose kernels are NaN
    out.sum().backward()
    grad = m.rf_parameters.grad
    assert torch.isfinite(grad[finite]).all() and grad[[2, 4], 0].isnan().all()


def test_sampled_module_forward_after_training_moved_scales_and_ratios():
    m = SampledSpatialReceptiveField2d(
        1,
        7,
        torch.tensor([1.0, 2.0], dtype=D64),
        torch.tensor([0.0, 0.5], dtype=D64),
        torch.tensor([2.0, 1.0], dtype=D64),
        [(0, 0), (1, 0)],
        domain=3,
        padding=3,
    )
    x = torch.rand(1, 1, 8, 8, dtype=D64)
    m(x).sum().backward()
    scales = torch.tensor([-0.5, 0.0], dtype=D64)
    ratios = torch.tensor([-2.0, 1.0], dtype=D64)
    _step_to(m, {"scales": scales, "ratios": ratios, "angles": m.angles.detach().clone()})
    out = m(x)
    assert out.shape == (1, 16, 8, 8)
    rows = m.submodule.rf_parameters
    assert set(rows[:, 0].tolist()) == {-0.5, 0.0} and set(rows[:, 2].tolist()) == {-2.0, 1.0}
    expected = _formula_fields(rows, 7, 3.0)
    _assert_fields(m.submodule.weights[:, 0], expected)
    negative = rows[:, 0] < 0
    assert not expected[negative].isnan().any() and expected[~negative].isnan().all()
    _close(out[:, negative], F.conv2d(x, expected[negative].unsqueeze(1), padding=3))
    out[:, negative].sum().backward()
    assert torch.isfinite(m.scales.grad[0])


def test_parameterized_module_forward_after_training_moved_scales_and_ratios():
    m = ParameterizedSpatialReceptiveField2d(
        2,
        5,
        torch.tensor([1.0, 2.0]),
        torch.tensor([0.4]),
        torch.tensor([1.0, 3.0]),
        1,
        domain=2,
    )
    x = torch.rand(3, 2, 6, 6)
    m(x).sum().backward()
    scales, ratios = m.scales.detach().clone(), m.ratios.detach().clone()
    scales[0] = -2.0  # row 0: (0, 0) derivative, inverted
    scales[5] = -1.0  # row 5: (0, 1) derivative, inverted and multiplied by -1
    ratios[1] = -ratios[1]
    ratios[2] = 0.0
    _step_to(m, {"scales": scales, "ratios": ratios})
    out = m(x)
    assert out.shape == (3, 16, 2, 2)
    expected = _formula_fields(m.submodule.rf_parameters, 5, 2.0).float()
    weights = m.submodule.weights
    assert torch.equal(weights.isnan(), expected.isnan()[:, None].expand_as(weights))
    assert weights[2].isnan().all()
    others = [i for i in range(16) if i != 2]
    _close(weights[others, 1], expected[others])
    _close(out[:, others], F.conv2d(x, expected[others, None].expand(-1, 2, -1, -1)))
    assert weights[0, 0, 2, 2] == weights[0, 0].min()


def test_spatial_module_derivative_columns_moved_by_weight_decay():
    rows = torch.tensor([[1.0, 0.3, 2.0, 1, 0], [1.5, 0.0, 1.0, 0, 2], [1.2, 0.6, 1.5, 0, 0]])
    m = SpatialReceptiveField2d(1, 7, rows.clone(), domain=3)
    x = torch.rand(1, 1, 7, 7)
    m(x).sum().backward()
    torch.optim.SGD(m.parameters(), lr=0.1, weight_decay=0.01).step()
    orders = m.rf_parameters.detach()[:, 3:]
    assert 0 < orders[0, 0] < 1 and 1 < orders[1, 1] < 2  # 0.999, 1.998: not integers
    m(x)
    exact = m.rf_parameters.detach().clone()
    exact[:, 3:] = rows[:, 3:]
    _close(m.weights[:, 0], spatial_receptive_fields_with_derivatives(exact, 7, 3))
    # any value: ceil(d) derivative steps for d > 0 (the documented loop), none otherwise
    with torch.no_grad():
        m.rf_parameters[:, 3:] = torch.tensor([[0.2, -0.5], [float("nan"), 1.5], [0.0, 0.0]])
    m(x)
    exact[:, 3:] = torch.tensor([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    _close(m.weights[:, 0], spatial_receptive_fields_with_derivatives(exact, 7, 3))
    with torch.no_grad():
        m.rf_parameters[0, 3] = float("inf")
    with pytest.raises(ValueError, match="must be finite"):
        m(x)
