"""TensorBoard forward hooks for spiking modules (the writer needs tensorboard installed).

The hooks live in :mod:`norse.torch.utils.tensorboard.tensorboard` and are re-exported here.

Example:
    >>> from norse.torch.utils.tensorboard import hook_spike_image
    >>> hook_spike_image.__module__
    'norse.torch.utils.tensorboard.tensorboard'
"""

from .tensorboard import (
    hook_spike_activity_mean,
    hook_spike_activity_sum,
    hook_spike_histogram_mean,
    hook_spike_histogram_sum,
    hook_spike_image,
)

__all__ = [
    "hook_spike_activity_mean",
    "hook_spike_activity_sum",
    "hook_spike_histogram_mean",
    "hook_spike_histogram_sum",
    "hook_spike_image",
]
