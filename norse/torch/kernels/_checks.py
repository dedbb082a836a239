"""What every fused backend checks before it takes a call (metadata only, never values).

:func:`check` answers with the tensors the kernels take (the state fields and the parameter
tensors, flattened), a reason the backend cannot run the call (``str``), or :class:`Invalid`
for bad input, which the reference then runs so that the user sees the reference's error.
Device rules are the backend's own (``on_device``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.autograd import forward_ad

from ._graph import flat

__all__ = ["FLOATS", "Invalid", "check", "fits"]

FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


class Invalid(NamedTuple):
    """Bad input: the reference runs it, so that the user sees the reference's error."""

    why: str


def fits(shape: torch.Size, nshape: torch.Size) -> bool:
    """Whether ``shape`` broadcasts to exactly ``nshape``."""
    if shape == nshape or not shape:
        return True
    if len(shape) > len(nshape):
        return False
    return all(a == 1 or a == b for a, b in zip(reversed(shape), reversed(nshape), strict=False))


def _weights(
    weights: tuple, x: Tensor, on_device: Callable[[Tensor, str], str | None]
) -> torch.Size | Invalid | str:
    """The neurons' shape of a recurrent call (``x``: ``(T, *batch, input_size)``)."""
    if len(weights) != 2 or not all(isinstance(w, Tensor) for w in weights):
        return "the recurrent step takes weights other than (input_weights, recurrent_weights)"
    w_in, w_rec = weights
    if x.dim() < 2 or w_in.dim() != 2 or w_in.shape[1] != x.shape[-1]:
        return Invalid("the input does not fit the input weights")
    hidden = w_in.shape[0]
    if w_rec.shape != (hidden, hidden):
        return Invalid("the recurrent weights do not fit the input weights")
    for w, what in ((w_in, "the input weights"), (w_rec, "the recurrent weights")):
        if w.layout != torch.strided:
            return f"{what} are sparse"
        reason = on_device(w, what)
        if reason is not None:
            return reason
        if w.dtype != x.dtype:
            return Invalid(f"{what} have dtype {w.dtype} but the input {x.dtype}")
    return torch.Size((*x.shape[1:-1], hidden))


def check(
    call: Any, on_device: Callable[[Tensor, str], str | None], recurrent: bool = False
) -> tuple[list[Tensor], list[Tensor]] | Invalid | str:
    """``(state fields, parameter tensors)`` if the kernels can take ``call``, else why not.

    ``on_device(tensor, what)`` returns why ``tensor`` (the input, a state field or a
    parameter, named by ``what``) cannot be used where the input is, or ``None``.
    ``recurrent``: the backend runs recurrent calls (``call.weights = (W_in, W_rec)``).
    """
    if call.record_states:
        return "record_states needs the state of every step: it runs on the reference"
    if call.weights and not recurrent:
        return "recurrent layers run on the reference on this backend"
    x = call.x
    if not isinstance(x, Tensor) or x.dim() < 1:
        return Invalid("the input needs a time dimension")
    if x.layout != torch.strided:
        return "the input is sparse"
    reason = on_device(x, "the input")
    if reason is not None:
        return reason
    if x.dtype not in FLOATS:
        return f"dtype {x.dtype} is not supported (float16, bfloat16, float32 and float64 are)"
    if torch._C._functorch.is_functorch_wrapped_tensor(x):
        return "functorch transforms (vmap, grad, jvp) run on the reference"
    if getattr(forward_ad, "_current_level", -1) >= 0:
        return "forward-mode AD (dual tensors) runs on the reference"
    if x.shape[0] == 0:
        return Invalid("the input has no time steps")
    dt = call.dt
    if isinstance(dt, bool) or not isinstance(dt, (int, float)):
        return f"dt must be a python number for the fused path, got {type(dt).__name__}"
    if not isinstance(call.state, tuple):
        return Invalid("the state is not a state tuple")
    nshape = x.shape[1:]
    if call.weights:
        found = _weights(call.weights, x, on_device)
        if not isinstance(found, torch.Size):
            return found
        nshape = found
    scalar_state = False
    states = flat(call.state)
    for s in states:
        if not isinstance(s, Tensor):
            return f"a state field is a {type(s).__name__}, not a tensor"
        if s.layout != torch.strided:
            return "a state field is sparse"
        reason = on_device(s, "a state field")
        if reason is not None:
            return reason
        if s.dtype != x.dtype:
            return f"the state has dtype {s.dtype} but the input {x.dtype}"
        if not fits(s.shape, nshape):
            return Invalid("a state field does not fit the input")
        scalar_state = scalar_state or s.dim() == 0
    params = [v for v in flat(call.p) if isinstance(v, Tensor)]
    for value in params:
        if value.layout != torch.strided:
            return "a parameter is sparse"
        reason = on_device(value, "a parameter")
        if reason is not None:
            return reason
        if value.is_complex():
            return f"a parameter has dtype {value.dtype}"
        if not fits(value.shape, nshape):
            return Invalid("a parameter does not fit the input")
        wider = value.is_floating_point() and value.dtype.itemsize > x.dtype.itemsize
        # A wider per-neuron parameter would promote the outputs; a wider scalar one meeting a
        # scalar state is combined in the wider dtype before the first step's broadcast.
        if wider and (value.dim() > 0 or scalar_state):
            return f"a parameter has dtype {value.dtype}, wider than the input's {x.dtype}"
    return states, params
