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
def block_offsets(N, BLOCK: tl.constexpr):
    """This program's block of neurons: int64 offsets and the mask of those that exist."""
    pid = tl.program_id(0).to(tl.int64)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    return offs, offs < N


@triton.jit
def load_grad(ptr, offs, mask, HAS: tl.constexpr, DT: tl.constexpr, BLOCK: tl.constexpr):
    """An incoming gradient of a final state field (``HAS``), or zeros."""
    if HAS:
        return tl.load(ptr + offs, mask=mask, other=0.0).to(DT)
    else:
        return tl.zeros([BLOCK], DT)


@triton.jit
def store_if(ptr, offs, value, mask, ON: tl.constexpr):
    """Store a per-neuron result (a gradient) only when ``ON``."""
    if ON:
        tl.store(ptr + offs, value, mask=mask)


@triton.jit
def before(k, T, BLOCK: tl.constexpr):
    """Whether step ``k`` exists (``k < T``), as a ``[BLOCK]`` mask."""
    return tl.full([BLOCK], k, tl.int32) < T


@triton.jit
def next_input(x_ptrs, x_next, stride_xt, t, T, mask, DT: tl.constexpr, BLOCK: tl.constexpr):
    """The forward loop's input of step ``t`` (loaded one step ahead), and the prefetch of step
    ``t + 1`` so that it loads while this step computes. Returns ``(x, x_ptrs, x_next)``."""
    x = x_next.to(DT)
    x_ptrs += stride_xt
    x_next = tl.load(x_ptrs, mask=mask & before(t + 1, T, BLOCK), other=0.0)
    return x, x_ptrs, x_next


@triton.jit
def reset(z, v1, vth, vreset, SUBTRACT: tl.constexpr):
    """The reset of :mod:`norse.torch.functional.reset`: to ``v_reset`` or by subtracting ``v_th``."""
    if SUBTRACT:
        v = (1.0 - z) * v1 + z * (v1 - vth)
    else:
        v = (1.0 - z) * v1 + z * vreset
    return v


@triton.jit
def synaptic_current(i, x, cs):
    """The current's jump and decay (:mod:`norse.torch.functional.lif`): ``(i + x, i')``."""
    i1 = i + x
    return i1, i1 + cs * i1


@triton.jit
def store_currents(
    i0_ptr, x_ptr, s_ptr, cs, offs, mask, N, T, stride_xt,
    I0_FULL: tl.constexpr, DT: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    """Recompute the jumped currents ``i + x`` of every step forward into ``s_ptr`` (they do
    not depend on the spikes); for the gradients of the time constants."""
    i = load_block(i0_ptr, offs, mask, I0_FULL, DT, BLOCK)
    x_ptrs = x_ptr + offs
    s_ptrs = s_ptr + offs
    for _ in range(T):
        i1, i = synaptic_current(i, tl.load(x_ptrs, mask=mask, other=0.0).to(DT), cs)
        tl.store(s_ptrs, i1, mask=mask)
        x_ptrs += stride_xt
        s_ptrs += N
    tl.debug_barrier()


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


# ----------------------------------------------------------------------------- one Function
@dataclasses.dataclass(frozen=True)
class Model:
    """One model's pair of kernels, described for :class:`SequenceFunction`.

    The kernels name their arguments by one scheme, so the host fills them by name (each
    kernel takes the subset it declares): a leaf ``n`` (state field or parameter) is
    ``n_ptr`` with the flag ``N_FULL``, its gradient ``gn_ptr`` under ``G_N``; a final state
    field ``s`` is ``s_out_ptr``, its incoming gradient ``gs_ptr`` under ``HAS_GS``; the
    per-step output ``o`` is ``o_ptr``, its gradient ``go_ptr`` (strides ``stride_got``,
    ``stride_gon``, offset of the last step ``last_go``) under ``HAS_GO``.

    Attributes:
        fwd: the forward kernel.
        bwd: the backward kernel.
        out: name of the per-step output (``"z"`` spikes, ``"y"`` voltages).
        state: the final state fields, in the order the Function returns them.
        leaves: the leaves after ``x`` in the Function's arguments (state, then parameters;
            ``alpha``, the surrogate's width, gets no gradient).
        save: (forward name, backward name) of the per-step tensor kept for backward.
        spiking: the output is spikes (a surrogate); else it is the voltage, which backward
            reads itself (a copy is saved only for half outputs).
        save_for: for a voltage output, the gradients that read the previous voltages.
        x_for: the gradients that need the input in backward (``None``: all of them).
        scratch: the backward's ``(T, N)`` scratch buffers: ``(name, shares the input
            gradient's memory when it can, gradients that need it or None for always)``.
        consts: names of the constexpr flags passed after the leaves (both kernels).
        exact_bwd: the backward kernel rounds like the forward (no fused multiply-add).
    """

    fwd: Any
    bwd: Any
    out: str
    state: tuple[str, ...]
    leaves: tuple[str, ...]
    save: tuple[str, str] = ("v1", "v1")
    spiking: bool = True
    save_for: tuple[str, ...] = ()
    x_for: tuple[str, ...] | None = ()
    scratch: tuple[tuple[str, bool, tuple[str, ...] | None], ...] = ()
    consts: tuple[str, ...] = ()
    exact_bwd: bool = False


def call_kernel(kernel: Any, plan: Plan, args: dict[str, Any], **options: Any) -> None:
    """Launch ``kernel`` with the arguments it declares, taken by name from ``args``."""
    kernel[plan.grid](**{a: args[a] for a in kernel.arg_names}, **options)


def _leaf_args(args: dict[str, Any], names: tuple[str, ...], leaves: tuple[Tensor, ...]) -> None:
    for n, t in zip(names, leaves, strict=True):
        args[f"{n}_ptr"] = t
        args[f"{n.upper()}_FULL"] = full(t)


class SequenceFunction(torch.autograd.Function):
    """The autograd Function of every model: ``apply(x, *leaves, *consts, plan)``.

    A subclass sets the class attribute ``model`` (a :class:`Model`). ``x`` is ``(T, N)``, the leaves
    0-dim or ``(N,)`` tensors in the plan's math dtype (:func:`leaf`). Returns the per-step
    output ``(T, N)`` and the final state fields ``(N,)``. Forward saves at most one
    ``(T, N)`` tensor (besides the input, kept only for the gradients that need it).
    """

    model: Model

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        model = cls.__dict__.get("model")
        if model is None:
            return

        def forward(ctx: Any, x: Tensor, *args: Any) -> Any:
            return _forward(model, ctx, x, *args)

        def backward(ctx: Any, *grads: Tensor | None) -> Any:
            return _backward(model, ctx, *grads)

        cls.forward = staticmethod(forward)
        cls.backward = staticmethod(backward)


def _forward(m: Model, ctx: Any, x: Tensor, *args: Any) -> tuple[Tensor, ...]:
    plan: Plan = args[-1]
    nl = len(m.leaves)
    leaves, consts = args[:nl], dict(zip(m.consts, args[nl:-1], strict=True))
    needs = dict(zip(m.leaves, ctx.needs_input_grad[1 : nl + 1], strict=True))
    y = empty_rows(plan, plan.out_dtype)
    if m.spiking:
        keep = plan.grad
    else:
        # the gradients that read the previous voltages read them from the output itself, or
        # from a float32 copy when the output is rounded to a half dtype
        wanted = plan.grad and any(needs[n] for n in m.save_for)
        keep = wanted and plan.out_dtype != plan.math_dtype
    buf = empty_rows(plan, plan.save_dtype) if keep else dummy(plan)
    finals = [torch.empty(plan.N, dtype=plan.out_dtype, device=plan.device) for _ in m.state]
    a: dict[str, Any] = {"x_ptr": x, f"{m.out}_ptr": y, f"{m.save[0]}_ptr": buf}
    a.update({f"{s}_out_ptr": t for s, t in zip(m.state, finals, strict=True)})
    _leaf_args(a, m.leaves, leaves)
    a.update(consts, N=plan.N, T=plan.T, stride_xt=x.stride(0), SAVE=keep, DT=plan.tl_math)
    a["BLOCK"] = plan.block
    call_kernel(m.fwd, plan, a, **plan.launch(exact=True))
    ctx.plan = plan
    ctx.consts = consts
    ctx.x_dtype = x.dtype
    if plan.grad:
        need_x = m.x_for is None or any(needs[n] for n in m.x_for)
        if m.spiking:
            saved = buf
        else:
            saved = (buf if keep else y) if wanted else None
        ctx.save_for_backward(saved, x if need_x else None, *leaves)
    if m.spiking and plan.method == 0:
        ctx.mark_non_differentiable(y)
    ctx.set_materialize_grads(False)
    return y, *finals


def _backward(m: Model, ctx: Any, g_out: Tensor | None, *g_state: Tensor | None) -> tuple:
    plan: Plan = ctx.plan
    saved, x, *leaves = ctx.saved_tensors
    needs = dict(zip(m.leaves, ctx.needs_input_grad[1:], strict=False))
    T, N = plan.T, plan.N
    nothing = dummy(plan)
    gx = empty_rows(plan, ctx.x_dtype) if ctx.needs_input_grad[0] else None
    share = gx is not None and gx.dtype == plan.math_dtype
    outs = [
        torch.empty(N, dtype=plan.math_dtype, device=plan.device)
        if needs[n] and n != "alpha"
        else None
        for n in m.leaves
    ]
    go, stride_got, stride_gon = grad_rows(g_out, plan)
    o = m.out
    stride_xt = x.stride(0) if x is not None else 0
    a: dict[str, Any] = {
        f"g{o}_ptr": go,
        f"stride_g{o}t": stride_got,
        f"stride_g{o}n": stride_gon,
        f"last_g{o}": (T - 1) * stride_got,
        f"HAS_G{o.upper()}": g_out is not None and (not m.spiking or plan.method != 0),
        f"{m.save[1]}_ptr": saved if saved is not None else nothing,
        "x_ptr": x if x is not None else nothing,
        "gx_ptr": gx if gx is not None else nothing,
        "stride_xt": stride_xt,
        "last_x": (T - 1) * stride_xt,
        "last_row": (T - 1) * N,
        "WRITE_GX": gx is not None,
        "SHARE": share,
    }
    for s, g in zip(m.state, g_state, strict=True):
        a[f"g{s}_ptr"] = grad_vec(g, plan)
        a[f"HAS_G{s.upper()}"] = g is not None
    for name, shares, wanted_by in m.scratch:
        wanted = wanted_by is None or any(needs[n] for n in wanted_by)
        a[f"{name}_ptr"] = (
            empty_rows(plan, plan.math_dtype) if wanted and not (shares and share) else nothing
        )
    _leaf_args(a, m.leaves, tuple(leaves))
    for n, g in zip(m.leaves, outs, strict=True):
        a[f"g{n}_ptr"] = g if g is not None else nothing
        a[f"G_{n.upper()}"] = g is not None
    a.update(ctx.consts, N=N, T=T, METHOD=plan.method, DT=plan.tl_math, BLOCK=plan.block)
    call_kernel(m.bwd, plan, a, **plan.launch(exact=m.exact_bwd, backward=True))
    grads = [reduce_leaf(g, like) for g, like in zip(outs, leaves, strict=True)]
    return (gx, *grads, *[None] * len(m.consts), None)


def sequence(
    fn: type[SequenceFunction],
    x: Tensor,
    values: tuple[Any, ...],
    out_dtype: torch.dtype,
    method: str | None = None,
    consts: tuple[Any, ...] = (),
) -> tuple[Tensor, list[Tensor]]:
    """Run ``fn`` over ``x`` of shape ``(T, *nshape)`` from the leaves' ``values`` (state
    fields and parameters, in ``fn.model.leaves`` order). Returns the per-step output shaped
    like ``x`` and the final state fields shaped ``nshape``."""
    plan = make_plan(x, out_dtype, method)
    x2 = rows(x, plan)
    leaves = [
        leaf(v, plan).detach() if n == "alpha" else leaf(v, plan)
        for n, v in zip(fn.model.leaves, values, strict=True)
    ]
    plan = with_grad(plan, x2, *leaves)
    with on_device(plan):
        y, *finals = fn.apply(x2, *leaves, *consts, plan)
    return y.reshape(x.shape), [f.reshape(plan.nshape) for f in finals]
