"""Spiking VGG networks: torchvision's VGG layout with ``Lift``-ed layers and LIF activations.

Every convolution and linear layer is applied per time step (:class:`~norse.torch.Lift`) and
each ReLU is replaced by a :class:`~norse.torch.LIF` layer, so the models take
``(T, B, 3, H, W)`` sequences and return ``(T, B, num_classes)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..module.lif import LIF
from ..module.lift import Lift
from ..utils._validation import is_size
from ._pretrained import load_pretrained

__all__ = [
    "VGG",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19_bn",
    "vgg19",
]

model_urls = {
    "vgg11": "https://download.pytorch.org/models/vgg11-bbd30ac9.pth",
    "vgg13": "https://download.pytorch.org/models/vgg13-c768596a.pth",
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "vgg19": "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
    "vgg11_bn": "https://download.pytorch.org/models/vgg11_bn-6002323d.pth",
    "vgg13_bn": "https://download.pytorch.org/models/vgg13_bn-abd245e5.pth",
    "vgg16_bn": "https://download.pytorch.org/models/vgg16_bn-6c64b313.pth",
    "vgg19_bn": "https://download.pytorch.org/models/vgg19_bn-c79401a0.pth",
}

cfgs: dict[str, list[str | int]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M"] + [256] * 4 + ["M"] + [512] * 4 + ["M"] + [512] * 4 + ["M"],
}


class VGG(nn.Module):
    """Spiking VGG: ``features`` (lifted convolutions + LIF), pooling and a spiking classifier.

    Args:
        features (nn.Module): the convolutional part, e.g. from :func:`make_layers`.
        num_classes (int): number of outputs.
        init_weights (bool): initialise like torchvision (Kaiming for convolutions).

    Shape:
        input ``(T, B, 3, H, W)``; output ``(T, B, num_classes)``.

    Example:
        >>> net = VGG(make_layers([64, "M"]), num_classes=10)  # doctest: +SKIP
        >>> net(torch.rand(2, 1, 3, 32, 32)).shape  # doctest: +SKIP
        torch.Size([2, 1, 10])
    """

    def __init__(self, features: nn.Module, num_classes: int = 1000, init_weights: bool = True):
        super().__init__()
        self.features = features
        self.avgpool = Lift(nn.AdaptiveAvgPool2d((7, 7)))
        self.classifier = nn.Sequential(
            Lift(nn.Linear(512 * 7 * 7, 4096)),
            LIF(),
            Lift(nn.Dropout()),
            Lift(nn.Linear(4096, 4096)),
            LIF(),
            Lift(nn.Dropout()),
            Lift(nn.Linear(4096, num_classes)),
        )
        if init_weights:
            self._initialize_weights()

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.dim() != 5:
            raise ValueError(
                "VGG: expected input of shape (T, B, 3, H, W), got "
                f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}"
            )
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 2)
        return self.classifier(x)

    def _initialize_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)


def make_layers(cfg: list[str | int], batch_norm: bool = False) -> nn.Sequential:
    """Build the lifted VGG feature extractor from a configuration (``"M"`` = max pooling).

    Example:
        >>> make_layers([4, "M"])(torch.rand(2, 1, 3, 8, 8)).shape
        torch.Size([2, 1, 4, 4, 4])
    """
    layers: list[nn.Module] = []
    in_channels = 3
    for v in cfg:
        if v == "M":
            layers.append(Lift(nn.MaxPool2d(kernel_size=2, stride=2)))
            continue
        if not is_size(v) or int(v) <= 0:
            raise ValueError(f"make_layers: cfg entries must be positive ints or 'M', got {v!r}")
        v = int(v)
        layers.append(Lift(nn.Conv2d(in_channels, v, kernel_size=3, padding=1)))
        if batch_norm:
            layers.append(Lift(nn.BatchNorm2d(v)))
        layers.append(LIF())
        in_channels = v
    return nn.Sequential(*layers)


def _vgg(arch: str, cfg: str, batch_norm: bool, pretrained: Any, progress: bool, **kwargs) -> VGG:
    if pretrained:
        kwargs["init_weights"] = False
    model = VGG(make_layers(cfgs[cfg], batch_norm=batch_norm), **kwargs)
    if pretrained:
        load_pretrained(model, pretrained, model_urls[arch], arch)
    return model


def vgg11(pretrained: Any = False, progress: bool = True, **kwargs) -> VGG:
    """VGG 11 (configuration "A"). ``pretrained``: True (torch hub cache) or a local file path.

    Example:
        >>> model = vgg11(num_classes=10)  # doctest: +SKIP
        >>> model(torch.rand(4, 1, 3, 224, 224)).shape  # doctest: +SKIP
        torch.Size([4, 1, 10])
    """
    return _vgg("vgg11", "A", False, pretrained, progress, **kwargs)


def vgg11_bn(pretrained: Any = False, progress: bool = True, **kwargs) -> VGG:
    """VGG 11 with batch normalisation. See :func:`vgg11`."""
    return _vgg("vgg11_bn", "A", True, pretrained, progress, **kwargs)


def vgg13(pretrained: Any = False, progress: bool = True, **kwargs) -> VGG:
    """VGG 13 (configuration "B"). See :func:`vgg11`."""
    return _vgg("vgg13", "B", False, pretrained, progress, **kwargs)


def vgg13_bn(pretrained: Any = False, progress: bool = True, **kwargs) -> VGG:
    """VGG 13 with batch normalisation. See :func:`vgg11`."""
    return _vgg("vgg13_bn", "B", True, pretrained, progress, **kwargs)


def vgg16(pretrained: Any = False, progress: bool = True, **kwargs) -> VGG:
    """VGG 16 (configuration "D"). See :func:`vgg11`."""
    return _vgg("vgg16", "D", False, pretrained, progress, **kwargs)


def vgg16_bn(pretrained: Any = False, progress: bool = True, **kwargs) -> VGG:
    """VGG 16 with batch normalisation. See :func:`vgg11`."""
    return _vgg("vgg16_bn", "D", True, pretrained, progress, **kwargs)


def vgg19(pretrained: Any = False, progress: bool = True, **kwargs) -> VGG:
    """VGG 19 (configuration "E"). See :func:`vgg11`."""
    return _vgg("vgg19", "E", False, pretrained, progress, **kwargs)


def vgg19_bn(pretrained: Any = False, progress: bool = True, **kwargs) -> VGG:
    """VGG 19 with batch normalisation. See :func:`vgg11`."""
    return _vgg("vgg19_bn", "E", True, pretrained, progress, **kwargs)
