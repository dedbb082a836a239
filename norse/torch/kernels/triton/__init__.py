"""Fused Triton sequence kernels (GPU; CPU through ``TRITON_INTERPRET=1``), for any traced step.

Nothing here names a neuron model: :mod:`norse.torch.kernels._graph` traces the model's step
and its vector-Jacobian product into elementwise programs, :mod:`._source` writes a forward
and a backward ``@triton.jit`` kernel for them, and :func:`kernels` writes that source to the
cache directory (``triton.jit`` reads the source of what it compiles) and imports it. The
autograd function that launches them is in :mod:`norse.torch.kernels.triton_backend`.

This package imports ``triton``; :mod:`norse.torch.kernels.triton_backend` imports it only
once it has found triton installed.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, NamedTuple

import torch
import triton
import triton.language as tl

from .._graph import Program
from ._source import Variant

__all__ = ["INTERPRETED", "Kernels", "Variant", "kernels", "launch", "libdevice"]


@triton.jit
def _probe(x):
    pass


#: Whether the kernels run through Triton's CPU interpreter (``TRITON_INTERPRET=1`` when this
#: package was imported); then they take CPU tensors, and cannot be compiled for a GPU.
INTERPRETED: bool = not isinstance(_probe, triton.runtime.JITFunction)

if INTERPRETED:
    from . import _interpreter_math as libdevice
else:
    from triton.language.extra import libdevice  # noqa: F401 - the generated kernels' import


class Kernels(NamedTuple):
    """One generated module's kernel and what the host needs to know about it."""

    kernel: Any
    scratch: int  # values backward stores per step (rows of its scratch buffer)
    uses_x: bool  # backward reads the input


def kernels(program: Program, variant: Variant, part: str) -> Kernels:
    """The ``part`` (``"forward"`` or ``"backward"``) kernel of ``program`` for ``variant``."""
    from .._generated import generated
    from ._source import source

    module, facts = generated("norse_triton", program, variant, part, source)
    return Kernels(getattr(module, part), facts["scratch"], facts["uses_x"])


_TL = {torch.float32: tl.float32, torch.float64: tl.float64}
_SM_COUNT: dict[int, int] = {}


def _sm_count(device: torch.device) -> int:
    index = device.index if device.index is not None else torch.cuda.current_device()
    if index not in _SM_COUNT:
        _SM_COUNT[index] = torch.cuda.get_device_properties(index).multi_processor_count
    return _SM_COUNT[index]


def _config(N: int, device: torch.device, backward: bool) -> tuple[int, int]:
    """``(neurons per program, warps)``."""
    if device.type == "cuda" and not INTERPRETED:
        # The time loop is bound by memory latency: many small programs (at least two per SM
        # when there are enough neurons) keep the most loads in flight. Two neurons per
        # thread forward; one backward, which keeps more values per neuron in registers.
        block = triton.next_power_of_2(triton.cdiv(N, 2 * _sm_count(device)))
        block = max(64, min(256, block))
        return block, block // (32 if backward else 64)
    # The interpreter runs one program at a time: few, large programs are fastest.
    return max(16, min(1024, triton.next_power_of_2(N))), 4


def launch(kernel: Any, N: int, work: torch.dtype, device: torch.device, *args: Any,
           backward: bool = False) -> None:  # fmt: skip
    """Run ``kernel(*args, DT=..., BLOCK=...)`` over ``N`` neurons on ``device``.

    Fused multiply-add contraction is off: the kernels round every operation like the
    reference's separate torch operations (and backward's recomputed states are forward's).
    """
    block, warps = _config(N, device, backward)
    grid = (triton.cdiv(N, block),)
    if INTERPRETED:
        import numpy as np

        # (numpy warns where the GPU silently overflows, e.g. exp in the lanes past N)
        guard: Any = np.errstate(all="ignore")
    elif device.type == "cuda":
        guard = torch.cuda.device(device)
    else:
        guard = contextlib.nullcontext()
    with guard:
        kernel[grid](*args, DT=_TL[work], BLOCK=block, num_warps=warps, enable_fp_fusion=False)
