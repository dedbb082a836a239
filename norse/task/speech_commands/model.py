"""Networks for keyword recognition: a recurrent cell stepped over time and a readout.

Inputs are feature sequences ``(T, B, n_input)`` (for instance 80 MFCC coefficients per
frame); every model returns log-probabilities ``(B, n_output)``.

Example:
    >>> x = torch.rand(5, 2, 80)
    >>> [m(x).shape for m in (lif_model(), lsnn_model(), LSTMModel())]
    [torch.Size([2, 10]), torch.Size([2, 10]), torch.Size([2, 10])]
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from norse.torch import (
    LIFParameters,
    LIFRecurrentCell,
    LILinearCell,
    LSNNParameters,
    LSNNRecurrentCell,
)

__all__ = ["LSTMModel", "SNNModel", "lif_model", "lsnn_model"]


def _check_input(x: Tensor, n_input: int) -> None:
    if x.dim() != 3 or x.shape[-1] != n_input:
        raise ValueError(f"expected features (T, B, {n_input}), got {tuple(x.shape)}")


class SNNModel(nn.Module):
    """``cell`` (a recurrent cell ``(B, n_input) -> (B, n_features)`` spikes, with a state)
    stepped over time, read out by a :class:`~norse.torch.LILinearCell`; returns the
    log-softmax of the readout's last voltage.

    Example:
        >>> m = SNNModel(LIFRecurrentCell(80, 16), n_features=16)
        >>> m(torch.rand(4, 3, 80)).shape
        torch.Size([3, 10])
    """

    def __init__(self, cell: nn.Module, n_features: int = 128, n_input: int = 80,
                 n_output: int = 10) -> None:  # fmt: skip
        super().__init__()
        self.cell = cell
        self.n_features = n_features
        self.n_input = n_input
        self.n_output = n_output
        self.readout = LILinearCell(n_features, n_output)

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x, self.n_input)
        state = readout_state = None
        voltage = x.new_zeros(x.shape[1], self.n_output)
        for step in x:
            z, state = self.cell(step, state)
            voltage, readout_state = self.readout(z, readout_state)
        return torch.log_softmax(voltage, dim=1)


def lsnn_model(n_features: int = 128, n_input: int = 80, n_output: int = 10,
               p: LSNNParameters | None = None, **kwargs: Any) -> SNNModel:  # fmt: skip
    """:class:`SNNModel` of a recurrent LSNN (adaptive) layer.

    Example:
        >>> lsnn_model(n_features=8)(torch.rand(3, 2, 80)).shape
        torch.Size([2, 10])
    """
    cell = LSNNRecurrentCell(n_input, n_features, p=p, **kwargs)
    return SNNModel(cell, n_features=n_features, n_input=n_input, n_output=n_output)


def lif_model(n_features: int = 128, n_input: int = 80, n_output: int = 10,
              p: LIFParameters | None = None, **kwargs: Any) -> SNNModel:  # fmt: skip
    """:class:`SNNModel` of a recurrent LIF layer.

    Example:
        >>> lif_model(n_features=8)(torch.rand(3, 2, 80)).shape
        torch.Size([2, 10])
    """
    if p is not None:
        kwargs["p"] = p
    cell = LIFRecurrentCell(n_input, n_features, **kwargs)
    return SNNModel(cell, n_features=n_features, n_input=n_input, n_output=n_output)


class LSTMModel(nn.Module):
    """The non-spiking baseline: an LSTM layer and a linear readout of its last output.

    Example:
        >>> LSTMModel(n_features=8)(torch.rand(3, 2, 80)).shape
        torch.Size([2, 10])
    """

    def __init__(self, n_features: int = 128, n_input: int = 80, n_output: int = 10) -> None:
        super().__init__()
        self.n_features = n_features
        self.n_input = n_input
        self.n_output = n_output
        self.lstm = nn.LSTM(n_input, n_features)
        self.readout = nn.Linear(n_features, n_output)

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x, self.n_input)
        out, _ = self.lstm(x)
        return torch.log_softmax(self.readout(out[-1]), dim=1)
