r"""LIF neurons with an absolute refractory period.

Each step first runs the LIF step of :mod:`norse.torch.functional.lif` (jump first), giving new
spikes :math:`\tilde z` and a new voltage :math:`\tilde v`. A refractory counter :math:`\rho`
(in steps) then masks them: while :math:`\rho > 0` the neuron cannot spike and holds its
previous voltage, the counter runs down by one per step, and a spike reloads it:

.. math::
    \begin{aligned}
    m &= \Theta(\rho) \\
    v' &= (1 - m)\, \tilde v + m\, v \\
    z &= (1 - m)\, \tilde z \\
    \rho' &= (1 - z)\, \max(0, \rho - m) + z\, \rho_{reset}
    \end{aligned}

:math:`\Theta` is the threshold function of ``p.lif.method`` (so the mask has a surrogate
gradient with respect to :math:`\rho`). The synaptic current keeps integrating input while the
neuron is refractory. A neuron that spikes at step :math:`t` therefore stays silent for the
next :math:`\rho_{reset}` steps.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._spec import NeuronSpec
from ..utils import pytree
from . import lif
from .lif import (
    LIFFeedForwardState,
    LIFParameters,
    LIFState,
    lif_feed_forward_step,
    lif_step,
    lif_step_sparse,
)
from .threshold import threshold

__all__ = [
    "LIFRefracFeedForwardState",
    "LIFRefracParameters",
    "LIFRefracState",
    "compute_refractory_update",
    "lif_refrac_feed_forward_step",
    "lif_refrac_step",
    "lif_refrac_step_sparse",
]


class LIFRefracParameters(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """Parameters of a LIF neuron with absolute refractory period.

    Parameters:
        lif (LIFParameters): parameters of the underlying LIF neuron
        rho_reset (Tensor): refractory period in time steps, loaded on every spike

    Example:
        >>> p = LIFRefracParameters(rho_reset=torch.tensor(2.0))
        >>> p.lif.v_th, p.rho_reset, p.method
        (tensor(1.), tensor(2.), 'super')
    """

    lif: LIFParameters = LIFParameters()
    rho_reset: Tensor = torch.as_tensor(5.0)

    @property
    def method(self) -> str:
        """The surrogate ``method`` of the underlying LIF parameters (``p.lif.method``)."""
        return self.lif.method


class LIFRefracState(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """State of recurrent refractory LIF neurons: the LIF state and the refractory counter.

    Parameters:
        lif (LIFState): spikes, voltage and current
        rho (Tensor): remaining refractory steps
    """

    lif: LIFState
    rho: Tensor


class LIFRefracFeedForwardState(
    pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta
):
    """State of feed-forward refractory LIF neurons.

    Parameters:
        lif (LIFFeedForwardState): voltage and current
        rho (Tensor): remaining refractory steps
    """

    lif: LIFFeedForwardState
    rho: Tensor


def _refractory_update(
    rho: Tensor,
    v_old: Tensor,
    z_new: Tensor,
    v_new: Tensor,
    rho_reset: Tensor,
    method: str,
    alpha: Tensor | float,
) -> tuple[Tensor, Tensor, Tensor]:
    """Mask spikes and voltage while refractory; count down and reload the counter."""
    refrac_mask = threshold(rho, method, alpha)
    v = (1 - refrac_mask) * v_new + refrac_mask * v_old
    z = (1 - refrac_mask) * z_new
    rho_new = (1 - z) * torch.nn.functional.relu(rho - refrac_mask) + z * rho_reset
    return v, z, rho_new


def compute_refractory_update(
    state: LIFRefracState | LIFRefracFeedForwardState,
    z_new: Tensor,
    v_new: Tensor,
    p: LIFRefracParameters = LIFRefracParameters(),
) -> tuple[Tensor, Tensor, Tensor]:
    """Apply the refractory mask to a LIF step's result (equations in the module docstring).

    Args:
        state: the state *before* the LIF step (its ``rho`` and ``lif.v`` are read).
        z_new: spikes of the LIF step.
        v_new: voltage after the LIF step (after reset).
        p: parameters.

    Returns:
        ``(v, z, rho)``: masked voltage, masked spikes and the new refractory counter.

    Example:
        >>> s = LIFRefracFeedForwardState(
        ...     LIFFeedForwardState(v=torch.tensor([0.3, 0.3]), i=torch.zeros(2)),
        ...     rho=torch.tensor([0.0, 2.0]))
        >>> compute_refractory_update(s, torch.tensor([1.0, 1.0]), torch.zeros(2))
        (tensor([0.0000, 0.3000]), tensor([1., 0.]), tensor([5., 1.]))
    """
    return _refractory_update(
        state.rho, state.lif.v, z_new, v_new, p.rho_reset, p.lif.method, p.lif.alpha
    )


def lif_refrac_feed_forward_step(
    input_tensor: Tensor,
    state: LIFRefracFeedForwardState,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFRefracFeedForwardState]:
    """One Euler step of feed-forward refractory LIF neurons.

    Runs :func:`~norse.torch.functional.lif.lif_feed_forward_step`, then
    :func:`compute_refractory_update`.

    Example:
        >>> s = LIFRefracFeedForwardState(
        ...     LIFFeedForwardState(v=torch.zeros(1), i=torch.zeros(1)), rho=torch.zeros(1))
        >>> for _ in range(3):
        ...     z, s = lif_refrac_feed_forward_step(torch.tensor([4.0]), s)
        ...     print(z.item(), round(s.lif.v.item(), 4), s.rho.item())
        0.0 0.4 0.0
        1.0 0.0 5.0
        0.0 0.0 4.0
    """
    z_new, s_new = lif_feed_forward_step(input_tensor, state.lif, p.lif, dt)
    v, z, rho = compute_refractory_update(state, z_new, s_new.v, p)
    return z, LIFRefracFeedForwardState(LIFFeedForwardState(v, s_new.i), rho)


def lif_refrac_step(
    input_tensor: Tensor,
    state: LIFRefracState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFRefracState]:
    """One Euler step of recurrently connected refractory LIF neurons.

    Runs :func:`~norse.torch.functional.lif.lif_step` (which detaches ``z`` in its reset), then
    :func:`compute_refractory_update`.

    Example:
        >>> s = LIFRefracState(LIFState(z=torch.zeros(1, 2), v=torch.zeros(1, 2),
        ...                             i=torch.zeros(1, 2)), rho=torch.zeros(1, 2))
        >>> z, s = lif_refrac_step(torch.ones(1, 3), s, torch.ones(2, 3) * 5, torch.zeros(2, 2))
        >>> z, s.rho
        (tensor([[1., 1.]]), tensor([[5., 5.]]))
    """
    z_new, s_new = lif_step(input_tensor, state.lif, input_weights, recurrent_weights, p.lif, dt)
    v, z, rho = compute_refractory_update(state, z_new, s_new.v, p)
    return z, LIFRefracState(LIFState(z, v, s_new.i), rho)


def lif_refrac_step_sparse(
    input_tensor: Tensor,
    state: LIFRefracState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFRefracState]:
    """:func:`lif_refrac_step` for 2-D sparse COO inputs; returns sparse spikes.

    Example:
        >>> s = LIFRefracState(LIFState(z=torch.zeros(1, 2).to_sparse(), v=torch.zeros(1, 2),
        ...                             i=torch.zeros(1, 2)), rho=torch.zeros(1, 2))
        >>> x = torch.ones(1, 3).to_sparse()
        >>> z, s = lif_refrac_step_sparse(x, s, torch.ones(2, 3) * 5, torch.zeros(2, 2))
        >>> z.is_sparse, z.to_dense()
        (True, tensor([[1., 1.]]))
    """
    z_new, s_new = lif_step_sparse(
        input_tensor, state.lif, input_weights, recurrent_weights, p.lif, dt
    )
    v, z, rho = compute_refractory_update(state, z_new.to_dense(), s_new.v, p)
    z_sparse = z.to_sparse()
    return z_sparse, LIFRefracState(LIFState(z_sparse, v, s_new.i), rho)


def _rest(p: LIFRefracParameters, recurrent: bool) -> LIFRefracState | LIFRefracFeedForwardState:
    lif_rest = lif.SPEC.rest(p.lif, recurrent)
    if recurrent:
        return LIFRefracState(lif_rest, rho=0.0)
    return LIFRefracFeedForwardState(lif_rest, rho=0.0)


# ``method="adjoint"`` (``p.lif.method``) selects the discrete-adjoint steps of
# ``norse.torch.functional.adjoint.lif_refrac_adjoint``. They are imported when first called,
# because that module imports this one.
def _adjoint_feed_forward_step(
    input_tensor: Tensor,
    state: LIFRefracFeedForwardState,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFRefracFeedForwardState]:
    from .adjoint.lif_refrac_adjoint import lif_refrac_feed_forward_adjoint_step

    return lif_refrac_feed_forward_adjoint_step(input_tensor, state, p, dt)


def _adjoint_step(
    input_tensor: Tensor,
    state: LIFRefracState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    p: LIFRefracParameters = LIFRefracParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFRefracState]:
    from .adjoint import lif_refrac_adjoint

    step = (
        lif_refrac_adjoint.lif_refrac_adjoint_step_sparse
        if input_tensor.is_sparse
        else lif_refrac_adjoint.lif_refrac_adjoint_step
    )
    return step(input_tensor, state, input_weights, recurrent_weights, p, dt)


SPEC = NeuronSpec(
    name="lif_refrac",
    parameters=LIFRefracParameters,
    state=LIFRefracFeedForwardState,
    step=lif_refrac_feed_forward_step,
    rest=_rest,
    recurrent_state=LIFRefracState,
    recurrent_step=lif_refrac_step,
    recurrent_step_sparse=lif_refrac_step_sparse,
    parameters_as_tensors=True,
    extra_methods={"adjoint": (_adjoint_feed_forward_step, _adjoint_step)},
    drive=3.0,
)
