"""The LIF benchmark: a bias-free linear layer followed by LIF neurons over time.

Example:
    >>> from norse.benchmark.benchmark import BenchmarkParameters
    >>> p = BenchmarkParameters(device="cpu", dt=0.001, features=16, batch_size=2,
    ...                         sequence_length=10)
    >>> seconds = lif_feed_forward_benchmark(p)
    >>> seconds > 0
    True
"""

from __future__ import annotations

import time

import torch
from torch import Tensor, nn

from ..torch.functional.lif import LIFFeedForwardState, LIFParameters, lif_feed_forward_integral
from ..torch.module.lif import LIF
from .benchmark import BenchmarkParameters

__all__ = ["LIFBenchmark", "lif_feed_forward_benchmark"]


class LIFBenchmark(nn.Module):
    """``Linear(features, features, bias=False)`` on every step, then LIF neurons over time
    (:func:`~norse.torch.functional.lif.lif_feed_forward_integral` on the reference, the
    ``LIF`` layer's fused path otherwise).

    Args:
        parameters (BenchmarkParameters): the sizes and ``dt``.
        backend (str): ``"reference"`` (the step looped over time, as 1.1.0's benchmark) or
            a backend of :class:`norse.torch.LIF` (``"auto"``, ``"cpu"``, ``"triton"``).

    Example:
        >>> from norse.benchmark.benchmark import BenchmarkParameters
        >>> p = BenchmarkParameters("cpu", 0.001, features=4, batch_size=2, sequence_length=5)
        >>> LIFBenchmark(p)(torch.ones(5, 2, 4)).shape
        torch.Size([5, 2, 4])
    """

    def __init__(self, parameters: BenchmarkParameters, backend: str = "reference") -> None:
        super().__init__()
        self.fc = nn.Linear(parameters.features, parameters.features, bias=False)
        self.dt = parameters.dt
        self.p = LIFParameters()
        self.backend = backend
        self.lif = LIF(self.p, dt=parameters.dt, backend=backend)

    def forward(self, x: Tensor) -> Tensor:
        current = self.fc(x)
        if self.backend == "reference":
            zero = torch.zeros_like(current[0])
            state = LIFFeedForwardState(v=self.p.v_leak + zero, i=zero)
            spikes, _ = lif_feed_forward_integral(current, state, self.p, self.dt)
            return spikes
        return self.lif(current)[0]


def lif_feed_forward_benchmark(
    parameters: BenchmarkParameters, backend: str = "reference", backward: bool = False
) -> float:
    """Seconds for one forward pass (``backward``: forward and backward) of
    :class:`LIFBenchmark` on Poisson-like input, after untimed warm-up calls (and, for the
    fused backends, once their kernels are compiled). 1.1.0's version needs CUDA and CUDA
    graphs; this one runs on any device."""
    device = torch.device(parameters.device)
    model = LIFBenchmark(parameters, backend).to(device)
    shape = (parameters.sequence_length, parameters.batch_size, parameters.features)
    x = (torch.rand(shape, device=device) < 0.3).float()

    def once() -> None:
        out = model(x)
        if backward:
            out.sum().backward()

    once()
    if backend != "reference":  # (the fused loops compile in the background on first use)
        from ..torch.kernels import cpu

        cpu._COMPILER.wait()
        once()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    with torch.set_grad_enabled(backward):
        once()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start
