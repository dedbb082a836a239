"""Convolutions over ``(T, B, C, H, W)`` sequences."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.modules.utils import _pair

__all__ = ["LConv2d"]


class LConv2d(nn.Conv3d):
    """A 2-D convolution applied independently at every time step of a ``(T, B, C, H, W)`` input.

    It is an ``nn.Conv3d`` whose kernel spans one time step (``weight`` has shape
    ``(out, in / groups, kH, kW, 1)``, no bias), so checkpoints keep 1.1.0's layout; the
    forward pass folds time into the batch and runs a single 2-D convolution.

    Args:
        in_channels (int): channels of the input.
        out_channels (int): channels of the output.
        kernel_size (int or tuple): ``(kH, kW)``.
        stride (int or tuple): stride over ``(H, W)``.
        padding (int or tuple): zero padding of ``(H, W)``.
        dilation (int or tuple): dilation over ``(H, W)``.
        groups (int): blocked connections from input to output channels.
        device: where to create the weight.
        dtype: dtype of the weight.

    Shape:
        input ``(T, B, in_channels, H, W)``, output ``(T, B, out_channels, H', W')`` with
        ``H'``, ``W'`` as for ``nn.Conv2d``.

    Example:
        >>> conv = LConv2d(1, 4, 3, padding=1)
        >>> conv(torch.ones(10, 2, 1, 28, 28)).shape
        torch.Size([10, 2, 4, 28, 28])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if isinstance(padding, str):
            raise TypeError(
                f"LConv2d: padding must be an int or a pair of ints, got {padding!r}; "
                "compute the padding, e.g. padding=kernel_size // 2 for 'same' with odd kernels"
            )
        super().__init__(
            in_channels,
            out_channels,
            (*_pair(kernel_size), 1),
            stride=(*_pair(stride), 1),
            padding=(*_pair(padding), 0),
            dilation=(*_pair(dilation), 1),
            groups=groups,
            bias=False,
            padding_mode="zeros",
            device=device,
            dtype=dtype,
        )

    def forward(self, input_tensor: Tensor) -> Tensor:
        if not isinstance(input_tensor, Tensor):
            raise TypeError(
                f"LConv2d: input must be a torch.Tensor, got {type(input_tensor).__name__}"
            )
        if input_tensor.dim() != 5:
            raise ValueError(
                f"LConv2d: expected a (T, B, C, H, W) input, got shape "
                f"{tuple(input_tensor.shape)}; add the missing dimensions with unsqueeze"
            )
        T, B = input_tensor.shape[:2]
        out = F.conv2d(
            input_tensor.flatten(0, 1),
            self.weight.squeeze(-1),
            None,
            self.stride[:2],
            self.padding[:2],
            self.dilation[:2],
            self.groups,
        )
        return out.unflatten(0, (T, B))
