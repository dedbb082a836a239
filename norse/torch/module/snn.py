"""The one time loop and recurrence that every neuron module uses.

Four base classes cover every neuron model:

* :class:`SNNCell`: one step, feed-forward (``(B, ...) -> (B, ...)``),
* :class:`SNNRecurrentCell`: one step with input and recurrent weights,
* :class:`SNN`: a feed-forward layer over time (``(T, B, ...) -> (T, B, ...)``),
* :class:`SNNRecurrent`: a recurrent layer over time.

A neuron model's module is a short subclass that points at the model's
:class:`~norse.torch._spec.NeuronSpec` (``spec = lif.SPEC``); the base class then builds the
constructor, the initial state and the parameter handling. The 1.1.0 constructor form
``SNNCell(activation, state_fallback, p, dt)`` keeps working for user-defined models.

Sequence layers run through :func:`norse.torch.kernels.run`, which picks the fused kernel or
the reference loop (``backend="auto" | "reference" | ...``).

Example:
    >>> from norse.torch.functional.lif import LIFFeedForwardState, LIFParameters, lif_feed_forward_step
    >>> cell = SNNCell(lif_feed_forward_step,
    ...                lambda x: LIFFeedForwardState(torch.zeros_like(x), torch.zeros_like(x)),
    ...                LIFParameters())
    >>> z, s = cell(torch.ones(2, 3))
    >>> s.v.shape
    torch.Size([2, 3])
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from .. import kernels
from .._spec import (
    NeuronSpec,
    build_state,
    check_parameter_shapes,
    check_parameters,
    check_state,
    coerce_parameters,
    state_dtype,
)
from ..kernels import _PLAIN
from ..kernels.reference import _merge_states  # noqa: F401  (1.1.0's private name)
from ..utils._validation import as_size, is_size
from ._parameters import CHILD, HasNeuronParameters, HasTimeStep, _NeuronParameters  # noqa: F401

FeedforwardActivation = Callable[..., tuple[Tensor, Any]]
RecurrentActivation = Callable[..., tuple[Tensor, Any]]

__all__ = [
    "FeedforwardActivation",
    "RecurrentActivation",
    "SNN",
    "SNNCell",
    "SNNRecurrent",
    "SNNRecurrentCell",
]


# ----------------------------------------------------------------------------- checks
def _check_input(x: Any, who: str, min_dim: int = 0, expected: str = "") -> None:
    """``x`` must be a real tensor with at least ``min_dim`` dimensions (``expected`` says which)."""
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{who}: input_tensor must be a torch.Tensor, got {type(x).__name__}; "
            "convert it with torch.as_tensor(...)"
        )
    if x.is_complex():
        raise TypeError(
            f"{who}: input_tensor must be real (float, integer or bool), got {x.dtype}; "
            "pass x.real or x.abs()"
        )
    if x.dim() < min_dim:
        raise ValueError(
            f"{who}: input_tensor needs at least {min_dim} dimension(s){expected}, "
            f"got shape {tuple(x.shape)}"
        )


def _like(template: Any, values: Any) -> Any:
    """``values`` (nested plain tuples) in the classes of ``template``, where the lengths match."""
    if not isinstance(values, tuple) or len(values) != len(template):
        return values
    return type(template)(
        *(_like(t, v) if isinstance(t, tuple) else v for t, v in zip(template, values, strict=True))
    )


_SHAPE = operator.attrgetter("shape")


def _state_signature(state: tuple) -> tuple:
    """The class and field shapes of a (nested) state: what its checks depend on."""
    out: list[Any] = [type(state)]
    for leaf in state:
        if isinstance(leaf, Tensor):
            out.append(leaf.shape)
        elif isinstance(leaf, tuple):
            out.append(_state_signature(leaf))
        else:
            out.append(type(leaf))
    return tuple(out)


# ----------------------------------------------------------------------------- shared base
class _NeuronModule(HasNeuronParameters, HasTimeStep, nn.Module):
    """What the four base classes share: parameters, dt, step selection, state, checks."""

    #: the neuron model this module class runs (``None`` for user-defined activations)
    spec: ClassVar[NeuronSpec | None] = None
    #: state fields that stay 0-dim in the initial state (1.1.0's convention for some cells)
    scalar_state: ClassVar[tuple[str, ...]] = ()
    _recurrent: ClassVar[bool] = False
    _layer: ClassVar[bool] = False

    def _setup(self, activation, state_fallback, p, dt, activation_sparse) -> None:
        spec = self.spec
        if spec is not None and p is None:
            p = spec.parameters()
        self._validated: tuple[Any, Any] | None = None
        self.dt = dt
        self._activation = activation
        self.activation_sparse = activation_sparse
        self._state_fallback = state_fallback
        self.p = p

    # ----------------------------------------------------------------- p and dt, checked on set
    def _check_p(self, value: Any) -> Any:
        spec = self.spec
        if spec is None:
            return value
        who = type(self).__name__
        if is_size(value) and not self._recurrent:
            raise TypeError(
                f"{who}: p must be a {spec.parameters.__name__}, got {type(value).__name__}; "
                f"{who} takes its size from the input, so write {who}() or "
                f"{who}(p={spec.parameters.__name__}(...))"
            )
        value = coerce_parameters(value, spec.parameters, who)
        check_parameters(value, who, tuple(spec.extra_methods))
        return value

    def _numbers_as_tensors(self) -> bool:
        return self.spec is not None and self.spec.parameters_as_tensors

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name != "_validated":  # new weights or parameters: check the next input again
            self.__dict__["_validated"] = None

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self.__dict__["_validated"] = None  # dtype / device change
        return super()._apply(fn, *args, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_validated"] = None  # (holds p and the step: checked again after unpickling)
        return state

    # ----------------------------------------------------------------- steps
    @property
    def activation(self) -> Callable:
        if self._activation is not None:
            return self._activation
        return self._spec_step(sparse=False)

    @activation.setter
    def activation(self, value: Callable) -> None:
        self._activation = value

    def _spec_step(self, sparse: bool, p: Any = None) -> Callable | None:
        spec = self.spec
        assert spec is not None
        method = getattr(self.p if p is None else p, "method", None)
        if method in spec.extra_methods:
            step, recurrent_step = spec.extra_methods[method]
            return recurrent_step if self._recurrent else step
        if self._recurrent:
            return spec.recurrent_step_sparse if sparse else spec.recurrent_step
        return spec.step_sparse if sparse else spec.step

    def _step_for(self, x: Tensor, p: Any) -> Callable:
        """The step function for ``x`` under the parameters ``p`` (read once per call)."""
        if x.is_sparse:
            if self._activation is None and self.spec is not None:
                sparse = self._spec_step(sparse=True, p=p)
                if sparse is not None:
                    return sparse
            if self.activation_sparse is not None:
                return self.activation_sparse
        if self._activation is not None:
            return self._activation
        return self._spec_step(sparse=False, p=p)

    # ----------------------------------------------------------------- state
    @property
    def state_fallback(self) -> Callable:
        if self._state_fallback is not None:
            return self._state_fallback
        return self.initial_state

    @state_fallback.setter
    def state_fallback(self, value: Callable) -> None:
        self._state_fallback = value

    def _neuron_shape(self, x: Tensor) -> tuple[int, ...]:
        raise NotImplementedError

    def initial_state(self, input_tensor: Tensor) -> Any:
        """The resting state for ``input_tensor``: voltages at rest, currents at zero."""
        return self._rest_state(input_tensor, self.p)

    def _rest_state(self, input_tensor: Tensor, p: Any) -> Any:
        spec = self.spec
        if spec is None:
            raise NotImplementedError(
                f"{type(self).__name__}: pass a state_fallback or override initial_state"
            )
        rest = spec.rest(p, self._recurrent)
        return build_state(
            rest,
            self._neuron_shape(input_tensor),
            state_dtype(input_tensor),
            input_tensor.device,
            self.scalar_state,
            spec.grad_fields,
        )

    def _start(self, x: Tensor, p: Any) -> Any:
        """The state to start from when none is given."""
        if self._state_fallback is None and type(self).initial_state is _NeuronModule.initial_state:
            return self._rest_state(x, p)  # what initial_state(x) gives, with p read once
        return self.state_fallback(x)

    def _traced_state(self, state: tuple, p: Any) -> Any:
        """``torch.jit.trace`` (and the legacy ONNX exporter) hand a state tuple in as a plain
        tuple: give it back its class (only there; elsewhere a plain tuple is refused)."""
        template = self._state_template(p)
        if template is None or not torch.jit.is_tracing():
            return state
        return _like(template, state)

    def _state_template(self, p: Any) -> Any:
        """A state of the class this module's steps take (``None``: any state tuple)."""
        if self.spec is None or self._state_fallback is not None:
            return None
        return self.spec.rest(p, self._recurrent)

    # ----------------------------------------------------------------- checks, once per signature
    def _expected_input(self) -> str:
        if self._recurrent:
            lead = "(T, ..., input_size), time first" if self._layer else "(..., input_size)"
            return f" ({lead})"
        return " ((T, ...), time first)" if self._layer else ""

    def _validate(self, x: Any, state: Any, p: Any) -> None:
        """Every check on the input, the state and ``p``'s shapes (metadata only)."""
        who = type(self).__name__
        _check_input(x, who, int(self._layer) + int(self._recurrent), self._expected_input())
        if self._layer and x.shape[0] == 0:
            raise ValueError(
                f"{who}: input_tensor has no time steps (shape {tuple(x.shape)}); pass a "
                "sequence with T >= 1 steps first"
            )
        if self._recurrent:
            self._check_features(x)  # type: ignore[attr-defined]
        shape = self._neuron_shape(x)
        if self.spec is not None:
            check_parameter_shapes(p, shape, who)
        if state is not None:
            full = self.spec.full_fields if self.spec is not None else ()
            check_state(state, shape, who, self._state_template(p), full)

    def _begin(self, x: Any, state: Any) -> tuple[Any, Any, Callable, list | None]:
        """What every forward starts with: ``p`` (read once), the checks, the step, the start
        state, and the slot where a cell keeps its fused step for this signature (``None``:
        no fused step). The checks run once per input/state signature and ``p``: a repeated
        call only compares a few attributes (this runs on every step of a cell in a loop)."""
        if torch.compiler.is_compiling() or type(x) not in _PLAIN:
            key = None
            p = self.p
        else:
            p = self._modules[CHILD].cached_value()
            if state is None:
                key = (x.shape, x.dtype, x.layout)
            elif type(state) is tuple:  # (a plain tuple: only jit.trace passes one)
                key = None
                state = self._traced_state(state, p)
            elif isinstance(state, tuple):
                try:  # flat states of tensors (almost all): one C-level pass
                    key = (x.shape, x.dtype, x.layout, type(state), *map(_SHAPE, state))
                except AttributeError:
                    key = (x.shape, x.dtype, x.layout, _state_signature(state))
            else:
                key = None
        done = self._validated
        if key is None or done is None or done[1] is not p or done[0] != key:
            self._validate(x, state, p)
            slot = None if self._layer or key is None else [None]
            done = (key, p, self._step_for(x, p), slot)
            if key is not None:
                self.__dict__["_validated"] = done
        if state is None:
            state = self._start(x, p)
        return p, state, done[2], done[3]

    def __repr__(self) -> str:
        # 1.1.0 prints p inline only (``LIFCell(p=LIFParameters(...), dt=0.001)``): leave the
        # child module that holds p's tensors out of the listing.
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [
            f"({key}): " + nn.modules.module._addindent(repr(module), 2)
            for key, module in self._modules.items()
            if key != CHILD
        ]
        lines = extra_lines + child_lines
        if len(extra_lines) == 1 and not child_lines:
            return f"{self._get_name()}({extra_lines[0]})"
        if not lines:
            return f"{self._get_name()}()"
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("spec") is not None and "__init__" not in cls.__dict__:
            cls.__signature__ = _model_signature(cls)  # type: ignore[attr-defined]


def _model_signature(cls: type) -> inspect.Signature:
    """The constructor signature that the generic ``__init__`` implements for a model class."""
    P = inspect.Parameter
    params = [P("p", P.POSITIONAL_OR_KEYWORD, default=cls.spec.parameters())]
    if cls._recurrent:
        params = [
            P("input_size", P.POSITIONAL_OR_KEYWORD),
            P("hidden_size", P.POSITIONAL_OR_KEYWORD),
        ] + params
        params += [
            P("input_weights", P.KEYWORD_ONLY, default=None),
            P("recurrent_weights", P.KEYWORD_ONLY, default=None),
            P("autapses", P.KEYWORD_ONLY, default=False),
        ]
    params.append(P("dt", P.KEYWORD_ONLY, default=0.001))
    if getattr(cls, "_layer", False):
        params += [
            P("record_states", P.KEYWORD_ONLY, default=False),
            P("backend", P.KEYWORD_ONLY, default="auto"),
        ]
    return inspect.Signature(params)


class _RecurrentWeights:
    """Weight set-up shared by the two recurrent base classes."""

    def _setup_weights(self, input_size, hidden_size, input_weights, recurrent_weights, autapses):
        who = type(self).__name__
        input_size = as_size(input_size, "input_size", who)
        hidden_size = as_size(hidden_size, "hidden_size", who)
        self.input_size = torch.as_tensor(input_size)
        self.hidden_size = torch.as_tensor(hidden_size)
        self.autapses = autapses
        if input_weights is None:
            input_weights = nn.Parameter(
                torch.randn(hidden_size, input_size) * (2.0 / hidden_size) ** 0.5
            )
        elif tuple(input_weights.shape) != (hidden_size, input_size):
            raise ValueError(
                f"{who}: input_weights must have shape (hidden_size, input_size) = "
                f"({hidden_size}, {input_size}), got {tuple(input_weights.shape)}"
            )
        if recurrent_weights is None:
            recurrent_weights = nn.Parameter(
                torch.randn(hidden_size, hidden_size) * (2.0 / hidden_size) ** 0.5
            )
        elif tuple(recurrent_weights.shape) != (hidden_size, hidden_size):
            raise ValueError(
                f"{who}: recurrent_weights must have shape (hidden_size, hidden_size) = "
                f"({hidden_size}, {hidden_size}), got {tuple(recurrent_weights.shape)}"
            )
        self.input_weights = input_weights
        self.recurrent_weights = recurrent_weights
        if not autapses:
            with torch.no_grad():
                self.recurrent_weights.fill_diagonal_(0.0)
            if not self.recurrent_weights.requires_grad:
                self.recurrent_weights.requires_grad_(True)
            self.recurrent_weights.register_hook(_zero_diagonal)

    def _check_features(self, x: Tensor) -> None:
        n = int(self.input_size)
        if x.dim() == 0 or x.shape[-1] != n:
            who = type(self).__name__
            got = x.shape[-1] if x.dim() else "no"
            raise ValueError(
                f"{who}: input has {got} features but input_size={n}; pass tensors whose last "
                f"dimension is {n}, or build {who}({got}, {int(self.hidden_size)})"
            )
        w = self.input_weights
        if isinstance(w, Tensor) and x.dtype != w.dtype:
            # F.linear would fail deep inside torch ("mat1 and mat2 ...").
            hint = f" or convert the module with .to({x.dtype})" if x.is_floating_point() else ""
            raise TypeError(
                f"{type(self).__name__}: input_tensor has dtype {x.dtype} but input_weights "
                f"has dtype {w.dtype}; pass x.to({w.dtype}){hint}"
            )

    def _recurrent_shape(self, batch_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (*batch_shape, int(self.hidden_size))

    def _weights(self) -> tuple[Tensor, Tensor]:
        return self.input_weights, self.recurrent_weights


def _zero_diagonal(grad: Tensor) -> Tensor:
    """Gradient hook that keeps removed autapses (the diagonal) at zero."""
    return grad.clone().fill_diagonal_(0.0)


def _parse(cls_name: str, recurrent: bool, args: tuple, kwargs: dict) -> dict:
    """Read the 1.1.0 constructor form ``(activation, state_fallback, [sizes,] p, ...)``."""
    names = ["activation", "state_fallback"]
    if recurrent:
        names += ["input_size", "hidden_size"]
    names += ["p"]
    if recurrent:
        names += ["input_weights", "recurrent_weights", "autapses"]
    names += ["dt", "activation_sparse"]
    if len(args) > len(names):
        raise TypeError(f"{cls_name}: too many positional arguments ({len(args)})")
    bound = dict(zip(names, args, strict=False))
    for k, v in kwargs.items():
        if k in bound:
            raise TypeError(f"{cls_name}: got multiple values for argument {k!r}")
        bound[k] = v
    return bound


# ----------------------------------------------------------------------------- the classes
class _Constructed(_NeuronModule):
    """The one constructor behind the four base classes (``_recurrent`` / ``_layer`` flags)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        who = type(self).__name__
        if self._layer:
            self.record_states = bool(kwargs.pop("record_states", False))
            self.backend = kernels.check_backend(kwargs.pop("backend", "auto"), who)
        if self.spec is None:
            b = _parse(who, self._recurrent, args, kwargs)
        elif self._recurrent:
            b = _parse_model(who, args, kwargs)
        else:
            _reject_sizes(who, args, kwargs)
            b = {"p": args[0] if args else kwargs.pop("p", None), "dt": kwargs.pop("dt", 0.001)}
            _no_extra(who, kwargs)
        self._setup(
            b.get("activation"),
            b.get("state_fallback"),
            b.get("p"),
            b.get("dt", 0.001),
            b.get("activation_sparse"),
        )
        if self._recurrent:
            self._setup_weights(  # type: ignore[attr-defined]
                b.get("input_size"),
                b.get("hidden_size"),
                b.get("input_weights"),
                b.get("recurrent_weights"),
                b.get("autapses", False),
            )

    def _weights(self) -> tuple[Tensor, ...]:
        return ()

    def forward(self, input_tensor: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        p, state, step, slot = self._begin(input_tensor, state)
        if not self._layer:
            weights = self._weights()
            if slot is not None:  # a fused step, once decided for this signature
                fused = slot[0]
                if fused is None and not kernels._tracing(input_tensor):  # (decided untraced)
                    fused = slot[0] = kernels.cell(step, input_tensor, state, p, self._dt, weights)
                if fused:
                    found = fused(input_tensor, state, weights)
                    if found is not None:
                        return found
            return step(input_tensor, state, *weights, p, self._dt)
        return kernels.run(
            step,
            input_tensor,
            state,
            p,
            self.dt,
            spec=self.spec,
            weights=self._weights(),
            backend=self.backend,
            record_states=self.record_states,
        )

    def extra_repr(self) -> str:
        if self._recurrent:
            return (
                f"input_size={self.input_size}, hidden_size={self.hidden_size}, p={self.p}, "
                f"autapses={self.autapses}, dt={self.dt}"
            )
        return f"p={self.p}, dt={self.dt}"


class SNNCell(_Constructed):
    """One feed-forward step of a neuron model: ``(x, state) -> (output, state)``.

    Subclasses either set ``spec`` (and take ``p=..., dt=...``) or are built in the 1.1.0 form
    ``SNNCell(activation, state_fallback, p, dt=0.001, activation_sparse=None)``.

    Shape:
        input ``(B, *)`` or any shape; output and state have the input's shape.
    """

    def _neuron_shape(self, x: Tensor) -> tuple[int, ...]:
        return tuple(x.shape)


class SNNRecurrentCell(_RecurrentWeights, _Constructed):
    """One recurrent step: ``(x, state) -> (output, state)`` with input and recurrent weights.

    Subclasses either set ``spec`` (and take ``input_size, hidden_size, p=..., *,
    input_weights, recurrent_weights, autapses, dt``) or are built in the 1.1.0 form
    ``SNNRecurrentCell(activation, state_fallback, input_size, hidden_size, p, ...)``.

    Shape:
        input ``(*, input_size)``; output and state ``(*, hidden_size)``.
    """

    _recurrent = True

    def _neuron_shape(self, x: Tensor) -> tuple[int, ...]:
        return self._recurrent_shape(tuple(x.shape[:-1]))


class SNN(_Constructed):
    """A feed-forward neuron layer over time: ``(T, B, *) -> (T, B, *)``.

    Returns ``(outputs of every step, state after the last step)``, or with
    ``record_states=True`` the state of every step (each field gains a leading ``T``).

    Args:
        backend: ``"auto"`` (default) picks a fused kernel when one applies and the reference
            loop otherwise; ``"reference"`` always loops the step function over time. The
            environment variable ``NORSE_BACKEND`` overrides it (for debugging).
    """

    _layer = True

    def _neuron_shape(self, x: Tensor) -> tuple[int, ...]:
        return tuple(x.shape[1:])


class SNNRecurrent(_RecurrentWeights, _Constructed):
    """A recurrent neuron layer over time: ``(T, B, input_size) -> (T, B, hidden_size)``."""

    _recurrent = True
    _layer = True

    def _neuron_shape(self, x: Tensor) -> tuple[int, ...]:
        return self._recurrent_shape(tuple(x.shape[1:-1]))


def _reject_sizes(who: str, args: tuple, kwargs: dict) -> None:
    """Feed-forward modules take their size from the input: explain ``LIFCell(2, 4)``."""
    if len(args) > 1 or (args and is_size(args[0])):
        recurrent = (
            who.replace("Cell", "RecurrentCell") if who.endswith("Cell") else who + "Recurrent"
        )
        raise TypeError(
            f"{who} takes its number of neurons from the input, so it has no size arguments "
            f"(got {', '.join(map(repr, args))}); write {who}() (or {who}(p=...)), or "
            f"{recurrent}(input_size, hidden_size) for a layer with its own weights"
        )


def _no_extra(who: str, kwargs: dict) -> None:
    if kwargs:
        raise TypeError(f"{who}: unexpected keyword argument(s) {', '.join(map(repr, kwargs))}")


def _parse_model(who: str, args: tuple, kwargs: dict) -> dict:
    """Read ``(input_size, hidden_size, p=None, *, input_weights, recurrent_weights, autapses, dt)``."""
    names = ["input_size", "hidden_size", "p"]
    if len(args) > len(names):
        raise TypeError(
            f"{who}: takes (input_size, hidden_size, p) positionally, got {len(args)} arguments"
        )
    b = dict(zip(names, args, strict=False))
    allowed = {
        "input_size",
        "hidden_size",
        "p",
        "input_weights",
        "recurrent_weights",
        "autapses",
        "dt",
    }
    for k, v in kwargs.items():
        if k not in allowed:
            raise TypeError(f"{who}: unexpected keyword argument {k!r}")
        if k in b:
            raise TypeError(f"{who}: got multiple values for argument {k!r}")
        b[k] = v
    for required in ("input_size", "hidden_size"):
        if required not in b:
            raise TypeError(f"{who}: missing required argument {required!r}")
    b.setdefault("p", None)
    b.setdefault("dt", 0.001)
    return b
