"""Spiking MobileNetV2: torchvision's layout with ``Lift``-ed layers and LIF activations.

Takes ``(T, B, 3, H, W)`` sequences and returns ``(T, B, num_classes)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from ..module.lif import LIF
from ..module.lift import Lift
from ._pretrained import load_pretrained

__all__ = ["MobileNetV2", "mobilenet_v2"]

model_urls = {"mobilenet_v2": "https://download.pytorch.org/models/mobilenet_v2-b0353104.pth"}


def _make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """Round ``v`` to a multiple of ``divisor`` without going more than 10% below it."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class ConvBNReLU(nn.Sequential):
    """Lifted convolution, lifted normalisation and a LIF layer; returns ``(spikes, state)``.

    Example:
        >>> z, s = ConvBNReLU(3, 4, nn.BatchNorm2d)(torch.rand(2, 1, 3, 8, 8))
        >>> z.shape
        torch.Size([2, 1, 4, 8, 8])
    """

    def __init__(
        self,
        in_planes: int,
        out_planes: int,
        norm_layer: Callable[[int], nn.Module],
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
    ) -> None:
        padding = (kernel_size - 1) // 2
        super().__init__(
            Lift(
                nn.Conv2d(
                    in_planes, out_planes, kernel_size, stride, padding, groups=groups, bias=False
                )
            ),
            Lift(norm_layer(out_planes)),
            LIF(),
        )


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expansion, depthwise 3x3, 1x1 projection, residual if shapes allow.

    Example:
        >>> block = InvertedResidual(4, 4, 1, 2, nn.BatchNorm2d)
        >>> block(torch.rand(2, 1, 4, 8, 8)).shape
        torch.Size([2, 1, 4, 8, 8])
    """

    def __init__(
        self,
        inp: int,
        oup: int,
        stride: int,
        expand_ratio: float,
        norm_layer: Callable[[int], nn.Module],
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"InvertedResidual: stride must be 1 or 2, got {stride}")
        self.stride = stride
        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU(inp, hidden_dim, norm_layer, kernel_size=1))
        layers += [
            ConvBNReLU(hidden_dim, hidden_dim, norm_layer, stride=stride, groups=hidden_dim),
            Lift(nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False)),
            Lift(norm_layer(oup)),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: Tensor | tuple[Tensor, Any]) -> Tensor:
        if self.use_res_connect:
            residual = x[0] if isinstance(x, tuple) else x
            return residual + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """Spiking MobileNetV2.

    Args:
        num_classes (int): number of outputs.
        width_mult (float): channel multiplier.
        inverted_residual_setting (list): rows ``[t, c, n, s]`` (expansion, channels, repeats,
            stride); torchvision's default when None.
        round_nearest (int): round channel counts to multiples of this.
        block (callable): the residual block class (default :class:`InvertedResidual`).
        norm_layer (callable): normalisation layer (default ``nn.BatchNorm2d``).

    Example:
        >>> net = MobileNetV2(num_classes=5, width_mult=0.25,
        ...                   inverted_residual_setting=[[1, 16, 1, 1], [6, 24, 1, 2]])
        >>> net(torch.rand(2, 1, 3, 32, 32)).shape
        torch.Size([2, 1, 5])
    """

    def __init__(
        self,
        num_classes: int = 1000,
        width_mult: float = 1.0,
        inverted_residual_setting: list[list[int]] | None = None,
        round_nearest: int = 8,
        block: Callable[..., nn.Module] | None = None,
        norm_layer: Callable[[int], nn.Module] | None = None,
    ) -> None:
        super().__init__()
        block = InvertedResidual if block is None else block
        norm_layer = nn.BatchNorm2d if norm_layer is None else norm_layer
        input_channel, last_channel = 32, 1280
        if inverted_residual_setting is None:
            inverted_residual_setting = [
                [1, 16, 1, 1],
                [6, 24, 2, 2],
                [6, 32, 3, 2],
                [6, 64, 4, 2],
                [6, 96, 3, 1],
                [6, 160, 3, 2],
                [6, 320, 1, 1],
            ]
        if len(inverted_residual_setting) == 0 or len(inverted_residual_setting[0]) != 4:
            raise ValueError(
                "MobileNetV2: inverted_residual_setting should be a non-empty list of 4-element "
                f"lists [t, c, n, s], got {inverted_residual_setting}"
            )
        input_channel = _make_divisible(input_channel * width_mult, round_nearest)
        self.last_channel = _make_divisible(last_channel * max(1.0, width_mult), round_nearest)
        features: list[nn.Module] = [ConvBNReLU(3, input_channel, norm_layer, stride=2)]
        for t, c, n, s in inverted_residual_setting:
            output_channel = _make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                stride = s if i == 0 else 1
                features.append(block(input_channel, output_channel, stride, t, norm_layer))
                input_channel = output_channel
        features.append(ConvBNReLU(input_channel, self.last_channel, norm_layer, kernel_size=1))
        self.features = nn.Sequential(*features)
        self.pool = Lift(nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Sequential(
            Lift(nn.Dropout(0.2)), Lift(nn.Linear(self.last_channel, num_classes))
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def _forward_impl(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.dim() != 5:
            raise ValueError(
                "MobileNetV2: expected input of shape (T, B, 3, H, W), got "
                f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}"
            )
        seq_length, batch_size = x.shape[:2]
        x, _ = self.features(x)
        x = self.pool(x).reshape(seq_length, batch_size, -1)
        return self.classifier(x)

    def forward(self, x: Tensor) -> Tensor:
        return self._forward_impl(x)


def mobilenet_v2(pretrained: Any = False, progress: bool = True, **kwargs) -> MobileNetV2:
    """Spiking MobileNetV2; ``pretrained``: True (torch hub cache) or a local file path.

    Example:
        >>> model = mobilenet_v2(num_classes=10)
        >>> model.last_channel
        1280
    """
    model = MobileNetV2(**kwargs)
    if pretrained:
        load_pretrained(model, pretrained, model_urls["mobilenet_v2"], "mobilenet_v2")
    return model
