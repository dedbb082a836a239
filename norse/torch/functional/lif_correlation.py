r"""Recurrent LIF neurons with correlation sensors on their input and recurrent synapses.

One step runs the recurrent LIF step (:mod:`norse.torch.functional.lif`),

.. math::
    z_t,\ s_t = \text{lif\_step}(x_t, s_{t-1}, W_{in}, W_{rec}),

then updates two correlation sensors (:mod:`norse.torch.functional.correlation_sensor`): one
for the input synapses with pre spikes :math:`x_t` and post spikes :math:`z_t`, one for the
recurrent synapses with pre spikes :math:`z_{t-1}` (the previous step's spikes) and post spikes
:math:`z_t`.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from .correlation_sensor import (
    CorrelationSensorParameters,
    CorrelationSensorState,
    correlation_sensor_step,
)
from .lif import LIFParameters, LIFState, lif_step

__all__ = ["LIFCorrelationParameters", "LIFCorrelationState", "lif_correlation_step"]


class LIFCorrelationState(NamedTuple):
    """State of LIF neurons with input and recurrent correlation sensors.

    Parameters:
        lif_state (LIFState): the neurons' state
        input_correlation_state (CorrelationSensorState): sensors on the input synapses,
            ``(B, input_size, hidden_size)``
        recurrent_correlation_state (CorrelationSensorState): sensors on the recurrent
            synapses, ``(B, hidden_size, hidden_size)``
    """

    lif_state: LIFState
    input_correlation_state: CorrelationSensorState
    recurrent_correlation_state: CorrelationSensorState


class LIFCorrelationParameters(NamedTuple):
    """Parameters of LIF neurons with correlation sensors.

    Parameters:
        lif_parameters (LIFParameters): neuron parameters
        input_correlation_parameters (CorrelationSensorParameters): input sensor parameters
        recurrent_correlation_parameters (CorrelationSensorParameters): recurrent sensor
            parameters

    Example:
        >>> LIFCorrelationParameters().lif_parameters.v_th
        tensor(1.)
    """

    lif_parameters: LIFParameters = LIFParameters()
    input_correlation_parameters: CorrelationSensorParameters = CorrelationSensorParameters()
    recurrent_correlation_parameters: CorrelationSensorParameters = CorrelationSensorParameters()


def lif_correlation_step(
    input_tensor: Tensor,
    state: LIFCorrelationState,
    input_weights: Tensor,
    recurrent_weights: Tensor,
    p: LIFCorrelationParameters = LIFCorrelationParameters(),
    dt: float = 0.001,
) -> tuple[Tensor, LIFCorrelationState]:
    """One step of LIF neurons and their correlation sensors (see the module docstring).

    Example:
        >>> import torch
        >>> from norse.torch.functional.correlation_sensor import CorrelationSensorState
        >>> B, n_in, n = 2, 3, 4
        >>> s = LIFCorrelationState(
        ...     LIFState(torch.zeros(B, n), torch.zeros(B, n), torch.zeros(B, n)),
        ...     CorrelationSensorState(*(torch.zeros(B, n_in, n) for _ in range(3))),
        ...     CorrelationSensorState(*(torch.zeros(B, n, n) for _ in range(3))))
        >>> z, s = lif_correlation_step(torch.ones(B, n_in), s, torch.ones(n, n_in),
        ...                             torch.zeros(n, n))
        >>> z.shape, s.input_correlation_state.correlation_trace.shape
        (torch.Size([2, 4]), torch.Size([2, 3, 4]))
    """
    z_new, lif_state = lif_step(
        input_tensor, state.lif_state, input_weights, recurrent_weights, p.lif_parameters, dt
    )
    input_correlation_state = correlation_sensor_step(
        z_pre=input_tensor,
        z_post=z_new,
        state=state.input_correlation_state,
        p=p.input_correlation_parameters,
        dt=dt,
    )
    recurrent_correlation_state = correlation_sensor_step(
        z_pre=state.lif_state.z,
        z_post=z_new,
        state=state.recurrent_correlation_state,
        p=p.recurrent_correlation_parameters,
        dt=dt,
    )
    return z_new, LIFCorrelationState(
        lif_state=lif_state,
        input_correlation_state=input_correlation_state,
        recurrent_correlation_state=recurrent_correlation_state,
    )
