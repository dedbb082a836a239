"""A linear layer for spike input that computes only over the nonzero inputs."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..functional.spike_linear import spike_linear

__all__ = ["SpikeLinear"]


class SpikeLinear(nn.Linear):
    """``nn.Linear`` whose forward is :func:`~norse.torch.functional.spike_linear.spike_linear`.

    Same constructor, parameters (``weight``, ``bias``) and ``state_dict`` keys as
    ``nn.Linear``, and the same results up to floating-point rounding. On large, sparse spike
    input (float32/float64 on the CPU, at least ``MIN_ROWS`` rows and at most
    ``MAX_ACTIVITY`` of it nonzero; see ``norse.torch.functional.spike_linear``) the forward
    sums only the weight columns of the active inputs and the backward computes the weight
    gradient over them only. Otherwise, and under ``torch.compile``, ``torch.export``,
    ``torch.jit.trace`` / ``torch.jit.script`` and ONNX export, it is a plain ``linear``. A
    plain ``nn.Linear`` right after a spiking neuron module in a
    :class:`~norse.torch.SequentialState` gets the same treatment automatically.

    Args:
        in_features (int): size of each input sample.
        out_features (int): size of each output sample.
        bias (bool): whether to learn an additive bias. Default: ``True``.
        device, dtype: as for ``nn.Linear``.

    Example:
        >>> layer = SpikeLinear(700, 512)
        >>> spikes = (torch.rand(16, 100, 700) < 0.02).float()   # 2 % of the inputs spike
        >>> out = layer(spikes)
        >>> out.shape
        torch.Size([16, 100, 512])
        >>> dense = torch.nn.functional.linear(spikes, layer.weight, layer.bias)
        >>> torch.allclose(out, dense, atol=1e-5)
        True
        >>> list(layer.state_dict())
        ['weight', 'bias']
    """

    def forward(self, input: Tensor) -> Tensor:
        if torch.jit.is_scripting():
            return torch.nn.functional.linear(input, self.weight, self.bias)
        return spike_linear(input, self.weight, self.bias)
