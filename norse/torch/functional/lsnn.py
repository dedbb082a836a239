r"""Long short-term memory spiking neurons (LSNN): LIF neurons with an adaptive threshold.

After Bellec et al., "Long short-term memory and learning-to-learn in networks of spiking
neurons" (NeurIPS 2018). Each neuron's threshold :math:`b` relaxes towards :math:`v_{th}` with
time constant :math:`\tau_{adapt}` and jumps by :math:`\beta` after each spike, so that a neuron
that has just fired is harder to excite.

The step is *decay first*: the voltage integrates the *old* current, the current and threshold
decay, the neuron spikes and resets, and only then does the input land on the current. The
input therefore reaches the voltage one step later than in the jump-first models.

.. math::
    \begin{aligned}
    v_1 &= v + \Delta t\,\tau_{mem}^{-1} ((v_{leak} - v) + i) \\
    i_1 &= i - \Delta t\,\tau_{syn}^{-1}\, i \\
    b_1 &= b + \Delta t\,\tau_{adapt}^{-1} (v_{th} - b) \\
    z &= \Theta(v_1 - b_1) \\
    v_2 &= (1 - z)\, v_1 + z\, v_{reset} \\
    b_2 &= b_1 + z\, \beta \\
    i_2 &= i_1 + x
    \end{aligned}

The recurrent :func:`lsnn_step` adds :math:`W_{in} x + W_{rec} z_{t-1}` (spikes of the previous
step) instead of :math:`x` and uses the detached spikes in the reset and in the threshold jump.

:func:`ada_lif_step` is a variant in which the adaptation :math:`b` is a current subtracted
from the voltage instead of a moving threshold; it resets by subtraction:

.. math::
    \begin{aligned}
    v_1 &= v + \Delta t\,\tau_{mem}^{-1} ((v_{leak} - v) + i - b), \quad
    i_1 = i - \Delta t\,\tau_{syn}^{-1}\, i, \quad
    b_1 = b - \Delta t\,\tau_{adapt}^{-1}\, b \\
    z &= \Theta(v_1 - v_{th}), \quad v_2 = v_1 - z\,(v_{th} - v_{reset}), \quad
    b_2 = b_1 + z\,\beta, \quad i_2 = i_1 + W_{in} x + W_{rec} z_{t-1}
    \end{aligned}
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._spec import NeuronSpec
from ..utils import pytree
from .threshold import threshold

__all__ = [
    "LSNNFeedForwardState",
    "LSNNParameters",
    "LSNNState",
    "ada_lif_step",
    "lsnn_feed_forward_step",
    "lsnn_step",
]


class LSNNParameters(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """Parameters of an LSNN neuron.

    Parameters:
        tau_syn_inv (Tensor): inverse synaptic time constant (1/s)
        tau_mem_inv (Tensor): inverse membrane time constant (1/s)
        tau_adapt_inv (Tensor): inverse time constant of the threshold adaptation (1/s)
        v_leak (Tensor): leak (resting) potential
        v_th (Tensor): baseline threshold that the adaptive threshold relaxes to
        v_reset (Tensor): reset potential
        beta (Tensor): threshold increase per spike
        method (str): surrogate gradient method, see :mod:`norse.torch.functional.threshold`
        alpha (float): steepness of the surrogate gradient

    Example:
        >>> LSNNParameters().beta
        tensor(1.8000)
    """

    tau_syn_inv: Tensor = torch.as_tensor(1.0 / 5e-3)
    tau_mem_inv: Tensor = torch.as_tensor(1.0 / 1e-2)
    tau_adapt_inv: Tensor = torch.as_tensor(1.0 / 800)
    v_leak: Tensor = torch.as_tensor(0.0)
    v_th: Tensor = torch.as_tensor(1.0)
    v_reset: Tensor = torch.as_tensor(0.0)
    beta: Tensor = torch.as_tensor(1.8)
    method: str = "super"
    alpha: float = 100.0

    @staticmethod
    def bio_default(**kwargs) -> LSNNParameters:
        """Biologically plausible parameters in millisecond units (dt in ms).

        Example:
            >>> LSNNParameters.bio_default().beta
            tensor(0.5000)
        """
        values = dict(
            tau_syn_inv=torch.as_tensor(0.5),
            tau_mem_inv=torch.as_tensor(0.1),
            tau_adapt_inv=torch.as_tensor(0.01),
            v_leak=torch.as_tensor(-70.0),
            v_th=torch.as_tensor(-55.0),
            v_reset=torch.as_tensor(-70.0),
            beta=torch.as_tensor(0.5),
        )
        values.update(kwargs)
        return LSNNParameters(**values)


class LSNNState(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """State of recurrent LSNN neurons: spikes ``z``, voltage ``v``, current ``i``, threshold ``b``."""

    z: Tensor
    v: Tensor
    i: Tensor
    b: Tensor


class LSNNFeedForwardState(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """State of feed-forward LSNN neurons: voltage ``v``, current ``i``, threshold ``b``."""

    v: Tensor
    i: Tensor
    b: Tensor


def _lsnn_update(
    v: Tensor, i: Tensor, b: Tensor, p: LSNNParameters, dt: float, detach: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Integrate with the old current, decay current and threshold, spike, reset, adapt."""
    dv = dt * p.tau_mem_inv * ((p.v_leak - v) + i)
    v_decayed = v + dv
    di = -dt * p.tau_syn_inv * i
    i_decayed = i + di
    db = dt * p.tau_adapt_inv * (p.v_th - b)
    b_decayed = b + db
    z_new = threshold(v_decayed - b_decayed, p.method, p.alpha)
    z_jump = z_new.detach() if detach else z_new
    v_new = (1 - z_jump) * v_decayed + z_jump * p.v_reset
    b_new = b_decayed + z_jump * p.beta
    return z_new, v_new, i_decayed, b_new


def lsnn_feed_forward_step(
    input_tensor: Tensor,
    state: LSNNFeedForwardState,
    p: LSNNParameters = LSNNParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LSNNFeedForwardState]:
    """One Euler step of feed-forward LSNN neurons (equations in the module docstring).

    Example:
        >>> s = LSNNFeedForwardState(v=torch.zeros(1), i=torch.zeros(1), b=torch.ones(1))
        >>> for _ in range(3):
        ...     z, s = lsnn_feed_forward_step(torch.tensor([2.0]), s)
        ...     print(round(s.v.item(), 4), round(s.i.item(), 4))
        0.0 2.0
        0.2 3.6
        0.54 4.88
    """
    z_new, v_new, i_decayed, b_new = _lsnn_update(state.v, state.i, state.b, p, dt, False)
    i_new = i_decayed + input_tensor
    return z_new, LSNNFeedForwardState(v=v_new, i=i_new, b=b_new)


def lsnn_step(
    input_tensor: Tensor,
    state: LSNNState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    p: LSNNParameters = LSNNParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LSNNState]:
    """One Euler step of recurrently connected LSNN neurons.

    The current receives ``W_in x + W_rec z`` after the spike decision, with ``z`` the spikes
    of the *previous* step; reset and threshold jump use the detached new spikes.

    Example:
        >>> s = LSNNState(z=torch.zeros(1, 2), v=torch.zeros(1, 2), i=torch.zeros(1, 2),
        ...               b=torch.ones(1, 2))
        >>> z, s = lsnn_step(torch.ones(1, 3), s, torch.ones(2, 3), torch.zeros(2, 2))
        >>> s.v, s.i
        (tensor([[0., 0.]]), tensor([[3., 3.]]))
    """
    z_new, v_new, i_decayed, b_new = _lsnn_update(state.v, state.i, state.b, p, dt, True)
    i_new = (
        i_decayed
        + torch.nn.functional.linear(input_tensor, input_weights)
        + torch.nn.functional.linear(state.z, recurrent_weights)
    )
    return z_new, LSNNState(z=z_new, v=v_new, i=i_new, b=b_new)


def ada_lif_step(
    input_tensor: Tensor,
    state: LSNNState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    p: LSNNParameters = LSNNParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LSNNState]:
    """One Euler step of recurrent adaptive LIF neurons (adaptation as a current, see above).

    Example:
        >>> s = LSNNState(z=torch.zeros(1, 1), v=torch.zeros(1, 1), i=torch.full((1, 1), 20.0),
        ...               b=torch.ones(1, 1))
        >>> z, s = ada_lif_step(torch.zeros(1, 1), s, torch.ones(1, 1), torch.zeros(1, 1))
        >>> z, s.v, s.b
        (tensor([[1.]]), tensor([[0.9000]]), tensor([[2.8000]]))
    """
    dv = dt * p.tau_mem_inv * ((p.v_leak - state.v) + state.i - state.b)
    v_decayed = state.v + dv
    di = -dt * p.tau_syn_inv * state.i
    i_decayed = state.i + di
    b_decayed = state.b - dt * p.tau_adapt_inv * state.b
    z_new = threshold(v_decayed - p.v_th, p.method, p.alpha)
    v_new = v_decayed - z_new * (p.v_th - p.v_reset)
    b_new = b_decayed + z_new * p.beta
    i_new = (
        i_decayed
        + torch.nn.functional.linear(input_tensor, input_weights)
        + torch.nn.functional.linear(state.z, recurrent_weights)
    )
    return z_new, LSNNState(z=z_new, v=v_new, i=i_new, b=b_new)


def _rest(p: LSNNParameters, recurrent: bool) -> LSNNState | LSNNFeedForwardState:
    if recurrent:
        return LSNNState(z=0.0, v=p.v_leak, i=0.0, b=p.v_th)
    return LSNNFeedForwardState(v=p.v_leak, i=0.0, b=p.v_th)


SPEC = NeuronSpec(
    name="lsnn",
    parameters=LSNNParameters,
    state=LSNNFeedForwardState,
    step=lsnn_feed_forward_step,
    rest=_rest,
    recurrent_state=LSNNState,
    recurrent_step=lsnn_step,
    parameters_as_tensors=True,
    # decay first: the spikes come from the state alone, so it must carry the neurons' shape
    full_fields=("z", "v", "i"),
    drive=3.0,
)
