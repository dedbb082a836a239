"""Argument checks shared by every public constructor and function.

Sizes are accepted the way Python itself accepts them (``operator.index``): ``int``, numpy
integers (``np.prod(sensor_size)``), 0-dim or one-element integer tensors. ``bool`` is refused
although it is an ``int`` subclass, since ``LIFRecurrentCell(True, 4)`` is always a mistake.
"""

from __future__ import annotations

import math
import operator
from numbers import Real
from typing import Any

import torch

__all__ = ["as_size", "check_dt", "is_size"]


def is_size(value: Any) -> bool:
    """Whether ``value`` is an integral number (not a bool, not a float)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, torch.Tensor):
        return value.numel() == 1 and not value.is_floating_point() and value.dtype != torch.bool
    try:
        operator.index(value)
    except TypeError:
        return False
    return type(value).__name__ != "bool_"  # numpy.bool_ has __index__ too


def as_size(value: Any, name: str, who: str, minimum: int = 1) -> int:
    """``value`` as a Python ``int`` of at least ``minimum``, or a clear error.

    Example:
        >>> import numpy as np
        >>> as_size(np.prod((2, 3)), "input_size", "LIFRecurrentCell")
        6
        >>> as_size(2.0, "input_size", "LIFRecurrentCell")
        Traceback (most recent call last):
        ...
        TypeError: LIFRecurrentCell: input_size must be an integer, got float (2.0)
    """
    if not is_size(value):
        raise TypeError(f"{who}: {name} must be an integer, got {type(value).__name__} ({value!r})")
    n = int(value.item()) if isinstance(value, torch.Tensor) else operator.index(value)
    if n < minimum:
        qualifier = "positive" if minimum == 1 else f"at least {minimum}"
        raise ValueError(f"{who}: {name} must be {qualifier}, got {n}")
    return n


def check_dt(dt: Any, who: str) -> float:
    """``dt`` as a positive, finite python float (any real number, numpy scalars and
    one-element tensors included), or a clear error.

    Example:
        >>> import numpy as np
        >>> check_dt(np.float32(0.5), "LIFCell")
        0.5
        >>> check_dt(-1, "LIFCell")
        Traceback (most recent call last):
        ...
        ValueError: LIFCell: dt must be a positive number of seconds, got -1.0; pass e.g. dt=0.001
    """
    if isinstance(dt, torch.Tensor) and dt.numel() == 1:
        dt = dt.item()
    if isinstance(dt, bool) or not isinstance(dt, Real):
        raise TypeError(f"{who}: dt must be a number (seconds), got {type(dt).__name__}")
    dt = float(dt)
    if not (dt > 0 and math.isfinite(dt)):
        raise ValueError(
            f"{who}: dt must be a positive number of seconds, got {dt}; pass e.g. dt=0.001"
        )
    return dt
