r"""Activity regularisation: accumulate a quantity of a layer's output or state over time.

:func:`regularize_step` passes the spikes through and folds them (or the state) into an
accumulator, for example the total spike count

.. math::
    S_t = S_{t-1} + \sum_{j} z_{t,j}, \qquad S_0 = 0,

which a training loop turns into a penalty (e.g. :math:`\lambda (S_T - \text{target})^2`)
to keep firing rates sparse. :class:`norse.torch.module.regularization.RegularizationCell`
keeps the accumulator across calls.

See Zenke & Vogels, "The remarkable robustness of surrogate gradient learning...",
*Neural Computation* 33 (2021), for activity regularisation in spiking networks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NewType

import torch
from torch import Tensor

__all__ = ["Accumulator", "regularize_step", "spike_accumulator", "voltage_accumulator"]

#: A function ``(z, state, accumulated) -> accumulated`` that folds one step into a total.
Accumulator = NewType("Accumulator", Callable[[Tensor, Any, Any | None], Any])  # type: ignore[misc]


def spike_accumulator(z: Tensor, _: Any, state: Any | None = None) -> Any:
    """Add the number of spikes in ``z`` to ``state`` (0 when ``None``).

    Args:
        z (Tensor): spikes
        _ (Any): the neuron state (unused)
        state (Tensor | None): the count so far

    Returns:
        the updated count (a 0-dim tensor).

    Example:
        >>> count = spike_accumulator(torch.ones(2, 5), None)
        >>> spike_accumulator(torch.ones(3), None, count)
        tensor(13.)
    """
    if not isinstance(z, Tensor):
        raise TypeError(f"spike_accumulator: z must be a torch.Tensor, got {type(z).__name__}")
    return (0 if state is None else state) + z.sum()


def voltage_accumulator(z: Tensor, s: Any, state: Any | None = None) -> Any:
    """Add the neuron state's voltage ``s.v`` to ``state`` (zeros when ``None``).

    Args:
        z (Tensor): spikes (unused)
        s (Any): a neuron state with a field ``v``
        state (Tensor | None): the voltages summed so far

    Returns:
        the updated sum, shaped like ``s.v``.

    Example:
        >>> from norse.torch.functional.lif import LIFFeedForwardState
        >>> s = LIFFeedForwardState(v=torch.tensor([0.5, 1.0]), i=torch.zeros(2))
        >>> voltage_accumulator(None, s, voltage_accumulator(None, s))
        tensor([1., 2.])
    """
    v = getattr(s, "v", None)
    if not isinstance(v, Tensor):
        raise TypeError(
            f"voltage_accumulator: s must be a neuron state with a tensor field 'v', got "
            f"{type(s).__name__}; pass the state a neuron module returns (e.g. LIFCell)"
        )
    return (torch.zeros_like(v) if state is None else state) + v


def regularize_step(
    z: Tensor,
    s: Any,
    accumulator: Accumulator = spike_accumulator,
    state: Any | None = None,
) -> tuple[Tensor, Any]:
    """Pass the spikes ``z`` through and fold them (or ``s``) into the accumulated state.

    Args:
        z (Tensor): spikes of one step
        s (Any): the neuron state of that step
        accumulator (Accumulator): how to accumulate, e.g. :func:`spike_accumulator` or
            :func:`voltage_accumulator`
        state (Any | None): the accumulated value so far (``None`` to start)

    Returns:
        ``z`` unchanged and the accumulated value.

    Example:
        >>> z, count = regularize_step(torch.ones(4), None)
        >>> z, count = regularize_step(torch.ones(4), None, state=count)
        >>> count
        tensor(8.)
    """
    if not callable(accumulator):
        raise TypeError(
            f"regularize_step: accumulator must be callable (z, s, state) -> state, got "
            f"{type(accumulator).__name__}; pass spike_accumulator or voltage_accumulator"
        )
    return z, accumulator(z, s, state)
