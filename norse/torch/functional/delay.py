r"""Synaptic and axonal transmission delays: fixed integer shifts and learnable delays.

A delay of :math:`d` steps holds a value back: the output at step :math:`t` is the input of
step :math:`t - d` (zero before the first input arrived). *Axonal* delays have one delay per
input neuron (every synapse of that neuron shares it); *synaptic* delays have one per
connection of a linear layer:

.. math::
    \text{axonal:}\quad y_{t,i} = x_{t - d_i,\, i}, \qquad\qquad
    \text{synaptic:}\quad y_{t,o} = b_o + \sum_i W_{oi}\, x_{t - d_{oi},\, i}

**Learnable delays** are real numbers :math:`d \in [0, D]` (:math:`D` the maximum delay).
A delay between two steps interpolates linearly between its neighbours, as in the dilated
convolution with learnable spacings (Khalfaoui-Hassani, Pellegrini and Masquelier, *Learning
delays in spiking neural networks using dilated convolutions with learnable spacings*, ICLR
2024): with :math:`\ell = \min(\lfloor d \rfloor, D - 1)` and :math:`f = d - \ell`, the delay
is a kernel over the lags :math:`j = 0 \dots D`

.. math::
    k_j(d) = (1 - f)\,[j = \ell] + f\,[j = \ell + 1], \qquad
    y_t = \sum_{j=0}^{D} k_j(d)\, x_{t-j}

so :math:`\partial y_t / \partial d = x_{t-\ell-1} - x_{t-\ell}` (the right derivative at
whole numbers, so training moves a delay that starts on a whole step). At whole numbers the
kernel is one-hot and the result is the integer shift. Over a sequence this is a causal 1-D
convolution over time: depthwise (``groups`` = neurons) for axonal delays, and a full
convolution whose kernel is :math:`W_{oi}\,k_j(d_{oi})` for synaptic ones, which is how
:func:`axonal_delay` and :func:`synaptic_delay` compute it (one ``conv1d``, on the CPU and the
GPU alike, with gradients for input, weights and delays from autograd).

**Integer delays** (an integer tensor) take an exact path: :func:`axonal_delay` gathers the
shifted input (bit for bit a shift), :func:`synaptic_delay` convolves with a one-hot kernel.

**Steps and state.** The step functions (:func:`axonal_delay_step`,
:func:`synaptic_delay_step`) keep the last :math:`D + 1` inputs in a ring buffer
(:class:`DelayLineState`): each step writes one slot and reads the lags it needs. The sequence
functions take and return the same state, so a sequence can be continued step by step and the
other way round.

Values: delays must be finite, at least 0 and at most ``max_delay``; integer delays must be
whole numbers. The functions check this on entry (which reads the values once; skipped under
``torch.compile``). The modules (:mod:`norse.torch.module.delay`) check at construction and
clamp learnable delays into :math:`[0, D]` while training.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..utils._validation import as_size

__all__ = [
    "DelayLineState",
    "axonal_delay",
    "axonal_delay_step",
    "delay_kernel",
    "synaptic_delay",
    "synaptic_delay_step",
]


class DelayLineState(NamedTuple):
    """The last ``max_delay + 1`` inputs of a delay, as a ring buffer.

    Parameters:
        buffer (Tensor): ``(max_delay + 1, *input_shape)`` past inputs; ``buffer[position]``
            is the most recent one, ``buffer[(position - j) % (max_delay + 1)]`` the one ``j``
            steps before it.
        position (Tensor): 0-dim integer tensor, the slot of the most recent input.

    Example:
        >>> s = DelayLineState(torch.zeros(3, 2), torch.tensor(0))
        >>> y, s = axonal_delay_step(torch.ones(2), s, torch.tensor([0, 2]))
        >>> y, s.position
        (tensor([1., 0.]), tensor(1))
    """

    buffer: Tensor
    position: Tensor


# ----------------------------------------------------------------------------- checks
def _as_tensor(value: Any, name: str, who: str) -> Tensor:
    if isinstance(value, Tensor):
        return value
    try:
        tensor = torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(
            f"{who}: {name} must be a tensor of delays (in steps), got {type(value).__name__}"
        ) from None
    if tensor.dtype == torch.bool or not (tensor.is_floating_point() or _is_integer(tensor)):
        raise TypeError(f"{who}: {name} must hold numbers of steps, got {tensor.dtype}")
    return tensor


def _is_integer(tensor: Tensor) -> bool:
    return not tensor.is_floating_point() and not tensor.is_complex() and tensor.dtype != torch.bool


def _check_delays(
    delays: Any, max_delay: Any, who: str, name: str = "delays", integers: bool = False
) -> tuple[Tensor, int]:
    """``(delays, max_delay)`` checked: integer or floating tensor, values in
    ``[0, max_delay]`` (``max_delay`` defaults to the largest integer delay), whole numbers
    where ``integers``. Values are only read outside ``torch.compile``."""
    delays = _as_tensor(delays, name, who)
    if delays.dtype == torch.bool or delays.is_complex():
        raise TypeError(f"{who}: {name} must be an integer or floating tensor, got {delays.dtype}")
    values = delays.detach()
    compiling = torch.compiler.is_compiling()
    if not compiling and values.is_floating_point() and not bool(torch.isfinite(values).all()):
        raise ValueError(f"{who}: {name} must be finite, got NaN or infinite values")
    if not compiling and values.numel() and float(values.min()) < 0:
        raise ValueError(
            f"{who}: {name} must be >= 0 steps, got a minimum of {float(values.min()):g}"
        )
    if max_delay is None:
        if delays.is_floating_point() and not integers:
            raise ValueError(
                f"{who}: max_delay is needed for floating (learnable) {name}; pass "
                "max_delay=D, the longest delay in steps"
            )
        max_delay = int(values.max()) if delays.numel() else 0
    max_delay = as_size(max_delay, "max_delay", who, minimum=0)
    if compiling or delays.numel() == 0:
        return delays, max_delay
    if integers and values.is_floating_point():
        if not bool(torch.all(values == torch.round(values))):
            bad = values[values != torch.round(values)].flatten()[:3].tolist()
            raise ValueError(
                f"{who}: {name} must be whole numbers of steps, got non-integral values such "
                f"as {bad}; round them (torch.round) or use learnable delays"
            )
    high = float(values.max())
    if high > max_delay:
        raise ValueError(
            f"{who}: {name} must be <= max_delay={max_delay} steps, got a maximum of {high:g}; "
            "raise max_delay or shorten the delays"
        )
    return delays, max_delay


def _check_input(x: Any, who: str, name: str = "input") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{who}: {name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{who}: {name} must be a floating tensor, got {x.dtype}")
    return x


def _check_trailing(x: Tensor, shape: tuple[int, ...], lead: int, who: str, what: str) -> None:
    """``x`` is ``(lead dims, *batch, *shape)``."""
    if x.dim() < lead + len(shape) or tuple(x.shape[x.dim() - len(shape) :]) != shape:
        form = "(T, B, *)" if lead else "(B, *)"
        raise ValueError(
            f"{who}: input of shape {tuple(x.shape)} does not end in the {what} shape {shape}; "
            f"pass {form} tensors whose last dimensions are {shape}"
        )


def _check_state(state: Any, x_shape: tuple[int, ...], depth: int, x: Tensor, who: str) -> None:
    if not isinstance(state, DelayLineState):
        raise TypeError(
            f"{who}: state must be a DelayLineState (or None), got {type(state).__name__}"
        )
    expected = (depth, *x_shape)
    if not isinstance(state.buffer, Tensor) or tuple(state.buffer.shape) != expected:
        got = tuple(state.buffer.shape) if isinstance(state.buffer, Tensor) else state.buffer
        raise ValueError(
            f"{who}: state.buffer must have shape {expected} (max_delay + 1 past inputs), got "
            f"{got}; pass the state this delay returned for inputs of this shape"
        )
    if state.buffer.dtype != x.dtype:
        raise TypeError(
            f"{who}: state.buffer has dtype {state.buffer.dtype} but the input {x.dtype}"
        )
    pos = state.position
    if not isinstance(pos, Tensor) or pos.dim() != 0 or not _is_integer(pos):
        raise TypeError(f"{who}: state.position must be a 0-dim integer tensor, got {pos!r}")


def _weight_checks(weight: Any, delays: Tensor, bias: Any, x: Tensor, who: str) -> None:
    if not isinstance(weight, Tensor) or weight.dim() != 2:
        got = tuple(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__
        raise ValueError(f"{who}: weight must be an (out_features, in_features) tensor, got {got}")
    if tuple(delays.shape) != tuple(weight.shape):
        raise ValueError(
            f"{who}: delays must have the weight's shape {tuple(weight.shape)} (one per "
            f"synapse), got {tuple(delays.shape)}"
        )
    if weight.dtype != x.dtype:
        raise TypeError(f"{who}: weight has dtype {weight.dtype} but the input {x.dtype}")
    if bias is not None and (
        not isinstance(bias, Tensor) or tuple(bias.shape) != (weight.shape[0],)
    ):
        got = tuple(bias.shape) if isinstance(bias, Tensor) else type(bias).__name__
        raise ValueError(f"{who}: bias must have shape ({weight.shape[0]},), got {got}")


# ----------------------------------------------------------------------------- kernel
def delay_kernel(delays: Tensor, max_delay: int, sigma: float = 0.0) -> Tensor:
    r"""The interpolation kernel of (real-valued) delays: weight of each lag ``0..max_delay``.

    :math:`k_j(d) = (1 - f)\,[j = \ell] + f\,[j = \ell + 1]` with
    :math:`\ell = \min(\lfloor d \rfloor, D - 1)`, :math:`f = d - \ell` (module docstring).
    Differentiable in ``delays``; one-hot at whole numbers. Integer delays give the one-hot
    kernel in float32.

    With ``sigma > 0`` the kernel is instead a Gaussian bump over the lags, normalised to sum
    one, :math:`k_j \propto \exp(-(j - d)^2 / 2\sigma^2)`: a training aid (as in the
    published DCLS delay training, which shrinks :math:`\sigma` to zero during training)
    whose gradient reaches delays several steps away from where the input events are.

    Args:
        delays (Tensor): delays in steps, in ``[0, max_delay]``.
        max_delay (int): the longest delay :math:`D`.
        sigma (float): width of the Gaussian kernel in steps; 0 (default) interpolates
            linearly between the two neighbouring steps.

    Returns:
        Tensor: ``(*delays.shape, max_delay + 1)``; entry ``j`` weighs the input ``j`` steps ago.

    Example:
        >>> delay_kernel(torch.tensor([0.0, 1.25, 3.0]), 3)
        tensor([[1.0000, 0.0000, 0.0000, 0.0000],
                [0.0000, 0.7500, 0.2500, 0.0000],
                [0.0000, 0.0000, 0.0000, 1.0000]])
    """
    who = "delay_kernel"
    delays, max_delay = _check_delays(delays, max_delay, who)
    sigma = _check_sigma(sigma, who)
    return _kernel(delays, max_delay, sigma=sigma)


def _check_sigma(sigma: Any, who: str) -> float:
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)):
        raise TypeError(f"{who}: sigma must be a number of steps, got {type(sigma).__name__}")
    sigma = float(sigma)
    if not (sigma >= 0 and sigma < float("inf")):
        raise ValueError(f"{who}: sigma must be a finite number >= 0, got {sigma}")
    return sigma


def _kernel(
    delays: Tensor, max_delay: int, dtype: torch.dtype | None = None, sigma: float = 0.0
) -> Tensor:
    if not delays.is_floating_point():
        return F.one_hot(delays.long(), max_delay + 1).to(dtype or torch.float32)
    if dtype is not None:
        delays = delays.to(dtype)
    if sigma > 0:  # a normalised Gaussian over the lags (training aid, see delay_kernel)
        lags = torch.arange(max_delay + 1, device=delays.device, dtype=delays.dtype)
        bump = torch.exp(-0.5 * ((lags - delays.unsqueeze(-1)) / sigma) ** 2)
        return bump / bump.sum(-1, keepdim=True)
    if max_delay == 0:  # one lag; keep the graph connected to delays (zero gradient)
        return (torch.ones_like(delays) + 0 * delays).unsqueeze(-1)
    lo = torch.floor(delays.detach()).clamp(0, max_delay - 1)
    frac = (delays - lo).unsqueeze(-1)
    lags = torch.arange(max_delay + 1, device=delays.device, dtype=delays.dtype)
    lo = lo.unsqueeze(-1)
    zero = torch.zeros((), dtype=delays.dtype, device=delays.device)
    return torch.where(lags == lo, 1 - frac, zero) + torch.where(lags == lo + 1, frac, zero)


# ----------------------------------------------------------------------------- sequences
def _history(
    x: Tensor, state: DelayLineState | None, max_delay: int
) -> tuple[Tensor, DelayLineState]:
    """``(x_padded, new_state)``: the input with the last ``max_delay`` inputs (zeros without
    a state) before it, ``(T + D, *x.shape[1:])``, and the state after the sequence."""
    depth = max_delay + 1
    if max_delay == 0:
        padded = x
    elif state is None:
        padded = torch.cat((x.new_zeros((max_delay, *x.shape[1:])), x), 0)
    else:
        order = (state.position + 1 + torch.arange(1, depth, device=x.device)) % depth
        padded = torch.cat((state.buffer.index_select(0, order), x), 0)
    last = padded[padded.shape[0] - depth :].clone()  # (not a view that keeps the sequence)
    position = torch.full((), max_delay, dtype=torch.long, device=x.device)
    return padded, DelayLineState(last, position)


def _flat(x: Tensor, features: int) -> Tensor:
    """``(L, *batch, *features) -> (B', C, L)`` for ``conv1d``."""
    return x.reshape(x.shape[0], -1, features).permute(1, 2, 0)


def _axonal(
    x: Tensor, delays: Tensor, max_delay: int, state: DelayLineState | None, sigma: float = 0.0
) -> tuple[Tensor, DelayLineState]:
    """Unchecked :func:`axonal_delay` (the modules call this after their own checks)."""
    padded, new_state = _history(x, state, max_delay)
    if max_delay == 0 and not delays.is_floating_point():
        return x, new_state
    steps = x.shape[0]
    if not delays.is_floating_point():  # exact shift: gather x[t - d]
        d = delays.to(device=x.device, dtype=torch.long)
        index = torch.arange(steps, device=x.device).reshape(-1, *([1] * (x.dim() - 1)))
        index = (index + max_delay - d).expand(x.shape)
        return padded.gather(0, index), new_state
    channels = max(delays.numel(), 1)
    kernel = _kernel(delays, max_delay, x.dtype, sigma).reshape(channels, 1, max_delay + 1)
    out = F.conv1d(_flat(padded, channels), kernel.flip(-1), groups=channels)
    return out.permute(2, 0, 1).reshape(x.shape), new_state


def axonal_delay(
    input: Tensor,
    delays: Tensor,
    max_delay: int | None = None,
    state: DelayLineState | None = None,
) -> tuple[Tensor, DelayLineState]:
    r"""Delay every neuron of a sequence by its own number of steps: :math:`y_{t,i} = x_{t-d_i,i}`.

    Integer ``delays`` shift exactly (a gather); floating ``delays`` interpolate between the
    neighbouring steps (module docstring) by one depthwise causal ``conv1d`` over time, and
    are differentiable.

    Args:
        input (Tensor): ``(T, *batch, *neurons)``.
        delays (Tensor): delays in steps, of shape ``neurons`` (0-dim: the same for all).
        max_delay (int): the longest delay :math:`D` (default: the largest integer delay).
        state (DelayLineState): the last ``D + 1`` inputs of an earlier call (zeros if None).

    Returns:
        ``(output, state)``: the delayed sequence (``input``'s shape) and the state after it.

    Example:
        >>> x = torch.arange(1.0, 6.0).reshape(5, 1).repeat(1, 2)   # (T=5, neurons=2)
        >>> y, s = axonal_delay(x, torch.tensor([0, 2]))
        >>> y.T
        tensor([[1., 2., 3., 4., 5.],
                [0., 0., 1., 2., 3.]])
        >>> axonal_delay(x, torch.tensor([0.5, 2.0]), max_delay=2)[0].T
        tensor([[0.5000, 1.5000, 2.5000, 3.5000, 4.5000],
                [0.0000, 0.0000, 1.0000, 2.0000, 3.0000]])
    """
    who = "axonal_delay"
    x = _check_input(input, who)
    delays, max_delay = _check_delays(delays, max_delay, who)
    _check_trailing(x, tuple(delays.shape), 1, who, "delays")
    if delays.is_floating_point() and delays.dtype != x.dtype:
        raise TypeError(f"axonal_delay: delays have dtype {delays.dtype} but the input {x.dtype}")
    if state is not None:
        _check_state(state, tuple(x.shape[1:]), max_delay + 1, x, who)
    return _axonal(x, delays, max_delay, state)


def _synaptic(
    x: Tensor,
    weight: Tensor,
    delays: Tensor,
    max_delay: int,
    bias: Tensor | None,
    state: DelayLineState | None,
    sigma: float = 0.0,
) -> tuple[Tensor, DelayLineState]:
    """Unchecked :func:`synaptic_delay`."""
    padded, new_state = _history(x, state, max_delay)
    out_features, in_features = weight.shape
    kernel = weight.unsqueeze(-1) * _kernel(delays, max_delay, x.dtype, sigma)
    out = F.conv1d(_flat(padded, in_features), kernel.flip(-1), bias)
    return out.permute(2, 0, 1).reshape(*x.shape[:-1], out_features), new_state


def synaptic_delay(
    input: Tensor,
    weight: Tensor,
    delays: Tensor,
    max_delay: int | None = None,
    bias: Tensor | None = None,
    state: DelayLineState | None = None,
) -> tuple[Tensor, DelayLineState]:
    r"""A linear layer whose every connection has its own delay, over a sequence.

    :math:`y_{t,o} = b_o + \sum_i W_{oi} \sum_j k_j(d_{oi})\, x_{t-j,i}`, computed as one causal
    ``conv1d`` over time with the kernel :math:`W_{oi}\, k_j(d_{oi})`. Integer ``delays``
    give a one-hot kernel (the shifted inputs, summed); floating ones interpolate and are
    differentiable.

    Args:
        input (Tensor): ``(T, *batch, in_features)``.
        weight (Tensor): ``(out_features, in_features)``.
        delays (Tensor): ``(out_features, in_features)`` delays in steps.
        max_delay (int): the longest delay :math:`D` (default: the largest integer delay).
        bias (Tensor): ``(out_features,)`` or None.
        state (DelayLineState): the last ``D + 1`` inputs of an earlier call (zeros if None).

    Returns:
        ``(output, state)``: ``(T, *batch, out_features)`` and the state after the sequence.

    Example:
        >>> x = torch.zeros(4, 2); x[0, 0] = 1.0; x[1, 1] = 1.0   # spikes at t=0 and t=1
        >>> w = torch.ones(1, 2)
        >>> y, _ = synaptic_delay(x, w, torch.tensor([[2, 1]]))
        >>> y.squeeze(-1)   # both arrive at t=2
        tensor([0., 0., 2., 0.])
    """
    who = "synaptic_delay"
    x = _check_input(input, who)
    delays, max_delay = _check_delays(delays, max_delay, who)
    _weight_checks(weight, delays, bias, x, who)
    _check_trailing(x, (weight.shape[1],), 1, who, "in_features")
    if state is not None:
        _check_state(state, tuple(x.shape[1:]), max_delay + 1, x, who)
    return _synaptic(x, weight, delays, max_delay, bias, state)


# ----------------------------------------------------------------------------- steps
def _initial(x: Tensor, max_delay: int) -> DelayLineState:
    return DelayLineState(
        x.new_zeros((max_delay + 1, *x.shape)),
        torch.zeros((), dtype=torch.long, device=x.device),
    )


def _push(x: Tensor, state: DelayLineState, depth: int) -> tuple[Tensor, Tensor]:
    """``(buffer, slot)``: the buffer with ``x`` written into the next slot, and that slot."""
    slot = (state.position + 1) % depth
    return state.buffer.index_copy(0, slot.reshape(1), x.unsqueeze(0)), slot


def _lagged(buffer: Tensor, slot: Tensor, depth: int) -> Tensor:
    """The buffer in lag order: ``lagged[j]`` is the input ``j`` steps before ``slot``'s."""
    return buffer.index_select(0, (slot - torch.arange(depth, device=buffer.device)) % depth)


def _axonal_step(
    x: Tensor, state: DelayLineState | None, delays: Tensor, max_delay: int, sigma: float = 0.0
) -> tuple[Tensor, DelayLineState]:
    depth = max_delay + 1
    if state is None:
        state = _initial(x, max_delay)
    buffer, slot = _push(x, state, depth)
    if not delays.is_floating_point():
        index = ((slot - delays.to(device=x.device, dtype=torch.long)) % depth).expand(x.shape)
        out = buffer.gather(0, index.unsqueeze(0)).squeeze(0)
    else:
        lagged = _lagged(buffer, slot, depth)
        kernel = _kernel(delays, max_delay, x.dtype, sigma).movedim(-1, 0)  # (D + 1, *neurons)
        kernel = kernel.reshape(depth, *([1] * (x.dim() - delays.dim())), *delays.shape)
        out = (lagged * kernel).sum(0)
    return out, DelayLineState(buffer, slot)


def axonal_delay_step(
    input: Tensor,
    state: DelayLineState | None,
    delays: Tensor,
    max_delay: int | None = None,
) -> tuple[Tensor, DelayLineState]:
    r"""One step of :func:`axonal_delay`: write ``input`` into the ring buffer, read
    :math:`x_{t-d_i,i}` (or the interpolated :math:`\sum_j k_j(d_i) x_{t-j,i}`).

    Args:
        input (Tensor): ``(*batch, *neurons)``, this step's input.
        state (DelayLineState): the ring buffer (None: zeros, as before the first input).
        delays (Tensor): delays in steps, of shape ``neurons`` (0-dim: the same for all).
        max_delay (int): the longest delay (default: the largest integer delay).

    Returns:
        ``(output, state)``.

    Example:
        >>> s = None
        >>> for t in range(4):
        ...     y, s = axonal_delay_step(torch.tensor([t + 1.0]), s, torch.tensor([2]))
        ...     print(y.tolist())
        [0.0]
        [0.0]
        [1.0]
        [2.0]
    """
    who = "axonal_delay_step"
    x = _check_input(input, who)
    delays, max_delay = _check_delays(delays, max_delay, who)
    _check_trailing(x, tuple(delays.shape), 0, who, "delays")
    if delays.is_floating_point() and delays.dtype != x.dtype:
        raise TypeError(f"{who}: delays have dtype {delays.dtype} but the input {x.dtype}")
    if state is not None:
        _check_state(state, tuple(x.shape), max_delay + 1, x, who)
    return _axonal_step(x, state, delays, max_delay)


def _synaptic_step(
    x: Tensor,
    state: DelayLineState | None,
    weight: Tensor,
    delays: Tensor,
    max_delay: int,
    bias: Tensor | None,
    sigma: float = 0.0,
) -> tuple[Tensor, DelayLineState]:
    depth = max_delay + 1
    if state is None:
        state = _initial(x, max_delay)
    buffer, slot = _push(x, state, depth)
    lagged = _lagged(buffer, slot, depth)
    kernel = weight.unsqueeze(-1) * _kernel(delays, max_delay, x.dtype, sigma)  # (O, I, D + 1)
    out = torch.einsum("j...i,oij->...o", lagged, kernel)
    if bias is not None:
        out = out + bias
    return out, DelayLineState(buffer, slot)


def synaptic_delay_step(
    input: Tensor,
    state: DelayLineState | None,
    weight: Tensor,
    delays: Tensor,
    max_delay: int | None = None,
    bias: Tensor | None = None,
) -> tuple[Tensor, DelayLineState]:
    r"""One step of :func:`synaptic_delay`:
    :math:`y_o = b_o + \sum_i W_{oi} \sum_j k_j(d_{oi})\, x_{t-j,i}` from the ring buffer.

    Args:
        input (Tensor): ``(*batch, in_features)``.
        state (DelayLineState): the ring buffer of past inputs (None: zeros).
        weight (Tensor): ``(out_features, in_features)``.
        delays (Tensor): ``(out_features, in_features)`` delays in steps.
        max_delay (int): the longest delay (default: the largest integer delay).
        bias (Tensor): ``(out_features,)`` or None.

    Returns:
        ``(output, state)``: ``(*batch, out_features)`` and the updated ring buffer.

    Example:
        >>> w, d = torch.ones(1, 2), torch.tensor([[2, 1]])
        >>> s = None
        >>> for x in ([1.0, 0.0], [0.0, 1.0], [0.0, 0.0]):
        ...     y, s = synaptic_delay_step(torch.tensor(x), s, w, d)
        ...     print(y.tolist())
        [0.0]
        [0.0]
        [2.0]
    """
    who = "synaptic_delay_step"
    x = _check_input(input, who)
    delays, max_delay = _check_delays(delays, max_delay, who)
    _weight_checks(weight, delays, bias, x, who)
    _check_trailing(x, (weight.shape[1],), 0, who, "in_features")
    if state is not None:
        _check_state(state, tuple(x.shape), max_delay + 1, x, who)
    return _synaptic_step(x, state, weight, delays, max_delay, bias)
