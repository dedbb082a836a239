r"""Leaky integrate-and-fire (LIF) neurons with current-based synapses.

The model integrates

.. math::
    \begin{aligned}
    \dot{v} &= \tau_{mem}^{-1} (v_{leak} - v + i) \\
    \dot{i} &= -\tau_{syn}^{-1} i
    \end{aligned}

with one explicit Euler step of length :math:`\Delta t` per call, *jump first*: the input
jumps onto the current, the voltage integrates with the new current, the current decays, and
a spike :math:`z = \Theta(v - v_{th})` resets the voltage:

.. math::
    \begin{aligned}
    i_1 &= i + x \\
    v_1 &= v + \Delta t\,\tau_{mem}^{-1} ((v_{leak} - v) + i_1) \\
    i_2 &= i_1 - \Delta t\,\tau_{syn}^{-1}\, i_1 \\
    z &= \Theta(v_1 - v_{th}), \qquad v_2 = (1 - z)\, v_1 + z\, v_{reset}
    \end{aligned}

The recurrent step adds :math:`W_{in} x + W_{rec} z_{t-1}` to the current instead of
:math:`x` and detaches :math:`z` in the reset.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._spec import NeuronSpec, NirNeuron
from ..utils import pytree
from .threshold import threshold

__all__ = [
    "LIFFeedForwardState",
    "LIFParameters",
    "LIFState",
    "default_bio_initial_state",
    "default_bio_parameters",
    "lif_current_encoder",
    "lif_feed_forward_integral",
    "lif_feed_forward_step",
    "lif_feed_forward_step_sparse",
    "lif_step",
    "lif_step_integral",
    "lif_step_sparse",
]


class LIFParameters(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """Parameters of a LIF neuron.

    Parameters:
        tau_syn_inv (Tensor): inverse synaptic time constant (1/s)
        tau_mem_inv (Tensor): inverse membrane time constant (1/s)
        v_leak (Tensor): leak (resting) potential
        v_th (Tensor): threshold potential
        v_reset (Tensor): reset potential
        method (str): surrogate gradient method, see :mod:`norse.torch.functional.threshold`
        alpha (Tensor): steepness of the surrogate gradient

    Example:
        >>> LIFParameters(v_th=torch.tensor(0.5)).v_th
        tensor(0.5000)
    """

    tau_syn_inv: Tensor = torch.as_tensor(1.0 / 5e-3)
    tau_mem_inv: Tensor = torch.as_tensor(1.0 / 1e-2)
    v_leak: Tensor = torch.as_tensor(0.0)
    v_th: Tensor = torch.as_tensor(1.0)
    v_reset: Tensor = torch.as_tensor(0.0)
    method: str = "super"
    alpha: Tensor = torch.as_tensor(100.0)

    @staticmethod
    def bio_default(**kwargs) -> LIFParameters:
        """Biologically plausible parameters in millisecond units (dt in ms).

        Example:
            >>> LIFParameters.bio_default().v_th
            tensor(-55.)
        """
        values = dict(
            tau_syn_inv=torch.as_tensor(0.5),
            tau_mem_inv=torch.as_tensor(0.1),
            v_leak=torch.as_tensor(-70.0),
            v_th=torch.as_tensor(-55.0),
            v_reset=torch.as_tensor(-70.0),
        )
        values.update(kwargs)
        return LIFParameters(**values)


class LIFState(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """State of a recurrent LIF neuron: spikes ``z``, voltage ``v``, current ``i``."""

    z: Tensor
    v: Tensor
    i: Tensor


class LIFFeedForwardState(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """State of a feed-forward LIF neuron: voltage ``v`` and current ``i``."""

    v: Tensor
    i: Tensor


default_bio_parameters = LIFParameters(
    tau_syn_inv=torch.as_tensor(1 / 0.5),
    tau_mem_inv=torch.as_tensor(1 / 20.0),
    v_leak=torch.as_tensor(-65.0),
    v_th=torch.as_tensor(-50.0),
    v_reset=torch.as_tensor(-65.0),
)

default_bio_initial_state = LIFState(
    z=torch.as_tensor(0.0), v=torch.as_tensor(-65.0), i=torch.as_tensor(0.0)
)


def _lif_update(
    i_jump: Tensor, v: Tensor, p: LIFParameters, dt: float, detach_reset: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """Integrate v with the jumped current, decay the current, spike and reset."""
    dv = dt * p.tau_mem_inv * ((p.v_leak - v) + i_jump)
    v_decayed = v + dv
    di = -dt * p.tau_syn_inv * i_jump
    i_decayed = i_jump + di
    z_new = threshold(v_decayed - p.v_th, p.method, p.alpha)
    z_reset = z_new.detach() if detach_reset else z_new
    v_new = (1 - z_reset) * v_decayed + z_reset * p.v_reset
    return z_new, v_new, i_decayed


def lif_feed_forward_step(
    input_spikes: Tensor, state: LIFFeedForwardState, p: LIFParameters, dt: float = 0.001
) -> tuple[Tensor, LIFFeedForwardState]:
    """One Euler step of feed-forward LIF neurons (equations in the module docstring).

    Example:
        >>> s = LIFFeedForwardState(v=torch.zeros(2), i=torch.zeros(2))
        >>> z, s = lif_feed_forward_step(torch.tensor([0.5, 20.0]), s, LIFParameters())
        >>> z, s.v
        (tensor([0., 1.]), tensor([0.0500, 0.0000]))
    """
    z_new, v_new, i_new = _lif_update(state.i + input_spikes, state.v, p, dt, False)
    return z_new, LIFFeedForwardState(v=v_new, i=i_new)


def lif_step(
    input_spikes: Tensor,
    state: LIFState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    p: LIFParameters,
    dt: float = 0.001,
) -> tuple[Tensor, LIFState]:
    """One Euler step of recurrently connected LIF neurons.

    The current receives ``W_in x + W_rec z`` (``z`` from the previous step); the reset uses
    the detached spikes.

    Example:
        >>> s = LIFState(z=torch.zeros(1, 2), v=torch.zeros(1, 2), i=torch.zeros(1, 2))
        >>> z, s = lif_step(torch.ones(1, 3), s, torch.ones(2, 3), torch.zeros(2, 2),
        ...                 LIFParameters())
        >>> s.v
        tensor([[0.3000, 0.3000]])
    """
    i_jump = (
        state.i
        + torch.nn.functional.linear(input_spikes, input_weights)
        + torch.nn.functional.linear(state.z, recurrent_weights)
    )
    z_new, v_new, i_new = _lif_update(i_jump, state.v, p, dt, True)
    return z_new, LIFState(z=z_new, v=v_new, i=i_new)


def lif_step_sparse(
    input_spikes: Tensor,
    state: LIFState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    p: LIFParameters,
    dt: float = 0.001,
) -> tuple[Tensor, LIFState]:
    """:func:`lif_step` for 2-D sparse COO inputs; returns sparse spikes (no detach)."""
    i_jump = (
        state.i
        + torch.sparse.mm(input_spikes, input_weights.t())
        + torch.sparse.mm(state.z, recurrent_weights.t())
    )
    z_new, v_new, i_new = _lif_update(i_jump, state.v, p, dt, False)
    z_sparse = z_new.to_sparse()
    return z_sparse, LIFState(z=z_sparse, v=v_new, i=i_new)


def lif_feed_forward_step_sparse(
    input_tensor: Tensor, state: LIFFeedForwardState, p: LIFParameters, dt: float = 0.001
) -> tuple[Tensor, LIFFeedForwardState]:
    """:func:`lif_feed_forward_step` for sparse inputs; returns sparse spikes, dense state."""
    i_jump = state.i + input_tensor
    if i_jump.is_sparse:
        i_jump = i_jump.to_dense()
    z_new, v_new, i_new = _lif_update(i_jump, state.v, p, dt, False)
    return z_new.to_sparse(), LIFFeedForwardState(v=v_new, i=i_new)


def lif_feed_forward_integral(
    input_tensor: Tensor, state: LIFFeedForwardState, p: LIFParameters, dt: float = 0.001
) -> tuple[Tensor, LIFFeedForwardState]:
    """Run :func:`lif_feed_forward_step` over the first (time) dimension.

    Example:
        >>> s = LIFFeedForwardState(v=torch.zeros(2), i=torch.zeros(2))
        >>> z, s = lif_feed_forward_integral(torch.ones(10, 2), s, LIFParameters())
        >>> z.shape
        torch.Size([10, 2])
    """
    outputs = []
    for x in input_tensor.unbind(0):
        z, state = lif_feed_forward_step(x, state, p, dt)
        outputs.append(z)
    return torch.stack(outputs), state


def lif_step_integral(
    input_tensor: Tensor,
    state: LIFState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFState]:
    """Run :func:`lif_step` over the first (time) dimension; returns the spikes of every step.

    Example:
        >>> s = LIFState(z=torch.zeros(1, 2), v=torch.zeros(1, 2), i=torch.zeros(1, 2))
        >>> z, s = lif_step_integral(torch.ones(5, 1, 3), s, torch.ones(2, 3), torch.zeros(2, 2))
        >>> z.shape
        torch.Size([5, 1, 2])
    """
    outputs = []
    for x in input_tensor.unbind(0):
        z, state = lif_step(x, state, input_weights, recurrent_weights, p, dt)
        outputs.append(z)
    return torch.stack(outputs), state


def lif_current_encoder(
    input_current: Tensor, voltage: Tensor, p: LIFParameters, dt: float = 0.001
) -> tuple[Tensor, Tensor]:
    """One step of a current-free LIF neuron driven directly by ``input_current``.

    Example:
        >>> z, v = lif_current_encoder(torch.tensor([1.0, 20.0]), torch.zeros(2), LIFParameters())
        >>> z, v
        (tensor([0., 1.]), tensor([0.1000, 0.0000]))
    """
    dv = dt * p.tau_mem_inv * ((p.v_leak - voltage) + input_current)
    voltage = voltage + dv
    z = threshold(voltage - p.v_th, p.method, p.alpha)
    voltage = voltage - z * (voltage - p.v_reset)
    return z, voltage


def _rest(p: LIFParameters, recurrent: bool) -> LIFState | LIFFeedForwardState:
    if recurrent:
        return LIFState(z=0.0, v=p.v_leak, i=0.0)
    return LIFFeedForwardState(v=p.v_leak, i=0.0)


# ``method="adjoint"`` selects the discrete-adjoint steps of
# ``norse.torch.functional.adjoint.lif_adjoint`` (sparse variants for sparse input). They are
# imported when first called, because that module imports this one.
def _adjoint_feed_forward_step(
    input_tensor: Tensor, state: LIFFeedForwardState, p: LIFParameters, dt: float = 0.001
) -> tuple[Tensor, LIFFeedForwardState]:
    from .adjoint import lif_adjoint

    if input_tensor.is_sparse:
        return lif_adjoint.lif_feed_forward_adjoint_step_sparse(input_tensor, state, p, dt)
    return lif_adjoint.lif_feed_forward_adjoint_step(input_tensor, state, p, dt)


def _adjoint_step(
    input_tensor: Tensor,
    state: LIFState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    p: LIFParameters,
    dt: float = 0.001,
) -> tuple[Tensor, LIFState]:
    from .adjoint import lif_adjoint

    step = (
        lif_adjoint.lif_adjoint_step_sparse
        if input_tensor.is_sparse
        else lif_adjoint.lif_adjoint_step
    )
    return step(input_tensor, state, input_weights, recurrent_weights, p, dt)


# ----------------------------------------------------------------------------- NIR
def _nir_export(p: Any, dt: float, shape: tuple[int, ...], input_scale: Any) -> Any:
    import nir
    import numpy as np

    from ..utils.nir_mapping import _metadata, _per_neuron, _scale_or_one

    who = "to_nir (LIF)"
    tau_syn = 1.0 / _per_neuron(p.tau_syn_inv, shape, "tau_syn_inv", who)
    return nir.CubaLIF(
        tau_syn=tau_syn,
        tau_mem=1.0 / _per_neuron(p.tau_mem_inv, shape, "tau_mem_inv", who),
        r=np.ones(shape),
        v_leak=_per_neuron(p.v_leak, shape, "v_leak", who),
        v_threshold=_per_neuron(p.v_th, shape, "v_th", who),
        v_reset=_per_neuron(p.v_reset, shape, "v_reset", who),
        w_in=_scale_or_one(input_scale, shape) * tau_syn / dt,
        metadata=_metadata(p),
    )


def _nir_load(node: Any, dt: float, reset_method: Any, who: str) -> tuple[Any, Any]:
    from ..utils.nir_mapping import _f64, _inverse, _surrogate, _to_tensor

    p = LIFParameters(
        tau_syn_inv=_inverse(node.tau_syn, "tau_syn", who),
        tau_mem_inv=_inverse(node.tau_mem, "tau_mem", who),
        v_leak=_to_tensor(node.v_leak),
        v_th=_to_tensor(node.v_threshold),
        v_reset=_to_tensor(node.v_reset),
        **_surrogate(node.metadata or {}, LIFParameters._fields),
    )
    scale = _f64(node.r) * _f64(node.w_in) * dt / _f64(node.tau_syn)
    return p, scale


SPEC = NeuronSpec(
    name="lif",
    parameters=LIFParameters,
    state=LIFFeedForwardState,
    step=lif_feed_forward_step,
    rest=_rest,
    recurrent_state=LIFState,
    recurrent_step=lif_step,
    step_sparse=lif_feed_forward_step_sparse,
    recurrent_step_sparse=lif_step_sparse,
    parameters_as_tensors=True,
    extra_methods={"adjoint": (_adjoint_feed_forward_step, _adjoint_step)},
    drive=3.0,
    nir=NirNeuron("CubaLIF", _nir_export, _nir_load, ("tau_syn", "tau_mem")),
)
