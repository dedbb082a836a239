r"""Losses, decoders and accuracies for classifying with the output layer of a spiking network.

Every function takes the output of ``C`` neurons over time, time first: spikes ``z`` or
membrane voltages ``v`` shaped ``(T, B, C)`` (time, batch, neurons), and integer class
labels ``targets`` shaped ``(B,)`` with values in ``[0, C)``. Write
:math:`n_{b,c} = \sum_{t=0}^{T-1} z_{t,b,c}` for the spike count of neuron ``c``.

* rate / count codes: :func:`ce_count_loss`, :func:`mse_count_loss`, :func:`accuracy_rate`;
* voltage codes: :func:`ce_max_membrane_loss`, :func:`ce_last_membrane_loss`,
  :func:`accuracy_max_membrane`;
* latency codes: :func:`first_spike_times`, :func:`ce_temporal_loss`,
  :func:`accuracy_first_spike`;
* population codes (``pop`` neurons per class): :func:`population_decode`,
  :func:`ce_population_count_loss`, :func:`mse_population_count_loss`.

The losses are differentiable in their first argument; with spikes from a surrogate-gradient
neuron (e.g. :class:`norse.torch.LIF`) the gradients reach the network through the
surrogate. :mod:`norse.torch.module.loss` wraps them as :class:`torch.nn.Module` classes.

Example:
    >>> import norse.torch as snn
    >>> z, _ = snn.LIF()(torch.rand(20, 4, 10) * 3)   # (T, B, C) spikes of 10 classes
    >>> targets = torch.tensor([0, 3, 9, 3])
    >>> loss = ce_count_loss(z, targets)
    >>> loss.ndim, accuracy_rate(z, targets).dtype
    (0, torch.float32)
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "accuracy_first_spike",
    "accuracy_max_membrane",
    "accuracy_rate",
    "ce_count_loss",
    "ce_last_membrane_loss",
    "ce_max_membrane_loss",
    "ce_population_count_loss",
    "ce_temporal_loss",
    "first_spike_times",
    "mse_count_loss",
    "mse_population_count_loss",
    "population_decode",
]

_REDUCTIONS = ("mean", "sum", "none")


# ----------------------------------------------------------------------------- validation
def _check_output(fn: str, name: str, x: object, nan: bool = True) -> Tensor:
    """``x`` must be a floating ``(T, B, C)`` tensor with ``T, B, C > 0`` (and no NaN)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: {name} must be a torch.Tensor, got {type(x).__name__}")
    if not (x.is_floating_point() or x.dtype == torch.bool):
        raise TypeError(
            f"{fn}: {name} must be a floating-point (or bool) tensor of spikes or voltages, "
            f"got dtype {x.dtype}"
        )
    if x.dim() != 3:
        raise ValueError(
            f"{fn}: {name} must have 3 dimensions (time, batch, neurons) = (T, B, C), got "
            f"shape {tuple(x.shape)}; add a batch dimension with {name}.unsqueeze(1)"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{fn}: {name} must have at least one time step (T > 0), got T == 0")
    if x.shape[1] == 0 or x.shape[2] == 0:
        raise ValueError(
            f"{fn}: {name} must have a non-empty batch and neuron dimension, got shape "
            f"{tuple(x.shape)}"
        )
    if x.dtype == torch.bool:
        x = x.float()
    if nan and torch.isnan(x).any():
        raise ValueError(f"{fn}: {name} contains NaN; check the network's inputs and parameters")
    return x


def _check_targets(fn: str, targets: object, batch: int, num_classes: int) -> Tensor:
    """``targets`` must be an integer ``(B,)`` tensor with values in ``[0, num_classes)``."""
    if not isinstance(targets, Tensor):
        raise TypeError(
            f"{fn}: targets must be a torch.Tensor of class indices, got {type(targets).__name__}"
        )
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise TypeError(
            f"{fn}: targets must be an integer tensor of class indices (e.g. torch.long), got "
            f"dtype {targets.dtype}; use targets.long() (not one-hot vectors)"
        )
    if targets.dim() != 1 or targets.shape[0] != batch:
        raise ValueError(
            f"{fn}: targets must have shape (B,) = ({batch},) to match the batch dimension, "
            f"got shape {tuple(targets.shape)}"
        )
    if targets.numel() > 0:
        low, high = int(targets.min()), int(targets.max())
        if low < 0 or high >= num_classes:
            raise ValueError(
                f"{fn}: targets must be class indices in [0, {num_classes}), got values in "
                f"[{low}, {high}]"
            )
    return targets.long()


def _check_reduction(fn: str, reduction: object) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(
            f"{fn}: reduction must be one of {', '.join(map(repr, _REDUCTIONS))}, got {reduction!r}"
        )
    return reduction  # type: ignore[return-value]


def _check_rate(fn: str, name: str, rate: object) -> float:
    if isinstance(rate, bool) or not isinstance(rate, Real):
        raise TypeError(f"{fn}: {name} must be a number in [0, 1], got {type(rate).__name__}")
    if not (0.0 <= float(rate) <= 1.0):  # also rejects NaN
        raise ValueError(f"{fn}: {name} must be a spike rate per time step in [0, 1], got {rate}")
    return float(rate)


def _check_num_classes(fn: str, num_classes: object, neurons: int) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, Integral):
        raise TypeError(f"{fn}: num_classes must be an int, got {type(num_classes).__name__}")
    if num_classes <= 0:
        raise ValueError(f"{fn}: num_classes must be positive, got {num_classes}")
    if neurons % num_classes != 0:
        raise ValueError(
            f"{fn}: num_classes must divide the number of output neurons C, got "
            f"num_classes={num_classes} and C={neurons}; use num_classes * pop neurons"
        )
    return int(num_classes)


def _check_temperature(fn: str, temperature: object) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, Real):
        raise TypeError(
            f"{fn}: temperature must be a positive number, got {type(temperature).__name__}"
        )
    if not (float(temperature) > 0 and math.isfinite(float(temperature))):
        raise ValueError(f"{fn}: temperature must be positive and finite, got {temperature}")
    return float(temperature)


def _targets_like(
    targets: Tensor, x: Tensor, num_classes: int, correct: float, incorrect: float
) -> Tensor:
    """``correct`` at the target class, ``incorrect`` elsewhere, shaped ``(B, num_classes)``."""
    one_hot = F.one_hot(targets, num_classes).to(x.dtype)
    return incorrect + (correct - incorrect) * one_hot


def _mean_accuracy(prediction: Tensor, targets: Tensor, dtype: torch.dtype) -> Tensor:
    return (prediction == targets).to(dtype).mean()


def _float_dtype(x: Tensor) -> torch.dtype:
    return x.dtype if x.is_floating_point() else torch.get_default_dtype()


# ----------------------------------------------------------------------------- count codes
def ce_count_loss(spikes: Tensor, targets: Tensor, reduction: str = "mean") -> Tensor:
    r"""Cross-entropy of the spike counts: the class whose neuron fires most should win.

    .. math::
        \ell_b = -\log \frac{\exp n_{b,y_b}}{\sum_c \exp n_{b,c}},
        \qquad n_{b,c} = \sum_t z_{t,b,c}

    i.e. ``torch.nn.functional.cross_entropy(spikes.sum(0), targets)``, with the counts as
    logits. (Divide ``spikes`` by ``T`` first to use rates instead of counts.)

    Args:
        spikes (Tensor): output spikes ``(T, B, C)``.
        targets (Tensor): integer class labels ``(B,)`` in ``[0, C)``.
        reduction (str): ``"mean"`` (over the batch), ``"sum"`` or ``"none"`` (shape ``(B,)``).

    Returns:
        the loss.

    Example:
        >>> z = torch.tensor([[[1., 0.]], [[1., 0.]]])   # T=2, B=1: neuron 0 fires twice
        >>> ce_count_loss(z, torch.tensor([0]))          # -log(e^2 / (e^2 + 1))
        tensor(0.1269)
    """
    fn = "ce_count_loss"
    spikes = _check_output(fn, "spikes", spikes)
    targets = _check_targets(fn, targets, spikes.shape[1], spikes.shape[2])
    return F.cross_entropy(spikes.sum(0), targets, reduction=_check_reduction(fn, reduction))


def mse_count_loss(
    spikes: Tensor,
    targets: Tensor,
    correct_rate: float = 0.8,
    incorrect_rate: float = 0.2,
    reduction: str = "mean",
) -> Tensor:
    r"""Mean squared error between the spike counts and target counts set by firing rates.

    The correct class should fire ``correct_rate * T`` spikes, every other class
    ``incorrect_rate * T``:

    .. math::
        \ell = \frac{1}{BC} \sum_{b,c} \left(n_{b,c} - T r_{b,c}\right)^2, \qquad
        r_{b,c} = \begin{cases} r_\text{correct} & c = y_b \\
        r_\text{incorrect} & \text{otherwise} \end{cases}

    Args:
        spikes (Tensor): output spikes ``(T, B, C)``.
        targets (Tensor): integer class labels ``(B,)`` in ``[0, C)``.
        correct_rate (float): target spikes per time step of the correct class, in ``[0, 1]``.
        incorrect_rate (float): target spikes per time step of the other classes, in
            ``[0, 1]``.
        reduction (str): ``"mean"`` (over batch and neurons), ``"sum"`` or ``"none"`` (the
            squared errors, shape ``(B, C)``).

    Returns:
        the loss.

    Example:
        >>> z = torch.zeros(10, 1, 2)
        >>> z[:8, 0, 0] = 1                  # class 0: 8 of 10 steps, class 1: silent
        >>> mse_count_loss(z, torch.tensor([0]))   # ((8 - 8)^2 + (0 - 2)^2) / 2
        tensor(2.)
    """
    fn = "mse_count_loss"
    spikes = _check_output(fn, "spikes", spikes)
    T, B, C = spikes.shape
    targets = _check_targets(fn, targets, B, C)
    correct = _check_rate(fn, "correct_rate", correct_rate)
    incorrect = _check_rate(fn, "incorrect_rate", incorrect_rate)
    wanted = _targets_like(targets, spikes, C, correct * T, incorrect * T)
    return F.mse_loss(spikes.sum(0), wanted, reduction=_check_reduction(fn, reduction))


# ----------------------------------------------------------------------------- voltage codes
def ce_max_membrane_loss(v: Tensor, targets: Tensor, reduction: str = "mean") -> Tensor:
    r"""Cross-entropy of the maximum membrane voltage over time of each output neuron.

    .. math::
        \ell_b = -\log \frac{\exp m_{b,y_b}}{\sum_c \exp m_{b,c}},
        \qquad m_{b,c} = \max_t v_{t,b,c}

    Typically used with non-spiking leaky integrators (:class:`norse.torch.LI`) as the
    output layer. The gradient flows to the time step of the maximum.

    Args:
        v (Tensor): membrane voltages ``(T, B, C)``.
        targets (Tensor): integer class labels ``(B,)`` in ``[0, C)``.
        reduction (str): ``"mean"``, ``"sum"`` or ``"none"`` (shape ``(B,)``).

    Returns:
        the loss.

    Example:
        >>> v = torch.tensor([[[0.0, 1.0]], [[2.0, 0.0]]])   # max over time: [2, 1]
        >>> ce_max_membrane_loss(v, torch.tensor([0]))      # -log(e^2 / (e^2 + e))
        tensor(0.3133)
    """
    fn = "ce_max_membrane_loss"
    v = _check_output(fn, "v", v)
    targets = _check_targets(fn, targets, v.shape[1], v.shape[2])
    return F.cross_entropy(v.amax(0), targets, reduction=_check_reduction(fn, reduction))


def ce_last_membrane_loss(v: Tensor, targets: Tensor, reduction: str = "mean") -> Tensor:
    r"""Cross-entropy of the membrane voltage at the last time step ``T - 1``.

    .. math::
        \ell_b = -\log \frac{\exp v_{T-1,b,y_b}}{\sum_c \exp v_{T-1,b,c}}

    Args:
        v (Tensor): membrane voltages ``(T, B, C)``.
        targets (Tensor): integer class labels ``(B,)`` in ``[0, C)``.
        reduction (str): ``"mean"``, ``"sum"`` or ``"none"`` (shape ``(B,)``).

    Returns:
        the loss.

    Example:
        >>> v = torch.tensor([[[5.0, 0.0]], [[0.0, 0.0]]])   # last step: [0, 0]
        >>> ce_last_membrane_loss(v, torch.tensor([1]))     # log 2
        tensor(0.6931)
    """
    fn = "ce_last_membrane_loss"
    v = _check_output(fn, "v", v)
    targets = _check_targets(fn, targets, v.shape[1], v.shape[2])
    return F.cross_entropy(v[-1], targets, reduction=_check_reduction(fn, reduction))


# ----------------------------------------------------------------------------- latency codes
def first_spike_times(spikes: Tensor) -> Tensor:
    r"""Index of the first time step at which each neuron spikes; ``T`` if it never does.

    .. math::
        \tau_{b,c} = \min\{t : z_{t,b,c} > 0\} \quad (\text{or } T \text{ if no such } t)

    A decoder, not differentiable (integer output); :func:`ce_temporal_loss` is its
    differentiable counterpart.

    Args:
        spikes (Tensor): spikes ``(T, B, C)``.

    Returns:
        ``torch.long`` tensor ``(B, C)`` of time indices in ``[0, T]``.

    Example:
        >>> z = torch.tensor([[[0., 0., 0.]], [[1., 0., 0.]], [[1., 1., 0.]]])   # T=3
        >>> first_spike_times(z)
        tensor([[1, 2, 3]])
    """
    spikes = _check_output("first_spike_times", "spikes", spikes)
    fired = (spikes > 0).long()
    # argmax returns the first maximal index; a neuron with no spike gets T.
    first = fired.argmax(0)
    return torch.where(fired.any(0), first, torch.full_like(first, spikes.shape[0]))


def _soft_first_spike_times(spikes: Tensor) -> Tensor:
    r"""``sum_t t z_t P_t + T P_T`` with ``P_t = prod_{k<t} (1 - z_k)``, shape ``(B, C)``."""
    T = spikes.shape[0]
    survive = torch.cumprod(1 - spikes, dim=0)  # P_{t+1}: no spike in steps 0..t
    before = torch.cat([torch.ones_like(spikes[:1]), survive[:-1]], dim=0)  # P_t
    steps = torch.arange(T, dtype=spikes.dtype, device=spikes.device).view(T, 1, 1)
    return (steps * spikes * before).sum(0) + T * survive[-1]


def ce_temporal_loss(
    spikes: Tensor, targets: Tensor, temperature: float = 1.0, reduction: str = "mean"
) -> Tensor:
    r"""Cross-entropy of negated first-spike times: the correct class should spike first.

    The first-spike time of every neuron is computed through a soft, differentiable proxy

    .. math::
        \hat\tau_{b,c} = \sum_{t=0}^{T-1} t\, z_{t,b,c} P_{t,b,c} + T P_{T,b,c},
        \qquad P_{t,b,c} = \prod_{k<t} (1 - z_{k,b,c}),

    where :math:`P_t` is the probability that the neuron has not spiked before ``t``. For
    binary spikes :math:`\hat\tau` equals :func:`first_spike_times` exactly (``T`` if the
    neuron is silent), so the loss value is

    .. math::
        \ell_b = -\log \frac{\exp(-\hat\tau_{b,y_b} / \theta)}
        {\sum_c \exp(-\hat\tau_{b,c} / \theta)}

    with temperature :math:`\theta`. Its gradient with respect to a spike before the first
    one, :math:`\partial \hat\tau / \partial z_k = k - \hat\tau`, is negative (spiking earlier
    shortens the time), also for neurons that never spike; spikes after the first get zero
    gradient. Gradients reach the network through the surrogate gradient of the spikes.

    Args:
        spikes (Tensor): spikes ``(T, B, C)`` with values in ``[0, 1]`` (binary from a
            neuron layer, or spike probabilities).
        targets (Tensor): integer class labels ``(B,)`` in ``[0, C)``.
        temperature (float): divides the negated times before the softmax; larger values
            soften the ranking.
        reduction (str): ``"mean"``, ``"sum"`` or ``"none"`` (shape ``(B,)``).

    Returns:
        the loss.

    Example:
        >>> z = torch.tensor([[[1., 0.]], [[0., 1.]]])   # neuron 0 at t=0, neuron 1 at t=1
        >>> ce_temporal_loss(z, torch.tensor([0]))      # -log(e^0 / (e^0 + e^-1))
        tensor(0.3133)
    """
    fn = "ce_temporal_loss"
    spikes = _check_output(fn, "spikes", spikes)
    targets = _check_targets(fn, targets, spikes.shape[1], spikes.shape[2])
    theta = _check_temperature(fn, temperature)
    reduction = _check_reduction(fn, reduction)
    low, high = float(spikes.detach().min()), float(spikes.detach().max())
    if low < 0 or high > 1:
        raise ValueError(
            f"{fn}: spikes must lie in [0, 1] (spikes or spike probabilities), got values in "
            f"[{low}, {high}]"
        )
    times = _soft_first_spike_times(spikes)
    return F.cross_entropy(-times / theta, targets, reduction=reduction)


# ----------------------------------------------------------------------------- population codes
def population_decode(spikes: Tensor, num_classes: int) -> Tensor:
    r"""Spike counts summed per class over populations of ``pop = C / num_classes`` neurons.

    Neuron ``j`` belongs to class ``j // pop`` (contiguous blocks):

    .. math::
        N_{b,k} = \sum_t \sum_{j = k\,\text{pop}}^{(k+1)\,\text{pop} - 1} z_{t,b,j}

    Args:
        spikes (Tensor): spikes ``(T, B, C)`` with ``C = num_classes * pop``.
        num_classes (int): the number of classes; must divide ``C``.

    Returns:
        the class counts ``(B, num_classes)`` (differentiable).

    Example:
        >>> z = torch.tensor([[[1., 1., 0., 1.]], [[0., 1., 0., 0.]]])   # T=2, B=1, C=4
        >>> population_decode(z, num_classes=2)
        tensor([[3., 1.]])
    """
    return _population_counts("population_decode", spikes, num_classes)


def _population_counts(fn: str, spikes: Tensor, num_classes: int) -> Tensor:
    spikes = _check_output(fn, "spikes", spikes)
    _, B, C = spikes.shape
    k = _check_num_classes(fn, num_classes, C)
    return spikes.sum(0).reshape(B, k, C // k).sum(-1)


def ce_population_count_loss(
    spikes: Tensor, targets: Tensor, num_classes: int, reduction: str = "mean"
) -> Tensor:
    r"""Cross-entropy of the population counts :math:`N_{b,k}` of :func:`population_decode`.

    .. math::
        \ell_b = -\log \frac{\exp N_{b,y_b}}{\sum_k \exp N_{b,k}}

    With ``pop == 1`` this is :func:`ce_count_loss`.

    Args:
        spikes (Tensor): spikes ``(T, B, num_classes * pop)``.
        targets (Tensor): integer class labels ``(B,)`` in ``[0, num_classes)``.
        num_classes (int): the number of classes; must divide the number of neurons.
        reduction (str): ``"mean"``, ``"sum"`` or ``"none"`` (shape ``(B,)``).

    Returns:
        the loss.

    Example:
        >>> z = torch.tensor([[[1., 1., 0., 0.]]])   # T=1: class 0 counts 2, class 1 counts 0
        >>> ce_population_count_loss(z, torch.tensor([0]), num_classes=2)
        tensor(0.1269)
    """
    fn = "ce_population_count_loss"
    counts = _population_counts(fn, spikes, num_classes)
    targets = _check_targets(fn, targets, counts.shape[0], num_classes)
    return F.cross_entropy(counts, targets, reduction=_check_reduction(fn, reduction))


def mse_population_count_loss(
    spikes: Tensor,
    targets: Tensor,
    num_classes: int,
    correct_rate: float = 0.8,
    incorrect_rate: float = 0.2,
    reduction: str = "mean",
) -> Tensor:
    r""":func:`mse_count_loss` on the population counts :math:`N_{b,k}`.

    Each of the ``pop`` neurons of the correct class should fire ``correct_rate * T``
    spikes, those of the other classes ``incorrect_rate * T``, so the target population
    counts are :math:`\text{pop}\, T\, r_{b,k}`:

    .. math::
        \ell = \frac{1}{BK} \sum_{b,k} \left(N_{b,k} - \text{pop}\, T\, r_{b,k}\right)^2

    Args:
        spikes (Tensor): spikes ``(T, B, num_classes * pop)``.
        targets (Tensor): integer class labels ``(B,)`` in ``[0, num_classes)``.
        num_classes (int): the number of classes ``K``; must divide the number of neurons.
        correct_rate (float): target rate per neuron of the correct class, in ``[0, 1]``.
        incorrect_rate (float): target rate per neuron of the other classes, in ``[0, 1]``.
        reduction (str): ``"mean"``, ``"sum"`` or ``"none"`` (shape ``(B, num_classes)``).

    Returns:
        the loss.

    Example:
        >>> z = torch.zeros(10, 1, 4)
        >>> z[:8, 0, :2] = 1       # both class-0 neurons fire 8 times: N = [16, 0]
        >>> mse_population_count_loss(z, torch.tensor([0]), num_classes=2)   # (0 + 4^2) / 2
        tensor(8.)
    """
    fn = "mse_population_count_loss"
    counts = _population_counts(fn, spikes, num_classes)
    T, _, C = spikes.shape
    targets = _check_targets(fn, targets, counts.shape[0], num_classes)
    scale = T * (C // num_classes)
    correct = _check_rate(fn, "correct_rate", correct_rate) * scale
    incorrect = _check_rate(fn, "incorrect_rate", incorrect_rate) * scale
    wanted = _targets_like(targets, counts, num_classes, correct, incorrect)
    return F.mse_loss(counts, wanted, reduction=_check_reduction(fn, reduction))


# ----------------------------------------------------------------------------- accuracies
def accuracy_rate(spikes: Tensor, targets: Tensor) -> Tensor:
    r"""Fraction of samples whose most active neuron (highest spike count) is the target.

    .. math::
        \text{acc} = \frac{1}{B} \sum_b [\arg\max_c n_{b,c} = y_b]

    Ties go to the lowest neuron index.

    Args:
        spikes (Tensor): spikes ``(T, B, C)``.
        targets (Tensor): integer class labels ``(B,)`` in ``[0, C)``.

    Returns:
        a 0-dim floating-point tensor in ``[0, 1]`` (no gradient).

    Example:
        >>> z = torch.tensor([[[1., 0.], [1., 0.]], [[1., 0.], [0., 1.]]])   # T=2, B=2
        >>> accuracy_rate(z, torch.tensor([0, 1]))   # sample 1 ties 1:1 -> predicts 0
        tensor(0.5000)
    """
    fn = "accuracy_rate"
    spikes = _check_output(fn, "spikes", spikes)
    targets = _check_targets(fn, targets, spikes.shape[1], spikes.shape[2])
    with torch.no_grad():
        return _mean_accuracy(spikes.sum(0).argmax(-1), targets, _float_dtype(spikes))


def accuracy_max_membrane(v: Tensor, targets: Tensor) -> Tensor:
    r"""Fraction of samples whose neuron with the highest maximum voltage is the target.

    .. math::
        \text{acc} = \frac{1}{B} \sum_b [\arg\max_c \max_t v_{t,b,c} = y_b]

    Args:
        v (Tensor): membrane voltages ``(T, B, C)``.
        targets (Tensor): integer class labels ``(B,)`` in ``[0, C)``.

    Returns:
        a 0-dim floating-point tensor in ``[0, 1]`` (no gradient).

    Example:
        >>> v = torch.tensor([[[0.0, 1.0]], [[2.0, 0.0]]])
        >>> accuracy_max_membrane(v, torch.tensor([0]))
        tensor(1.)
    """
    fn = "accuracy_max_membrane"
    v = _check_output(fn, "v", v)
    targets = _check_targets(fn, targets, v.shape[1], v.shape[2])
    with torch.no_grad():
        return _mean_accuracy(v.amax(0).argmax(-1), targets, _float_dtype(v))


def accuracy_first_spike(spikes: Tensor, targets: Tensor) -> Tensor:
    r"""Fraction of samples whose earliest-spiking neuron is the target.

    .. math::
        \text{acc} = \frac{1}{B} \sum_b [\arg\min_c \tau_{b,c} = y_b]

    with :math:`\tau` from :func:`first_spike_times`. Ties (also when no neuron spikes) go
    to the lowest neuron index.

    Args:
        spikes (Tensor): spikes ``(T, B, C)``.
        targets (Tensor): integer class labels ``(B,)`` in ``[0, C)``.

    Returns:
        a 0-dim floating-point tensor in ``[0, 1]`` (no gradient).

    Example:
        >>> z = torch.tensor([[[0., 1.], [0., 0.]], [[1., 1.], [1., 0.]]])   # T=2, B=2
        >>> accuracy_first_spike(z, torch.tensor([1, 1]))   # predictions: 1, 0
        tensor(0.5000)
    """
    fn = "accuracy_first_spike"
    spikes = _check_output(fn, "spikes", spikes)
    targets = _check_targets(fn, targets, spikes.shape[1], spikes.shape[2])
    with torch.no_grad():
        prediction = first_spike_times(spikes).argmin(-1)
        return _mean_accuracy(prediction, targets, _float_dtype(spikes))
