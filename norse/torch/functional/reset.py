"""Membrane reset rules applied after a spike."""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["ResetMethod", "reset_value", "reset_subtract"]

ResetMethod = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def reset_value(
    z: torch.Tensor, v: torch.Tensor, reset: torch.Tensor, th: torch.Tensor
) -> torch.Tensor:
    r"""Reset to a value: :math:`v' = (1 - z) v + z v_{reset}`.

    Example:
        >>> reset_value(torch.tensor([0.0, 1.0]), torch.tensor([0.5, 1.2]), torch.tensor(0.0),
        ...             torch.tensor(1.0))
        tensor([0.5000, 0.0000])
    """
    return (1 - z) * v + z * reset


def reset_subtract(
    z: torch.Tensor, v: torch.Tensor, reset: torch.Tensor, th: torch.Tensor
) -> torch.Tensor:
    r"""Reset by subtraction: :math:`v' = (1 - z) v + z (v - v_{th})`.

    Example:
        >>> reset_subtract(torch.tensor([0.0, 1.0]), torch.tensor([0.5, 1.2]), torch.tensor(0.0),
        ...                torch.tensor(1.0))
        tensor([0.5000, 0.2000])
    """
    return (1 - z) * v + z * (v - th)
