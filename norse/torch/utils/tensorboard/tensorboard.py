"""Forward hooks that log a module's spikes to TensorBoard.

Each ``hook_*(key, writer)`` returns a forward hook for ``module.register_forward_hook``. On
every forward pass the hook takes the module's output spikes (the first element of the
returned ``(spikes, state)`` tuple, or the output itself if it is a tensor), aggregates them,
writes them with ``writer`` (a ``torch.utils.tensorboard.SummaryWriter``) under the tag
``key``, and counts the calls in an integer attribute on the module, used as the global step:

=============================  =================  ===================  ==================================
hook                           writer method      value                counter attribute
=============================  =================  ===================  ==================================
``hook_spike_activity_mean``   ``add_scalar``     mean of the spikes   ``norse_hook_spike_activity_mean``
``hook_spike_activity_sum``    ``add_scalar``     number of spikes     ``norse_hook_spike_activity_sum``
``hook_spike_histogram_mean``  ``add_histogram``  per-neuron mean      ``norse_hook_spike_activity_mean``
``hook_spike_histogram_sum``   ``add_histogram``  per-neuron sum       ``norse_hook_spike_activity_mean``
``hook_spike_image``           ``add_image``      the spikes as image  ``norse_hook_spike_image``
=============================  =================  ===================  ==================================

(The histogram hooks share the activity-mean counter, as in Norse 1.1.0.) The per-neuron
values aggregate over the first (batch) dimension. Images show the spikes as a grey-scale
``1 x H x W`` picture (``CHW``, the default ``dataformats`` of ``add_image``): rows are all
dimensions but the last, columns the last one.

As in 1.1.0, the writer is called as ``method(tag, value, step)``, three positional arguments
and nothing else (the step is a Python ``int``, the value a CPU tensor), so any object with
``add_scalar(tag, value, step)``, ``add_histogram(tag, values, step)`` and
``add_image(tag, img, step)`` methods works in place of a ``SummaryWriter``. Nothing here
imports tensorboard; only the writer you pass needs it.

Example:
    >>> from norse.torch import LIFCell
    >>> class Writer:  # stands in for SummaryWriter here
    ...     def add_scalar(self, tag, value, step):
    ...         print(tag, round(float(value), 2), step)
    >>> cell = LIFCell()
    >>> handle = cell.register_forward_hook(hook_spike_activity_sum("lif/spikes", Writer()))
    >>> _ = cell(torch.full((2, 3), 30.0))
    lif/spikes 6.0 0
    >>> _ = cell(torch.zeros(2, 3))
    lif/spikes 0.0 1
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "hook_spike_activity_mean",
    "hook_spike_activity_sum",
    "hook_spike_histogram_mean",
    "hook_spike_histogram_sum",
    "hook_spike_image",
]

Hook = Callable[[torch.nn.Module, Any, Any], None]


def _spikes(out: Any) -> Tensor:
    value = out[0] if isinstance(out, (tuple, list)) else out
    if not isinstance(value, Tensor):
        raise TypeError(
            f"norse tensorboard hook: the module's output must be a tensor or a tuple starting "
            f"with one (spikes, state), got {type(value).__name__}"
        )
    return value.detach()


def _check(fn: str, key: object, writer: object, method: str) -> None:
    if not isinstance(key, str):
        raise TypeError(f"{fn}: key must be a str (the tag), got {type(key).__name__}")
    if not callable(getattr(writer, method, None)):
        raise TypeError(
            f"{fn}: writer must have an {method}(tag, value, step) method (e.g. a "
            f"torch.utils.tensorboard.SummaryWriter), got {type(writer).__name__}"
        )


def __generate_hook(
    f: Callable[[str, Any, int], Any],
    label: str,
    counter_name: str,
    aggregation: Callable[[Tensor], Tensor] | None = None,
) -> Hook:
    """A forward hook that writes ``aggregation(spikes)`` with ``f`` and counts its calls."""

    def hook(mod: torch.nn.Module, _: Any, out: Any) -> None:
        if not hasattr(mod, counter_name):
            setattr(mod, counter_name, 0)
        value = _spikes(out)
        if aggregation is not None:
            value = aggregation(value)
        counter = getattr(mod, counter_name)
        f(label, value.cpu(), counter)
        setattr(mod, counter_name, counter + 1)

    return hook


def _per_neuron(reduce: Callable[..., Tensor]) -> Callable[[Tensor], Tensor]:
    def aggregate(z: Tensor) -> Tensor:
        z = z.float()
        return reduce(z, dim=0) if z.dim() >= 2 else z

    return aggregate


def _image(z: Tensor) -> Tensor:
    """The spikes as a ``(1, H, W)`` grey-scale image (rows: all dimensions but the last)."""
    z = z.float()
    if z.dim() == 0:
        z = z.reshape(1, 1)
    elif z.dim() == 1:
        z = z.unsqueeze(0)
    else:
        z = z.reshape(-1, z.shape[-1])
    return z.clamp(0, 1).unsqueeze(0)


def hook_spike_activity_mean(key: str, writer: Any) -> Hook:
    """A forward hook logging the mean of the spikes as a scalar.

    Args:
        key (str): the tag
        writer (SummaryWriter): where to write

    Returns:
        the hook, for ``module.register_forward_hook``.

    Example:
        >>> from norse.torch import LIFCell
        >>> class Writer:
        ...     def add_scalar(self, tag, value, step):
        ...         print(tag, round(float(value), 2), step)
        >>> cell = LIFCell()
        >>> _ = cell.register_forward_hook(hook_spike_activity_mean("rate", Writer()))
        >>> _ = cell(torch.tensor([30.0, 0.0, 0.0, 30.0]))
        rate 0.5 0
    """
    _check("hook_spike_activity_mean", key, writer, "add_scalar")
    return __generate_hook(
        writer.add_scalar, key, "norse_hook_spike_activity_mean", lambda z: z.float().mean()
    )


def hook_spike_activity_sum(key: str, writer: Any) -> Hook:
    """A forward hook logging the number of spikes as a scalar.

    Args:
        key (str): the tag
        writer (SummaryWriter): where to write

    Returns:
        the hook, for ``module.register_forward_hook``.

    Example:
        >>> from norse.torch import LIFCell
        >>> class Writer:
        ...     def add_scalar(self, tag, value, step):
        ...         print(tag, float(value), step)
        >>> cell = LIFCell()
        >>> _ = cell.register_forward_hook(hook_spike_activity_sum("count", Writer()))
        >>> _ = cell(torch.tensor([30.0, 0.0, 30.0]))
        count 2.0 0
    """
    _check("hook_spike_activity_sum", key, writer, "add_scalar")
    return __generate_hook(
        writer.add_scalar, key, "norse_hook_spike_activity_sum", lambda z: z.float().sum()
    )


def hook_spike_histogram_mean(key: str, writer: Any) -> Hook:
    """A forward hook logging a histogram of the per-neuron mean over the batch.

    Args:
        key (str): the tag
        writer (SummaryWriter): where to write

    Returns:
        the hook, for ``module.register_forward_hook``.

    Example:
        >>> from norse.torch import LIFCell
        >>> class Writer:
        ...     def add_histogram(self, tag, values, step):
        ...         print(tag, values.tolist(), step)
        >>> cell = LIFCell()
        >>> _ = cell.register_forward_hook(hook_spike_histogram_mean("h", Writer()))
        >>> _ = cell(torch.tensor([[30.0, 0.0], [30.0, 30.0]]))
        h [1.0, 0.5] 0
    """
    _check("hook_spike_histogram_mean", key, writer, "add_histogram")
    return __generate_hook(
        writer.add_histogram, key, "norse_hook_spike_activity_mean", _per_neuron(torch.mean)
    )


def hook_spike_histogram_sum(key: str, writer: Any) -> Hook:
    """A forward hook logging a histogram of the per-neuron spike count over the batch.

    Args:
        key (str): the tag
        writer (SummaryWriter): where to write

    Returns:
        the hook, for ``module.register_forward_hook``.

    Example:
        >>> from norse.torch import LIFCell
        >>> class Writer:
        ...     def add_histogram(self, tag, values, step):
        ...         print(tag, values.tolist(), step)
        >>> cell = LIFCell()
        >>> _ = cell.register_forward_hook(hook_spike_histogram_sum("h", Writer()))
        >>> _ = cell(torch.tensor([[30.0, 0.0], [30.0, 30.0]]))
        h [2.0, 1.0] 0
    """
    _check("hook_spike_histogram_sum", key, writer, "add_histogram")
    return __generate_hook(
        writer.add_histogram, key, "norse_hook_spike_activity_mean", _per_neuron(torch.sum)
    )


def hook_spike_image(key: str, writer: Any) -> Hook:
    """A forward hook logging the spikes as a grey-scale ``(1, H, W)`` image (``CHW``; rows:
    all but the last dimension, columns: the last).

    Args:
        key (str): the tag
        writer (SummaryWriter): where to write

    Returns:
        the hook, for ``module.register_forward_hook``.

    Example:
        >>> from norse.torch import LIFCell
        >>> class Writer:
        ...     def add_image(self, tag, image, step):
        ...         print(tag, tuple(image.shape), step)
        >>> cell = LIFCell()
        >>> _ = cell.register_forward_hook(hook_spike_image("img", Writer()))
        >>> _ = cell(torch.zeros(4, 2, 8))
        img (1, 8, 8) 0
    """
    _check("hook_spike_image", key, writer, "add_image")
    return __generate_hook(writer.add_image, key, "norse_hook_spike_image", _image)
