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
