"""The Triton backend: fused GPU sequence kernels behind :func:`norse.torch.kernels.run`.

Registered as ``"triton"``. Under ``backend="auto"`` it takes CUDA inputs only (and only when
the kernels are compiled, not interpreted); CPU tensors go to the CPU backend. Naming ``backend="triton"`` explicitly also runs CPU tensors when
``TRITON_INTERPRET=1`` is set (Triton's interpreter, which is how the tests run it without a
GPU). The kernels live in :mod:`norse.torch.kernels.triton`; this module imports ``triton``
only when it is asked to run something, so it imports cleanly where triton is missing.

Example:
    >>> from norse.torch.kernels import Call
    >>> from norse.torch.functional import lif
    >>> x = torch.zeros(4, 3)
    >>> call = Call(lif.lif_feed_forward_step, x, None, lif.LIFParameters(), 1e-3, spec=lif.SPEC)
    >>> backend.unsupported(call)
    'the input is not on a CUDA device'
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from typing import Any

import torch
from torch import Tensor

from .._spec import is_namedtuple
from . import Call, register

__all__ = ["TritonBackend", "backend"]

_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_INTS = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


@functools.cache
def _triton_installed() -> bool:
    # Cached: the search walks sys.path (about 50 us), and every layer call asks.
    return importlib.util.find_spec("triton") is not None


def _interpreting() -> bool:
    """Whether the kernels run through Triton's CPU interpreter.

    Triton fixes this when a kernel module is imported, so once they are imported, ask them.
    """
    common = sys.modules.get("norse.torch.kernels.triton._common")
    if common is not None:
        return common.INTERPRETED
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "yes", "on")


def _leaves(obj: Any, prefix: str) -> list[tuple[str, Any]]:
    """``(path, value)`` for every field of a (nested) state or parameter tuple."""
    if not is_namedtuple(obj):
        return [(prefix, obj)]
    out = []
    for name, value in zip(obj._fields, obj, strict=True):
        out.extend(_leaves(value, f"{prefix}.{name}"))
    return out


def _signature(obj: Any) -> Any:
    if isinstance(obj, Tensor):
        return (obj.dtype, tuple(obj.shape))
    if isinstance(obj, tuple):
        return (type(obj), tuple(_signature(o) for o in obj))
    if isinstance(obj, (bool, int, float)):
        return type(obj)
    return obj


def _tiny(obj: Any) -> Any:
    """A one-element CPU stand-in for every tensor in ``obj``: same dtype and number of
    dimensions, which is all that torch's type promotion looks at."""
    if isinstance(obj, Tensor):
        return torch.ones((1,) * obj.dim(), dtype=obj.dtype)
    if is_namedtuple(obj):
        return type(obj)(*[_tiny(o) for o in obj])
    return obj


class TritonBackend:
    """Decides whether the Triton kernels can run a call, and runs it.

    Example:
        >>> isinstance(backend, TritonBackend)
        True
    """

    def __init__(self) -> None:
        self._dtypes: dict[Any, torch.dtype | str] = {}

    # --------------------------------------------------------------------- selection
    def unsupported(self, call: Call) -> str | None:
        """The reason this backend cannot run ``call``, or ``None`` if it can.

        Checks metadata only (devices, dtypes, shapes, names), never tensor values.

        Example:
            >>> from norse.torch.kernels import Call
            >>> from norse.torch.functional import lif
            >>> call = Call(lif.lif_feed_forward_step, torch.zeros(4, 3), None,
            ...             lif.LIFParameters(), 1e-3, spec=lif.SPEC, record_states=True)
            >>> backend.unsupported(call)
            'the input is not on a CUDA device'
        """
        if not _triton_installed():
            return "triton is not installed (pip install triton)"
        x = call.x
        if not isinstance(x, Tensor):
            return f"the input is a {type(x).__name__}, not a torch.Tensor"
        if x.layout != torch.strided:
            return "the input is sparse; the fused kernels need dense input"
        explicit = getattr(call, "explicit", False)
        if not x.is_cuda and not (explicit and _interpreting()):
            return "the input is not on a CUDA device"
        if not explicit and _interpreting():
            # never the fastest path: only on request
            return "Triton runs through its CPU interpreter (TRITON_INTERPRET=1)"
        if call.record_states:
            return "record_states=True needs the state of every step; the fused kernels keep only the last"
        if call.weights:
            return "recurrent layers (with input and recurrent weights) have no Triton kernel"
        spec = call.spec
        if spec is None:
            return "the layer has no neuron model spec (a user-defined activation)"
        from .triton import KERNELS

        if spec.name not in KERNELS:
            return f"no Triton kernel for the {spec.name!r} model"
        if call.step is not spec.step:
            return (
                "the layer runs a step function other than the model's own "
                "(for instance method='adjoint'); only the reference loop runs it"
            )
        if x.dtype not in _FLOATS and x.dtype not in _INTS:
            return f"input dtype {x.dtype} is not supported (use float16, bfloat16, float32 or float64)"
        if x.dim() < 1 or x.numel() == 0:
            return (
                f"the input has shape {tuple(x.shape)}; the kernels need T >= 1 steps and neurons"
            )
        if not isinstance(call.state, spec.state):
            return f"the state is a {type(call.state).__name__}, not a {spec.state.__name__}"
        reason = self._check_leaves(call)
        if reason is not None:
            return reason
        from .triton import kernel_module
        from .triton._common import METHOD_IDS

        method = getattr(call.p, "method", None)
        if method is not None and method not in METHOD_IDS:
            return f"method {method!r} has no surrogate in the Triton kernels"
        check = getattr(kernel_module(spec.name), "unsupported", None)
        reason = check(call.p) if check is not None else None
        if reason is not None:
            return reason
        dtype = self._out_dtype(call)
        return dtype if isinstance(dtype, str) else None

    def _check_leaves(self, call: Call) -> str | None:
        device = call.x.device
        for path, value in _leaves(call.state, "state") + _leaves(call.p, "p"):
            if isinstance(value, Tensor):
                if value.layout != torch.strided:
                    return f"{path} is sparse"
                if value.dtype not in _FLOATS and value.dtype not in _INTS:
                    return f"{path} has dtype {value.dtype}, which the kernels do not support"
                if value.device != device and not (value.dim() == 0 and value.device.type == "cpu"):
                    return f"{path} is on {value.device} but the input is on {device}"
        return None

    def _out_dtype(self, call: Call) -> torch.dtype | str:
        """The dtype the reference returns, found by running its step once on one-element
        stand-ins (cached per signature).

        Also rejects state and parameter shapes that do not broadcast to the input's neuron
        shape, and steps that fail or return mixed dtypes: the reference then runs and reports
        its own error.
        """
        x = call.x
        try:
            # the time dimension does not matter: one entry per neuron shape and dtypes
            x_sig = (x.dtype, tuple(x.shape[1:]))
            key = (call.step, x_sig, _signature(call.state), _signature(call.p))
            hash(key)
        except TypeError:
            key = None
        if key is not None and key in self._dtypes:
            return self._dtypes[key]
        result = self._probe(call)
        if key is not None:
            if len(self._dtypes) >= 4096:  # bounded: shapes may vary from call to call
                self._dtypes.clear()
            self._dtypes[key] = result
        return result

    def _probe(self, call: Call) -> torch.dtype | str:
        x = call.x
        nshape = tuple(x.shape[1:])
        for path, value in _leaves(call.state, "state") + _leaves(call.p, "p"):
            if isinstance(value, Tensor):
                shape = tuple(value.shape)
                fits = len(shape) <= len(nshape) and all(
                    s in (1, n) for s, n in zip(reversed(shape), reversed(nshape), strict=False)
                )
                if not fits:
                    return (
                        f"{path} has shape {tuple(value.shape)}, which does not broadcast to the "
                        f"neuron shape {nshape}"
                    )
        try:
            with torch.no_grad():
                out, state = call.step(
                    _tiny(x.select(0, 0)), _tiny(call.state), _tiny(call.p), call.dt
                )
        except Exception as e:  # the reference reports it properly
            return f"the reference step rejects this input ({type(e).__name__}: {e})"
        for path, value in [("output", out)] + _leaves(state, "state"):
            if not isinstance(value, Tensor) or value.dtype != out.dtype:
                return (
                    f"the step returns {path} in a different dtype than its output "
                    "(mixed dtypes in the input, state and parameters)"
                )
        return out.dtype

    # --------------------------------------------------------------------- execution
    def run(self, call: Call) -> tuple[Tensor, Any]:
        """Run ``call`` through the model's fused kernels.

        Example:
            >>> from norse.torch.kernels import Call
            >>> from norse.torch.functional import lif
            >>> x = torch.full((20, 2), 0.5, device="cuda")  # doctest: +SKIP
            >>> s = lif.LIFFeedForwardState(x[0] * 0, x[0] * 0)  # doctest: +SKIP
            >>> call = Call(lif.lif_feed_forward_step, x, s, lif.LIFParameters(), 1e-3,
            ...             spec=lif.SPEC)  # doctest: +SKIP
            >>> z, s = backend.run(call)  # doctest: +SKIP
            >>> z.sum(0)  # doctest: +SKIP
            tensor([3., 3.], device='cuda:0')
        """
        from .triton import kernel_module

        dtype = self._out_dtype(call)
        if isinstance(dtype, str):
            raise NotImplementedError(f"backend='triton' cannot run this call: {dtype}")
        module = kernel_module(call.spec.name)
        return module.SEQUENCE(call.x, call.state, call.p, call.dt, dtype)


#: The registered instance.
backend = TritonBackend()
register("triton", backend)
