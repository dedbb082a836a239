r"""Integrate-and-fire (IAF) neurons: a perfect integrator without leak.

The input adds straight onto the voltage; a spike resets it:

.. math::
    \begin{aligned}
    v_1 &= v + x \\
    z &= \Theta(v_1 - v_{th}), \qquad v_2 = (1 - z)\, v_1 + z\, v_{reset}
    \end{aligned}

There is no time constant, so ``dt`` is accepted but unused. Because :math:`\Theta(0) = 0`, an
input that brings the voltage exactly to the threshold does not spike. The recurrent
:func:`iaf_step` adds :math:`W_{in} x + W_{rec} z_{t-1}` instead of :math:`x`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._spec import NeuronSpec, NirNeuron
from ..utils import pytree
from .threshold import threshold

__all__ = [
    "IAFFeedForwardState",
    "IAFParameters",
    "IAFState",
    "iaf_feed_forward_step",
    "iaf_step",
]


class IAFParameters(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """Parameters of an integrate-and-fire neuron.

    Parameters:
        v_th (Tensor): threshold potential
        v_reset (Tensor): reset potential (and the initial voltage of the modules)
        method (str): surrogate gradient method, see :mod:`norse.torch.functional.threshold`
        alpha (Tensor): steepness of the surrogate gradient

    Example:
        >>> IAFParameters().v_th
        tensor(1.)
    """

    v_th: Tensor = torch.as_tensor(1.0)
    v_reset: Tensor = torch.as_tensor(0.0)
    method: str = "super"
    alpha: Tensor = torch.as_tensor(100.0)

    @staticmethod
    def bio_default(**kwargs) -> IAFParameters:
        """Biologically plausible parameters in millivolts.

        Example:
            >>> IAFParameters.bio_default().v_th
            tensor(-55.)
        """
        values = dict(v_reset=torch.as_tensor(-70.0), v_th=torch.as_tensor(-55.0))
        values.update(kwargs)
        return IAFParameters(**values)


class IAFState(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """State of recurrent integrate-and-fire neurons: spikes ``z`` and voltage ``v``."""

    z: Tensor
    v: Tensor


class IAFFeedForwardState(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """State of feed-forward integrate-and-fire neurons: voltage ``v``."""

    v: Tensor


def _iaf_update(v_jump: Tensor, p: IAFParameters) -> tuple[Tensor, Tensor]:
    z_new = threshold(v_jump - p.v_th, p.method, p.alpha)
    v_new = (1 - z_new) * v_jump + z_new * p.v_reset
    return z_new, v_new


def iaf_feed_forward_step(
    input_spikes: Tensor,
    state: IAFFeedForwardState,
    p: IAFParameters = IAFParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, IAFFeedForwardState]:
    """One step of feed-forward integrate-and-fire neurons (``dt`` is unused).

    Example:
        >>> s = IAFFeedForwardState(v=torch.zeros(3))
        >>> z, s = iaf_feed_forward_step(torch.tensor([0.5, 1.0, 1.5]), s)
        >>> z, s.v
        (tensor([0., 0., 1.]), tensor([0.5000, 1.0000, 0.0000]))
    """
    z_new, v_new = _iaf_update(state.v + input_spikes, p)
    return z_new, IAFFeedForwardState(v=v_new)


def iaf_step(
    input_spikes: Tensor,
    state: IAFState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    p: IAFParameters = IAFParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, IAFState]:
    """One step of recurrently connected integrate-and-fire neurons (``dt`` is unused).

    Example:
        >>> s = IAFState(z=torch.zeros(1, 2), v=torch.zeros(1, 2))
        >>> z, s = iaf_step(torch.ones(1, 3), s, torch.full((2, 3), 0.5), torch.zeros(2, 2))
        >>> z, s.v
        (tensor([[1., 1.]]), tensor([[0., 0.]]))
    """
    v_jump = (
        state.v
        + torch.nn.functional.linear(input_spikes, input_weights)
        + torch.nn.functional.linear(state.z, recurrent_weights)
    )
    z_new, v_new = _iaf_update(v_jump, p)
    return z_new, IAFState(z=z_new, v=v_new)


def _iaf_feed_forward_step_sparse(
    input_spikes: Tensor,
    state: IAFFeedForwardState,
    p: IAFParameters = IAFParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, IAFFeedForwardState]:
    # A sparse input cannot be added to the modules' 0-dim initial voltage; densify it.
    return iaf_feed_forward_step(input_spikes.to_dense(), state, p, dt)


def _rest(p: IAFParameters, recurrent: bool) -> IAFState | IAFFeedForwardState:
    if recurrent:
        return IAFState(z=0.0, v=p.v_reset)
    return IAFFeedForwardState(v=p.v_reset)


# ----------------------------------------------------------------------------- NIR
def _nir_export(p: Any, dt: float, shape: tuple[int, ...], input_scale: Any) -> Any:
    import nir

    from ..utils.nir_mapping import _metadata, _per_neuron, _scale_or_one

    who = "to_nir (IAF)"
    return nir.IF(
        r=_scale_or_one(input_scale, shape) / dt,
        v_threshold=_per_neuron(p.v_th, shape, "v_th", who),
        v_reset=_per_neuron(p.v_reset, shape, "v_reset", who),
        metadata=_metadata(p),
    )


def _nir_load(node: Any, dt: float, reset_method: Any, who: str) -> tuple[Any, Any]:
    from ..utils.nir_mapping import _f64, _surrogate, _to_tensor
    from .reset import reset_value

    if reset_method is not reset_value:
        name = getattr(reset_method, "__name__", repr(reset_method))
        raise ValueError(
            f"{who}: IF nodes import as IAF neurons, which reset to v_reset; "
            f"reset_method={name} is only available for NIR LIF nodes (LIFBox)"
        )
    p = IAFParameters(
        v_th=_to_tensor(node.v_threshold),
        v_reset=_to_tensor(node.v_reset),
        **_surrogate(node.metadata or {}, IAFParameters._fields),
    )
    return p, _f64(node.r) * dt


SPEC = NeuronSpec(
    name="iaf",
    parameters=IAFParameters,
    state=IAFFeedForwardState,
    step=iaf_feed_forward_step,
    rest=_rest,
    step_sparse=_iaf_feed_forward_step_sparse,
    recurrent_state=IAFState,
    recurrent_step=iaf_step,
    parameters_as_tensors=True,
    drive=0.6,
    nir=NirNeuron("IF", _nir_export, _nir_load, ()),
)
