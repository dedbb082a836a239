r"""Leaky integrators without a current ("box" synapses): the input drives the voltage directly.

.. math::
    v_1 = v + \Delta t\,\tau_{mem}^{-1} ((v_{leak} - v) + x)

The step returns :math:`v_1` and the state :math:`(v_1)`. :func:`li_box_step` uses
:math:`W_{in} x` in place of :math:`x`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._spec import NeuronSpec, NirNeuron
from ..utils import pytree

__all__ = ["LIBoxParameters", "LIBoxState", "li_box_feed_forward_step", "li_box_step"]


class LIBoxState(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """State of a box leaky integrator: voltage ``v``."""

    v: Tensor


class LIBoxParameters(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """Parameters of a box leaky integrator.

    Parameters:
        tau_mem_inv (Tensor): inverse membrane time constant (1/s)
        v_leak (Tensor): leak potential

    Example:
        >>> LIBoxParameters().tau_mem_inv
        tensor(100.)
    """

    tau_mem_inv: Tensor = torch.as_tensor(1.0 / 1e-2)
    v_leak: Tensor = torch.as_tensor(0.0)


def li_box_feed_forward_step(
    input_tensor: Tensor,
    state: LIBoxState,
    p: LIBoxParameters = LIBoxParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIBoxState]:
    """One Euler step of a box leaky integrator; returns ``(v, LIBoxState)``.

    Example:
        >>> v, s = li_box_feed_forward_step(torch.ones(2), LIBoxState(torch.zeros(2)))
        >>> v
        tensor([0.1000, 0.1000])
    """
    dv = dt * p.tau_mem_inv * ((p.v_leak - state.v) + input_tensor)
    v_new = state.v + dv
    return v_new, LIBoxState(v_new)


def li_box_step(
    input_spikes: Tensor,
    state: LIBoxState,
    input_weights: Tensor,
    p: LIBoxParameters = LIBoxParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIBoxState]:
    """One Euler step of a box leaky integrator fed through ``input_weights``.

    Example:
        >>> v, s = li_box_step(torch.ones(1, 3), LIBoxState(torch.zeros(1, 2)), torch.ones(2, 3))
        >>> v
        tensor([[0.3000, 0.3000]])
    """
    return li_box_feed_forward_step(
        torch.nn.functional.linear(input_spikes, input_weights), state, p, dt
    )


def _rest(p: LIBoxParameters, recurrent: bool) -> LIBoxState:
    return LIBoxState(v=p.v_leak)


# ----------------------------------------------------------------------------- NIR
def _nir_export(p: Any, dt: float, shape: tuple[int, ...], input_scale: Any) -> Any:
    import nir

    from ..utils.nir_mapping import _per_neuron, _scale_or_one

    who = "to_nir (LIBox)"
    return nir.LI(
        tau=1.0 / _per_neuron(p.tau_mem_inv, shape, "tau_mem_inv", who),
        r=_scale_or_one(input_scale, shape),
        v_leak=_per_neuron(p.v_leak, shape, "v_leak", who),
    )


def _nir_load(node: Any, dt: float, reset_method: Any, who: str) -> tuple[Any, Any]:
    from ..utils.nir_mapping import _f64, _inverse, _to_tensor

    p = LIBoxParameters(tau_mem_inv=_inverse(node.tau, "tau", who), v_leak=_to_tensor(node.v_leak))
    return p, _f64(node.r)


SPEC = NeuronSpec(
    name="li_box",
    parameters=LIBoxParameters,
    state=LIBoxState,
    step=li_box_feed_forward_step,
    rest=_rest,
    output="voltage",
    drive=1.0,
    nir=NirNeuron("LI", _nir_export, _nir_load, ("tau",)),
)
