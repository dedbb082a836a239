"""The fused sequence as torch custom operators, so that compiled and exported models keep it.

``torch.compile`` and ``torch.export`` cannot look inside the fused kernels; without this
module they would record the reference loop (a graph of ``T`` unrolled steps). Here the
whole sequence is one operator, ``norse::fused_sequence``, with a fake implementation
(shapes and dtypes only) and an autograd formula that calls ``norse::fused_sequence_backward``;
both run the fused loops eagerly when the compiled graph runs (or the reference, for a call
the loops cannot take).

Which neuron model a call runs is named by a string ``key`` (an operator argument must be a
tensor, number or string): :func:`intern` records the step function, the structure of the
state and parameter tuples (their non-tensor values included) and ``dt`` under a key once;
the compiler treats the key as a constant of the graph.

Example:
    >>> import torch
    >>> from norse.torch import LIF
    >>> layer = torch.compile(LIF(), fullgraph=True)  # doctest: +SKIP
    >>> z, s = layer(torch.rand(10, 2, 3))  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import functools
import threading
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ._graph import flat, rebuild

__all__ = ["intern", "run"]

_LOCK = threading.Lock()
_BY_KEY: dict[str, tuple[Callable, Any, Any, float]] = {}
_KEYS: dict[Any, str] = {}


class _Slot:
    """Where a tensor (of this dtype) was, in a :func:`template`."""

    def __init__(self, dtype: torch.dtype, requires_grad: bool) -> None:
        self.dtype, self.requires_grad = dtype, requires_grad

    def __repr__(self) -> str:
        return f"<tensor {self.dtype}>"


def template(obj: Any) -> Any:
    """A state or parameter tuple described in plain tuples, tensors replaced by a marker.

    (Plain tuples, because the compiler hands a marked-constant function's arguments over as
    it rebuilds them, and it rebuilds named tuples of custom metaclasses empty.)
    """
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return ("__tuple__", tuple(obj._fields), *[template(v) for v in obj])
    if isinstance(obj, Tensor):
        return ("__tensor__", obj.dtype, obj.requires_grad)
    return obj


def _materialize(desc: Any) -> Any:
    """The tuple a :func:`template` describes, as a named tuple with the same field names
    (steps read fields by name), tensors marked with :data:`_SLOT`."""
    if isinstance(desc, tuple) and len(desc) >= 2 and desc[0] == "__tuple__":
        return _named(desc[1])(*[_materialize(v) for v in desc[2:]])
    if isinstance(desc, tuple) and len(desc) == 3 and desc[0] == "__tensor__":
        return _Slot(desc[1], desc[2])
    return desc


@functools.cache
def _named(fields: tuple[str, ...]) -> type:
    return collections.namedtuple("Fields", fields)


def _hashable(obj: Any) -> Any:
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return (type(obj), tuple(_hashable(v) for v in obj))
    try:
        hash(obj)
        return (type(obj), obj)
    except TypeError:
        return (type(obj), id(obj))


def _intern(step: Callable, state: Any, p: Any, dt: float) -> str:
    ident = (step, _hashable(state), _hashable(p), float(dt))
    with _LOCK:
        key = _KEYS.get(ident)
        if key is None:
            key = _KEYS[ident] = f"seq{len(_KEYS)}"
            _BY_KEY[key] = (step, _materialize(state), _materialize(p), float(dt))
    return key


# What ``torch._dynamo.assume_constant_result`` does, without importing the compiler
# (this module is imported with the kernels): the compiler calls ``_intern`` when it traces
# and records its result as a constant.
_intern._dynamo_marked_constant = True  # type: ignore[attr-defined]


def intern(step: Callable, state: Any, p: Any, dt: float) -> str:
    """The key naming (step, state structure, parameter structure, dt); a constant to the
    compiler."""
    return _intern(step, template(state), template(p), float(dt))


def _tensors(obj: Any) -> list[Tensor]:
    return [v for v in flat(obj) if isinstance(v, Tensor)]


def _call(key: str, x: Tensor, states: list[Tensor], params: list[Tensor]):
    from . import Call

    step, st, pt, dt = _BY_KEY[key]
    values = iter(params)
    # (below autograd, the operators' tensors carry no ``requires_grad``: the template's
    # flags name the traced program)
    p = rebuild(
        pt,
        [_flagged(next(values), v) if isinstance(v, _Slot) else v for v in flat(pt)],
    )
    return Call(step, x, rebuild(st, states), p, dt, explicit=True)


def _flagged(t: Tensor, slot: _Slot) -> Tensor:
    if t.requires_grad == slot.requires_grad:
        return t
    return t.detach().requires_grad_(slot.requires_grad)


def _reference(call: Any) -> list[Tensor]:
    from . import reference

    out, state = reference.run(call.step, call.x, call.state, call.p, call.dt)
    nshape = call.x.shape[1:]
    return [out.to(call.x.dtype)] + [
        s.to(call.x.dtype).expand(nshape).contiguous() for s in flat(state)
    ]


@torch.library.custom_op("norse::fused_sequence", mutates_args=())
def _fused_sequence(
    key: str, x: Tensor, states: list[Tensor], params: list[Tensor]
) -> list[Tensor]:
    from . import cpu

    call = _call(key, x, states, params)
    plan = cpu._prepare(call) if x.is_cpu else None
    with torch.no_grad():
        if isinstance(plan, cpu._Plan):
            out, finals, _, _ = cpu._forward(plan, x, plan.states, plan.params)
            return [out, *finals]
        return _reference(call)


@_fused_sequence.register_fake
def _(key: str, x: Tensor, states: list[Tensor], params: list[Tensor]) -> list[Tensor]:
    return [x.new_empty(x.shape)] + [x.new_empty(x.shape[1:]) for _ in states]


@torch.library.custom_op("norse::fused_sequence_backward", mutates_args=())
def _fused_sequence_backward(
    key: str,
    x: Tensor,
    states: list[Tensor],
    params: list[Tensor],
    grads: list[Tensor | None],
    needs: list[bool],
) -> list[Tensor]:
    """Gradients of every input of :func:`_fused_sequence` (zeros where not needed)."""
    from . import cpu

    call = _call(key, x, states, params)
    plan = cpu._prepare(call) if x.is_cpu else None
    inputs = [x, *states, *params]
    found: list[Any] | None = None
    if isinstance(plan, cpu._Plan):
        with torch.no_grad():
            nshape = x.shape[1:]
            variant = plan.forward_variant()
            prm = cpu._hoisted(plan.program, plan.params, nshape, nshape.numel(), plan.work,
                               variant.per_neuron)  # fmt: skip
            found = cpu._backward(plan, x, plan.states, plan.params, needs, grads[0],
                                  grads[1:], prm, variant)  # fmt: skip
    if found is None:
        from . import reference

        found = reference.vjp(call.step, call.state, call.p, call.dt, inputs, grads, needs)
    return [torch.zeros_like(t) if g is None else g for t, g in zip(inputs, found, strict=True)]


@_fused_sequence_backward.register_fake
def _(key, x, states, params, grads, needs):
    return [torch.empty_like(t) for t in (x, *states, *params)]


def _setup(ctx: Any, inputs: tuple, output: Any) -> None:
    key, x, states, params = inputs
    ctx.key = key
    ctx.n = (len(states), len(params))
    ctx.req = [t.requires_grad for t in (x, *states, *params)]
    ctx.save_for_backward(x, *states, *params)


def _backward(ctx: Any, grads: list[Tensor | None]) -> tuple:
    saved = ctx.saved_tensors
    F, P = ctx.n
    x, states, params = saved[0], list(saved[1 : 1 + F]), list(saved[1 + F :])
    needs = list(ctx.req)
    found = torch.ops.norse.fused_sequence_backward(ctx.key, x, states, params, list(grads), needs)
    return None, found[0], list(found[1 : 1 + F]), list(found[1 + F :])


_fused_sequence.register_autograd(_backward, setup_context=_setup)


def _prime(key: str, dtype: torch.dtype) -> bool:
    """Trace the key's step for ``dtype`` now (the operators' bodies run below autograd,
    where the step's gradient cannot be traced)."""
    from ._graph import Untraceable, trace

    step, st, pt, dt = _BY_KEY[key]

    def dummy(v: Any) -> Any:
        if isinstance(v, _Slot):
            return torch.zeros((), dtype=v.dtype).requires_grad_(v.requires_grad)
        return v

    from torch.utils._python_dispatch import _disable_current_modes

    with _disable_current_modes(), torch._C.DisableTorchFunction():
        state = rebuild(st, [dummy(v) for v in flat(st)])
        p = rebuild(pt, [dummy(v) for v in flat(pt)])
    work = torch.float32 if dtype.itemsize < 4 else dtype
    from torch.utils._python_dispatch import _disable_current_modes

    # (outside whatever records the caller: export's fake and proxy modes)
    with _disable_current_modes(), torch._C.DisableTorchFunction():
        try:
            trace(step, state, p, dt, work)
        except Untraceable:
            return False
    return True


_prime._dynamo_marked_constant = True  # type: ignore[attr-defined]


def run(step: Callable, x: Tensor, state: Any, p: Any, dt: float) -> tuple[Tensor, Any]:
    """The sequence through ``norse::fused_sequence`` (what compiled graphs record)."""
    key = intern(step, state, p, dt)
    _prime(key, x.dtype)
    outs = torch.ops.norse.fused_sequence(key, x, _tensors(state), _tensors(p))
    return outs[0], rebuild(state, outs[1:])
