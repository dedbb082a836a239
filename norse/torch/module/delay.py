r"""Axonal and synaptic delay layers and cells, fixed or learnable.

Equations, interpolation and state: :mod:`norse.torch.functional.delay`.

- :class:`AxonalDelay` / :class:`AxonalDelayCell`: one delay per neuron,
  :math:`y_{t,i} = x_{t-d_i,i}`; shape in = shape out.
- :class:`SynapticDelay` / :class:`SynapticDelayCell`: a linear layer with one delay per
  connection, :math:`y_{t,o} = b_o + \sum_i W_{oi}\, x_{t-d_{oi},i}`.

The layers take sequences ``(T, B, *)``, the cells one step ``(B, *)``; both return
``(output, state)`` with a :class:`~norse.torch.functional.delay.DelayLineState` (the last
``max_delay + 1`` inputs), so they run inside :class:`~norse.torch.SequentialState` next to
neuron layers or cells, and a layer's state can be continued by the cell.

``learnable=True`` (the default) keeps the delays as a floating ``nn.Parameter`` ``delay``,
trained through the linear interpolation between neighbouring steps. In the forward pass they
are clamped into ``[0, max_delay]`` (an optimiser step may push them out; the gradient is zero
beyond the bounds). In evaluation mode (``module.eval()``) and with ``round_in_eval=True`` the
clamped delays are rounded to whole steps (``torch.round``: halves to even), so inference runs
the exact integer shift, which is also what :func:`~norse.torch.utils.export_nir.to_nir`
writes. ``learnable=False`` stores whole-number delays as an integer buffer.

``module.sigma`` (default 0) widens the kernel of learnable delays to a normalised Gaussian of
that width in steps while training (see :func:`~norse.torch.functional.delay.delay_kernel`),
so that a delay far from where it should be still gets a gradient; shrink it to 0 over the
course of training (``python -m norse.task.delays`` does).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from ..functional import delay as fd
from ..functional.delay import DelayLineState
from ..utils._validation import as_size, is_size

__all__ = [
    "AxonalDelay",
    "AxonalDelayCell",
    "DelayLineState",
    "SynapticDelay",
    "SynapticDelayCell",
]


def _shape(features: Any, who: str) -> tuple[int, ...]:
    if is_size(features):
        return (as_size(features, "features", who),)
    if isinstance(features, (tuple, list, torch.Size)):
        return tuple(as_size(f, "features", who) for f in features)
    raise TypeError(
        f"{who}: features must be an int or a tuple of ints (the neuron shape), got "
        f"{type(features).__name__}"
    )


class _DelayModule(nn.Module):
    """Shared by the delay modules: the ``delay`` tensor, its checks and its rounding."""

    delay: Tensor
    _sequence = True

    def _init_delays(
        self,
        shape: tuple[int, ...],
        max_delay: Any,
        delays: Any,
        learnable: Any,
        round_in_eval: Any,
    ) -> None:
        who = type(self).__name__
        for flag, value in (("learnable", learnable), ("round_in_eval", round_in_eval)):
            if not isinstance(value, bool):
                raise TypeError(f"{who}: {flag} must be a bool, got {type(value).__name__}")
        self.learnable = learnable
        self.round_in_eval = round_in_eval
        self.sigma = 0.0
        if delays is None:
            if not learnable:
                raise ValueError(
                    f"{who}: delays is required with learnable=False (whole numbers of steps)"
                )
            if max_delay is None:
                raise ValueError(f"{who}: max_delay is required (the longest delay in steps)")
            self.max_delay = as_size(max_delay, "max_delay", who, minimum=0)
            initial = torch.rand(shape) * self.max_delay
            self.delay = nn.Parameter(initial)
        else:
            delays = fd._as_tensor(delays, "delays", who)
            if tuple(delays.shape) != shape and not (delays.dim() == 0 and not learnable):
                raise ValueError(
                    f"{who}: delays must have shape {shape} ({self._per}), got "
                    f"{tuple(delays.shape)}"
                )
            delays, self.max_delay = fd._check_delays(
                delays, max_delay, who, integers=not learnable
            )
            if learnable:
                if isinstance(delays, nn.Parameter):
                    self.delay = delays  # the caller's parameter, kept as that object
                else:
                    value = delays.detach().clone()
                    self.delay = nn.Parameter(
                        value if value.is_floating_point() else value.to(torch.get_default_dtype())
                    )
            else:
                self.register_buffer("delay", delays.detach().clone().long())
        self._checked: tuple[int, int] | None = None

    # -- the delays a forward pass uses ------------------------------------------------------
    def _delays(self, x: Tensor) -> Tensor:
        """The checked delays: integers (fixed, or rounded in eval) or clamped floats."""
        who = type(self).__name__
        d = self.delay
        if not isinstance(d, Tensor):
            raise TypeError(f"{who}: delay must be a tensor, got {type(d).__name__}")
        expected = self._delay_shape()
        if tuple(d.shape) != expected and not (d.dim() == 0 and not self.learnable):
            raise ValueError(
                f"{who}: delay has shape {tuple(d.shape)} but the module needs {expected}"
            )
        if not self.learnable:
            if not torch.compiler.is_compiling():  # (values are read once per change)
                key = (id(d), d._version)
                if key != self._checked:
                    fd._check_delays(d, self.max_delay, who, "delay", integers=True)
                    self._checked = key
            return d if not d.is_floating_point() else d.long()
        if not d.is_floating_point():
            raise TypeError(f"{who}: learnable delay must be a floating tensor, got {d.dtype}")
        if d.dtype != x.dtype:
            raise TypeError(
                f"{who}: delay has dtype {d.dtype} but the input {x.dtype}; convert the module "
                f"(module.to({x.dtype})) or the input"
            )
        d = d.clamp(0, self.max_delay)
        if self.round_in_eval and not self.training:
            return torch.round(d.detach()).long()
        return d

    @property
    def max_delay(self) -> int:
        """The longest delay in steps (``D``; the state holds ``D + 1`` inputs)."""
        return self._max_delay

    @max_delay.setter
    def max_delay(self, value: Any) -> None:
        self._max_delay = as_size(value, "max_delay", type(self).__name__, minimum=0)
        self._checked = None  # fixed delays are checked against the new maximum

    def _sigma(self) -> float:
        """The Gaussian width used while training learnable delays (0 otherwise)."""
        if not (self.learnable and self.training):
            return 0.0
        return fd._check_sigma(self.sigma, f"{type(self).__name__}: sigma")

    def rounded_delays(self) -> Tensor:
        """The delays as whole steps (``int64``): clamped into ``[0, max_delay]`` and rounded
        (halves to even), as used in evaluation mode and written to NIR.

        Example:
            >>> AxonalDelay(delays=torch.tensor([0.4, 1.5, 2.5]), max_delay=4).rounded_delays()
            tensor([0, 2, 2])
        """
        d = self.delay.detach()
        if not d.is_floating_point():
            return d.long()
        return torch.round(d.clamp(0, self.max_delay)).long()

    def _delay_shape(self) -> tuple[int, ...]:  # pragma: no cover - overridden
        raise NotImplementedError

    def _check_x(self, x: Any, lead: int) -> Tensor:
        who = type(self).__name__
        x = fd._check_input(x, who)
        fd._check_trailing(x, self._input_shape(), lead, who, self._what)
        return x

    def _input_shape(self) -> tuple[int, ...]:  # pragma: no cover - overridden
        raise NotImplementedError

    _what = "neuron"
    _per = "one per neuron"

    def _check_state(self, state: Any, x: Tensor, lead: int) -> None:
        if state is not None:
            fd._check_state(
                state, tuple(x.shape[lead:]), self.max_delay + 1, x, type(self).__name__
            )

    def extra_repr(self) -> str:
        return f"max_delay={self.max_delay}, learnable={self.learnable}"


# ----------------------------------------------------------------------------- axonal
class AxonalDelay(_DelayModule):
    r"""One delay per neuron over a sequence: ``(T, *batch, *features) -> same shape``.

    :math:`y_{t,i} = x_{t-d_i,i}`; learnable delays interpolate between steps
    (:func:`~norse.torch.functional.delay.axonal_delay`, one depthwise causal ``conv1d``).

    Args:
        features (int or tuple): the neuron shape (taken from ``delays`` when they are given).
        max_delay (int): the longest delay :math:`D` in steps (fixed delays: default their
            maximum).
        delays (Tensor): initial (learnable) or fixed delays in steps, of shape ``features``
            (fixed ones may be 0-dim: the same for all). Default: uniform in ``[0, D]``.
        learnable (bool): train the delays (a floating ``nn.Parameter`` ``delay``); False keeps
            whole-number delays in an integer buffer.
        round_in_eval (bool): in evaluation mode use the rounded delays (an exact shift).

    Shape:
        input ``(T, *batch, *features)``, output the same; the state holds ``D + 1`` inputs.

    Example:
        >>> layer = AxonalDelay(delays=torch.tensor([0, 2]), learnable=False)
        >>> y, s = layer(torch.arange(1.0, 5.0).reshape(4, 1, 1).expand(4, 1, 2))
        >>> y[:, 0].T
        tensor([[1., 2., 3., 4.],
                [0., 0., 1., 2.]])
        >>> learn = AxonalDelay(3, max_delay=5)
        >>> learn(torch.rand(10, 8, 3))[0].shape, learn.delay.requires_grad
        (torch.Size([10, 8, 3]), True)
    """

    _what = "delays"

    def __init__(
        self,
        features: Any = None,
        max_delay: int | None = None,
        delays: Tensor | None = None,
        learnable: bool = True,
        round_in_eval: bool = True,
    ) -> None:
        super().__init__()
        who = type(self).__name__
        if features is None:
            if delays is None:
                raise ValueError(f"{who}: pass features (the neuron shape) or delays")
            shape = tuple(fd._as_tensor(delays, "delays", who).shape)
        else:
            shape = _shape(features, who)
        self.features = shape
        self._init_delays(shape, max_delay, delays, learnable, round_in_eval)

    def _delay_shape(self) -> tuple[int, ...]:
        return self.features

    def _input_shape(self) -> tuple[int, ...]:
        return self.features

    def forward(
        self, input_tensor: Tensor, state: DelayLineState | None = None
    ) -> tuple[Tensor, DelayLineState]:
        """Delay the sequence; returns ``(output, state)``."""
        x = self._check_x(input_tensor, 1)
        d = self._delays(x)
        self._check_state(state, x, 1)
        return fd._axonal(x, d, self.max_delay, state, self._sigma())


class AxonalDelayCell(AxonalDelay):
    r"""One step of :class:`AxonalDelay`: ``(*batch, *features) -> same shape``, with a ring
    buffer of the last ``max_delay + 1`` inputs in the state
    (:func:`~norse.torch.functional.delay.axonal_delay_step`).

    Arguments as for :class:`AxonalDelay`.

    Example:
        >>> cell = AxonalDelayCell(delays=torch.tensor([1]), learnable=False)
        >>> s = None
        >>> for t in range(3):
        ...     y, s = cell(torch.tensor([t + 1.0]), s)
        ...     print(y.tolist())
        [0.0]
        [1.0]
        [2.0]
    """

    _sequence = False

    def forward(
        self, input_tensor: Tensor, state: DelayLineState | None = None
    ) -> tuple[Tensor, DelayLineState]:
        """One step; returns ``(output, state)``."""
        x = self._check_x(input_tensor, 0)
        d = self._delays(x)
        self._check_state(state, x, 0)
        return fd._axonal_step(x, state, d, self.max_delay, self._sigma())


# ----------------------------------------------------------------------------- synaptic
class SynapticDelay(_DelayModule):
    r"""A linear layer with one delay per connection, over a sequence:
    ``(T, *batch, in_features) -> (T, *batch, out_features)``.

    :math:`y_{t,o} = b_o + \sum_i W_{oi}\, x_{t-d_{oi},i}`; learnable delays interpolate
    between steps (:func:`~norse.torch.functional.delay.synaptic_delay`: one causal
    ``conv1d`` whose kernel folds the weights and the delays together).

    Args:
        in_features (int): input size.
        out_features (int): output size.
        max_delay (int): the longest delay :math:`D` in steps (fixed delays: default their
            maximum).
        bias (bool): add a learnable bias.
        delays (Tensor): ``(out_features, in_features)`` initial (learnable) or fixed delays.
            Default: uniform in ``[0, D]``.
        learnable (bool): train the delays; False keeps whole-number delays as a buffer.
        round_in_eval (bool): in evaluation mode use the rounded delays.

    Attributes:
        weight (nn.Parameter): ``(out_features, in_features)``, initialised as ``nn.Linear``.
        bias (nn.Parameter): ``(out_features,)`` or None.
        delay (Tensor): ``(out_features, in_features)`` delays in steps.

    Example:
        >>> torch.manual_seed(0)   # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> layer = SynapticDelay(4, 3, max_delay=6)
        >>> y, s = layer(torch.rand(20, 8, 4))
        >>> y.shape, s.buffer.shape
        (torch.Size([20, 8, 3]), torch.Size([7, 8, 4]))
    """

    _what = "in_features"
    _per = "(out_features, in_features): one per synapse"

    def __init__(
        self,
        in_features: int,
        out_features: int,
        max_delay: int | None = None,
        bias: bool = True,
        delays: Tensor | None = None,
        learnable: bool = True,
        round_in_eval: bool = True,
    ) -> None:
        super().__init__()
        who = type(self).__name__
        self.in_features = as_size(in_features, "in_features", who)
        self.out_features = as_size(out_features, "out_features", who)
        if not isinstance(bias, bool):
            raise TypeError(f"{who}: bias must be a bool, got {type(bias).__name__}")
        self.weight = nn.Parameter(torch.empty(self.out_features, self.in_features))
        self.bias = nn.Parameter(torch.empty(self.out_features)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            nn.init.uniform_(self.bias, -bound, bound)
        self._init_delays(
            (self.out_features, self.in_features), max_delay, delays, learnable, round_in_eval
        )

    def _delay_shape(self) -> tuple[int, ...]:
        return (self.out_features, self.in_features)

    def _input_shape(self) -> tuple[int, ...]:
        return (self.in_features,)

    def _params(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        who = type(self).__name__
        d = self._delays(x)
        fd._weight_checks(self.weight, d, self.bias, x, who)
        return self.weight, d, self.bias

    def forward(
        self, input_tensor: Tensor, state: DelayLineState | None = None
    ) -> tuple[Tensor, DelayLineState]:
        """Run the sequence; returns ``(output, state)``."""
        x = self._check_x(input_tensor, 1)
        weight, d, bias = self._params(x)
        self._check_state(state, x, 1)
        return fd._synaptic(x, weight, d, self.max_delay, bias, state, self._sigma())

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, {super().extra_repr()}"
        )


class SynapticDelayCell(SynapticDelay):
    r"""One step of :class:`SynapticDelay`: ``(*batch, in_features) -> (*batch,
    out_features)``, reading each connection's delayed input from a ring buffer
    (:func:`~norse.torch.functional.delay.synaptic_delay_step`).

    Arguments as for :class:`SynapticDelay`.

    Example:
        >>> cell = SynapticDelayCell(2, 1, delays=torch.tensor([[2, 1]]), learnable=False,
        ...                          bias=False)
        >>> _ = torch.nn.init.ones_(cell.weight)
        >>> s = None
        >>> for x in ([1.0, 0.0], [0.0, 1.0], [0.0, 0.0]):
        ...     y, s = cell(torch.tensor(x), s)
        ...     print(y.tolist())
        [0.0]
        [0.0]
        [2.0]
    """

    _sequence = False

    def forward(
        self, input_tensor: Tensor, state: DelayLineState | None = None
    ) -> tuple[Tensor, DelayLineState]:
        """One step; returns ``(output, state)``."""
        x = self._check_x(input_tensor, 0)
        weight, d, bias = self._params(x)
        self._check_state(state, x, 0)
        return fd._synaptic_step(x, state, weight, d, self.max_delay, bias, self._sigma())
