"""What every Triton sequence kernel shares: loads, surrogates, launch sizes, argument prep.

The kernels keep one block of neurons per program and loop over time inside the kernel, with
the state in registers. On the host side a call is turned into a :class:`Plan` (neuron shape,
dtypes, launch size), and every state field and parameter into a *leaf*: a 0-dim tensor (the
kernel loads it once) or a contiguous ``(N,)`` tensor (one value per neuron). Leaves are made
with differentiable torch ops (``to``, ``expand``, ``reshape``), so autograd reduces the
per-neuron gradients that the backward kernels return to each parameter's own shape.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor

#: Surrogate id (a ``tl.constexpr``) for every ``method`` of
#: :data:`norse.torch.functional.threshold.METHODS`; 0 means no surrogate gradient.
METHOD_IDS: dict[str, int] = {
    "heaviside": 0,
    "super": 1,
    "heavi_erfc": 2,
    "tanh": 3,
    "heavi_tanh": 3,
    "logistic": 3,
    "circ": 4,
    "heavi_circ": 4,
    "circ_dist": 4,
    "triangle": 5,
}

_TL_DTYPES = {torch.float32: tl.float32, torch.float64: tl.float64}


# ----------------------------------------------------------------------------- device code
@triton.jit
def load_param(ptr, offs, mask, FULL: tl.constexpr, DT: tl.constexpr):
    """One value per neuron (``FULL``) or one value for all (loaded once, kept as a scalar)."""
    if FULL:
        return tl.load(ptr + offs, mask=mask, other=0.0).to(DT)
    else:
        return tl.load(ptr).to(DT)


@triton.jit
def load_alpha(ptr, offs, mask, FULL: tl.constexpr, DT: tl.constexpr):
    """:func:`load_param` for a surrogate's ``alpha`` (1 in masked lanes, never 0 to divide by)."""
    if FULL:
        return tl.load(ptr + offs, mask=mask, other=1.0).to(DT)
    else:
        return tl.load(ptr).to(DT)


@triton.jit
def load_block(ptr, offs, mask, FULL: tl.constexpr, DT: tl.constexpr, BLOCK: tl.constexpr):
    """Like :func:`load_param`, but always a ``[BLOCK]`` vector (for loop-carried state)."""
    if FULL:
        return tl.load(ptr + offs, mask=mask, other=0.0).to(DT)
    else:
        return tl.zeros([BLOCK], DT) + tl.load(ptr).to(DT)


@triton.jit
def surrogate(u, alpha, METHOD: tl.constexpr):
    """Surrogate derivative of the spike ``H(u)`` (see :mod:`~norse.torch.functional.threshold`)."""
    if METHOD == 1:  # super: 1 / (alpha |u| + 1)^2
        d = alpha * tl.abs(u) + 1.0
        s = 1.0 / (d * d)
    elif METHOD == 2:  # heavi_erfc: 2 exp(-(alpha u)^2) / sqrt(pi)
        au = alpha * u
        s = 2.0 * tl.exp(-(au * au)) / 1.7724538509055159
    elif (
        METHOD == 3
    ):  # tanh family: 1 - tanh(alpha u)^2, as 4e / (1 + e)^2 with e = exp(-2|alpha u|)
        e = tl.exp(-2.0 * tl.abs(alpha * u))
        s = 4.0 * e / ((1.0 + e) * (1.0 + e))
    elif METHOD == 4:  # circ family: (1 + (u / alpha)^2)^(-3/2)
        q = u / alpha
        r = 1.0 + q * q
        s = 1.0 / (r * tl.sqrt(r))
    elif METHOD == 5:  # triangle: alpha max(0, 1 - |u|)
        s = alpha * tl.maximum(1.0 - tl.abs(u), 0.0)
    else:
        s = tl.zeros_like(u)
    return s


# ----------------------------------------------------------------------------- host code
#: Whether these kernels run through Triton's CPU interpreter (``TRITON_INTERPRET=1`` when
#: they were imported); then they take CPU tensors, and cannot be compiled for a GPU.
INTERPRETED: bool = not isinstance(load_param, triton.runtime.JITFunction)

_SM_COUNT: dict[int, int] = {}


def _sm_count(device: torch.device) -> int:
    index = device.index if device.index is not None else torch.cuda.current_device()
    if index not in _SM_COUNT:
        _SM_COUNT[index] = torch.cuda.get_device_properties(index).multi_processor_count
    return _SM_COUNT[index]


@dataclasses.dataclass(frozen=True)
class Plan:
    """Sizes, dtypes and launch configuration of one sequence call.

    Attributes:
        T: number of time steps.
        nshape: the neuron shape (the input's shape without time).
        N: number of neurons (``prod(nshape)``).
        out_dtype: dtype of outputs and states (what the reference returns).
        math_dtype: dtype of the kernel's arithmetic (float64 for float64, else float32).
        device: the input's device.
        block: neurons per program.
        num_warps: warps per program of the forward kernel (two neurons per thread).
        num_warps_bwd: warps per program of the backward kernel (one neuron per thread: it
            keeps many more values per neuron in registers).
        method: surrogate id (:data:`METHOD_IDS`).
        grad: whether the call records autograd (decides what forward saves).
    """

    T: int
    nshape: tuple[int, ...]
    N: int
    out_dtype: torch.dtype
    math_dtype: torch.dtype
    device: torch.device
    block: int
    num_warps: int
    num_warps_bwd: int
    method: int = 0
    grad: bool = False

    @property
    def tl_math(self) -> Any:
        return _TL_DTYPES[self.math_dtype]

    @property
    def grid(self) -> tuple[int]:
        return (triton.cdiv(self.N, self.block),)

    def launch(self, exact: bool = True, backward: bool = False) -> dict[str, Any]:
        """Launch options. ``exact`` turns off fused multiply-add contraction, so that the
        kernel rounds exactly like the reference's separate torch ops."""
        warps = self.num_warps_bwd if backward else self.num_warps
        return {"num_warps": warps, "enable_fp_fusion": not exact}

    @property
    def save_dtype(self) -> torch.dtype:
        """dtype of the per-step tensor kept for backward (float32 for half inputs)."""
        return self.math_dtype


def make_plan(x: Tensor, out_dtype: torch.dtype, method: str | None = None) -> Plan:
    """Plan the launch for input ``x`` of shape ``(T, *nshape)``."""
    T = x.shape[0]
    nshape = tuple(x.shape[1:])
    N = math.prod(nshape)
    math_dtype = torch.float64 if out_dtype == torch.float64 else torch.float32
    if x.is_cuda and not INTERPRETED:
        # The time loop is bound by memory latency: many small programs (at least two per SM
        # when there are enough neurons) keep the most loads in flight. At most 256 neurons
        # per program keeps the backward kernels under ~50 registers per thread (sm_90),
        # which leaves room for a full SM of warps.
        block = triton.next_power_of_2(triton.cdiv(N, 2 * _sm_count(x.device)))
        block = max(64, min(256, block))
        num_warps, num_warps_bwd = block // 64, block // 32
    else:
        # The interpreter runs one program at a time: few, large programs are fastest.
        block = max(16, min(1024, triton.next_power_of_2(N)))
        num_warps, num_warps_bwd = 4, 4
    return Plan(
        T=T,
        nshape=nshape,
        N=N,
        out_dtype=out_dtype,
        math_dtype=math_dtype,
        device=x.device,
        block=block,
        num_warps=num_warps,
        num_warps_bwd=num_warps_bwd,
        method=METHOD_IDS[method] if method is not None else 0,
        grad=False,
    )


def with_grad(plan: Plan, *tensors: Tensor) -> Plan:
    """``plan`` marked to record autograd if grad mode is on and any tensor requires grad."""
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    return dataclasses.replace(plan, grad=grad)


def on_device(plan: Plan) -> contextlib.AbstractContextManager:
    """Make the input's GPU current: Triton launches on the current device (the autograd
    engine does the same for the backward pass)."""
    if plan.device.type == "cuda":
        return torch.cuda.device(plan.device)
    return contextlib.nullcontext()


def rows(x: Tensor, plan: Plan) -> Tensor:
    """The input as a ``(T, N)`` tensor whose neurons are contiguous (a view when possible).

    Bool and integer inputs become ``out_dtype`` (float32), as the reference promotes them.
    """
    if not x.is_floating_point():
        x = x.to(plan.out_dtype)
    x2 = x.reshape(plan.T, plan.N)
    if plan.N > 1 and x2.stride(1) != 1:
        x2 = x2.contiguous()
    return x2


def leaf(value: Any, plan: Plan) -> Tensor:
    """A state field or parameter as a 0-dim or a contiguous ``(N,)`` tensor in ``math_dtype``.

    Differentiable: gradients flow back to ``value`` in its own shape.
    """
    t = value if isinstance(value, Tensor) else torch.as_tensor(value)
    t = t.to(device=plan.device, dtype=plan.math_dtype)
    if t.numel() == 1:
        return t.reshape(())
    if tuple(t.shape) == plan.nshape and t.is_contiguous():
        return t.reshape(plan.N)
    return t.expand(plan.nshape).reshape(plan.N)


def full(t: Tensor) -> bool:
    """Whether a leaf holds one value per neuron (else one value for all)."""
    return t.dim() == 1


def reduce_leaf(grad: Tensor | None, like: Tensor) -> Tensor | None:
    """The per-neuron gradient ``grad`` summed to the leaf ``like``'s shape and dtype."""
    if grad is None:
        return None
    if like.dim() == 0:
        grad = grad.sum()
    return grad.to(like.dtype)


def empty_rows(plan: Plan, dtype: torch.dtype) -> Tensor:
    return torch.empty((plan.T, plan.N), dtype=dtype, device=plan.device)


def dummy(plan: Plan) -> Tensor:
    """A placeholder for pointer arguments that a constexpr flag switches off."""
    return torch.empty(1, dtype=plan.math_dtype, device=plan.device)


def grad_rows(g: Tensor | None, plan: Plan) -> tuple[Tensor, int, int]:
    """An incoming ``(T, N)`` gradient with its strides (expanded gradients stay views)."""
    if g is None:
        return dummy(plan), 0, 0
    g2 = g.reshape(plan.T, plan.N)
    if plan.N > 1 and g2.stride(1) not in (0, 1):
        g2 = g2.contiguous()
    return g2, g2.stride(0), g2.stride(1)


def grad_vec(g: Tensor | None, plan: Plan) -> Tensor:
    """An incoming gradient of a final state field as a contiguous ``(N,)`` tensor."""
    if g is None:
        return dummy(plan)
    return g.reshape(plan.N).contiguous()
