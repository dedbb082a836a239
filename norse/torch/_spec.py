"""The description of a neuron model that the shared machinery works from.

Each model writes its equations once in ``norse/torch/functional/<model>.py`` and describes
itself there with a :class:`NeuronSpec`. The generic modules in ``module/snn.py``, the kernel
dispatch in ``kernels/`` and the contract tests read only the spec.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol

import torch


class FeedForwardStep(Protocol):
    def __call__(self, input_tensor: torch.Tensor, state: Any, p: Any, dt: float = ...) -> Any: ...


class RecurrentStep(Protocol):
    def __call__(
        self,
        input_tensor: torch.Tensor,
        state: Any,
        input_weights: torch.Tensor,
        recurrent_weights: torch.Tensor,
        p: Any,
        dt: float = ...,
    ) -> Any: ...


@dataclass(frozen=True)
class NeuronSpec:
    """Everything the shared machinery needs to know about one neuron model.

    Attributes:
        name: short model name (``"lif"``), used for test ids and error messages.
        parameters: the parameter ``NamedTuple`` class.
        state: the feed-forward state class.
        step: the feed-forward step ``(x, state, p, dt) -> (out, state)``.
        rest: ``rest(p, recurrent) -> state`` with a resting value (number or 0-dim / per-neuron
            tensor) in every field; modules broadcast it to the input's shape.
        recurrent_state: the recurrent state class (with the spikes ``z``), if any.
        recurrent_step: ``(x, state, W_in, W_rec, p, dt) -> (out, state)``, if any.
        step_sparse / recurrent_step_sparse: variants used when the input is sparse.
        output: ``"spikes"`` (values in {0, 1}) or ``"voltage"``.
        parameters_as_tensors: the modules turn numeric parameter fields into tensors.
        extra_methods: ``method`` names beyond the threshold methods that the model accepts
            (for instance ``"adjoint"``), mapped to the steps to use instead
            ``(step, recurrent_step)``.
        grad_fields: state fields that get ``requires_grad`` when modules build the state.
        nir: optional NIR mapping object (see ``norse.torch.utils.export_nir``).
    """

    name: str
    parameters: type
    state: type
    step: FeedForwardStep
    rest: Callable[[Any, bool], Any]
    recurrent_state: type | None = None
    recurrent_step: RecurrentStep | None = None
    step_sparse: FeedForwardStep | None = None
    recurrent_step_sparse: RecurrentStep | None = None
    output: Literal["spikes", "voltage"] = "spikes"
    parameters_as_tensors: bool = False
    extra_methods: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    grad_fields: tuple[str, ...] = ("v",)
    nir: Any = None

    def __repr__(self) -> str:
        return f"NeuronSpec({self.name!r})"


def is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def state_dtype(x: torch.Tensor) -> torch.dtype:
    """States follow a floating, dense input's dtype; other inputs get float32 states."""
    if x.is_floating_point() and not x.is_sparse:
        return x.dtype
    return torch.float32


def build_state(
    rest: Any,
    shape: tuple[int, ...],
    dtype: torch.dtype,
    device: torch.device,
    scalar_fields: tuple[str, ...] = (),
    grad_fields: tuple[str, ...] = ("v",),
    _prefix: str = "",
) -> Any:
    """Broadcast a resting state (scalars in every field) to full tensors of ``shape``.

    Fields named in ``scalar_fields`` (as ``"v"`` or, nested, ``"lif.v"``) keep the resting
    value's own shape, as several 1.1.0 cells do. Fields in ``grad_fields`` get
    ``requires_grad`` while autograd is recording.
    """
    values = []
    for name, value in zip(rest._fields, rest, strict=True):
        path = _prefix + name
        if is_namedtuple(value):
            values.append(
                build_state(value, shape, dtype, device, scalar_fields, grad_fields, path + ".")
            )
            continue
        leaf = torch.as_tensor(value).detach()  # (python numbers: torch's default dtype)
        if path in scalar_fields:
            leaf = leaf.to(device=device, dtype=dtype).clone()
        else:  # (one op fewer than cast, broadcast and clone: this runs on every layer call)
            leaf = torch.empty(shape, dtype=dtype, device=device).copy_(leaf)
        if name in grad_fields and torch.is_grad_enabled() and not torch.compiler.is_compiling():
            # 1.1.0 marks initial voltages as requiring grad; a compiled graph cannot.
            leaf.requires_grad_(True)
        values.append(leaf)
    return type(rest)(*values)


def check_parameters(p: Any, who: str, allowed_methods: tuple[str, ...] = ()) -> None:
    """Validate a parameter tuple at construction: method names, NaNs, dtypes."""
    from .functional.threshold import check_method

    if not is_namedtuple(p):
        return
    for name, value in zip(p._fields, p, strict=True):
        if is_namedtuple(value):
            check_parameters(value, who, allowed_methods)
        elif name == "method":
            check_method(value, who, allowed_methods)
        elif isinstance(value, torch.Tensor):
            if value.is_floating_point() and not value.is_meta and bool(torch.isnan(value).any()):
                raise ValueError(f"{who}: parameter {name} contains NaN; pass finite values")
        elif isinstance(value, float) and math.isnan(value):
            raise ValueError(f"{who}: parameter {name} is NaN; pass a finite value")


def check_parameter_shapes(p: Any, shape: tuple[int, ...], who: str, _prefix: str = "") -> None:
    """Per-neuron parameter tensors must broadcast with the neurons' ``shape``.

    Raises the ValueError that torch would otherwise raise from deep inside a step function
    ("The size of tensor a (3) must match ..."), naming the parameter and the shapes.

    Example:
        >>> from norse.torch.functional.lif import LIFParameters
        >>> check_parameter_shapes(LIFParameters(v_th=torch.ones(5)), (2, 3), "LIFCell")
        Traceback (most recent call last):
        ...
        ValueError: LIFCell: parameter v_th has shape (5,), which does not broadcast with the neurons' shape (2, 3); give it shape (3,) or (2, 3) (one value per neuron), or a single number
    """  # noqa: E501
    if not is_namedtuple(p):
        return
    for name, value in zip(p._fields, p, strict=True):
        if is_namedtuple(value):
            check_parameter_shapes(value, shape, who, f"{_prefix}{name}.")
        elif isinstance(value, torch.Tensor) and value.dim() > 0:
            pairs = zip(reversed(value.shape), reversed(shape), strict=False)
            if any(a != b and a != 1 and b != 1 for a, b in pairs):
                hint = f"shape {tuple(shape[-1:])} or {tuple(shape)}" if shape else "a 0-dim value"
                raise ValueError(
                    f"{who}: parameter {_prefix}{name} has shape {tuple(value.shape)}, which "
                    f"does not broadcast with the neurons' shape {tuple(shape)}; give it {hint} "
                    "(one value per neuron), or a single number"
                )


class StateTemplate(NamedTuple):
    """Shape, dtype and device that a module builds its state for."""

    shape: tuple[int, ...]
    dtype: torch.dtype
    device: torch.device
