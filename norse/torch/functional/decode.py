"""Decoders: turn spike trains (or voltages) over time back into values."""

from __future__ import annotations

from torch import Tensor

__all__ = ["sum_decode"]


def sum_decode(tensor: Tensor, dimension: int = 0) -> Tensor:
    """Sum ``tensor`` over ``dimension`` (time by default), e.g. to count spikes.

    Args:
        tensor (Tensor): the values to decode, time first by default.
        dimension (int): the dimension to sum over.

    Returns:
        ``tensor.sum(dimension)``.

    Example:
        >>> sum_decode(torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]))
        tensor([2., 2.])
    """
    return tensor.sum(dimension)
