"""Encoder modules: stateless wrappers around :mod:`norse.torch.functional.encode`.

Encoders that produce a sequence take ``seq_length`` at construction, at call time, or both
(the call wins): ``PoissonEncoder(10)(x)`` and ``PoissonEncoder()(x, seq_length=10)`` are the
same. None of them takes a ``state``, so :class:`~norse.torch.module.sequential.SequentialState`
calls them as ``encoder(x)``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from .._spec import check_parameters
from ..functional import encode
from ..functional.encode import (
    _check_lif_parameters,
    _check_number,
    _check_seq_length,
    euclidean_distance,
    gaussian_rbf,
)
from ..functional.lif import LIFParameters
from ..utils._validation import as_size
from ._parameters import HasNeuronParameters

__all__ = [
    "ConstantCurrentLIFEncoder",
    "PoissonEncoder",
    "PoissonEncoderStep",
    "PopulationEncoder",
    "SignedPoissonEncoder",
    "SignedPoissonEncoderStep",
    "SpikeLatencyEncoder",
    "SpikeLatencyLIFEncoder",
]


class _SequenceEncoder(nn.Module):
    """Holds ``seq_length`` (optional until call time) and ``dt``."""

    def __init__(self, seq_length: int | None, dt: float) -> None:
        super().__init__()
        who = type(self).__name__
        self.seq_length = None if seq_length is None else _check_seq_length(seq_length, who)
        _check_number(dt, who, "dt", strict=True)
        self.dt = dt

    def _resolve_seq_length(self, seq_length: int | None) -> int:
        who = type(self).__name__
        if seq_length is None:
            seq_length = self.seq_length
        if seq_length is None:
            raise TypeError(
                f"{who}: seq_length is missing; give the number of time steps at construction, "
                f"{who}(seq_length=10), or at call time, encoder(x, seq_length=10)"
            )
        return _check_seq_length(seq_length, who)


class _LIFEncoder(HasNeuronParameters, _SequenceEncoder):
    """A sequence encoder with LIF parameters that follow the module (``.to()``, ``.double()``)."""

    def __init__(self, seq_length: int | None, p: LIFParameters, dt: float) -> None:
        super().__init__(seq_length, dt)
        self.p = p

    def _check_p(self, value: LIFParameters) -> LIFParameters:
        who = type(self).__name__
        _check_lif_parameters(value, who)
        check_parameters(value, who)
        return value

    def extra_repr(self) -> str:
        return f"seq_length={self.seq_length}, p={self.p}, dt={self.dt}"


class ConstantCurrentLIFEncoder(_LIFEncoder):
    """Encode currents as the spike trains of LIF membranes driven by them.

    See :func:`~norse.torch.functional.encode.constant_current_lif_encode`.

    Args:
        seq_length (int): number of time steps; may instead be given at call time.
        p (LIFParameters): neuron parameters.
        dt (float): time step in seconds.

    Shape:
        input ``(*)``, output ``(seq_length, *)`` float32 spikes.

    Example:
        >>> encoder = ConstantCurrentLIFEncoder(20)
        >>> encoder(torch.tensor([0.0, 2.0, 20.0])).sum(0)
        tensor([ 0.,  2., 20.])
    """

    def __init__(
        self, seq_length: int | None = None, p: LIFParameters = LIFParameters(), dt: float = 0.001
    ) -> None:
        super().__init__(seq_length, p, dt)

    def forward(self, input_currents: Tensor, seq_length: int | None = None) -> Tensor:
        n = self._resolve_seq_length(seq_length)
        return encode.constant_current_lif_encode(input_currents, n, self.p, self.dt)


class SpikeLatencyLIFEncoder(_LIFEncoder):
    """Encode currents as the time of a LIF membrane's first spike (one spike per neuron).

    See :func:`~norse.torch.functional.encode.spike_latency_lif_encode`.

    Args:
        seq_length (int): number of time steps; may instead be given at call time.
        p (LIFParameters): neuron parameters.
        dt (float): time step in seconds.

    Shape:
        input ``(*)``, output ``(seq_length, *)``.

    Example:
        >>> SpikeLatencyLIFEncoder()(torch.tensor([2.0, 20.0]), seq_length=20).argmax(0)
        tensor([6, 0])
    """

    def __init__(
        self, seq_length: int | None = None, p: LIFParameters = LIFParameters(), dt: float = 0.001
    ) -> None:
        super().__init__(seq_length, p, dt)

    def forward(self, input_current: Tensor, seq_length: int | None = None) -> Tensor:
        n = self._resolve_seq_length(seq_length)
        return encode.spike_latency_lif_encode(input_current, n, self.p, self.dt)


class PoissonEncoder(_SequenceEncoder):
    """Encode values in ``[0, 1]`` as Poisson spike trains of rate ``f_max * x`` Hz.

    See :func:`~norse.torch.functional.encode.poisson_encode`.

    Args:
        seq_length (int): number of time steps; may instead be given at call time.
        f_max (float): firing rate in Hz of a value of 1.
        dt (float): time step in seconds.

    Shape:
        input ``(*)``, output ``(seq_length, *)`` float32 spikes.

    Example:
        >>> PoissonEncoder()(torch.rand(8, 1, 28, 28), seq_length=10).shape
        torch.Size([10, 8, 1, 28, 28])
    """

    def __init__(
        self, seq_length: int | None = None, f_max: float = 100, dt: float = 0.001
    ) -> None:
        super().__init__(seq_length, dt)
        _check_number(f_max, type(self).__name__, "f_max", strict=False)
        self.f_max = f_max

    def forward(self, x: Tensor, seq_length: int | None = None) -> Tensor:
        n = self._resolve_seq_length(seq_length)
        return encode.poisson_encode(x, n, f_max=self.f_max, dt=self.dt)

    def extra_repr(self) -> str:
        return f"seq_length={self.seq_length}, f_max={self.f_max}, dt={self.dt}"


class SignedPoissonEncoder(PoissonEncoder):
    """Encode values in ``[-1, 1]`` as spike trains in ``{-1, 0, 1}`` of rate ``f_max * |x|``.

    See :func:`~norse.torch.functional.encode.signed_poisson_encode`.

    Args:
        seq_length (int): number of time steps; may instead be given at call time.
        f_max (float): firing rate in Hz of a value of magnitude 1.
        dt (float): time step in seconds.

    Shape:
        input ``(*)``, output ``(seq_length, *)``.

    Example:
        >>> z = SignedPoissonEncoder(5, f_max=1000)(torch.tensor([-1.0, 0.0, 1.0]))
        >>> z.sum(0)
        tensor([-5.,  0.,  5.])
    """

    def forward(self, x: Tensor, seq_length: int | None = None) -> Tensor:
        n = self._resolve_seq_length(seq_length)
        return encode.signed_poisson_encode(x, n, f_max=self.f_max, dt=self.dt)


class PoissonEncoderStep(nn.Module):
    """One step of Poisson encoding (no time dimension); note the default ``f_max=1000``.

    See :func:`~norse.torch.functional.encode.poisson_encode_step`.

    Args:
        f_max (float): firing rate in Hz of a value of 1.
        dt (float): time step in seconds.

    Example:
        >>> PoissonEncoderStep()(torch.tensor([0.0, 1.0]))
        tensor([0., 1.])
    """

    def __init__(self, f_max: float = 1000, dt: float = 0.001) -> None:
        super().__init__()
        who = type(self).__name__
        _check_number(f_max, who, "f_max", strict=False)
        _check_number(dt, who, "dt", strict=True)
        self.f_max = f_max
        self.dt = dt

    def forward(self, x: Tensor) -> Tensor:
        return encode.poisson_encode_step(x, self.f_max, self.dt)

    def extra_repr(self) -> str:
        return f"f_max={self.f_max}, dt={self.dt}"


class SignedPoissonEncoderStep(PoissonEncoderStep):
    """One step of signed Poisson encoding (no time dimension); default ``f_max=1000``.

    See :func:`~norse.torch.functional.encode.signed_poisson_encode_step`.

    Args:
        f_max (float): firing rate in Hz of a value of magnitude 1.
        dt (float): time step in seconds.

    Example:
        >>> SignedPoissonEncoderStep()(torch.tensor([-1.0, 0.0, 1.0]))
        tensor([-1.,  0.,  1.])
    """

    def forward(self, x: Tensor) -> Tensor:
        return encode.signed_poisson_encode_step(x, self.f_max, self.dt)


class PopulationEncoder(nn.Module):
    """Spread every value over ``out_features`` neurons with evenly spaced centres.

    See :func:`~norse.torch.functional.encode.population_encode`.

    Args:
        out_features (int): number of neurons per value.
        scale (float): upper end of the centres; ``None`` uses the input's maximum.
        kernel (Callable): maps scaled distances to activations.
        distance_function (Callable): distance between values and centres.

    Shape:
        input ``(*)``, output ``(*, out_features)``.

    Example:
        >>> PopulationEncoder(3)(torch.tensor([0.0, 1.0, 2.0]))[0]
        tensor([1.0000, 0.3679, 0.0183])
    """

    def __init__(
        self,
        out_features: int,
        scale: float | Tensor | None = None,
        kernel: Callable[[Tensor], Tensor] = gaussian_rbf,
        distance_function: Callable[[Tensor, Tensor], Tensor] = euclidean_distance,
    ) -> None:
        super().__init__()
        who = type(self).__name__
        out_features = as_size(out_features, "out_features", who)
        for name, fn in (("kernel", kernel), ("distance_function", distance_function)):
            if not callable(fn):
                raise TypeError(f"{who}: {name} must be callable, got {type(fn).__name__}")
        self.out_features = out_features
        self.scale = scale
        self.kernel = kernel
        self.distance_function = distance_function

    def forward(self, input_tensor: Tensor) -> Tensor:
        return encode.population_encode(
            input_tensor, self.out_features, self.scale, self.kernel, self.distance_function
        )

    def extra_repr(self) -> str:
        return f"out_features={self.out_features}, scale={self.scale}"


class SpikeLatencyEncoder(nn.Module):
    """Keep only the first spike of every neuron along the time dimension.

    See :func:`~norse.torch.functional.encode.spike_latency_encode`.

    Shape:
        input ``(T, *)``, output ``(T, *)`` of the input's dtype.

    Example:
        >>> SpikeLatencyEncoder()(torch.tensor([[0.0, 1.0], [1.0, 1.0]]))
        tensor([[0., 1.],
                [1., 0.]])
    """

    def forward(self, input_spikes: Tensor) -> Tensor:
        return encode.spike_latency_encode(input_spikes)
