r"""Encoders: turn values (images, currents, measurements) into spike trains.

Rate codes draw independent Bernoulli spikes at every step of length :math:`\Delta t`:

.. math::
    z_t = \mathbb{1}\left[u_t < \Delta t\, f_{max}\, x\right], \qquad u_t \sim U[0, 1),

so a value :math:`x \in [0, 1]` fires at :math:`f_{max} x` Hz on average (the signed variant
uses :math:`|x|` and multiplies by :math:`\operatorname{sign}(x)`).

Current codes feed the value as a constant current into a LIF membrane without synaptic
current (:func:`~norse.torch.functional.lif.lif_current_encoder`), starting at :math:`v = 0`:

.. math::
    v_{t+1} = v_t + \Delta t\,\tau_{mem}^{-1} ((v_{leak} - v_t) + x), \qquad
    z = \Theta(v_{t+1} - v_{th}), \qquad v \leftarrow v - z (v - v_{reset}).

A constant current :math:`x > v_{th}` (with :math:`v_{leak} = v_{reset} = 0`) therefore fires
about every :math:`\tau_{mem} \ln\frac{x}{x - v_{th}}` seconds. Latency codes keep only each
neuron's first spike. Population codes spread each value over ``out_features`` neurons with
centres evenly spaced on :math:`[0, s]`:

.. math::
    y_k = \kappa\big(d(x, c_k)\, s\big), \quad c_k = \frac{k\, s}{K - 1}, \quad
    \kappa(r) = e^{-r / (2\sigma^2)}, \quad d(x, c) = (x - c)^2.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..utils._validation import as_size
from .lif import LIFParameters, lif_current_encoder

__all__ = [
    "constant_current_lif_encode",
    "euclidean_distance",
    "gaussian_rbf",
    "poisson_encode",
    "poisson_encode_step",
    "population_encode",
    "signed_poisson_encode",
    "signed_poisson_encode_step",
    "spike_latency_encode",
    "spike_latency_lif_encode",
]


# ----------------------------------------------------------------------------- validation
def _check_tensor(x: Any, who: str, name: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{who}: {name} must be a torch.Tensor, got {type(x).__name__}; "
            "convert it with torch.as_tensor(...)"
        )


def _check_seq_length(seq_length: Any, who: str) -> int:
    """``seq_length`` as a non-negative int (ints, numpy ints and 0-dim int tensors pass)."""
    if seq_length is None:
        raise TypeError(
            f"{who}: seq_length is missing; pass the number of time steps, e.g. seq_length=10"
        )
    if isinstance(seq_length, bool):
        raise TypeError(f"{who}: seq_length must be an int (number of time steps), got a bool")
    if isinstance(seq_length, float) or (
        isinstance(seq_length, Tensor) and seq_length.is_floating_point()
    ):
        raise ValueError(
            f"{who}: seq_length must be a whole number of time steps, got {seq_length!r}; "
            "pass an int such as seq_length=10"
        )
    try:
        n = operator.index(seq_length)
    except TypeError:
        raise TypeError(
            f"{who}: seq_length must be an int (number of time steps), "
            f"got {type(seq_length).__name__}"
        ) from None
    if n < 0:
        raise ValueError(f"{who}: seq_length must be >= 0, got {n}; pass e.g. seq_length=10")
    return n


def _check_number(value: Any, who: str, name: str, strict: bool) -> None:
    """Reject non-numbers and negative (or, if ``strict``, zero) python numbers.

    Tensors are accepted without looking at their values (that would sync the device).
    """
    if isinstance(value, Tensor):
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{who}: {name} must be a number or a tensor, got {type(value).__name__}")
    if value < 0 or (strict and value == 0):
        bound = "positive" if strict else ">= 0"
        example = "0.001" if name == "dt" else "100"
        raise ValueError(f"{who}: {name} must be {bound}, got {value}; pass e.g. {name}={example}")


def _check_generator(generator: Any, who: str) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"{who}: generator must be a torch.Generator or None, got {type(generator).__name__}"
        )


def _check_rate(input_values: Any, f_max: Any, dt: Any, generator: Any, who: str) -> None:
    _check_tensor(input_values, who, "input_values")
    _check_number(f_max, who, "f_max", strict=False)
    _check_number(dt, who, "dt", strict=True)
    _check_generator(generator, who)


def _check_lif_parameters(p: Any, who: str) -> None:
    needed = ("tau_mem_inv", "v_leak", "v_th", "v_reset", "method", "alpha")
    missing = [f for f in needed if not hasattr(p, f)]
    if missing:
        raise TypeError(
            f"{who}: p must be a LIFParameters (or have the fields {', '.join(needed)}), "
            f"got {type(p).__name__}; pass p=LIFParameters(...)"
        )


# ----------------------------------------------------------------------------- current codes
def constant_current_lif_encode(
    input_current: Tensor,
    seq_length: int,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> Tensor:
    """Drive LIF membranes (no synaptic current) with a constant current for ``seq_length`` steps.

    Args:
        input_current (Tensor): the current fed into each neuron, any shape.
        seq_length (int): number of time steps to produce.
        p (LIFParameters): neuron parameters (``tau_mem_inv``, ``v_leak``, ``v_th``,
            ``v_reset``, ``method``, ``alpha`` are used).
        dt (float): time step in seconds.

    Returns:
        float32 spikes of shape ``(seq_length, *input_current.shape)``.

    Example:
        >>> z = constant_current_lif_encode(torch.tensor([0.0, 2.0, 20.0]), seq_length=20)
        >>> z.shape, z.sum(0)
        (torch.Size([20, 3]), tensor([ 0.,  2., 20.]))
    """
    who = "constant_current_lif_encode"
    _check_tensor(input_current, who, "input_current")
    n = _check_seq_length(seq_length, who)
    _check_number(dt, who, "dt", strict=True)
    _check_lif_parameters(p, who)
    voltage = torch.zeros(input_current.shape, device=input_current.device)
    spikes = []
    for _ in range(n):
        z, voltage = lif_current_encoder(input_current, voltage, p, dt)
        spikes.append(z)
    if not spikes:
        return torch.zeros((0, *input_current.shape), device=input_current.device)
    return torch.stack(spikes).to(torch.float32)


def spike_latency_lif_encode(
    input_current: Tensor,
    seq_length: int,
    p: LIFParameters = LIFParameters(),
    dt: float = 0.001,
) -> Tensor:
    """Like :func:`constant_current_lif_encode`, but keep only each neuron's first spike.

    Stronger currents reach the threshold sooner, so the value is coded in the spike time.

    Args:
        input_current (Tensor): the current fed into each neuron, any shape.
        seq_length (int): number of time steps to produce.
        p (LIFParameters): neuron parameters.
        dt (float): time step in seconds.

    Returns:
        spikes of shape ``(seq_length, *input_current.shape)`` with at most one spike per
        neuron (float32; float64 for a float64 input).

    Example:
        >>> z = spike_latency_lif_encode(torch.tensor([2.0, 20.0]), seq_length=20)
        >>> z.sum(0), z.argmax(0)
        (tensor([1., 1.]), tensor([6, 0]))
    """
    who = "spike_latency_lif_encode"
    _check_tensor(input_current, who, "input_current")
    n = _check_seq_length(seq_length, who)
    _check_number(dt, who, "dt", strict=True)
    _check_lif_parameters(p, who)
    voltage = torch.zeros(input_current.shape, device=input_current.device)
    seen = None
    spikes = []
    for _ in range(n):
        z, voltage = lif_current_encoder(input_current, voltage, p, dt)
        if seen is None:
            spikes.append(z)
            seen = z.detach() > 0
        else:
            spikes.append(torch.where(seen, torch.zeros_like(z), z))
            seen = seen | (z.detach() > 0)
    if not spikes:
        return torch.zeros((0, *input_current.shape), device=input_current.device)
    return torch.stack(spikes)


def spike_latency_encode(input_spikes: Tensor) -> Tensor:
    """Keep only the first spike (first nonzero entry) of every neuron along dim 0 (time).

    Args:
        input_spikes (Tensor): spikes of shape ``(T, *)``, any dtype.

    Returns:
        a tensor of the input's shape and dtype where every neuron spikes at most once.

    Example:
        >>> spike_latency_encode(torch.tensor([[0, 1], [1, 1], [1, 0]]))
        tensor([[0, 1],
                [1, 0],
                [0, 0]])
    """
    who = "spike_latency_encode"
    _check_tensor(input_spikes, who, "input_spikes")
    if input_spikes.dim() == 0:
        raise ValueError(
            f"{who}: input_spikes must have a time dimension first, (T, ...), got a 0-dim "
            "tensor; pass e.g. spikes of shape (T, B, N)"
        )
    active = input_spikes != 0
    # number of spikes strictly before t: every entry after the first spike is dropped
    before = active.cumsum(0) - active.to(torch.long)
    return torch.where(before > 0, torch.zeros_like(input_spikes[:1]), input_spikes)


# ----------------------------------------------------------------------------- rate codes
def poisson_encode(
    input_values: Tensor,
    seq_length: int,
    f_max: float = 100,
    dt: float = 0.001,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Independent Bernoulli (Poisson-like) spike trains with rate ``f_max * x`` Hz.

    Args:
        input_values (Tensor): values, typically in ``[0, 1]``, any shape.
        seq_length (int): number of time steps to produce.
        f_max (float): firing rate in Hz of a value of 1.
        dt (float): time step in seconds.
        generator (torch.Generator): random number generator (on the input's device).

    Returns:
        float32 spikes of shape ``(seq_length, *input_values.shape)``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> z = poisson_encode(torch.tensor([0.0, 0.5, 1.0]), 1000, f_max=100, generator=g)
        >>> z.shape, z.mean(0)
        (torch.Size([1000, 3]), tensor([0.0000, 0.0520, 0.1030]))
    """
    who = "poisson_encode"
    n = _check_seq_length(seq_length, who)
    _check_rate(input_values, f_max, dt, generator, who)
    noise = torch.rand(n, *input_values.shape, device=input_values.device, generator=generator)
    return (noise < dt * f_max * input_values).float()


def poisson_encode_step(
    input_values: Tensor,
    f_max: float = 1000,
    dt: float = 0.001,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One time step of :func:`poisson_encode` (no time dimension). Note ``f_max=1000``.

    Args:
        input_values (Tensor): values, typically in ``[0, 1]``, any shape.
        f_max (float): firing rate in Hz of a value of 1.
        dt (float): time step in seconds.
        generator (torch.Generator): random number generator (on the input's device).

    Returns:
        float32 spikes of the input's shape.

    Example:
        >>> poisson_encode_step(torch.tensor([0.0, 1.0]))  # dt * f_max = 1: always fires at 1
        tensor([0., 1.])
    """
    _check_rate(input_values, f_max, dt, generator, "poisson_encode_step")
    noise = torch.rand(*input_values.shape, device=input_values.device, generator=generator)
    return (noise < dt * f_max * input_values).float()


def _signed(input_values: Tensor) -> Tensor:
    # bool has no abs(); treat it as 0/1
    return input_values.float() if input_values.dtype == torch.bool else input_values


def signed_poisson_encode(
    input_values: Tensor,
    seq_length: int,
    f_max: float = 100,
    dt: float = 0.001,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Poisson spike trains with rate ``f_max * |x|`` and the sign of ``x``.

    The random numbers are drawn on the input's device (1.1.0 drew them on the CPU).

    Args:
        input_values (Tensor): values, typically in ``[-1, 1]``, any shape.
        seq_length (int): number of time steps to produce.
        f_max (float): firing rate in Hz of a value of magnitude 1.
        dt (float): time step in seconds.
        generator (torch.Generator): random number generator (on the input's device).

    Returns:
        spikes in ``{-1, 0, 1}`` of shape ``(seq_length, *input_values.shape)`` (float32, or
        the input's dtype if that is a wider float).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> z = signed_poisson_encode(torch.tensor([-1.0, 0.0, 1.0]), 1000, generator=g)
        >>> z.unique().tolist(), z.mean(0)
        ([-1.0, 0.0, 1.0], tensor([-0.1040,  0.0000,  0.1030]))
    """
    who = "signed_poisson_encode"
    n = _check_seq_length(seq_length, who)
    _check_rate(input_values, f_max, dt, generator, who)
    x = _signed(input_values)
    noise = torch.rand(n, *x.shape, device=x.device, generator=generator)
    return torch.sign(x) * (noise < dt * f_max * torch.abs(x)).float()


def signed_poisson_encode_step(
    input_values: Tensor,
    f_max: float = 1000,
    dt: float = 0.001,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One time step of :func:`signed_poisson_encode` (no time dimension). Note ``f_max=1000``.

    Args:
        input_values (Tensor): values, typically in ``[-1, 1]``, any shape.
        f_max (float): firing rate in Hz of a value of magnitude 1.
        dt (float): time step in seconds.
        generator (torch.Generator): random number generator (on the input's device).

    Returns:
        spikes in ``{-1, 0, 1}`` of the input's shape.

    Example:
        >>> signed_poisson_encode_step(torch.tensor([-1.0, 0.0, 1.0]))
        tensor([-1.,  0.,  1.])
    """
    _check_rate(input_values, f_max, dt, generator, "signed_poisson_encode_step")
    x = _signed(input_values)
    noise = torch.rand(*x.shape, device=x.device, generator=generator)
    return torch.sign(x) * (noise < dt * f_max * torch.abs(x)).float()


# ----------------------------------------------------------------------------- population code
def gaussian_rbf(tensor: Tensor, sigma: float = 1) -> Tensor:
    """Gaussian radial basis function of a squared distance: ``exp(-tensor / (2 sigma^2))``.

    Args:
        tensor (Tensor): squared distances.
        sigma (float): width of the Gaussian.

    Example:
        >>> gaussian_rbf(torch.tensor([0.0, 2.0]))
        tensor([1.0000, 0.3679])
    """
    return torch.exp(-tensor / (2 * sigma**2))


def euclidean_distance(x: Tensor, y: Tensor) -> Tensor:
    """Element-wise squared difference ``(x - y)^2`` (no square root).

    Example:
        >>> euclidean_distance(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 1.0]))
        tensor([1., 4.])
    """
    return (x - y) ** 2


def population_encode(
    input_values: Tensor,
    out_features: int,
    scale: float | Tensor | None = None,
    kernel: Callable[[Tensor], Tensor] = gaussian_rbf,
    distance_function: Callable[[Tensor, Tensor], Tensor] = euclidean_distance,
) -> Tensor:
    """Spread every value over ``out_features`` neurons with evenly spaced centres on ``[0, scale]``.

    The result is ``kernel(distance_function(x, centres) * scale)``.

    Args:
        input_values (Tensor): values, any shape.
        out_features (int): number of neurons (centres) per value.
        scale (float): upper end of the centres; ``None`` or 0 uses ``input_values.max()``.
        kernel (Callable): maps scaled distances to activations.
        distance_function (Callable): distance between values and centres.

    Returns:
        a tensor of shape ``(*input_values.shape, out_features)``.

    Example:
        >>> population_encode(torch.tensor([0.0, 1.0, 2.0]), 3)
        tensor([[1.0000, 0.3679, 0.0183],
                [0.3679, 1.0000, 0.3679],
                [0.0183, 0.3679, 1.0000]])
    """
    who = "population_encode"
    _check_tensor(input_values, who, "input_values")
    out_features = as_size(out_features, "out_features", who)
    if not scale:
        scale = input_values.max()
    dtype = input_values.dtype if input_values.is_floating_point() else None
    centres = torch.linspace(0, scale, out_features, dtype=dtype, device=input_values.device)
    shape = (*input_values.shape, out_features)
    x = input_values.unsqueeze(-1).expand(shape)
    return kernel(distance_function(x, centres.expand(shape)) * scale)
