"""Tensor cloning helpers."""

from __future__ import annotations

import torch

__all__ = ["clone_tensor"]


def clone_tensor(x: torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """Return a detached copy of ``x``, optionally moved to ``device``.

    Example:
        >>> t = torch.ones(2, requires_grad=True)
        >>> clone_tensor(t).requires_grad
        False
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(
            f"clone_tensor: expected a torch.Tensor, got {type(x).__name__}; "
            "wrap numbers with torch.as_tensor first"
        )
    y = x.detach().clone()
    return y if device is None else y.to(device)
