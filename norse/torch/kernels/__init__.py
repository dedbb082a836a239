"""One dispatch for sequence layers: fused kernels when they apply, the reference otherwise.

``run(step, x, state, p, dt, spec=..., backend="auto")`` is what every sequence layer calls.

* ``"reference"``: :mod:`norse.torch.kernels.reference`, the step function looped over time.
* ``"auto"``: the first registered fused backend that can run this call, else the reference.
* any other registered name: that backend, or an error saying why it cannot run.

The environment variable ``NORSE_BACKEND`` overrides the layer's choice (for debugging).
Fused backends register themselves with :func:`register`; each one answers
``unsupported(call) -> str | None`` (the reason it cannot run, or ``None``) and ``run(call)``.
Under ``torch.compile`` / ``torch.export`` a CPU feed-forward sequence is recorded as one
custom operator (:mod:`norse.torch.kernels._ops`) that runs the fused loops.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor

from . import _ops, reference

__all__ = [
    "Call",
    "SequenceCell",
    "available_backends",
    "cell",
    "check_backend",
    "register",
    "run",
    "select",
]


@dataclass
class Call:
    """Everything a backend needs to decide and run one sequence."""

    step: Callable
    x: Tensor
    state: Any
    p: Any
    dt: float
    spec: Any = None
    weights: tuple[Tensor, ...] = ()
    record_states: bool = False
    #: set by :func:`select` when the backend was named explicitly (not ``"auto"``)
    explicit: bool = False
    #: what a backend worked out in ``unsupported``, kept for its ``run`` (by backend name)
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


class Backend(Protocol):
    def unsupported(self, call: Call) -> str | None: ...

    def run(self, call: Call) -> tuple[Tensor, Any]: ...


_BACKENDS: dict[str, Backend] = {}
_LOADED = False


def register(name: str, backend: Backend) -> None:
    """Register a fused backend; ``auto`` tries them in registration order."""
    _BACKENDS[name] = backend


def _load() -> None:
    """Import the fused backends once (each registers itself; missing extras are fine)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import importlib

    for module in ("triton_backend", "cpu"):
        try:
            importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{module}":
                raise


def available_backends() -> tuple[str, ...]:
    _load()
    return ("auto", "reference", *_BACKENDS)


def check_backend(backend: Any, who: str) -> str:
    """Validate a backend name at construction."""
    names = available_backends()
    if not isinstance(backend, str) or backend not in names:
        raise ValueError(
            f"{who}: unknown backend {backend!r}; choose one of {', '.join(map(repr, names))}"
        )
    return backend


def _tracing(x: Tensor) -> bool:
    """Whether the call is being traced or exported rather than run: ``torch.compile``,
    ``torch.export``, ``torch.jit.trace`` and ``torch.onnx.export`` record the reference loop
    (the fused kernels are opaque to them), as do inputs of tensor subclasses (fake tensors,
    functorch wrappers, user subclasses)."""
    onnx = sys.modules.get("torch.onnx")  # (never imported here: it costs a first call 0.1 s)
    return (
        torch.compiler.is_compiling()
        or torch.jit.is_tracing()
        or (onnx is not None and onnx.is_in_onnx_export())
        or type(x) not in _PLAIN
    )


_PLAIN = (Tensor, torch.nn.Parameter)


def _compiled_op_applies(call: Call, backend: str) -> bool:
    """Under ``torch.compile`` / ``torch.export``, a feed-forward sequence is recorded as one
    custom operator (:mod:`norse.torch.kernels._ops`), which runs the fused loops when the
    graph runs, instead of the reference loop unrolled over time."""
    if backend not in ("auto", "cpu") or call.weights or call.record_states:
        return False
    if not torch.compiler.is_compiling() or os.environ.get("NORSE_BACKEND") == "reference":
        return False
    onnx = sys.modules.get("torch.onnx")
    if onnx is not None and onnx.is_in_onnx_export():  # (ONNX knows no norse operator)
        return False
    x = call.x
    return (
        x.is_floating_point()
        and x.layout == torch.strided
        and x.dim() >= 1
        and x.device.type == "cpu"
        and isinstance(call.state, tuple)
        and isinstance(call.dt, (int, float))
    )


def select(call: Call, backend: str = "auto") -> tuple[str, Backend | None]:
    """Pick the backend for ``call``; ``(name, None)`` means the reference loop."""
    _load()
    backend = os.environ.get("NORSE_BACKEND") or backend
    if backend == "reference":
        return "reference", None
    if backend == "auto":
        if _tracing(call.x):
            return "reference", None
        for name, impl in _BACKENDS.items():
            if impl.unsupported(call) is None:
                return name, impl
        return "reference", None
    impl = _BACKENDS.get(backend)
    if impl is None:
        raise ValueError(
            f"unknown backend {backend!r}; choose one of {', '.join(map(repr, available_backends()))}"
        )
    call.explicit = True
    reason = impl.unsupported(call)
    if reason is None and _tracing(call.x) and not torch.compiler.is_compiling():
        reason = (
            "the call is being traced or exported (torch.jit.trace, torch.onnx.export, "
            "torch.export or a tensor subclass), which can record only the reference loop"
        )
    if reason is not None:
        raise NotImplementedError(
            f"backend={backend!r} cannot run this call: {reason}; use backend='auto' to fall "
            "back to the reference loop"
        )
    return backend, impl


def run(
    step: Callable,
    x: Tensor,
    state: Any,
    p: Any,
    dt: float,
    *,
    spec: Any = None,
    weights: tuple[Tensor, ...] = (),
    backend: str = "auto",
    record_states: bool = False,
) -> tuple[Tensor, Any]:
    """Run ``step`` over the time dimension of ``x`` on the chosen backend."""
    call = Call(step, x, state, p, dt, spec, tuple(weights), record_states)
    if _compiled_op_applies(call, backend):
        return _ops.run(step, x, state, p, dt)
    _, impl = select(call, backend)
    if impl is None:
        return reference.run(step, x, state, p, dt, call.weights, record_states)
    return impl.run(call)


def cell(step: Callable, x: Tensor, state: Any, p: Any, dt: float, weights: tuple = ()) -> Any:
    """The fused step of a cell for this signature (input shape and dtype, state structure,
    ``p``), or ``False``: the cell calls its step function (the reference).

    On the CPU the fused step (:class:`norse.torch.kernels._cpu_step.CellRunner`) is one
    generated loop and one autograd node per call, for feed-forward and recurrent cells. On
    other devices a cell runs as a sequence of one step through the fused backends
    (:class:`SequenceCell`: Triton on CUDA). Either answers ``None`` for a call it
    does not take (another device, a traced or compiled call, ``NORSE_BACKEND=reference``,
    loops still compiling), which then runs the reference step.

    Example:
        >>> from norse.torch.functional import lif
        >>> x = torch.ones(2, 3)
        >>> s = lif.LIFFeedForwardState(torch.zeros(2, 3), torch.zeros(2, 3))
        >>> bool(cell(lif.lif_feed_forward_step, x, s, lif.LIFParameters(), 1e-3))
        True
    """
    if not isinstance(x, Tensor):
        return False
    _load()
    if not x.is_cpu:
        return SequenceCell(step, p, dt)
    if "cpu" not in _BACKENDS:
        return False
    from ._cpu_step import cell as fused_cell

    found = fused_cell(step, x, state, p, dt, tuple(weights))
    return False if isinstance(found, str) else found


class SequenceCell:
    """A cell run as a sequence of one step through the sequence backends (``backend="auto"``:
    the fused kernels of the input's device, e.g. Triton on CUDA; a recurrent cell, with its
    ``weights``, as a recurrent layer of one step).

    ``cell(x, state, weights=())`` returns ``(out, state)``, or ``None`` where only the
    reference can run the call (the cell then calls its step directly, without a sequence
    around it).

    Example:
        >>> from norse.torch.functional import lif
        >>> x, s = torch.ones(2, 3), lif.LIFFeedForwardState(torch.zeros(2, 3), torch.zeros(2, 3))
        >>> step = lif.lif_feed_forward_step
        >>> SequenceCell(step, lif.LIFParameters(), 1e-3, backend="reference")(x, s) is None
        True
    """

    def __init__(self, step: Callable, p: Any, dt: float, backend: str = "auto") -> None:
        self.step, self.p, self.dt, self.backend = step, p, dt, backend

    def __call__(self, x: Tensor, state: Any, weights: tuple = ()) -> tuple[Tensor, Any] | None:
        if _tracing(x):
            return None
        call = Call(self.step, x.unsqueeze(0), state, self.p, self.dt, None, tuple(weights))
        _, impl = select(call, self.backend)
        if impl is None:
            return None
        out, new = impl.run(call)
        return out[0], new
