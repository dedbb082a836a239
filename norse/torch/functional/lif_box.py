r"""LIF neurons without a synaptic current ("box" model): the input drives the voltage directly.

.. math::
    \begin{aligned}
    v_1 &= v + \Delta t\,\tau_{mem}^{-1} (x + v_{leak} - v) \\
    z &= \Theta(v_1 - v_{th}), \qquad v_2 = \mathrm{reset}(z, v_1, v_{reset}, v_{th})
    \end{aligned}

``reset_method`` is :func:`~norse.torch.functional.reset.reset_value` (default) or
:func:`~norse.torch.functional.reset.reset_subtract`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._spec import NeuronSpec
from ..utils import pytree
from .reset import ResetMethod, reset_value
from .threshold import threshold

__all__ = [
    "LIFBoxFeedForwardState",
    "LIFBoxParameters",
    "LIFBoxState",
    "lif_box_feed_forward_step",
]


class LIFBoxParameters(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """Parameters of a box LIF neuron.

    Parameters:
        tau_mem_inv (Tensor): inverse membrane time constant (1/s)
        v_leak (Tensor): leak potential
        v_th (Tensor): threshold potential
        v_reset (Tensor): reset potential
        method (str): surrogate gradient method
        alpha (Tensor): steepness of the surrogate gradient
        reset_method (ResetMethod): how the voltage is reset after a spike

    Example:
        >>> LIFBoxParameters().v_th
        tensor(1.)
    """

    tau_mem_inv: Tensor = torch.as_tensor(1.0 / 1e-2)
    v_leak: Tensor = torch.as_tensor(0.0)
    v_th: Tensor = torch.as_tensor(1.0)
    v_reset: Tensor = torch.as_tensor(0.0)
    method: str = "super"
    alpha: Tensor = torch.as_tensor(100.0)
    reset_method: ResetMethod = reset_value


class LIFBoxState(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """State of a recurrent box LIF neuron: spikes ``z`` and voltage ``v``."""

    z: Tensor
    v: Tensor


class LIFBoxFeedForwardState(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """State of a feed-forward box LIF neuron: voltage ``v``."""

    v: Tensor


def lif_box_feed_forward_step(
    input_tensor: Tensor,
    state: LIFBoxFeedForwardState,
    p: LIFBoxParameters = LIFBoxParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFBoxFeedForwardState]:
    """One Euler step of feed-forward box LIF neurons.

    Example:
        >>> s = LIFBoxFeedForwardState(v=torch.zeros(1))
        >>> for _ in range(3):
        ...     z, s = lif_box_feed_forward_step(torch.full((1,), 2.0), s)
        >>> s.v
        tensor([0.5420])
    """
    dv = dt * p.tau_mem_inv * (input_tensor + p.v_leak - state.v)
    v_decayed = state.v + dv
    z_new = threshold(v_decayed - p.v_th, p.method, p.alpha)
    v_new = p.reset_method(z_new, v_decayed, p.v_reset, p.v_th)
    return z_new, LIFBoxFeedForwardState(v=v_new)


def _rest(p: LIFBoxParameters, recurrent: bool) -> LIFBoxFeedForwardState:
    return LIFBoxFeedForwardState(v=p.v_leak)


SPEC = NeuronSpec(
    name="lif_box",
    parameters=LIFBoxParameters,
    state=LIFBoxFeedForwardState,
    step=lif_box_feed_forward_step,
    rest=_rest,
    drive=3.0,
)
