"""The records a benchmark run is described and collected by.

Example:
    >>> config = BenchmarkConfig(batch_size=8, device="cpu", dt=0.001, label="norse",
    ...                          runs=3, profile=False, sequence_length=100, start=64,
    ...                          stop=129, step=64)
    >>> config.label, list(range(config.start, config.stop, config.step))
    ('norse', [64, 128])
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["BenchmarkConfig", "BenchmarkData", "BenchmarkParameters"]


class BenchmarkConfig(NamedTuple):
    """One benchmark run: the sizes swept (``range(start, stop, step)`` neurons), how often
    each is timed (``runs``) and on what."""

    batch_size: int
    device: str
    dt: float
    label: str
    runs: int
    profile: bool
    sequence_length: int
    start: int
    stop: int
    step: int


class BenchmarkParameters(NamedTuple):
    """One measured case: ``features`` neurons (and input features)."""

    device: str
    dt: float
    features: int
    batch_size: int
    sequence_length: int


class BenchmarkData(NamedTuple):
    """The durations (seconds, one per run) measured for one case."""

    config: BenchmarkConfig
    durations: np.ndarray
    parameters: BenchmarkParameters
