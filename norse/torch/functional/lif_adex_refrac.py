r"""Adaptive exponential LIF (AdEx) neurons with an absolute refractory period.

Each step runs the AdEx step of :mod:`norse.torch.functional.lif_adex` and then the refractory
masking of :mod:`norse.torch.functional.lif_refrac` (with the method and alpha of
``p.lif_adex``):

.. math::
    \begin{aligned}
    m &= \Theta(\rho), \qquad v' = (1 - m)\, \tilde v + m\, v, \qquad z = (1 - m)\, \tilde z \\
    \rho' &= (1 - z)\, \max(0, \rho - m) + z\, \rho_{reset}
    \end{aligned}

The adaptation :math:`a` and the synaptic current come from the AdEx step unchanged, so a spike
that the mask suppresses still increments the adaptation (as in Norse 1.1.0).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._spec import NeuronSpec
from ..utils import pytree
from . import lif_adex
from .lif_adex import (
    LIFAdExFeedForwardState,
    LIFAdExParameters,
    LIFAdExState,
    lif_adex_feed_forward_step,
    lif_adex_step,
)
from .lif_refrac import _refractory_update

__all__ = [
    "LIFAdExRefracFeedForwardState",
    "LIFAdExRefracParameters",
    "LIFAdExRefracState",
    "compute_refractory_update",
    "lif_adex_refrac_feed_forward_step",
    "lif_adex_refrac_step",
]


class LIFAdExRefracParameters(
    pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta
):
    """Parameters of an AdEx neuron with absolute refractory period.

    Parameters:
        lif_adex (LIFAdExParameters): parameters of the underlying AdEx neuron
        rho_reset (Tensor): refractory period in time steps, loaded on every spike

    Example:
        >>> p = LIFAdExRefracParameters(rho_reset=torch.tensor(3.0))
        >>> p.rho_reset, p.lif_adex.delta_T, p.method
        (tensor(3.), tensor(0.5000), 'super')
    """

    lif_adex: LIFAdExParameters = LIFAdExParameters()
    rho_reset: Tensor = torch.as_tensor(5.0)

    @property
    def method(self) -> str:
        """The surrogate ``method`` of the underlying AdEx parameters (``p.lif_adex.method``)."""
        return self.lif_adex.method


class LIFAdExRefracState(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """State of recurrent refractory AdEx neurons.

    Parameters:
        lif_adex (LIFAdExState): spikes, voltage, current and adaptation
        rho (Tensor): remaining refractory steps
    """

    lif_adex: LIFAdExState
    rho: Tensor


class LIFAdExRefracFeedForwardState(
    pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta
):
    """State of feed-forward refractory AdEx neurons.

    Parameters:
        lif_adex (LIFAdExFeedForwardState): voltage, current and adaptation
        rho (Tensor): remaining refractory steps
    """

    lif_adex: LIFAdExFeedForwardState
    rho: Tensor


def compute_refractory_update(
    state: LIFAdExRefracState | LIFAdExRefracFeedForwardState,
    z_new: Tensor,
    v_new: Tensor,
    p: LIFAdExRefracParameters = LIFAdExRefracParameters(),
) -> tuple[Tensor, Tensor, Tensor]:
    """Apply the refractory mask to an AdEx step's result (equations in the module docstring).

    Returns:
        ``(v, z, rho)``: masked voltage, masked spikes and the new refractory counter.

    Example:
        >>> s = LIFAdExRefracFeedForwardState(
        ...     LIFAdExFeedForwardState(v=torch.full((2,), 0.3), i=torch.zeros(2),
        ...                             a=torch.zeros(2)),
        ...     rho=torch.tensor([0.0, 2.0]))
        >>> compute_refractory_update(s, torch.ones(2), torch.zeros(2))
        (tensor([0.0000, 0.3000]), tensor([1., 0.]), tensor([5., 1.]))
    """
    return _refractory_update(
        state.rho,
        state.lif_adex.v,
        z_new,
        v_new,
        p.rho_reset,
        p.lif_adex.method,
        p.lif_adex.alpha,
    )


#: Misspelled name that Norse 1.1.0 also defines (there as a non-callable ``@overload`` stub).
compute_refractore_update = compute_refractory_update


def lif_adex_refrac_feed_forward_step(
    input_tensor: Tensor,
    state: LIFAdExRefracFeedForwardState,
    p: LIFAdExRefracParameters = LIFAdExRefracParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFAdExRefracFeedForwardState]:
    """One Euler step of feed-forward refractory AdEx neurons.

    Example:
        >>> s = LIFAdExRefracFeedForwardState(
        ...     LIFAdExFeedForwardState(v=torch.zeros(1), i=torch.zeros(1), a=torch.zeros(1)),
        ...     rho=torch.zeros(1))
        >>> out = []
        >>> for _ in range(9):
        ...     z, s = lif_adex_refrac_feed_forward_step(torch.tensor([20.0]), s)
        ...     out.append(int(z.item()))
        >>> out
        [1, 0, 0, 0, 0, 0, 1, 0, 0]
    """
    z_new, s_new = lif_adex_feed_forward_step(input_tensor, state.lif_adex, p.lif_adex, dt)
    v, z, rho = compute_refractory_update(state, z_new, s_new.v, p)
    return z, LIFAdExRefracFeedForwardState(LIFAdExFeedForwardState(v, s_new.i, s_new.a), rho)


def lif_adex_refrac_step(
    input_tensor: Tensor,
    state: LIFAdExRefracState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    p: LIFAdExRefracParameters = LIFAdExRefracParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFAdExRefracState]:
    """One Euler step of recurrently connected refractory AdEx neurons.

    Example:
        >>> z0 = torch.zeros(1, 2)
        >>> s = LIFAdExRefracState(LIFAdExState(z=z0, v=z0, i=z0, a=z0), rho=z0)
        >>> z, s = lif_adex_refrac_step(torch.ones(1, 1), s, torch.full((2, 1), 20.0),
        ...                             torch.zeros(2, 2))
        >>> z, s.rho
        (tensor([[1., 1.]]), tensor([[5., 5.]]))
    """
    z_new, s_new = lif_adex_step(
        input_tensor, state.lif_adex, input_weights, recurrent_weights, p.lif_adex, dt
    )
    v, z, rho = compute_refractory_update(state, z_new, s_new.v, p)
    return z, LIFAdExRefracState(LIFAdExState(z, v, s_new.i, s_new.a), rho)


def _rest(
    p: LIFAdExRefracParameters, recurrent: bool
) -> LIFAdExRefracState | LIFAdExRefracFeedForwardState:
    adex_rest = lif_adex.SPEC.rest(p.lif_adex, recurrent)
    if recurrent:
        return LIFAdExRefracState(adex_rest, rho=0.0)
    return LIFAdExRefracFeedForwardState(adex_rest, rho=0.0)


SPEC = NeuronSpec(
    name="lif_adex_refrac",
    parameters=LIFAdExRefracParameters,
    state=LIFAdExRefracFeedForwardState,
    step=lif_adex_refrac_feed_forward_step,
    rest=_rest,
    recurrent_state=LIFAdExRefracState,
    recurrent_step=lif_adex_refrac_step,
    parameters_as_tensors=True,
    drive=3.0,
)
