"""Small convolutional spiking networks for MNIST-like inputs (one channel, 28x28 by default)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..functional.lif import LIFParameters
from ..module.leaky_integrator import LILinearCell
from ..module.lif import LIFCell

__all__ = ["ConvNet", "ConvNet4"]


def _check_sequence(x: Tensor, who: str, channels: int) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{who}: input must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 5 or x.shape[2] != channels:
        raise ValueError(
            f"{who}: expected input of shape (T, B, {channels}, H, W), got {tuple(x.shape)}; "
            "add the time dimension first, e.g. with an encoder"
        )


class _ConvNetBase(nn.Module):
    """Conv -> LIF -> pool -> conv -> LIF -> pool -> linear -> LIF -> leaky-integrator readout."""

    def __init__(
        self,
        num_channels: int,
        feature_size: int,
        channels: tuple[int, int],
        hidden: int,
        p0: LIFParameters,
        p1: LIFParameters,
        p2: LIFParameters,
        dtype: torch.dtype,
    ) -> None:
        super().__init__()
        self.features = int(((feature_size - 4) / 2 - 4) / 2)
        if self.features <= 0:
            raise ValueError(
                f"{type(self).__name__}: feature_size={feature_size} is too small for two 5x5 "
                "convolutions and two 2x2 poolings; use at least 16"
            )
        self.num_channels = num_channels
        self._flat = self.features * self.features * channels[1]
        self.conv1 = nn.Conv2d(num_channels, channels[0], 5, 1)
        self.conv2 = nn.Conv2d(channels[0], channels[1], 5, 1)
        self.fc1 = nn.Linear(self._flat, hidden)
        self.out = LILinearCell(hidden, 10)
        self.lif0 = LIFCell(p=p0)
        self.lif1 = LIFCell(p=p1)
        self.lif2 = LIFCell(p=p2)
        self.dtype = dtype

    def forward(self, x: Tensor) -> Tensor:
        """Run the network over a ``(T, B, C, H, W)`` sequence; returns voltages ``(T, B, 10)``."""
        _check_sequence(x, type(self).__name__, self.num_channels)
        s0 = s1 = s2 = so = None
        voltages = []
        for x_t in x.unbind(0):
            z, s0 = self.lif0(self.conv1(x_t), s0)
            z = F.max_pool2d(z, 2, 2)
            z, s1 = self.lif1(10 * self.conv2(z), s1)
            z = F.max_pool2d(z, 2, 2)
            z = z.reshape(-1, self._flat)
            z, s2 = self.lif2(self.fc1(z), s2)
            v, so = self.out(F.relu(z), so)
            voltages.append(v)
        return torch.stack(voltages).to(self.dtype)


class ConvNet(_ConvNetBase):
    """Convolutional spiking network: 20 and 50 channels, 500 hidden LIF neurons, 10 outputs.

    Args:
        num_channels (int): input channels.
        feature_size (int): input height and width.
        method (str): surrogate gradient method of the LIF neurons.
        dtype (torch.dtype): dtype of the returned voltages.

    Shape:
        input ``(T, B, num_channels, feature_size, feature_size)``; output ``(T, B, 10)``.

    Example:
        >>> net = ConvNet()
        >>> net(torch.rand(2, 1, 1, 28, 28)).shape
        torch.Size([2, 1, 10])
    """

    def __init__(
        self,
        num_channels: int = 1,
        feature_size: int = 28,
        method: str = "super",
        dtype: torch.dtype = torch.float,
    ) -> None:
        p = LIFParameters(method=method, alpha=torch.tensor(100.0))
        super().__init__(num_channels, feature_size, (20, 50), 500, p, p, p, dtype)


class ConvNet4(_ConvNetBase):
    """Convolutional spiking network: 32 and 64 channels, 1024 hidden LIF neurons, 10 outputs.

    The first two LIF layers use ``v_th=0.7``.

    Example:
        >>> net = ConvNet4()
        >>> net(torch.rand(2, 1, 1, 28, 28)).shape
        torch.Size([2, 1, 10])
    """

    def __init__(
        self,
        num_channels: int = 1,
        feature_size: int = 28,
        method: str = "super",
        dtype: torch.dtype = torch.float,
    ) -> None:
        low = LIFParameters(method=method, alpha=torch.tensor(100.0), v_th=torch.tensor(0.7))
        p = LIFParameters(method=method, alpha=torch.tensor(100.0))
        super().__init__(num_channels, feature_size, (32, 64), 1024, low, low, p, dtype)
