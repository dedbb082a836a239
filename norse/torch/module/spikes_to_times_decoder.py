"""Decode spike trains into spike times. Maths: :mod:`norse.torch.functional.spikes_to_times_decoder`."""

from __future__ import annotations

from numbers import Real

import torch
from torch import Tensor, nn

from ..functional.spikes_to_times_decoder import ToSpikeTimes, _check_count

__all__ = ["SpikesToTimesDecoder"]


class SpikesToTimesDecoder(nn.Module):
    """Times of the first ``spike_count`` spikes of every neuron, ascending, ``inf``-padded.

    Args:
        spike_count (Tensor): how many spike times to return per neuron (any integer >= 0,
            e.g. ``torch.as_tensor(2)``, ``2`` or ``np.int64(2)``; 0 gives an empty
            ``(0, B, N)`` output whose input gradient is zero, as in 1.1.0).
        convert_indices_to_times (bool): multiply the time indices by ``dt`` (seconds).
        dt (float): time step in seconds.

    Shape:
        input ``(T, B, N)`` spikes; output ``(min(spike_count, T), B, N)``.

    Example:
        >>> decoder = SpikesToTimesDecoder(spike_count=torch.as_tensor(2))
        >>> z = torch.tensor([[0., 1.], [1., 0.], [1., 0.]]).unsqueeze(1)   # T=3, B=1, N=2
        >>> decoder(z).squeeze(1)
        tensor([[0.0010, 0.0000],
                [0.0020,    inf]])
    """

    def __init__(
        self,
        spike_count: Tensor = torch.as_tensor(1),
        convert_indices_to_times: bool = True,
        dt: float = 0.001,
    ) -> None:
        super().__init__()
        _check_count(spike_count, "SpikesToTimesDecoder")
        if isinstance(dt, bool) or not isinstance(dt, Real):
            raise TypeError(f"SpikesToTimesDecoder: dt must be a number, got {type(dt).__name__}")
        if not dt > 0:
            raise ValueError(f"SpikesToTimesDecoder: dt must be positive, got {dt}")
        self.spike_count = spike_count
        self.convert_to_time = convert_indices_to_times
        self.dt = dt
        self.decoding_fn = ToSpikeTimes.apply

    def forward(self, spike_input: Tensor) -> Tensor:
        spike_indices = self.decoding_fn(spike_input, self.spike_count)
        if self.convert_to_time:
            return spike_indices * self.dt
        return spike_indices
