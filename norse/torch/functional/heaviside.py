"""The Heaviside step function used as the forward pass of every spike threshold."""

from __future__ import annotations

import torch

__all__ = ["heaviside"]


def heaviside(data: torch.Tensor) -> torch.Tensor:
    r"""Heaviside step :math:`H(x) = 1` if :math:`x > 0`, else 0 (so :math:`H(0) = 0`).

    The result has the dtype of the input and no gradient.

    Example:
        >>> heaviside(torch.tensor([-1.0, 0.0, 2.0]))
        tensor([0., 0., 1.])
    """
    return (data > 0).to(data.dtype)
