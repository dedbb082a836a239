"""The ground truth: the model's step function looped over time with autograd.

Fused kernels must reproduce this path; tests and benchmarks import it from here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor


def _merge_states(states: list[Any]) -> Any:
    """Stack a list of (nested) state tuples field by field along a new first dimension."""
    first = states[0]
    merged = []
    for k, value in enumerate(first):
        column = [s[k] for s in states]
        if isinstance(value, tuple):
            merged.append(_merge_states(column))
        else:
            merged.append(torch.stack([torch.as_tensor(c) for c in column]))
    return type(first)(*merged)


def _time_slices(x: Tensor) -> Sequence[Tensor]:
    # ``unbind`` gives every step a view in one autograd node; indexing ``x[t]`` on a tensor
    # that requires grad would make backward O(T^2).
    if x.is_sparse:
        return [x[t] for t in range(x.shape[0])]
    return x.unbind(0)


def run(
    step: Callable,
    x: Tensor,
    state: Any,
    p: Any,
    dt: float,
    weights: tuple[Tensor, ...] = (),
    record_states: bool = False,
) -> tuple[Tensor, Any]:
    """Loop ``step`` over the first dimension of ``x``.

    Returns ``(stacked outputs, last state)``, or ``(stacked outputs, stacked states)`` with
    ``record_states``.
    """
    outputs = []
    states = []
    for x_t in _time_slices(x):
        out, state = step(x_t, state, *weights, p, dt)
        outputs.append(out)
        if record_states:
            states.append(state)
    if not outputs:
        raise ValueError(f"the input has no time steps (shape {tuple(x.shape)}); pass T >= 1")
    stacked = torch.stack(outputs)
    return stacked, (_merge_states(states) if record_states else state)


def vjp(
    step: Callable,
    state: Any,
    p: Any,
    dt: float,
    inputs: Sequence[Tensor],
    grads: Sequence[Tensor | None],
    needs: Sequence[bool],
) -> list[Tensor | None]:
    """The gradients of :func:`run` for ``inputs`` = ``(x, *state leaves, *parameter
    tensors)`` (leaves in the order of ``state`` and ``p``, named tuples) given the gradients
    of ``(outputs, *final state leaves)`` (``None``: zero); ``None`` where not ``needs``.

    By ``torch.func``, so that it works where autograd records nothing (a custom operator's
    body), and where it does.

    Example:
        >>> from norse.torch.functional import leaky_integrator_box as li
        >>> x, v, p = torch.ones(3, 1), torch.zeros(1), li.LIBoxParameters()
        >>> g = vjp(li.li_box_feed_forward_step, li.LIBoxState(v), p, 1e-3,
        ...         [x, v, p.tau_mem_inv, p.v_leak], [torch.ones(3, 1), None],
        ...         [True, False, False, False])
        >>> g[0].shape, g[1]
        (torch.Size([3, 1]), None)
    """
    from ._graph import flat, rebuild

    F = len(flat(state))
    wrt = [k for k, t in enumerate(inputs) if t.is_floating_point()]  # (integers: constants)

    def forward(*diff: Tensor) -> list[Tensor]:
        values = list(inputs)
        for k, t in zip(wrt, diff, strict=True):
            values[k] = t
        params = iter(values[1 + F :])
        q = rebuild(p, [next(params) if isinstance(v, Tensor) else v for v in flat(p)])
        out, final = run(step, values[0], rebuild(state, values[1 : 1 + F]), q, dt)
        return [out, *flat(final)]

    outs, pullback = torch.func.vjp(forward, *[inputs[k] for k in wrt])
    cotangents = [
        torch.zeros_like(o) if g is None else g.to(o.dtype)
        for o, g in zip(outs, grads, strict=True)
    ]
    found: list[Tensor | None] = [None] * len(inputs)
    for k, g in zip(wrt, pullback(cotangents), strict=True):
        found[k] = g if needs[k] else None
    return found
