"""Losses and decoders for the output layer of a spiking network, as modules.

Thin :class:`torch.nn.Module` wrappers that hold the options; equations, shapes and errors:
:mod:`norse.torch.functional.loss`. Inputs are time first, ``(T, B, C)``.

Example:
    >>> import norse.torch as snn
    >>> layer, loss_fn = snn.LIF(), MSECountLoss(correct_rate=0.5, incorrect_rate=0.0)
    >>> z, _ = layer(torch.rand(20, 4, 3) * 3)
    >>> loss_fn(z, torch.tensor([0, 1, 2, 0])).ndim
    0
"""

from __future__ import annotations

from torch import Tensor, nn

from ..functional import loss as _loss

__all__ = [
    "CECountLoss",
    "CELastMembraneLoss",
    "CEMaxMembraneLoss",
    "CEPopulationCountLoss",
    "CETemporalLoss",
    "FirstSpikeTimes",
    "MSECountLoss",
    "MSEPopulationCountLoss",
    "PopulationDecode",
]


def _check_options(cls: str, **options) -> None:
    """Validate constructor options early, with the class name in the message."""
    reduction = options.get("reduction")
    if reduction is not None and reduction not in _loss._REDUCTIONS:
        raise ValueError(
            f"{cls}: reduction must be one of {', '.join(map(repr, _loss._REDUCTIONS))}, got "
            f"{reduction!r}"
        )
    for name in ("correct_rate", "incorrect_rate"):
        if name in options:
            _loss._check_rate(cls, name, options[name])
    if "temperature" in options:
        _loss._check_temperature(cls, options["temperature"])
    if "num_classes" in options:
        _loss._check_num_classes(cls, options["num_classes"], options["num_classes"])


class _Wrapper(nn.Module):
    """A functional loss or decoder with its options: ``__init__`` checks and keeps the
    keyword options, ``forward(*inputs)`` calls ``function(*inputs, **options)``."""

    function: staticmethod

    def __init__(self, **options: object) -> None:
        super().__init__()
        _check_options(type(self).__name__, **options)
        self._options = tuple(options)
        for name, value in options.items():
            setattr(self, name, value)

    def forward(self, *inputs: Tensor) -> Tensor:
        return self.function(*inputs, **{name: getattr(self, name) for name in self._options})

    def extra_repr(self) -> str:
        return ", ".join(f"{name}={getattr(self, name)!r}" for name in self._options)


class CECountLoss(_Wrapper):
    """Cross-entropy of the spike counts; see :func:`~norse.torch.functional.loss.ce_count_loss`.

    Args:
        reduction (str): ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> z = torch.tensor([[[1., 0.]], [[1., 0.]]])
        >>> CECountLoss()(z, torch.tensor([0]))
        tensor(0.1269)
    """

    function = staticmethod(_loss.ce_count_loss)

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class MSECountLoss(_Wrapper):
    """Spike-count MSE against target rates; see
    :func:`~norse.torch.functional.loss.mse_count_loss`.

    Args:
        correct_rate (float): target spikes per step of the correct class, in ``[0, 1]``.
        incorrect_rate (float): target spikes per step of the other classes, in ``[0, 1]``.
        reduction (str): ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> z = torch.zeros(10, 1, 2)
        >>> z[:8, 0, 0] = 1
        >>> MSECountLoss()(z, torch.tensor([0]))
        tensor(2.)
    """

    function = staticmethod(_loss.mse_count_loss)

    def __init__(
        self, correct_rate: float = 0.8, incorrect_rate: float = 0.2, reduction: str = "mean"
    ) -> None:
        super().__init__(
            correct_rate=correct_rate, incorrect_rate=incorrect_rate, reduction=reduction
        )


class CEMaxMembraneLoss(_Wrapper):
    """Cross-entropy of the maximum voltage over time; see
    :func:`~norse.torch.functional.loss.ce_max_membrane_loss`.

    Args:
        reduction (str): ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> v = torch.tensor([[[0.0, 1.0]], [[2.0, 0.0]]])
        >>> CEMaxMembraneLoss()(v, torch.tensor([0]))
        tensor(0.3133)
    """

    function = staticmethod(_loss.ce_max_membrane_loss)

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class CELastMembraneLoss(_Wrapper):
    """Cross-entropy of the voltage at the last step; see
    :func:`~norse.torch.functional.loss.ce_last_membrane_loss`.

    Args:
        reduction (str): ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> v = torch.tensor([[[5.0, 0.0]], [[0.0, 0.0]]])
        >>> CELastMembraneLoss()(v, torch.tensor([1]))
        tensor(0.6931)
    """

    function = staticmethod(_loss.ce_last_membrane_loss)

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)


class CETemporalLoss(_Wrapper):
    """Cross-entropy of negated soft first-spike times; see
    :func:`~norse.torch.functional.loss.ce_temporal_loss`.

    Args:
        temperature (float): divides the negated times before the softmax.
        reduction (str): ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> z = torch.tensor([[[1., 0.]], [[0., 1.]]])
        >>> CETemporalLoss()(z, torch.tensor([0]))
        tensor(0.3133)
    """

    function = staticmethod(_loss.ce_temporal_loss)

    def __init__(self, temperature: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(temperature=temperature, reduction=reduction)


class FirstSpikeTimes(_Wrapper):
    """First spike index per neuron (``T`` if none); see
    :func:`~norse.torch.functional.loss.first_spike_times`.

    Example:
        >>> z = torch.tensor([[[0., 0., 0.]], [[1., 0., 0.]], [[1., 1., 0.]]])
        >>> FirstSpikeTimes()(z)
        tensor([[1, 2, 3]])
    """

    function = staticmethod(_loss.first_spike_times)


class PopulationDecode(_Wrapper):
    """Spike counts summed per class population; see
    :func:`~norse.torch.functional.loss.population_decode`.

    Args:
        num_classes (int): the number of classes; must divide the number of neurons.

    Example:
        >>> z = torch.tensor([[[1., 1., 0., 1.]], [[0., 1., 0., 0.]]])
        >>> PopulationDecode(num_classes=2)(z)
        tensor([[3., 1.]])
    """

    function = staticmethod(_loss.population_decode)

    def __init__(self, num_classes: int) -> None:
        super().__init__(num_classes=num_classes)


class CEPopulationCountLoss(_Wrapper):
    """Cross-entropy of the population counts; see
    :func:`~norse.torch.functional.loss.ce_population_count_loss`.

    Args:
        num_classes (int): the number of classes; must divide the number of neurons.
        reduction (str): ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> z = torch.tensor([[[1., 1., 0., 0.]]])
        >>> CEPopulationCountLoss(num_classes=2)(z, torch.tensor([0]))
        tensor(0.1269)
    """

    function = staticmethod(_loss.ce_population_count_loss)

    def __init__(self, num_classes: int, reduction: str = "mean") -> None:
        super().__init__(num_classes=num_classes, reduction=reduction)


class MSEPopulationCountLoss(_Wrapper):
    """Population-count MSE against target rates; see
    :func:`~norse.torch.functional.loss.mse_population_count_loss`.

    Args:
        num_classes (int): the number of classes; must divide the number of neurons.
        correct_rate (float): target rate per neuron of the correct class, in ``[0, 1]``.
        incorrect_rate (float): target rate per neuron of the other classes, in ``[0, 1]``.
        reduction (str): ``"mean"``, ``"sum"`` or ``"none"``.

    Example:
        >>> z = torch.zeros(10, 1, 4)
        >>> z[:8, 0, :2] = 1
        >>> MSEPopulationCountLoss(num_classes=2)(z, torch.tensor([0]))
        tensor(8.)
    """

    function = staticmethod(_loss.mse_population_count_loss)

    def __init__(
        self,
        num_classes: int,
        correct_rate: float = 0.8,
        incorrect_rate: float = 0.2,
        reduction: str = "mean",
    ) -> None:
        super().__init__(
            num_classes=num_classes,
            correct_rate=correct_rate,
            incorrect_rate=incorrect_rate,
            reduction=reduction,
        )
