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

from typing import Any

import torch
from torch import Tensor

from .._spec import NeuronSpec, NirNeuron
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


# ----------------------------------------------------------------------------- NIR
def _nir_export(p: Any, dt: float, shape: tuple[int, ...], input_scale: Any) -> Any:
    import nir

    from ..utils.nir_mapping import _metadata, _per_neuron, _scale_or_one
    from .reset import reset_value

    who = "to_nir (LIFBox)"
    reset_method = getattr(p, "reset_method", reset_value)
    if reset_method is not reset_value:
        name = getattr(reset_method, "__name__", repr(reset_method))
        raise ValueError(
            f"{who}: reset_method={name} cannot be written to NIR, whose LIF nodes reset to "
            "v_reset; use reset_method=reset_value to export this model"
        )
    return nir.LIF(
        tau=1.0 / _per_neuron(p.tau_mem_inv, shape, "tau_mem_inv", who),
        r=_scale_or_one(input_scale, shape),
        v_leak=_per_neuron(p.v_leak, shape, "v_leak", who),
        v_threshold=_per_neuron(p.v_th, shape, "v_th", who),
        v_reset=_per_neuron(p.v_reset, shape, "v_reset", who),
        metadata=_metadata(p),
    )


def _nir_load(node: Any, dt: float, reset_method: Any, who: str) -> tuple[Any, Any]:
    from ..utils.nir_mapping import _f64, _inverse, _surrogate, _to_tensor

    p = LIFBoxParameters(
        tau_mem_inv=_inverse(node.tau, "tau", who),
        v_leak=_to_tensor(node.v_leak),
        v_th=_to_tensor(node.v_threshold),
        v_reset=_to_tensor(node.v_reset),
        reset_method=reset_method,
        **_surrogate(node.metadata or {}, LIFBoxParameters._fields),
    )
    return p, _f64(node.r)


SPEC = NeuronSpec(
    name="lif_box",
    parameters=LIFBoxParameters,
    state=LIFBoxFeedForwardState,
    step=lif_box_feed_forward_step,
    rest=_rest,
    drive=3.0,
    nir=NirNeuron("LIF", _nir_export, _nir_load, ("tau",)),
)
