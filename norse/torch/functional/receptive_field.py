r"""Receptive fields from scale-space theory: Gaussian kernels, their directional derivatives
and temporal scale distributions.

The spatial fields follow the normative theory of visual receptive fields (Lindeberg, 2021,
"Normative theory of visual receptive fields", *Heliyon* 7(1), e05897). Their use on spiking
/ binary signals is described by Pedersen et al., 2023, "Translation and Scale Invariance for
Event-Based Object Tracking" (NICE 2023).

**Gaussian.** On the grid :math:`a = \mathrm{linspace}(-d, d, n)` (``domain`` :math:`d`,
``size`` :math:`n`), with :math:`x` varying along the columns and :math:`y` along the rows,

.. math::
    g(p; C) = \frac{1}{2\pi\sqrt{\det C}} \exp\!\left(-\tfrac12\, p^\top C^{-1} p\right),
    \qquad p = (x, y).

**Covariance.** A field with scale :math:`s`, angle :math:`\varphi` and ratio :math:`r` uses
:math:`C = s\, \Sigma(r, 1/r, \varphi)` where

.. math::
    \Sigma(\sigma_1, \sigma_2, \varphi) = R_\varphi
    \begin{pmatrix}\sigma_1^2 & 0 \\ 0 & \sigma_2^2\end{pmatrix} R_\varphi^\top
    = \begin{pmatrix}
    \lambda_1 \cos^2\varphi + \lambda_2 \sin^2\varphi & (\lambda_1 - \lambda_2)\cos\varphi\sin\varphi \\
    (\lambda_1 - \lambda_2)\cos\varphi\sin\varphi & \lambda_1 \sin^2\varphi + \lambda_2 \cos^2\varphi
    \end{pmatrix},

:math:`\lambda_i = \sigma_i^2`, so the eigenvalues of :math:`\Sigma` are :math:`\sigma_1^2,
\sigma_2^2` (the first along :math:`(\cos\varphi, \sin\varphi)`) and
:math:`\det C = s^2`. The sampled kernel is normalised to sum to one, :math:`k = g / \sum g`.

**Derivatives.** With :math:`\nabla_{0}, \nabla_{1}` the finite differences of
:func:`torch.gradient` along the rows (dim ``-2``) and the columns (dim ``-1``) (central inside,
one-sided at the border, unit spacing), the directional derivative and its scale
normalisation (:math:`\gamma`-normalisation, Lindeberg) are

.. math::
    \partial_\varphi k = \cos\varphi\, \nabla_{0} k + \sin\varphi\, \nabla_{1} k, \qquad
    \nu(\partial, s, \gamma) = s^{\partial (1-\gamma)} (s^2)^{\gamma / 2},

and a field with derivative orders :math:`(d_x, d_y)` is

.. math::
    k_{d_x, d_y} = \left(\nu\, \partial_\varphi\right)^{d_x}
    \left(\nu\, \partial_{\varphi + \pi/2}\right)^{d_y} k,

with the :math:`x` and :math:`y` steps applied alternately (:math:`\nu = s` for
:math:`\gamma = 1`). A kernel is symmetric under point reflection, :math:`k(-p) = k(p)`, so odd
derivatives are odd (they sum to zero) and even derivatives are even.

**Temporal scales.** :math:`n` scales spaced geometrically by :math:`c` from ``min_scale``
:math:`\tau_{min}` (variances; the returned values are their square roots):

.. math::
    \tau_{max} = c^{2(n-1)} \tau_{min}, \qquad
    \tau_k = c^{2(k-n)}\, \tau_{max}, \qquad \mathrm{scale}_k = \sqrt{\tau_k}, \quad k = 1..n.

A parameter row is ``[scale, angle, ratio, dx, dy]``; :func:`spatial_parameters` builds all
combinations and :func:`spatial_receptive_fields_with_derivatives` turns rows into kernels.
The modules in :mod:`norse.torch.module.receptive_field` use them as convolution weights that
stay differentiable with respect to scales, angles and ratios.

Example:
    >>> k = spatial_receptive_field(torch.tensor(2.0), torch.tensor(0.0), torch.tensor(1.0), 9)
    >>> k.shape, round(k.sum().item(), 4)
    (torch.Size([9, 9]), 1.0)
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from numbers import Real
from typing import Any

import torch
from torch import Tensor

from ..utils._validation import as_size, is_size

__all__ = [
    "calculate_normalization",
    "covariance_matrix",
    "derive_kernel",
    "derive_spatial_receptive_field",
    "derive_spatial_receptive_field_single",
    "gaussian_kernel",
    "spatial_parameters",
    "spatial_receptive_field",
    "spatial_receptive_fields_with_derivatives",
    "spatio_temporal_parameters",
    "temporal_scale_distribution",
]


# ----------------------------------------------------------------------------- checks
def _check_positive(value: Any, name: str, who: str) -> None:
    """Raise unless ``value`` (a number or tensor) is a number, or tensor of numbers, > 0."""
    if isinstance(value, Tensor):
        if value.numel() and not bool((value.detach() > 0).all()):
            raise ValueError(
                f"{who}: {name} must be positive, got {value.detach().min().item():g} as the "
                f"smallest value; pass values > 0"
            )
        return
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{who}: {name} must be a number or tensor, got {type(value).__name__}")
    if not value > 0:
        raise ValueError(f"{who}: {name} must be positive, got {value}; pass a value > 0")


def _as_vector(value: Any, name: str, who: str) -> Tensor:
    """A 1-D floating tensor (numbers and sequences are converted; tensors keep autograd)."""
    if not isinstance(value, (Tensor, Real, Sequence)) or isinstance(value, (str, bool)):
        raise TypeError(
            f"{who}: {name} must be a 1-D tensor (or a sequence of numbers), "
            f"got {type(value).__name__}"
        )
    t = torch.as_tensor(value)
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    if t.dim() > 1:
        raise ValueError(
            f"{who}: {name} must be 1-D, got shape {tuple(t.shape)}; flatten it or pass a list"
        )
    return t.reshape(-1)


def _check_orders(dx: Any, dy: Any, who: str) -> tuple[int, int]:
    return as_size(dx, "dx", who, minimum=0), as_size(dy, "dy", who, minimum=0)


def _check_field(field: Any, name: str, who: str) -> None:
    if not isinstance(field, Tensor):
        raise TypeError(f"{who}: {name} must be a tensor, got {type(field).__name__}")
    if field.dim() < 2 or field.shape[-1] < 2 or field.shape[-2] < 2:
        raise ValueError(
            f"{who}: {name} must have at least 2x2 trailing dimensions to take finite "
            f"differences, got shape {tuple(field.shape)}; use a kernel size of 2 or more"
        )


# ----------------------------------------------------------------------------- kernels
def gaussian_kernel(size: int, c: Tensor, domain: float = 8) -> Tensor:
    r"""A 2-d Gaussian with covariance ``c`` sampled on a ``size`` x ``size`` grid.

    The grid spans ``[-domain, domain]`` in both directions, ``x`` along the columns and ``y``
    along the rows; see :mod:`norse.torch.functional.receptive_field` for the formula. The
    values are densities (not normalised to sum to one) and differentiable with respect to
    ``c``. A ``(2, 2)`` covariance gives a ``(size, size)`` kernel, as in 1.1.0; a batch of
    covariances ``(*, 2, 2)`` gives a batch of kernels ``(*, size, size)``.

    The inverse and determinant of ``c`` are the closed-form 2 x 2 ones, so a singular ``c``
    (e.g. a zero scale) gives non-finite values instead of an error; see the module docstring
    of :mod:`norse.torch.module.receptive_field` for what other parameters give.

    Args:
        size (int): number of grid points per side.
        c (Tensor): covariance matrix, shape ``(2, 2)`` or ``(*, 2, 2)``.
        domain (float): half-width of the grid.

    Returns:
        Tensor of shape ``(size, size)``, or ``(*, size, size)`` for batched ``c``.

    Example:
        >>> k = gaussian_kernel(5, torch.eye(2), domain=2)
        >>> k.shape, round(k[2, 2].item(), 4)  # centre value 1 / (2 pi)
        (torch.Size([5, 5]), 0.1592)
        >>> gaussian_kernel(5, torch.eye(2).expand(3, 2, 2)).shape
        torch.Size([3, 5, 5])
    """
    who = "gaussian_kernel"
    size = as_size(size, "size", who, 1)
    _check_positive(domain, "domain", who)
    if not isinstance(c, Tensor):
        raise TypeError(
            f"{who}: c must be a (2, 2) covariance tensor, got {type(c).__name__}; "
            "build one with covariance_matrix(sigma1, sigma2, phi)"
        )
    if c.dim() < 2 or tuple(c.shape[-2:]) != (2, 2):
        raise ValueError(
            f"{who}: c must have shape (2, 2) (or (*, 2, 2)), got {tuple(c.shape)}; "
            "build one with covariance_matrix(sigma1, sigma2, phi)"
        )
    if not c.is_floating_point():
        c = c.to(torch.get_default_dtype())
    return _gaussian(size, c, domain)


def _gaussian(size: int, c: Tensor, domain: Any) -> Tensor:
    """:func:`gaussian_kernel` without the checks: ``(*, 2, 2)`` -> ``(*, size, size)``."""
    a, b, cc, d = c[..., 0, 0], c[..., 0, 1], c[..., 1, 0], c[..., 1, 1]
    det = a * d - b * cc
    # adj(c) / det(c): the exact inverse of a 2 x 2 matrix, which (unlike linalg.inv) never
    # raises; a singular c gives inf / nan, as the formula does.
    ci = torch.stack([torch.stack([d, -b], -1), torch.stack([-cc, a], -1)], -2)
    ci = ci / det[..., None, None]
    fraction = 1 / (2 * math.pi * torch.sqrt(det))
    grid = torch.linspace(-domain, domain, size, dtype=c.dtype, device=c.device)
    xs, ys = torch.meshgrid(grid, grid, indexing="xy")
    coo = torch.stack([xs, ys], dim=-1)
    quadratic = torch.einsum("hwi,...ij,hwj->...hw", coo, ci, coo)
    return fraction[..., None, None] * torch.exp(-0.5 * quadratic)


def covariance_matrix(sigma1: Any, sigma2: Any, phi: Any) -> Tensor:
    r"""The covariance :math:`R_\varphi \operatorname{diag}(\sigma_1^2, \sigma_2^2) R_\varphi^\top`.

    Arguments go through :func:`torch.as_tensor`; the result keeps autograd with respect to
    all three. Numbers and one-element tensors (of any shape, e.g. ``(1,)``) give a ``(2, 2)``
    matrix, as in 1.1.0. Arguments with more elements broadcast against each other and give
    a batch ``(*, 2, 2)`` (1.1.0 raised an error for them).

    Args:
        sigma1: standard deviation along the direction :math:`(\cos\varphi, \sin\varphi)`.
        sigma2: standard deviation along the perpendicular direction.
        phi: rotation angle in radians.

    Returns:
        Tensor of shape ``(2, 2)``, or ``(*, 2, 2)`` for batched arguments.

    Example:
        >>> covariance_matrix(2.0, 1.0, 0.0)
        tensor([[4., 0.],
                [0., 1.]])
        >>> covariance_matrix(torch.tensor([2.0]), 1.0, 0.0).shape
        torch.Size([2, 2])
        >>> covariance_matrix(torch.tensor([2.0, 3.0]), 1.0, 0.0).shape
        torch.Size([2, 2, 2])
    """
    sigma1, sigma2, phi = (torch.as_tensor(v) for v in (sigma1, sigma2, phi))
    c = _covariance(sigma1, sigma2, phi)
    if sigma1.numel() == sigma2.numel() == phi.numel() == 1:
        c = c.reshape(2, 2)
    return c


def _covariance(sigma1: Tensor, sigma2: Tensor, phi: Tensor) -> Tensor:
    """:func:`covariance_matrix` for broadcasting tensors: always ``(*broadcast, 2, 2)``."""
    lambda1 = sigma1**2
    lambda2 = sigma2**2
    cos, sin = torch.cos(phi), torch.sin(phi)
    a = lambda1 * cos**2 + lambda2 * sin**2
    b = (lambda1 - lambda2) * cos * sin
    d = lambda1 * sin**2 + lambda2 * cos**2
    a, b, d = torch.broadcast_tensors(a, b, d)
    return torch.stack([torch.stack([a, b], -1), torch.stack([b, d], -1)], -2)


def derive_kernel(kernel: Tensor, angle: Any) -> Tensor:
    r"""The directional finite difference :math:`\cos\varphi\,\nabla_0 k + \sin\varphi\,\nabla_1 k`.

    :math:`\nabla_0` and :math:`\nabla_1` are :func:`torch.gradient` along the rows (dim ``-2``)
    and columns (dim ``-1``). Leading batch dimensions are allowed; ``angle`` broadcasts.

    Args:
        kernel (Tensor): kernel of shape ``(*, H, W)`` with ``H, W >= 2``.
        angle: angle in radians (number or tensor).

    Example:
        >>> k = torch.tensor([[0.0, 1.0, 0.0], [1.0, 2.0, 1.0], [0.0, 1.0, 0.0]])
        >>> derive_kernel(k, 0.0)[:, 1]
        tensor([ 1.,  0., -1.])
    """
    _check_field(kernel, "kernel", "derive_kernel")
    angle = torch.as_tensor(angle)
    return (
        torch.cos(angle) * torch.gradient(kernel, dim=-2)[0]
        + torch.sin(angle) * torch.gradient(kernel, dim=-1)[0]
    )


def calculate_normalization(dx: int, scale: Any, gamma: float = 1) -> Any:
    r"""The scale normalisation :math:`s^{d_x (1-\gamma)} (s^2)^{\gamma/2}` of a derivative.

    With ``gamma=1`` (the value the fields use) this is :math:`(s^2)^{1/2} = |s|`, the scale
    itself for positive scales.

    Args:
        dx (int): derivative order.
        scale: scale :math:`s` (number or tensor).
        gamma (float): the :math:`\gamma` of Lindeberg's :math:`\gamma`-normalised derivatives.

    Example:
        >>> calculate_normalization(1, 4.0), calculate_normalization(2, 4.0, gamma=0.5)
        (4.0, 8.0)
    """
    return scale ** (dx * (1 - gamma)) * (scale**2) ** (gamma / 2)


def derive_spatial_receptive_field_single(
    field: Tensor, scale: Any, angle: Any, dx: int, dy: int
) -> Tensor:
    r"""Take ``dx`` normalised derivatives along ``angle`` and ``dy`` along ``angle + pi/2``.

    The x and y steps alternate (x first) while any order is left; every step multiplies by
    :func:`calculate_normalization` ``(1, scale, 1)``. Orders ``(0, 0)`` return ``field``.

    Args:
        field (Tensor): kernel ``(*, H, W)``.
        scale: the field's scale (number or tensor broadcasting against ``field``).
        angle: the field's angle in radians.
        dx (int): derivative order along ``angle``.
        dy (int): derivative order along ``angle + pi/2``.

    Example:
        >>> k = spatial_receptive_field(torch.tensor(1.0), torch.tensor(0.0), torch.tensor(1.0), 7)
        >>> d = derive_spatial_receptive_field_single(k, 1.0, 0.0, 1, 0)
        >>> round(d.sum().item(), 6) == 0, bool(torch.allclose(d.flip(0, 1), -d))
        (True, True)
    """
    who = "derive_spatial_receptive_field_single"
    dx, dy = _check_orders(dx, dy, who)
    if dx or dy:
        _check_field(field, "field", who)
    return _derive(field, scale, angle, dx, dy)


def _derive(field: Tensor, scale: Any, angle: Any, dx: int, dy: int) -> Tensor:
    while dx > 0 or dy > 0:
        if dx > 0:
            field = derive_kernel(field, angle) * calculate_normalization(1, scale, 1)
            dx -= 1
        if dy > 0:
            field = derive_kernel(field, angle + math.pi / 2) * calculate_normalization(1, scale, 1)
            dy -= 1
    return field


def derive_spatial_receptive_field(
    field: Tensor, scale: Any, angle: Any, derivatives: list[tuple[int, int]]
) -> Tensor:
    """Stack :func:`derive_spatial_receptive_field_single` over a list of ``(dx, dy)`` orders.

    Args:
        field (Tensor): kernel ``(H, W)``.
        scale: the field's scale.
        angle: the field's angle in radians.
        derivatives: list of ``(dx, dy)`` pairs.

    Returns:
        Tensor of shape ``(len(derivatives), H, W)``.

    Example:
        >>> k = spatial_receptive_field(torch.tensor(1.0), torch.tensor(0.0), torch.tensor(1.0), 7)
        >>> derive_spatial_receptive_field(k, 1.0, 0.0, [(0, 0), (1, 0), (0, 2)]).shape
        torch.Size([3, 7, 7])
    """
    pairs, _ = _extract_derivatives(list(derivatives), "derive_spatial_receptive_field")
    return torch.stack(
        [derive_spatial_receptive_field_single(field, scale, angle, dx, dy) for dx, dy in pairs]
    )


def spatial_receptive_field(
    scale: Any,
    angle: Any,
    ratio: Any,
    size: int,
    dx: int = 0,
    dy: int = 0,
    domain: float = 10,
) -> Tensor:
    r"""One normalised (and optionally differentiated) receptive field.

    The covariance is :func:`covariance_matrix` ``(ratio, 1/ratio, angle) * scale``; the
    Gaussian kernel on ``[-domain, domain]`` is divided by its sum and then differentiated with
    :func:`derive_spatial_receptive_field_single`. Differentiable with respect to ``scale``,
    ``angle`` and ``ratio``. Each of them is a number or a one-element tensor of any shape
    (e.g. ``(1,)``), and the field is ``(size, size)`` as in 1.1.0; for many fields at once
    use :func:`spatial_receptive_fields_with_derivatives`.

    Args:
        scale: variance scale :math:`s > 0` (number or one-element tensor).
        angle: orientation in radians.
        ratio: axis ratio :math:`r > 0` (standard deviations :math:`r` and :math:`1/r`).
        size (int): kernel side length.
        dx (int): derivative order along ``angle``.
        dy (int): derivative order perpendicular to ``angle``.
        domain (float): half-width of the sampling grid.

    Returns:
        Tensor of shape ``(size, size)``.

    Example:
        >>> k = spatial_receptive_field(torch.tensor(1.0), torch.tensor(0.0), torch.tensor(2.0), 9, dx=1)
        >>> k.shape, round(k.sum().item(), 6) == 0
        (torch.Size([9, 9]), True)
    """
    who = "spatial_receptive_field"
    size = as_size(size, "size", who, 1)
    dx, dy = _check_orders(dx, dy, who)
    if (dx or dy) and size < 2:
        raise ValueError(f"{who}: derivatives need size >= 2, got size={size}")
    _check_positive(domain, "domain", who)
    _check_positive(scale, "scale", who)
    _check_positive(ratio, "ratio", who)
    values = []
    for name, value in (("scale", scale), ("angle", angle), ("ratio", ratio)):
        if not isinstance(value, (Tensor, Real)) or isinstance(value, bool):
            raise TypeError(
                f"{who}: {name} must be a number or a one-element tensor, got "
                f"{type(value).__name__}"
            )
        t = torch.as_tensor(value)
        if t.numel() != 1:
            raise ValueError(
                f"{who}: {name} must be a number or a one-element tensor (one field), got "
                f"shape {tuple(t.shape)}; use spatial_receptive_fields_with_derivatives for "
                "many fields"
            )
        values.append(t.reshape(()))
    scale, angle, ratio = values
    if not scale.is_floating_point():
        scale = scale.to(torch.get_default_dtype())
    c = _covariance(ratio, 1 / ratio, angle) * scale
    k = _gaussian(size, c, domain)
    k = k / k.sum()
    return _derive(k, scale, angle, dx, dy)


# ----------------------------------------------------------------------------- parameters
def _as_int(value: Any) -> int:
    """An integral number (see :func:`~norse.torch.utils._validation.is_size`) as an ``int``."""
    return int(value.item()) if isinstance(value, Tensor) else operator.index(value)


def _extract_derivatives(
    derivatives: Any, who: str = "derivatives"
) -> tuple[list[tuple[int, int]], int]:
    """``(list of (dx, dy) pairs, highest order)`` from an int or a list of pairs.

    An int ``n`` means every pair with orders ``0..n`` (``n = 0``: only ``(0, 0)``).
    """
    if is_size(derivatives):
        derivatives = _as_int(derivatives)
        if derivatives < 0:
            raise ValueError(
                f"{who}: derivatives must be a non-negative int or a list of (dx, dy) pairs, "
                f"got {derivatives}"
            )
        if derivatives == 0:
            return [(0, 0)], 0
        n = derivatives
        return [(x, y) for x in range(n + 1) for y in range(n + 1)], n
    if isinstance(derivatives, (list, tuple)):
        pairs = []
        for pair in derivatives:
            ok = isinstance(pair, (list, tuple)) and len(pair) == 2
            ok = ok and all(is_size(v) and _as_int(v) >= 0 for v in pair)
            if not ok:
                raise ValueError(
                    f"{who}: derivatives must be a non-negative int or a list of (dx, dy) pairs "
                    f"of non-negative ints, got the entry {pair!r}; e.g. [(0, 0), (1, 0)]"
                )
            pairs.append((_as_int(pair[0]), _as_int(pair[1])))
        if not pairs:
            raise ValueError(f"{who}: derivatives is an empty list; pass at least [(0, 0)]")
        return pairs, max(max(p) for p in pairs)
    raise ValueError(
        f"{who}: derivatives must be a non-negative int or a list of (dx, dy) pairs, got "
        f"{type(derivatives).__name__}; e.g. derivatives=1 or [(0, 0), (1, 0)]"
    )


def _product_order(ratios: Tensor, n_scales: int, n_angles: int) -> Tensor | None:
    """Row order of 1.1.0's product: rows with ratio != 1 first, then ratio == 1.

    Returns indices into ``cartesian_prod(scales, angles, ratios)``, or ``None`` when the
    order is the plain product (no ratio equals one).
    """
    symmetric = (ratios.detach() == 1).cpu()
    if not bool(symmetric.any()):
        return None
    r = torch.arange(len(ratios))
    s, a = torch.arange(n_scales), torch.arange(n_angles)
    rows = torch.cat(
        [torch.cartesian_prod(s, a, r[~symmetric]), torch.cartesian_prod(s, a, r[symmetric])]
    )
    return ((rows[:, 0] * n_angles + rows[:, 1]) * len(ratios) + rows[:, 2]).to(ratios.device)


def _spatial_rows(
    scales: Tensor,
    angles: Tensor,
    ratios: Tensor,
    pairs: list[tuple[int, int]] | Tensor,
    order: Tensor | None,
) -> Tensor:
    dtype = torch.promote_types(torch.promote_types(scales.dtype, angles.dtype), ratios.dtype)
    scales, angles, ratios = (t.to(dtype) for t in (scales, angles, ratios))
    triples = torch.cartesian_prod(scales, angles, ratios).reshape(-1, 3)
    if order is not None:
        triples = triples[order]
    orders = torch.as_tensor(pairs, dtype=dtype, device=triples.device)
    return torch.cat(
        [triples.repeat_interleave(len(pairs), dim=0), orders.repeat(len(triples), 1)], dim=1
    )


def spatial_parameters(
    scales: Tensor,
    angles: Tensor,
    ratios: Tensor,
    derivatives: int | list[tuple[int, int]],
    include_replicas: bool = False,
) -> Tensor:
    """Every combination of scale, angle, ratio and derivative order, one row each.

    Rows are ``[scale, angle, ratio, dx, dy]``, ordered like ``cartesian_prod(scales, angles,
    ratios)`` with each row repeated once per derivative pair (pairs vary fastest). Unless
    ``include_replicas``, rows with ``ratio == 1`` (circular fields) come after the others (as
    in 1.1.0 every angle is kept, so this only reorders rows). Differentiable with respect to
    ``scales``, ``angles`` and ``ratios``.

    Args:
        scales (Tensor): 1-D scales (> 0).
        angles (Tensor): 1-D angles in radians.
        ratios (Tensor): 1-D axis ratios (> 0).
        derivatives: an int ``n`` (all pairs with orders ``0..n``; ``0`` means no derivative)
            or a list of ``(dx, dy)`` pairs.
        include_replicas (bool): keep the plain product order.

    Returns:
        Tensor of shape ``(len(scales) * len(angles) * len(ratios) * n_pairs, 5)``.

    Example:
        >>> p = spatial_parameters(torch.tensor([1.0, 2.0, 4.0]), torch.tensor([0.0, 1.0, 2.0]),
        ...                        torch.tensor([0.5, 1.0, 2.0]), derivatives=1)
        >>> p.shape
        torch.Size([108, 5])
        >>> p[:4, 3:]
        tensor([[0., 0.],
                [0., 1.],
                [1., 0.],
                [1., 1.]])
    """
    who = "spatial_parameters"
    scales = _as_vector(scales, "scales", who)
    angles = _as_vector(angles, "angles", who)
    ratios = _as_vector(ratios, "ratios", who)
    _check_positive(scales, "scales", who)
    _check_positive(ratios, "ratios", who)
    pairs, _ = _extract_derivatives(derivatives, who)
    order = None if include_replicas else _product_order(ratios, len(scales), len(angles))
    return _spatial_rows(scales, angles, ratios, pairs, order)


def _check_rows(combinations: Any, who: str, name: str) -> None:
    """Type, shape and dtype of ``(N, 5)`` parameter rows (metadata only)."""
    if not isinstance(combinations, Tensor):
        raise TypeError(
            f"{who}: {name} must be a tensor of shape (N, 5), got "
            f"{type(combinations).__name__}; build one with spatial_parameters(...)"
        )
    if combinations.dim() != 2 or combinations.shape[1] != 5:
        raise ValueError(
            f"{who}: {name} must have shape (N, 5) with columns [scale, angle, ratio, "
            f"dx, dy], got {tuple(combinations.shape)}; build it with spatial_parameters(...)"
        )
    if not combinations.is_floating_point():
        raise TypeError(
            f"{who}: {name} must be a floating tensor, got {combinations.dtype}; "
            "convert it with .float()"
        )


def _check_combinations(
    combinations: Any, who: str, name: str = "combinations"
) -> tuple[list[int], list[int]]:
    """Validate ``(N, 5)`` rows and their values; return the derivative orders (one host
    transfer). Used where parameters are given (function calls, module construction)."""
    _check_rows(combinations, who, name)
    host = combinations.detach()[:, [0, 2, 3, 4]].cpu()
    for column, label in ((0, "scale (column 0)"), (1, "ratio (column 2)")):
        if len(host) and not bool((host[:, column] > 0).all()):
            raise ValueError(
                f"{who}: every {label} of {name} must be positive, got "
                f"{host[:, column].min().item():g}; keep scales and ratios > 0"
            )
    orders = host[:, 2:].round()
    if len(host) and not (bool((orders >= 0).all()) and torch.allclose(orders, host[:, 2:])):
        raise ValueError(
            f"{who}: dx and dy (columns 3 and 4) must be non-negative integers, got "
            f"{host[:, 2:].unique().tolist()}"
        )
    orders = orders.long()
    return orders[:, 0].tolist(), orders[:, 1].tolist()


def _derivative_counts(rows: Tensor, who: str, name: str) -> tuple[list[int], list[int]]:
    """The derivative steps :func:`derive_spatial_receptive_field_single`'s loop takes for
    any values of the dx, dy columns: ``ceil(d)`` for ``d > 0`` and none otherwise (so a
    weight decay turning 1 into 0.9999 keeps one derivative). Scales and ratios are not
    checked; used in the modules' forward passes, where training may have moved the rows."""
    host = rows.detach()[:, 3:].cpu()
    if bool((host == math.inf).any()):
        raise ValueError(
            f"{who}: dx and dy (columns 3 and 4) of {name} must be finite, got inf; "
            "these columns get no gradient, so something else set them"
        )
    counts = torch.where(host > 0, host.ceil(), torch.zeros_like(host)).long()
    return counts[:, 0].tolist(), counts[:, 1].tolist()


def spatial_receptive_fields_with_derivatives(
    combinations: Tensor, size: int, domain: float = 1
) -> Tensor:
    """One receptive field per parameter row ``[scale, angle, ratio, dx, dy]``.

    Row ``i`` equals :func:`spatial_receptive_field` ``(*combinations[i], size, domain=domain)``;
    the kernels are computed as a batch and stay differentiable with respect to the scale,
    angle and ratio columns. Note the default ``domain=1`` (1.1.0's default here).

    Args:
        combinations (Tensor): rows of shape ``(N, 5)``, e.g. from :func:`spatial_parameters`.
        size (int): kernel side length.
        domain (float): half-width of the sampling grid.

    Returns:
        Tensor of shape ``(N, size, size)`` (``N = 0`` gives an empty ``(0, size, size)``).

    Example:
        >>> p = spatial_parameters(torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([1.0]), 1)
        >>> fields = spatial_receptive_fields_with_derivatives(p, 9)
        >>> fields.shape, fields.sum((1, 2)).abs().round(decimals=4)
        (torch.Size([4, 9, 9]), tensor([1., 0., 0., 0.]))
    """
    who = "spatial_receptive_fields_with_derivatives"
    size = as_size(size, "size", who, 1)
    _check_positive(domain, "domain", who)
    dxs, dys = _check_combinations(combinations, who)
    if size < 2 and any(dxs + dys):
        raise ValueError(f"{who}: derivatives need size >= 2, got size={size}")
    return _fields(combinations, size, domain, dxs, dys)


def _fields(combinations: Tensor, size: int, domain: Any, dxs: list[int], dys: list[int]) -> Tensor:
    """The kernels of ``(N, 5)`` rows with the given derivative orders, without checks: any
    scale and ratio give what the formulas give (see :mod:`norse.torch.module.receptive_field`)."""
    scales, angles, ratios = combinations[:, 0], combinations[:, 1], combinations[:, 2]
    c = _covariance(ratios, 1 / ratios, angles) * scales[:, None, None]
    k = _gaussian(size, c, domain)
    k = k / k.sum(dim=(-2, -1), keepdim=True)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, key in enumerate(zip(dxs, dys, strict=True)):
        groups.setdefault(key, []).append(i)
    if not groups or list(groups) == [(0, 0)]:
        return k
    parts, rows = [], []
    for (dx, dy), index in groups.items():
        idx = torch.tensor(index, device=k.device)
        s = scales[idx, None, None]
        a = angles[idx, None, None]
        parts.append(_derive(k[idx], s, a, dx, dy))
        rows.extend(index)
    inverse = torch.empty(len(rows), dtype=torch.long)
    inverse[torch.tensor(rows)] = torch.arange(len(rows))
    return torch.cat(parts)[inverse.to(k.device)]


def _spatial_fields(rows: Tensor, size: int, domain: Any, who: str, name: str) -> Tensor:
    """The modules' kernels: ``rows`` as training left them (see :func:`_derivative_counts`)."""
    return _fields(rows, size, domain, *_derivative_counts(rows, who, name))


def temporal_scale_distribution(
    n_scales: int,
    min_scale: float = 1,
    max_scale: float | None = None,
    c: float = 1.41421,
) -> Tensor:
    r"""``n_scales`` temporal scales, geometrically spaced (square roots of the variances).

    Without ``max_scale`` the variances run from ``min_scale`` in steps of :math:`c^2`; with
    ``max_scale`` the step is chosen so that they run from ``min_scale`` to ``max_scale``
    (``n_scales == 1`` gives ``sqrt(min_scale)``).

    Args:
        n_scales (int): number of scales.
        min_scale (float): smallest variance.
        max_scale (float, optional): largest variance.
        c (float): ratio between neighbouring scales (used when ``max_scale`` is None).

    Returns:
        Tensor of shape ``(n_scales,)``.

    Example:
        >>> temporal_scale_distribution(4)
        tensor([1.0000, 1.4142, 2.0000, 2.8284])
        >>> temporal_scale_distribution(3, min_scale=1, max_scale=16)
        tensor([1., 2., 4.])
    """
    who = "temporal_scale_distribution"
    n_scales = as_size(n_scales, "n_scales", who, 1)
    _check_positive(min_scale, "min_scale", who)
    _check_positive(c, "c", who)
    xs = torch.linspace(1, n_scales, n_scales)
    if max_scale is not None:
        _check_positive(max_scale, "max_scale", who)
        if n_scales == 1:
            return torch.sqrt(torch.tensor([min_scale], dtype=torch.get_default_dtype()))
        # 1.1.0 used (min/max) here, which puts max_scale**2/min_scale first; the ratio must
        # be (max/min) for the variances to run from min_scale to max_scale.
        c = (max_scale / min_scale) ** (1 / (2 * (n_scales - 1)))
    else:
        max_scale = c ** (2 * (n_scales - 1)) * min_scale
    taus = c ** (2 * (xs - n_scales)) * max_scale
    return torch.sqrt(taus)


def spatio_temporal_parameters(
    scales: Tensor,
    angles: Tensor,
    ratios: Tensor,
    derivatives: int | list[tuple[int, int]],
    temporal_scales: Tensor,
    include_replicas: bool = False,
) -> Tensor:
    """Every spatial parameter row combined with every temporal scale.

    Each row of :func:`spatial_parameters` is repeated once per temporal scale and the scale
    appended as an extra column (spatial rows outer, temporal scales inner). A 2-d
    ``temporal_scales`` of shape ``(T, k)`` appends ``k`` columns. (1.1.0 raised an error
    here, because ``cartesian_prod`` takes only 1-d tensors.)

    Args:
        scales, angles, ratios, derivatives, include_replicas: as in :func:`spatial_parameters`.
        temporal_scales (Tensor): shape ``(T,)`` or ``(T, k)``.

    Returns:
        Tensor of shape ``(N * T, 5 + k)`` (``k = 1`` for 1-d temporal scales).

    Example:
        >>> p = spatio_temporal_parameters(torch.tensor([1.0]), torch.tensor([0.0]),
        ...     torch.tensor([1.0, 2.0]), 0, temporal_scale_distribution(3))
        >>> p.shape
        torch.Size([6, 6])
        >>> p[:3, 5]
        tensor([1.0000, 1.4142, 2.0000])
    """
    who = "spatio_temporal_parameters"
    spatial = spatial_parameters(scales, angles, ratios, derivatives, include_replicas)
    if not isinstance(temporal_scales, Tensor):
        temporal_scales = torch.as_tensor(temporal_scales)
    if temporal_scales.dim() not in (1, 2):
        raise ValueError(
            f"{who}: temporal_scales must have shape (T,) or (T, k), got "
            f"{tuple(temporal_scales.shape)}"
        )
    temporal = temporal_scales.reshape(len(temporal_scales), -1).to(spatial)
    return torch.cat(
        [
            spatial.repeat_interleave(len(temporal), dim=0),
            temporal.repeat(len(spatial), 1),
        ],
        dim=1,
    )
