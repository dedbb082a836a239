r"""Leaky integrators (LI): a LIF neuron without threshold, whose output is the voltage.

.. math::
    \begin{aligned}
    i_1 &= i + x \\
    v_1 &= v + \Delta t\,\tau_{mem}^{-1} ((v_{leak} - v) + i_1) \\
    i_2 &= i_1 - \Delta t\,\tau_{syn}^{-1}\, i_1
    \end{aligned}

The step returns :math:`v_1` and the state :math:`(v_1, i_2)`. :func:`li_step` adds
:math:`W_{in} x` to the current instead of :math:`x`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._spec import NeuronSpec, NirNeuron
from ..utils import pytree

__all__ = ["LIParameters", "LIState", "li_feed_forward_step", "li_step"]


class LIState(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """State of a leaky integrator: voltage ``v`` and current ``i``."""

    v: Tensor
    i: Tensor


class LIParameters(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """Parameters of a leaky integrator.

    Parameters:
        tau_syn_inv (Tensor): inverse synaptic time constant (1/s)
        tau_mem_inv (Tensor): inverse membrane time constant (1/s)
        v_leak (Tensor): leak potential

    Example:
        >>> LIParameters().tau_mem_inv
        tensor(100.)
    """

    tau_syn_inv: Tensor = torch.as_tensor(1.0 / 5e-3)
    tau_mem_inv: Tensor = torch.as_tensor(1.0 / 1e-2)
    v_leak: Tensor = torch.as_tensor(0.0)

    @staticmethod
    def bio_default(**kwargs) -> LIParameters:
        """Biologically plausible parameters in millisecond units.

        Example:
            >>> LIParameters.bio_default().v_leak
            tensor(-70.)
        """
        values = dict(
            tau_syn_inv=torch.as_tensor(1 / 2),
            tau_mem_inv=torch.as_tensor(1 / 10),
            v_leak=torch.as_tensor(-70.0),
        )
        values.update(kwargs)
        return LIParameters(**values)


def _li_update(
    i_jump: Tensor, state: LIState, p: LIParameters, dt: float
) -> tuple[Tensor, LIState]:
    dv = dt * p.tau_mem_inv * ((p.v_leak - state.v) + i_jump)
    v_new = state.v + dv
    di = -dt * p.tau_syn_inv * i_jump
    i_new = i_jump + di
    return v_new, LIState(v_new, i_new)


def li_feed_forward_step(
    input_tensor: Tensor, state: LIState, p: LIParameters = LIParameters(), dt: float = 0.001
) -> tuple[Tensor, LIState]:
    """One Euler step of a leaky integrator; returns ``(v, LIState)``.

    Example:
        >>> v, s = li_feed_forward_step(torch.ones(1), LIState(torch.zeros(1), torch.zeros(1)))
        >>> v, s.i
        (tensor([0.1000]), tensor([0.8000]))
    """
    return _li_update(state.i + input_tensor, state, p, dt)


def li_step(
    input_spikes: Tensor,
    state: LIState,
    input_weights: Tensor,
    p: LIParameters = LIParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIState]:
    """One Euler step of a leaky integrator fed through ``input_weights``.

    Example:
        >>> s = LIState(torch.zeros(1, 2), torch.zeros(1, 2))
        >>> v, s = li_step(torch.ones(1, 3), s, torch.ones(2, 3))
        >>> v
        tensor([[0.3000, 0.3000]])
    """
    return _li_update(
        state.i + torch.nn.functional.linear(input_spikes, input_weights), state, p, dt
    )


def _li_recurrent_step(
    input_spikes: Tensor,
    state: LIState,
    input_weights: Tensor,
    recurrent_weights: Tensor | None,
    p: LIParameters = LIParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIState]:
    """:func:`li_step` in the recurrent-step signature (a leaky integrator has no spikes)."""
    return li_step(input_spikes, state, input_weights, p, dt)


def _rest(p: LIParameters, recurrent: bool) -> LIState:
    return LIState(v=p.v_leak, i=0.0)


# ----------------------------------------------------------------------------- NIR
def _nir_export(p: Any, dt: float, shape: tuple[int, ...], input_scale: Any) -> Any:
    import nir
    import numpy as np

    from ..utils.nir_mapping import _per_neuron, _scale_or_one

    who = "to_nir (LI)"
    tau_syn = 1.0 / _per_neuron(p.tau_syn_inv, shape, "tau_syn_inv", who)
    return nir.CubaLI(
        tau_syn=tau_syn,
        tau_mem=1.0 / _per_neuron(p.tau_mem_inv, shape, "tau_mem_inv", who),
        r=np.ones(shape),
        v_leak=_per_neuron(p.v_leak, shape, "v_leak", who),
        w_in=_scale_or_one(input_scale, shape) * tau_syn / dt,
    )


def _nir_load(node: Any, dt: float, reset_method: Any, who: str) -> tuple[Any, Any]:
    from ..utils.nir_mapping import _f64, _inverse, _to_tensor

    p = LIParameters(
        tau_syn_inv=_inverse(node.tau_syn, "tau_syn", who),
        tau_mem_inv=_inverse(node.tau_mem, "tau_mem", who),
        v_leak=_to_tensor(node.v_leak),
    )
    scale = _f64(node.r) * _f64(node.w_in) * dt / _f64(node.tau_syn)
    return p, scale


SPEC = NeuronSpec(
    name="li",
    parameters=LIParameters,
    state=LIState,
    step=li_feed_forward_step,
    rest=_rest,
    output="voltage",
    drive=1.0,
    nir=NirNeuron("CubaLI", _nir_export, _nir_load, ("tau_syn", "tau_mem")),
)
