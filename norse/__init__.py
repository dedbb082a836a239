"""Norse: spiking neural networks in PyTorch.

The library lives in :mod:`norse.torch`; ``norse.task`` holds ready training tasks.
"""

from importlib.metadata import PackageNotFoundError, version

from . import benchmark, dataset, task, torch, utils

try:
    __version__ = version("norse")
except PackageNotFoundError:  # running from a source tree that was not installed
    pass

__all__ = ["benchmark", "dataset", "task", "torch", "utils"]
