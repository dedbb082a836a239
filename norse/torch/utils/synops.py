r"""Synaptic operations (SynOps): the event count neuromorphic hardware spends energy on.

On event-driven hardware a synapse costs work only when a spike crosses it, so the usual
figure for comparing networks is the number of synaptic operations of a forward pass:

.. math::
    \text{SynOps} = \sum_{\text{layers}} \sum_{\text{input events } e} \text{fan-out}(e)

every nonzero input to a synaptic layer times the number of outputs it reaches. For a
``Linear`` (and :class:`~norse.torch.SynapticDelay`) the fan-out is ``out_features``; for a
convolution it is counted exactly, border effects, stride and groups included, by running the
layer's connectivity (all weights one, no bias) on the input's nonzero mask. Delays change
when an event arrives, not how many there are.

Counted layers: ``nn.Linear`` (and subclasses such as ``SpikeLinear``), ``nn.Conv1d``,
``nn.Conv2d``, ``nn.Conv3d`` (and ``LConv2d``), :class:`~norse.torch.SynapticDelay` and
:class:`~norse.torch.SynapticDelayCell`, and the recurrent layers and cells
(``LIFRecurrent``, ``LSNNRecurrentCell``, ...): their input events reach ``hidden_size``
neurons (key ``name``), and their spikes fed back reach ``hidden_size`` neurons, one fewer
without autapses (key ``name + ".recurrent"``). A recurrent layer feeds back the spikes of
every step but the last (and those of a given initial state); a cell those of its state. Inputs are counted where they are nonzero, so a first
layer fed with dense analogue values counts one operation per nonzero value and output
(multiply-accumulates rather than events); :attr:`SynOps.events` reports the nonzero inputs
per layer to tell the two apart.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["SynOps", "SynOpsCounter", "count_synops"]


class SynOps(NamedTuple):
    """Counts of one or more forward passes.

    Parameters:
        total (int): synaptic operations over all counted layers.
        per_layer (dict[str, int]): synaptic operations per layer (keyed by module name).
        events (dict[str, int]): nonzero inputs (spikes) per layer.
        fan_out (dict[str, float]): mean fan-out per input event, per layer.

    Example:
        >>> SynOps(6, {"0": 6}, {"0": 2}, {"0": 3.0}).total
        6
    """

    total: int
    per_layer: dict[str, int]
    events: dict[str, int]
    fan_out: dict[str, float]


def _synaptic_kinds() -> tuple[type, ...]:
    from ..module.delay import SynapticDelay

    return (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, SynapticDelay, _recurrent_kind())


def _recurrent_kind() -> type:
    from ..module.snn import _RecurrentWeights

    return _RecurrentWeights


def _nonzero(x: Any) -> int:
    return int((x.detach() != 0).sum()) if isinstance(x, Tensor) else 0


def _count_recurrent(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> tuple[int, int]:
    """``(events, synops)`` of the spikes a recurrent layer or cell feeds back in one call."""
    from ..module.snn import SNNRecurrent

    state = args[1] if len(args) > 1 else kwargs.get("state")
    events = _nonzero(getattr(state, "z", None))
    if isinstance(module, SNNRecurrent) and isinstance(output, tuple):
        events += _nonzero(output[0][:-1])
    hidden = int(module.hidden_size)
    return events, events * (hidden if module.autapses else hidden - 1)


def _count(module: nn.Module, x: Tensor) -> tuple[int, int]:
    """``(events, synops)`` of one call of ``module`` on ``x``."""
    from ..module.delay import SynapticDelay

    mask = x.detach() != 0
    events = int(mask.sum())
    if isinstance(module, nn.Linear):
        return events, events * module.out_features
    if isinstance(module, SynapticDelay):
        return events, events * module.out_features
    if isinstance(module, _recurrent_kind()):
        return events, events * int(module.hidden_size)
    conv = module
    ones = torch.ones_like(conv.weight, dtype=torch.float64)
    m = mask.to(torch.float64)
    kind = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d, nn.Conv3d: F.conv3d}
    fn = next(f for k, f in kind.items() if isinstance(conv, k))
    if conv.padding_mode != "zeros":
        # circular/reflect padding adds connections through the padded border; count the
        # padded input as the convolution sees it
        m = F.pad(m, conv._reversed_padding_repeated_twice, mode=conv.padding_mode)
        out = fn(m, ones, None, conv.stride, 0, conv.dilation, conv.groups)
    else:
        out = fn(m, ones, None, conv.stride, conv.padding, conv.dilation, conv.groups)
    return events, int(round(float(out.sum())))


class SynOpsCounter:
    """Counts SynOps of every synaptic layer of ``model`` while it is active (a context
    manager: forward hooks are added on entry and removed on exit). Repeated calls add up, so
    a network of cells stepped in a loop is counted over the whole sequence.

    Args:
        model (nn.Module): the network; its counted layers (module docstring) are found with
            ``model.named_modules()``.

    Example:
        >>> import norse.torch as norse
        >>> model = norse.SequentialState(torch.nn.Linear(2, 3), norse.LIFCell(),
        ...                               torch.nn.Linear(3, 4))
        >>> spikes = torch.tensor([[1.0, 0.0]])
        >>> with SynOpsCounter(model) as counter:
        ...     for _ in range(5):
        ...         _ = model(spikes)
        >>> counter.result().per_layer["0"]   # 5 steps x 1 event x 3 outputs
        15
    """

    def __init__(self, model: nn.Module) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"SynOpsCounter: model must be a torch.nn.Module, got {type(model).__name__}"
            )
        self.model = model
        self._handles: list[Any] = []
        self.reset()

    def reset(self) -> None:
        """Set every count to zero."""
        self.per_layer: dict[str, int] = {}
        self.events: dict[str, int] = {}

    def __enter__(self) -> SynOpsCounter:
        kinds = _synaptic_kinds()
        for name, module in self.model.named_modules():
            if isinstance(module, kinds):
                key = name or type(module).__name__
                keys = (key, key + ".recurrent") if isinstance(module, _recurrent_kind()) else (key,)  # fmt: skip
                for k in keys:
                    self.per_layer.setdefault(k, 0)
                    self.events.setdefault(k, 0)
                self._handles.append(module.register_forward_hook(self._hook(key), with_kwargs=True))  # fmt: skip
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, key: str) -> Any:
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            x = args[0] if args else kwargs.get("input_tensor", kwargs.get("input"))
            if isinstance(x, Tensor):
                events, ops = _count(module, x)
                self.events[key] += events
                self.per_layer[key] += ops
            if isinstance(module, _recurrent_kind()):
                events, ops = _count_recurrent(module, args, kwargs, output)
                self.events[key + ".recurrent"] += events
                self.per_layer[key + ".recurrent"] += ops

        return hook

    def result(self) -> SynOps:
        """The counts so far as a :class:`SynOps`."""
        fan_out = {k: (self.per_layer[k] / e if e else 0.0) for k, e in self.events.items()}
        return SynOps(
            sum(self.per_layer.values()), dict(self.per_layer), dict(self.events), fan_out
        )


def count_synops(model: nn.Module, *args: Any, **kwargs: Any) -> SynOps:
    r"""Run ``model(*args, **kwargs)`` once (without gradients) and count its SynOps.

    Args:
        model (nn.Module): the network.
        \*args, \*\*kwargs: its inputs, e.g. a ``(T, B, *)`` spike sequence for sequence layers.

    Returns:
        SynOps: the total and the per-layer counts.

    Example:
        >>> import norse.torch as norse
        >>> model = norse.SequentialState(norse.SynapticDelay(3, 4, max_delay=2), norse.LIF())
        >>> x = torch.zeros(6, 1, 3); x[0, 0, 0] = 1; x[2, 0, 1] = 1   # two spikes
        >>> count_synops(model, x).per_layer   # 2 events x 4 outputs
        {'0': 8}
    """
    with SynOpsCounter(model) as counter, torch.no_grad():
        model(*args, **kwargs)
    return counter.result()
