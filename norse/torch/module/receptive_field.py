r"""Receptive-field modules: spatial fields as 2-d convolutions and temporal fields as leaky
integrators with several time constants.

The fields come from scale-space theory (Lindeberg, 2021, "Normative theory of visual receptive
fields"); for spiking / binary signals see Pedersen et al., 2023, "Translation and Scale
Invariance for Event-Based Object Tracking". Equations: :mod:`norse.torch.functional.receptive_field`.

**Parameters moved by training.** The constructors check that scales and ratios are positive,
but an optimiser step may move them anywhere (e.g. a large SGD step). The forward pass does not
check them again: as in 1.1.0 it computes the formulas of
:mod:`norse.torch.functional.receptive_field` with whatever values the parameters have, and
never raises because of them. For a field with scale :math:`s`, angle :math:`\varphi` and ratio
:math:`r` (covariance :math:`C = s\,\Sigma(r, 1/r, \varphi)`) that gives:

- :math:`r < 0`: :math:`\Sigma` depends on :math:`r^2` and :math:`r^{-2}` only, so the field
  (derivatives included) is exactly the field of :math:`|r|`.
- :math:`r = 0`: :math:`1/r = \infty` makes the covariance NaN, so the kernel, and every output
  value it touches, is NaN.
- :math:`s < 0`: :math:`C` is negative definite and :math:`\sqrt{\det C} = |s|`, so the
  exponent changes sign: the kernel is :math:`\propto \exp(+\tfrac12 p^\top (|s|\Sigma)^{-1} p)`,
  an inverted Gaussian, smallest at the centre and largest in the corners, still normalised
  to sum to one (it equals ``1 / k`` normalised, for ``k`` the kernel of scale :math:`|s|`).
  Each derivative step multiplies by the normalisation :math:`(s^2)^{1/2} = |s|`, so a
  ``(dx, dy)`` field carries the factor :math:`|s|^{dx + dy}`. Where the exponential
  overflows (a grid wide compared with :math:`\sqrt{|s|}`, e.g. in float32 beyond an exponent
  of about 88), the normalised kernel is NaN.
- :math:`s = 0`: :math:`C = 0` is singular; its inverse is :math:`0/0`, so the kernel is NaN
  (the 2 x 2 inverse is taken in closed form, where ``torch.linalg.inv`` would raise).
- NaN scales or ratios give NaN kernels.
- The ``dx``/``dy`` columns of ``SpatialReceptiveField2d.rf_parameters`` get no gradient, but
  a weight decay shrinks them; like the derivative loop of
  :func:`~norse.torch.functional.receptive_field.derive_spatial_receptive_field_single`, a
  column value :math:`d` gives :math:`\lceil d \rceil` derivative steps if :math:`d > 0` and
  none otherwise (an infinite value raises ``ValueError``).

Gradients are those of the same formulas (NaN where the kernel is NaN). To keep the fields
Gaussian, keep the parameters positive yourself, e.g. ``m.scales.data.clamp_(min=1e-3)`` after
each optimiser step. (The functions in :mod:`norse.torch.functional.receptive_field` still
raise ``ValueError`` for non-positive scales and ratios passed to them directly.)

Example:
    A large SGD step drives the first scale below zero; the forward pass still runs:

    >>> m = SampledSpatialReceptiveField2d(1, 9, torch.tensor([1.0, 2.0]),
    ...     torch.tensor([0.0]), torch.tensor([1.0]), derivatives=0, padding=4)
    >>> m.scales.grad = torch.tensor([3.0, 0.0])
    >>> torch.optim.SGD([m.scales], lr=1.0).step()
    >>> m.scales
    Parameter containing:
    tensor([-2.,  2.], requires_grad=True)
    >>> m(torch.rand(1, 1, 12, 12)).shape
    torch.Size([1, 2, 12, 12])
    >>> w = m.submodule.weights[0, 0]  # the inverted field: smallest at the centre
    >>> bool(w[4, 4] == w.min()), round(w.sum().item(), 4)
    (True, 1.0)
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Real
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..functional.leaky_integrator_box import LIBoxParameters
from ..functional.receptive_field import (
    _as_vector,
    _check_combinations,
    _check_positive,
    _extract_derivatives,
    _product_order,
    _spatial_fields,
    _spatial_rows,
    spatial_parameters,
    temporal_scale_distribution,
)
from ..utils._validation import as_size, is_size
from .leaky_integrator_box import LIBoxCell

__all__ = [
    "ParameterizedSpatialReceptiveField2d",
    "SampledSpatialReceptiveField2d",
    "SpatialReceptiveField2d",
    "TemporalReceptiveField",
]

_CONV_KWARGS = ("bias", "stride", "padding", "dilation", "groups")


def _as_float(t: Any, name: str, who: str) -> Tensor:
    if not isinstance(t, Tensor):
        t = torch.as_tensor(t)
    if not t.is_floating_point():
        raise TypeError(
            f"{who}: {name} must be a floating tensor (it is optimised), got {t.dtype}; "
            "convert it with .float()"
        )
    return t


class SpatialReceptiveField2d(nn.Module):
    """Spatial receptive fields applied as a 2-d convolution.

    Every row ``[scale, angle, ratio, dx, dy]`` of ``rf_parameters`` becomes one kernel
    (:func:`~norse.torch.functional.receptive_field.spatial_receptive_fields_with_derivatives`).
    With ``aggregate=True`` each output channel sums its field over all input channels
    (``N`` outputs); with ``aggregate=False`` every field is applied to every input channel
    separately (``N * in_channels`` outputs, ordered channel-major: output ``c * N + n`` is
    field ``n`` on channel ``c``).

    With ``optimize_fields=True``, ``rf_parameters`` becomes an ``nn.Parameter`` sharing storage
    with the tensor passed in (an optimiser step changes the caller's tensor). The kernels in
    ``weights`` are recomputed when the parameters change after a backward pass, and in every
    forward pass that records gradients. Scales and ratios are checked here (> 0) but not in
    the forward pass: values that training moves to zero or below give what the formulas
    give (see :mod:`norse.torch.module.receptive_field`).

    Args:
        in_channels (int): number of input channels.
        size (int): kernel side length.
        rf_parameters (Tensor): field parameters of shape ``(N, 5)``, e.g. from
            :func:`~norse.torch.functional.receptive_field.spatial_parameters`.
        aggregate (bool): sum each field over the input channels.
        domain (float): half-width of the kernels' sampling grid.
        optimize_fields (bool): make ``rf_parameters`` a learnable parameter.
        **kwargs: passed to :func:`torch.nn.functional.conv2d` (``bias``, ``stride``,
            ``padding``, ``dilation``, ``groups``).

    Shape:
        input ``(B, in_channels, H, W)`` or ``(in_channels, H, W)``; output
        ``(B, out_channels, H', W')``.

    Example:
        >>> from norse.torch.functional.receptive_field import spatial_parameters
        >>> p = spatial_parameters(torch.tensor([1.0, 2.0]), torch.tensor([0.0]),
        ...                        torch.tensor([1.0]), derivatives=1)
        >>> m = SpatialReceptiveField2d(2, 9, p, padding=4)
        >>> m(torch.rand(3, 2, 16, 16)).shape
        torch.Size([3, 8, 16, 16])
    """

    def __init__(
        self,
        in_channels: int,
        size: int,
        rf_parameters: Tensor,
        aggregate: bool = True,
        domain: float = 8,
        optimize_fields: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        who = type(self).__name__
        self.in_channels = as_size(in_channels, "in_channels", who)
        self.size = as_size(size, "size", who)
        _check_positive(domain, "domain", who)
        unknown = [k for k in kwargs if k not in _CONV_KWARGS]
        if unknown:
            raise TypeError(
                f"{who}: unexpected keyword argument(s) {', '.join(map(repr, unknown))}; extra "
                f"keywords go to conv2d, which takes {', '.join(_CONV_KWARGS)}"
            )
        if not aggregate and "groups" in kwargs:
            raise ValueError(
                f"{who}: groups cannot be set with aggregate=False (the fields are applied to "
                "each input channel with groups=in_channels); drop groups or use aggregate=True"
            )
        _check_combinations(rf_parameters, who, "rf_parameters")
        kwargs.setdefault("bias", None)
        self.kwargs = kwargs
        self.aggregate = aggregate
        self.domain = domain
        self.optimize_fields = optimize_fields
        self.out_channels = len(rf_parameters) * (1 if aggregate else self.in_channels)
        if optimize_fields:
            self.rf_parameters = nn.Parameter(rf_parameters)
        else:
            # Not learnable here (e.g. computed by a parent module): kept as the same object.
            self.register_buffer("rf_parameters", rf_parameters, persistent=False)
        self.rf_parameters_previous = torch.zeros_like(rf_parameters.detach())
        self.weights: Tensor = torch.empty(0)
        self.has_updated = True
        self._update_weights()

    def _update_weights(self, force: bool = False) -> None:
        """Recompute ``weights`` if a backward pass happened and the parameters changed."""
        params = self.rf_parameters
        previous = self.rf_parameters_previous
        changed = (
            previous.shape != params.shape
            or previous.device != params.device
            or previous.dtype != params.dtype
            or not torch.equal(previous, params.detach())
        )
        if force or (self.has_updated and changed):
            self.has_updated = False
            self.rf_parameters_previous = params.detach().clone()
            # No value checks here: training may have moved scales and ratios to <= 0, and
            # the kernels are then what the formulas give (see the module docstring).
            fields = _spatial_fields(
                params, self.size, self.domain, type(self).__name__, "rf_parameters"
            )
            if self.aggregate:
                self.weights = fields.unsqueeze(1).repeat(1, self.in_channels, 1, 1)
            else:
                self.weights = fields.repeat(self.in_channels, 1, 1).unsqueeze(1)

    def _mark_updated(self, grad: Tensor) -> None:
        self.has_updated = True

    def forward(self, x: Tensor) -> Tensor:
        """Convolve ``x`` with the receptive fields."""
        who = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"{who}: x must be a tensor, got {type(x).__name__}")
        if x.dim() not in (3, 4) or x.shape[-3] != self.in_channels:
            raise ValueError(
                f"{who}: expected input of shape (B, {self.in_channels}, H, W) or "
                f"({self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        params = self.rf_parameters
        stale = self.weights.device != params.device or self.weights.dtype != params.dtype
        self._update_weights(force=stale or (torch.is_grad_enabled() and params.requires_grad))
        if x.dtype != self.weights.dtype:
            raise TypeError(
                f"{who}: input dtype {x.dtype} differs from the fields' dtype "
                f"{self.weights.dtype}; convert the input or the module (e.g. module.to(x.dtype))"
            )
        kwargs = self.kwargs if self.aggregate else {**self.kwargs, "groups": self.in_channels}
        out = F.conv2d(x, self.weights, **kwargs)
        if self.optimize_fields and out.requires_grad:
            out.register_hook(self._mark_updated)
        return out

    def __getstate__(self) -> dict[str, Any]:
        # Kernels computed with autograd cannot be deep-copied or pickled; they are recomputed
        # from rf_parameters anyway.
        state = dict(self.__dict__)
        state["weights"] = self.weights.detach()
        buffers = dict(state["_buffers"])
        for name, value in buffers.items():
            if isinstance(value, Tensor) and value.grad_fn is not None:
                buffers[name] = value.detach()
        state["_buffers"] = buffers
        return state

    def extra_repr(self) -> str:
        extra = "".join(
            f", {k}={v}" for k, v in self.kwargs.items() if k != "bias" or v is not None
        )
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"size={self.size}, aggregate={self.aggregate}, domain={self.domain}{extra}"
        )


class _FieldsFromParameters(nn.Module):
    """Shared parts of the sampled and parameterized modules: a submodule whose
    ``rf_parameters`` are recomputed from this module's scales, angles and ratios."""

    submodule: SpatialReceptiveField2d

    def _store(self, name: str, value: Tensor, optimize: bool) -> None:
        if optimize:
            setattr(self, name, nn.Parameter(value))
        else:
            self.register_buffer(name, value, persistent=False)

    def _rf_parameters(self) -> Tensor:
        raise NotImplementedError

    def _update_weights(self) -> None:
        """Recompute the submodule's ``rf_parameters`` and, if they changed, its kernels."""
        self.submodule.rf_parameters = self._rf_parameters()
        self.submodule.has_updated = True
        self.submodule._update_weights()

    def _mark_updated(self, grad: Tensor) -> None:
        self.has_updated = True

    def forward(self, x: Tensor) -> Tensor:
        """Convolve ``x`` with the receptive fields built from the current parameters."""
        self._update_weights()
        out = self.submodule(x)
        if self._optimized and out.requires_grad:
            out.register_hook(self._mark_updated)
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_buffers"] = {
            k: (v.detach() if isinstance(v, Tensor) else v) for k, v in self._buffers.items()
        }
        return state


class SampledSpatialReceptiveField2d(_FieldsFromParameters):
    """Receptive fields for every combination of a few learnable scales, angles and ratios.

    The fields are
    :func:`~norse.torch.functional.receptive_field.spatial_parameters` ``(scales, angles,
    ratios, derivatives)``, recomputed in every forward pass so that gradients reach the
    (shared) ``scales``, ``angles`` and ``ratios``. The row order is fixed when the module is
    built, so a ratio that leaves 1 during training does not reorder the output channels.
    Scales and ratios that training moves to zero or below are used as they are (see
    :mod:`norse.torch.module.receptive_field`).

    Args:
        in_channels (int): number of input channels.
        size (int): kernel side length.
        scales (Tensor): 1-D scales (> 0).
        angles (Tensor): 1-D angles in radians.
        ratios (Tensor): 1-D axis ratios (> 0).
        derivatives: an int (all orders up to it) or a list of ``(dx, dy)`` pairs.
        optimize_scales, optimize_angles, optimize_ratios (bool): make them ``nn.Parameter``.
        **kwargs: passed to :class:`SpatialReceptiveField2d` (``aggregate``, ``domain``, conv2d
            arguments).

    Example:
        >>> m = SampledSpatialReceptiveField2d(1, 9, torch.tensor([1.0, 2.0]),
        ...     torch.tensor([0.0, 1.0]), torch.tensor([2.0]), derivatives=0, padding=4)
        >>> m(torch.rand(2, 1, 12, 12)).shape
        torch.Size([2, 4, 12, 12])
        >>> sorted(name for name, _ in m.named_parameters())
        ['angles', 'ratios', 'scales']
    """

    def __init__(
        self,
        in_channels: int,
        size: int,
        scales: Tensor,
        angles: Tensor,
        ratios: Tensor,
        derivatives: int | list[tuple[int, int]],
        optimize_scales: bool = True,
        optimize_angles: bool = True,
        optimize_ratios: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        who = type(self).__name__
        initial = spatial_parameters(scales, angles, ratios, derivatives)
        self.derivatives = derivatives
        pairs, _ = _extract_derivatives(derivatives, who)
        self.register_buffer("_pairs", torch.tensor(pairs, dtype=initial.dtype), persistent=False)
        values = {
            name: _as_vector(t, name, who)
            for name, t in (("scales", scales), ("angles", angles), ("ratios", ratios))
        }
        self._store("scales", values["scales"], optimize_scales)
        self._store("angles", values["angles"], optimize_angles)
        self._store("ratios", values["ratios"], optimize_ratios)
        order = _product_order(values["ratios"], len(values["scales"]), len(values["angles"]))
        self.register_buffer("_order", order, persistent=False)
        self.optimize_scales = optimize_scales
        self.optimize_angles = optimize_angles
        self.optimize_ratios = optimize_ratios
        self._optimized = optimize_scales or optimize_angles or optimize_ratios
        self.submodule = SpatialReceptiveField2d(
            in_channels, size, rf_parameters=initial, optimize_fields=False, **kwargs
        )
        self.has_updated = False

    def _rf_parameters(self) -> Tensor:
        return _spatial_rows(self.scales, self.angles, self.ratios, self._pairs, self._order)


class ParameterizedSpatialReceptiveField2d(_FieldsFromParameters):
    """Receptive fields whose scale, angle and ratio are learned per field.

    Starts from :func:`~norse.torch.functional.receptive_field.spatial_parameters`
    ``(scales, angles, ratios, derivatives)``; afterwards every row (field) has its own
    ``scales[i]``, ``angles[i]`` and ``ratios[i]``, while the derivative orders stay fixed.
    Scales and ratios that training moves to zero or below are used as they are (see
    :mod:`norse.torch.module.receptive_field`).

    Args:
        in_channels (int): number of input channels.
        size (int): kernel side length.
        scales (Tensor): 1-D initial scales (> 0).
        angles (Tensor): 1-D initial angles in radians.
        ratios (Tensor): 1-D initial axis ratios (> 0).
        derivatives: an int (all orders up to it) or a list of ``(dx, dy)`` pairs.
        optimize_scales, optimize_angles, optimize_ratios (bool): make them ``nn.Parameter``.
        **kwargs: passed to :class:`SpatialReceptiveField2d` (``aggregate``, ``domain``, conv2d
            arguments).

    Example:
        >>> m = ParameterizedSpatialReceptiveField2d(1, 9, torch.tensor([1.0, 2.0]),
        ...     torch.tensor([0.0]), torch.tensor([1.0]), derivatives=1, padding=4)
        >>> m(torch.rand(2, 1, 12, 12)).shape, m.scales.shape
        (torch.Size([2, 8, 12, 12]), torch.Size([8]))
    """

    def __init__(
        self,
        in_channels: int,
        size: int,
        scales: Tensor,
        angles: Tensor,
        ratios: Tensor,
        derivatives: int | list[tuple[int, int]],
        optimize_scales: bool = True,
        optimize_angles: bool = True,
        optimize_ratios: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        initial = spatial_parameters(scales, angles, ratios, derivatives).detach()
        self.derivatives = derivatives
        self.register_buffer("initial_parameters", initial, persistent=False)
        self._store("scales", initial[:, 0].clone(), optimize_scales)
        self._store("angles", initial[:, 1].clone(), optimize_angles)
        self._store("ratios", initial[:, 2].clone(), optimize_ratios)
        self.optimize_scales = optimize_scales
        self.optimize_angles = optimize_angles
        self.optimize_ratios = optimize_ratios
        self._optimized = optimize_scales or optimize_angles or optimize_ratios
        self.submodule = SpatialReceptiveField2d(
            in_channels,
            size,
            rf_parameters=self._rf_parameters(),
            optimize_fields=False,
            **kwargs,
        )
        self.has_updated = False

    def _rf_parameters(self) -> Tensor:
        return torch.cat(
            [
                torch.stack([self.scales, self.angles, self.ratios], 1),
                self.initial_parameters[:, 3:],
            ],
            1,
        )


def _li_box_parameters(t: Tensor) -> LIBoxParameters:
    return LIBoxParameters(tau_mem_inv=t)


class TemporalReceptiveField(nn.Module):
    """Temporal receptive fields: the input integrated at ``n_scales`` time scales at once.

    The input is copied into a new scale dimension in front of ``shape`` and fed for one step
    to ``activation`` (by default :class:`~norse.torch.module.leaky_integrator_box.LIBoxCell`)
    whose inverse time constants are ``ps``, one per scale (and per first dimension of
    ``shape``). By default they are ``1 / dt / temporal_scale_distribution(n_scales, min_scale,
    max_scale, c)``, i.e. a leaky integrator with a time constant of ``scale`` steps.
    ``ps`` is an ``nn.Parameter``, so the time constants are learned; it appears once in
    ``parameters()`` (the neuron module holds the same object).

    Args:
        shape (torch.Size): shape of one input sample without batch dimensions, e.g. ``(C, W)``.
        n_scales (int): number of temporal scales.
        activation: neuron module class, called as ``activation(p=..., dt=dt)``.
        activation_state_map: maps the time constants to the neuron parameters.
        min_scale (float): smallest temporal scale (variance).
        max_scale (float, optional): largest temporal scale.
        c (float): ratio between neighbouring scales.
        time_constants (Tensor, optional): the inverse time constants to use instead, broadcasting
            against ``(n_scales, *shape)``.
        dt (float): time step in seconds.

    Shape:
        input ``(*, *shape)``; output ``(*, n_scales, *shape)``.

    Example:
        >>> m = TemporalReceptiveField(torch.Size([2, 5]), n_scales=4)
        >>> y, state = m(torch.ones(4, 2, 5))
        >>> y.shape, m.ps.shape
        (torch.Size([4, 4, 2, 5]), torch.Size([4, 2, 1]))
    """

    def __init__(
        self,
        shape: torch.Size,
        n_scales: int = 4,
        activation: Callable[..., nn.Module] = LIBoxCell,
        activation_state_map: Callable[[Tensor], Any] = _li_box_parameters,
        min_scale: float = 1,
        max_scale: float | None = None,
        c: float = 1.41421,
        time_constants: Tensor | None = None,
        dt: float = 0.001,
    ) -> None:
        super().__init__()
        who = type(self).__name__
        if not isinstance(shape, (tuple, list)) or not all(is_size(n) for n in shape):
            raise TypeError(
                f"{who}: shape must be a torch.Size or tuple of positive ints (one input sample "
                f"without batch dimensions), got {shape!r}"
            )
        if len(shape) == 0:
            raise ValueError(f"{who}: shape must have at least one dimension, got {shape!r}")
        shape = torch.Size([as_size(n, f"shape[{i}]", who) for i, n in enumerate(shape)])
        n_scales = as_size(n_scales, "n_scales", who)
        if isinstance(dt, bool) or not isinstance(dt, Real):
            raise TypeError(f"{who}: dt must be a number (seconds), got {type(dt).__name__}")
        _check_positive(dt, "dt", who)
        if time_constants is None:
            taus = (1 / dt) / temporal_scale_distribution(n_scales, min_scale, max_scale, c)
            time_constants = torch.stack(
                [
                    torch.full(
                        [shape[0], *([1] * (len(shape) - 1))], float(tau), dtype=torch.float32
                    )
                    for tau in taus
                ]
            )
        else:
            time_constants = _as_float(time_constants, "time_constants", who)
            try:
                ok = torch.broadcast_shapes(time_constants.shape, (n_scales, *shape)) == (
                    n_scales,
                    *shape,
                )
            except RuntimeError:
                ok = False
            if not ok:
                raise ValueError(
                    f"{who}: time_constants of shape {tuple(time_constants.shape)} do not "
                    f"broadcast to (n_scales, *shape) = {(n_scales, *shape)}; pass e.g. shape "
                    f"({n_scales}, {shape[0]}{', 1' * (len(shape) - 1)})"
                )
        self.shape = shape
        self.n_scales = n_scales
        self.rf_dimension = len(shape)
        self.dt = dt
        self.ps = nn.Parameter(time_constants)
        self.neurons = activation(p=activation_state_map(self.ps), dt=dt)

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """One step: ``(output, state)`` with a scale dimension before ``shape``."""
        who = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"{who}: x must be a tensor, got {type(x).__name__}")
        if tuple(x.shape[x.dim() - self.rf_dimension :]) != tuple(self.shape):
            raise ValueError(
                f"{who}: input must end in the shape {tuple(self.shape)} given at construction, "
                f"got {tuple(x.shape)}"
            )
        x_rep = torch.stack([x] * self.n_scales, dim=-self.rf_dimension - 1)
        return self.neurons(x_rep, state)

    def extra_repr(self) -> str:
        return f"shape={tuple(self.shape)}, n_scales={self.n_scales}, dt={self.dt}"
