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


class NirNeuron(NamedTuple):
    """How a neuron model maps to a NIR node, stated in the model's own file.

    ``node``: the NIR node class's name (``"CubaLIF"``); ``export(p, dt, shape, input_scale)
    -> node``; ``load(node, dt, reset_method, who) -> (p, input_scale)``; ``time_constants``:
    the node fields (seconds) that explicit Euler needs above ``dt``. (Names, not classes,
    so that the model's file does not import ``nir``; see ``norse.torch.utils.nir_mapping``.)

    Example:
        >>> from norse.torch.functional import lif
        >>> lif.SPEC.nir.node, lif.SPEC.nir.time_constants
        ('CubaLIF', ('tau_syn', 'tau_mem'))
    """

    node: str
    export: Callable[..., Any]
    load: Callable[..., Any]
    time_constants: tuple[str, ...] = ()


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
        full_fields: state fields that must have the neurons' shape when a state is passed in
            (no 0-dim value): the recurrent spikes ``z`` go through ``recurrent_weights``, and a
            decay-first model computes its output from the state alone.
        nir: the model's NIR mapping (a :class:`NirNeuron`), if it has one.
        example: keyword arguments every module class of the model needs at construction
            (on top of ``input_size, hidden_size`` for the recurrent ones), for tests,
            benchmarks and docs; ``{}`` when the modules build without arguments.
        drive: a constant input amplitude that makes the default parameters spike within
            about 20 steps from rest (for leaky integrators: a moderate input). Tests and
            benchmarks read it.
        fused: whether the fused kernels may run the model's step (they trace it; see
            ``norse.torch.kernels._graph``). ``False`` keeps a model on the reference.
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
    full_fields: tuple[str, ...] = ("z",)
    nir: Any = None
    example: Any = field(default_factory=dict)
    drive: float = 1.0
    fused: bool = True

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
        if isinstance(value, torch.Tensor):
            # (``torch.jit.trace`` refuses to record ops on a constant that requires grad,
            # such as an Izhikevich preset's state; ``.data`` is no op to it)
            value = value.data if torch.jit.is_tracing() else value.detach()
        leaf = torch.as_tensor(value, dtype=dtype, device=device)
        if path not in scalar_fields:
            leaf = leaf.expand(shape)
        # clone: never alias a parameter; expand + clone (not ``empty().copy_()``) is what
        # ONNX and torch.export can express.
        leaf = leaf.clone(memory_format=torch.contiguous_format)
        if name in grad_fields and torch.is_grad_enabled() and not torch.compiler.is_compiling():
            # 1.1.0 marks initial voltages as requiring grad; a compiled graph cannot.
            leaf.requires_grad_(True)
        values.append(leaf)
    return type(rest)(*values)


def coerce_parameters(p: Any, kind: type, who: str) -> Any:
    """``p`` as a ``kind`` tuple: itself, or any parameter tuple carrying ``kind``'s fields.

    Code written for Norse passes the parameters of a related model where the fields match
    (``LIBoxCell(p=LIParameters(tau_mem_inv=...))``); the fields ``kind`` has are taken by
    name, any others are ignored, nested parameter tuples are converted the same way.

    Example:
        >>> from norse.torch.functional.leaky_integrator import LIParameters
        >>> from norse.torch.functional.leaky_integrator_box import LIBoxParameters
        >>> coerce_parameters(LIParameters(tau_mem_inv=torch.tensor(5.0)), LIBoxParameters, "LIBoxCell")
        LIBoxParameters(tau_mem_inv=tensor(5.), v_leak=tensor(0.))
    """  # noqa: E501
    if isinstance(p, kind):
        return p
    fields = getattr(kind, "_fields", None)
    if fields is None or not is_namedtuple(p):
        raise TypeError(
            f"{who}: p must be a {kind.__name__} (or a parameter tuple with its fields "
            f"{', '.join(fields or ())}), got {type(p).__name__}"
        )
    missing = [f for f in fields if not hasattr(p, f)]
    if missing:
        raise TypeError(
            f"{who}: p must be a {kind.__name__} or a parameter tuple with its fields; got "
            f"a {type(p).__name__}, which lacks {', '.join(missing)}; pass "
            f"{kind.__name__}(...)"
        )
    defaults = getattr(kind, "_field_defaults", {})
    values = {}
    for name in fields:
        value = getattr(p, name)
        default = defaults.get(name)
        if is_namedtuple(default) and is_namedtuple(value):
            value = coerce_parameters(value, type(default), who)
        values[name] = value
    return kind(**values)


def check_parameters(p: Any, who: str, allowed_methods: tuple[str, ...] = ()) -> None:
    """Validate a parameter tuple's values: method names, NaNs, negative time constants.

    Runs at construction and whenever ``module.p`` is assigned (never per step: it reads
    tensor values).
    """
    from .functional.threshold import check_method

    if not is_namedtuple(p):
        return
    for name, value in zip(p._fields, p, strict=True):
        if is_namedtuple(value):
            check_parameters(value, who, allowed_methods)
        elif name == "method":
            check_method(value, who, allowed_methods)
        elif isinstance(value, torch.Tensor):
            if not value.is_floating_point() or value.is_meta or not value.numel():
                continue
            if bool(torch.isnan(value).any()):
                raise ValueError(f"{who}: parameter {name} contains NaN; pass finite values")
            if name.startswith("tau_") and bool((value < 0).any()):
                raise ValueError(
                    f"{who}: parameter {name} (an inverse time constant, 1/s) must not be "
                    f"negative, got {value.detach().min().item():g}; pass values >= 0"
                )
        elif isinstance(value, float) and math.isnan(value):
            raise ValueError(f"{who}: parameter {name} is NaN; pass a finite value")
        elif (
            name.startswith("tau_")
            and isinstance(value, (int, float))
            and not isinstance(value, bool)
            and value < 0
        ):
            raise ValueError(
                f"{who}: parameter {name} (an inverse time constant, 1/s) must not be "
                f"negative, got {value:g}; pass a value >= 0"
            )


def _fits(shape: tuple[int, ...], neurons: tuple[int, ...]) -> bool:
    """Whether ``shape`` broadcasts to ``neurons`` without changing it."""
    if len(shape) > len(neurons):
        return False
    return all(a == b or a == 1 for a, b in zip(reversed(shape), reversed(neurons), strict=False))


def check_parameter_shapes(p: Any, shape: tuple[int, ...], who: str, _prefix: str = "") -> None:
    """Per-neuron parameter tensors must broadcast to the neurons' ``shape`` (not widen it).

    A parameter of another size would silently widen the output and the state (``v_th`` of
    shape ``(5,)`` on one neuron gives five), or fail deep inside a step function.

    Example:
        >>> from norse.torch.functional.lif import LIFParameters
        >>> check_parameter_shapes(LIFParameters(v_th=torch.ones(5)), (2, 1), "LIFCell")
        Traceback (most recent call last):
        ...
        ValueError: LIFCell: parameter v_th has shape (5,), but the neurons have shape (2, 1); give it shape (1,) or (2, 1) (one value per neuron), or a 0-dim value
    """  # noqa: E501
    if not is_namedtuple(p):
        return
    for name, value in zip(p._fields, p, strict=True):
        if is_namedtuple(value):
            check_parameter_shapes(value, shape, who, f"{_prefix}{name}.")
        elif isinstance(value, torch.Tensor) and value.dim() > 0 and not _fits(value.shape, shape):
            hint = f"shape {tuple(shape[-1:])} or {tuple(shape)}" if shape else "no dimensions"
            raise ValueError(
                f"{who}: parameter {_prefix}{name} has shape {tuple(value.shape)}, but the "
                f"neurons have shape {tuple(shape)}; give it {hint} (one value per neuron), "
                "or a 0-dim value"
            )


def check_state(
    state: Any,
    shape: tuple[int, ...],
    who: str,
    template: Any = None,
    full: tuple[str, ...] = (),
    prefix: str = "state",
) -> None:
    """Raise unless ``state`` is a state tuple for neurons of ``shape``.

    ``template`` (a state the module builds itself, e.g. its resting state) gives the expected
    class: a tuple of that class or with the same field names is accepted. Every tensor must
    have exactly ``shape`` or be 0-dim (a resting value; not for the fields named in
    ``full``); a state of batch or neuron size 1 would otherwise broadcast silently against a
    larger input.
    """
    expected = type(template) if template is not None else None
    if not isinstance(state, tuple) or (expected is not None and not _same_kind(state, expected)):
        want = "a state tuple" if expected is None else _describe(expected)
        got = _describe(type(state)) if isinstance(state, tuple) else type(state).__name__
        raise TypeError(
            f"{who}: {prefix} must be {want} (or None to start at rest), got {got}; pass "
            "the state this module returned"
        )
    fields = getattr(state, "_fields", None) or [str(k) for k in range(len(state))]
    for k, (name, leaf) in enumerate(zip(fields, state, strict=True)):
        path = f"{prefix}.{name}"
        if isinstance(leaf, tuple):
            check_state(leaf, shape, who, None if template is None else template[k], full, path)
        elif not isinstance(leaf, torch.Tensor) or tuple(leaf.shape) == tuple(shape):
            continue
        elif leaf.dim() or name in full:
            scalar = "" if name in full else " (or 0-dim values)"
            raise ValueError(
                f"{who}: {path} has shape {tuple(leaf.shape)}, but the input's neurons have "
                f"shape {tuple(shape)}; pass a state of that shape{scalar}, or state=None to "
                "start at rest"
            )


def _same_kind(state: tuple, expected: type) -> bool:
    if isinstance(state, expected):
        return True
    return getattr(state, "_fields", None) == getattr(expected, "_fields", ())


def _describe(kind: type) -> str:
    fields = getattr(kind, "_fields", None)
    return f"{kind.__name__}({', '.join(fields)})" if fields else kind.__name__


class StateTemplate(NamedTuple):
    """Shape, dtype and device that a module builds its state for."""

    shape: tuple[int, ...]
    dtype: torch.dtype
    device: torch.device
