"""The Triton backend: fused GPU sequence kernels behind :func:`norse.torch.kernels.run`.

Registered as ``"triton"``. Like the CPU backend it runs any elementwise step, never naming a
model: :mod:`norse.torch.kernels._graph` traces the step and its vector-Jacobian product,
:mod:`norse.torch.kernels.triton` turns them into a forward and a backward kernel. One
program of the forward kernel runs a block of neurons through all steps with their state in
registers; backward recomputes the few values the adjoint needs of every step into a scratch
buffer, then runs the adjoint backwards in time. Gradients: the input, the initial state and
every parameter tensor that requires grad (summed over time per neuron in the kernel, reduced
to the parameter's shape here). float16 and bfloat16 inputs are computed in float32, float32
in float32 and float64 in float64; outputs and states have the input's dtype.

Under ``backend="auto"`` it takes CUDA inputs only (and only when the kernels are compiled,
not interpreted); CPU tensors go to the CPU backend. Naming ``backend="triton"`` explicitly
also runs CPU tensors when ``TRITON_INTERPRET=1`` is set (Triton's interpreter, which is how
the tests run it without a GPU). This module imports ``triton`` only when it is asked to run
something, so it imports cleanly where triton is missing.

Example:
    >>> from norse.torch.kernels import Call
    >>> from norse.torch.functional import lif
    >>> x = torch.zeros(4, 3)
    >>> call = Call(lif.lif_feed_forward_step, x, None, lif.LIFParameters(), 1e-3, spec=lif.SPEC)
    >>> backend.unsupported(call)
    'the input is not on a CUDA device'
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
import sys
from typing import Any, NamedTuple

import torch
from torch import Tensor

from . import Call, reference, register
from ._checks import Invalid as _Invalid
from ._checks import check
from ._graph import Program, Untraceable, rebuild, trace

__all__ = ["TritonBackend", "backend"]


@functools.cache
def _triton_installed() -> bool:
    # Cached: the search walks sys.path (about 50 us), and every layer call asks.
    return importlib.util.find_spec("triton") is not None


def _interpreting() -> bool:
    """Whether the kernels run through Triton's CPU interpreter.

    Triton fixes this when the kernel package is imported, so once it is imported, ask it.
    """
    kernels = sys.modules.get("norse.torch.kernels.triton")
    if kernels is not None and hasattr(kernels, "INTERPRETED"):
        return kernels.INTERPRETED
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "yes", "on")


# ----------------------------------------------------------------------------- checks
class _Plan(NamedTuple):
    """A call the kernels can run."""

    program: Program
    work: torch.dtype  # the kernels' dtype: float64 for float64 inputs, else float32
    states: tuple[Tensor, ...]
    params: tuple[Tensor, ...]


def _prepare(call: Call) -> Any:
    """Decide from metadata only: a plan, bad input, or the reason the kernels cannot run it."""
    if not _triton_installed():
        return "triton is not installed (pip install triton)"
    x = call.x
    explicit = getattr(call, "explicit", False)
    if isinstance(x, Tensor) and not x.is_cuda and not (explicit and _interpreting()):
        return "the input is not on a CUDA device"
    if not explicit and _interpreting():
        # never the fastest path: only on request
        return "Triton runs through its CPU interpreter (TRITON_INTERPRET=1)"

    def on_device(t: Tensor, what: str) -> str | None:
        # (0-dim CPU tensors meet the input anywhere)
        if t.device == x.device or (t.dim() == 0 and t.device.type == "cpu"):
            return None
        return f"{what} is on {t.device} but the input is on {x.device}"

    found = check(call, on_device, recurrent=True)
    if isinstance(found, (str, _Invalid)):
        return found
    states, params = found
    state, dt = call.state, call.dt
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    recurrent = bool(call.weights)
    try:
        program = trace(call.step, state, call.p, float(dt), work, recurrent)
    except Untraceable as e:
        return str(e)
    if recurrent:
        from ._recurrent import RecurrentPlan

        nshape = torch.Size((*x.shape[1:-1], call.weights[0].shape[0]))
        k = program.rec_field
        if k is not None and states[k].shape != nshape:
            return _Invalid("the recurrent spikes do not have the neurons' shape")
        step = _StepPlan(program, work, x.device)
        return RecurrentPlan(program, work, ENGINE, step, tuple(states), tuple(params), nshape)
    return _Plan(program, work, tuple(states), tuple(params))


class _StepPlan(NamedTuple):
    """What the step kernels of a recurrent layer need to know."""

    program: Program
    work: torch.dtype
    device: torch.device


class _Engine:
    """How the recurrent loop of :mod:`norse.torch.kernels._recurrent` runs with Triton: the
    generated one-step kernels (``step_forward`` / ``step_backward``) over the neurons, one
    launch per step, next to the step's cuBLAS product."""

    def empty(self, shape: tuple[int, ...], work: torch.dtype, device: torch.device) -> Tensor:
        return torch.empty(shape, dtype=work, device=device)

    def rows(self, t: Tensor) -> list:
        return list(t.unbind(0))

    def dummy(self, work: torch.dtype, device: torch.device) -> Tensor:
        return torch.empty(1, dtype=work, device=device)

    def hoisted(self, plan: _StepPlan, params: tuple, nshape: torch.Size, M: int) -> Tensor:
        return _hoisted(plan.program, params, nshape, M, plan.work, plan.device)[0]

    def param_grads(self, Q: int, M: int, work: torch.dtype, device: torch.device) -> tuple:
        g = torch.zeros((Q, M) if Q else (1, 1), dtype=work, device=device)
        return g, g

    def stepper(self, plan: _StepPlan, prm: Tensor, want_gx: bool, pgrads: tuple, part: str,
                args: tuple, M: int) -> Any:  # fmt: skip
        from .triton import Variant, kernels, launch

        backward = part == "backward"
        variant = Variant(prm.shape[1] > 1, plan.program.hoisted_kinds,
                          plan.work == torch.float64, True, want_gx or not backward,
                          pgrads if backward else ())  # fmt: skip
        kernel = kernels(plan.program, variant, f"step_{part}").kernel
        work, device = plan.work, plan.device
        return lambda *a: launch(kernel, M, work, device, *a, M, backward=backward)


ENGINE = _Engine()


# ----------------------------------------------------------------------------- packing
def _rows(values: tuple[Any, ...], nshape: torch.Size, N: int, dtype: torch.dtype,
          device: torch.device) -> Tensor:  # fmt: skip
    """``values`` (each broadcastable to the neurons) as the rows of an ``(len, N)`` tensor."""
    out = torch.empty((max(len(values), 1), N), dtype=dtype, device=device)
    for k, v in enumerate(values):
        out[k].view(nshape).copy_(v.detach() if isinstance(v, Tensor) else v)
    return out


def _hoisted(program: Program, params: tuple[Tensor, ...], nshape: torch.Size, N: int,
             work: torch.dtype, device: torch.device) -> tuple[Tensor, bool, tuple[str, ...]]:  # fmt: skip
    """The hoisted values (the prologue on the real parameter tensors, every call: parameters
    may change in place in ways no version counter sees) as ``(H, 1)`` rows, all shared by
    the neurons, or ``(H, N)`` if any is per neuron; with whether they are per neuron and the
    kind of each."""
    with torch.no_grad():
        values = [
            v if isinstance(v, Tensor) else torch.as_tensor(v) for v in program.prologue(*params)
        ]
    kinds = tuple(
        "b" if v.dtype == torch.bool else ("f" if v.is_floating_point() else "i") for v in values
    )
    if any(v.numel() > 1 for v in values):
        return _rows(tuple(values), nshape, N, work, device), True, kinds
    if not values:
        return torch.zeros((1, 1), dtype=work, device=device), False, kinds
    # (through float64, which holds every value exactly: one rounding to the working dtype;
    # values all on the CPU, such as python numbers, cross to the device in one copy)
    where = "cpu" if all(v.device.type == "cpu" for v in values) else device
    column = torch.stack([v.detach().to(where, torch.float64).reshape(1) for v in values])
    return column.to(device, work), False, kinds


def _as(t: Tensor, dtype: torch.dtype) -> Tensor:
    return t if t.dtype == dtype else t.to(dtype)


def _time_rows(x: Tensor, T: int, N: int) -> Tensor:
    """``x`` as ``(T, N)`` rows with contiguous neurons (a view when it can be)."""
    x2 = x.detach().reshape(T, N)
    if N > 1 and x2.stride(1) != 1:
        x2 = x2.contiguous()
    return x2


class _FusedSequence(torch.autograd.Function):
    """``(x, *state fields, *parameter tensors) -> (out, *final state fields)`` over all steps."""

    @staticmethod
    def forward(ctx: Any, plan: _Plan, x: Tensor, *inputs: Tensor) -> tuple[Tensor, ...]:
        from .triton import Variant, kernels, launch

        program = plan.program
        F = program.n_state
        states, params = inputs[:F], inputs[F:]
        work, device = plan.work, x.device
        T, nshape = x.shape[0], x.shape[1:]
        N = math.prod(nshape)
        # (fresh tensors, no views: the caller may modify the outputs in place)
        out = torch.empty(x.shape, dtype=x.dtype, device=device)
        final = [torch.empty(nshape, dtype=x.dtype, device=device) for _ in range(F)]
        prm, per_neuron, kinds = _hoisted(program, tuple(params), nshape, N, work, device)
        ctx.variant = Variant(per_neuron, kinds, work == torch.float64)
        if N > 0:
            x2 = _time_rows(x, T, N)
            s0 = _rows(tuple(states), nshape, N, work, device)
            k = kernels(program, ctx.variant, "forward")
            launch(k.kernel, N, work, device, x2, out, s0, prm, N, T, x2.stride(0), *final)
        ctx.set_materialize_grads(False)
        ctx.plan = plan
        ctx.prm = prm
        ctx.shape = x.shape
        ctx.save_for_backward(x, *states, *params)
        if not program.differentiable[0]:
            ctx.mark_non_differentiable(out)
        return out, *final

    @staticmethod
    def backward(ctx: Any, gout: Tensor | None, *gstate: Tensor | None) -> tuple[Any, ...]:
        from .triton import Variant, kernels, launch

        plan: _Plan = ctx.plan
        program = plan.program
        F, P = program.n_state, program.n_params
        x, *rest = ctx.saved_tensors
        states, params = rest[:F], rest[F:]
        work, device = plan.work, x.device
        shape = ctx.shape
        T, nshape = shape[0], shape[1:]
        N = math.prod(nshape)
        needs = ctx.needs_input_grad  # (plan, x, *states, *params)
        want_gx = needs[1]
        pgrads = tuple(
            k for k in range(P) if needs[2 + F + k] and program.bwd_outputs[1 + F + k] is not None
        )
        grads: list[Any] = [None] * len(needs)
        if N == 0:
            for k, need in enumerate(needs[1:], start=1):
                if need:
                    grads[k] = torch.zeros_like(([x, *states, *params])[k - 1])
            return tuple(grads)
        dummy = torch.empty(1, dtype=work, device=device)
        if gout is not None:
            go = gout.detach().reshape(T, N)
            if N > 1 and go.stride(1) not in (0, 1):
                go = go.contiguous()
            stride_got, stride_gon = go.stride()
        else:
            go, stride_got, stride_gon = dummy, 0, 0
        variant = Variant(ctx.variant.per_neuron, ctx.variant.hoisted_kinds, ctx.variant.wide,
                          gout is not None, want_gx, pgrads)  # fmt: skip
        k = kernels(program, variant, "backward")
        gsT = torch.zeros((max(F, 1), N), dtype=work, device=device)
        for j, gj in enumerate(gstate):
            if gj is not None:
                gsT[j].view(nshape).copy_(gj.detach())
        s0 = _rows(tuple(states), nshape, N, work, device)
        x2 = _time_rows(x, T, N) if k.uses_x else dummy
        stride_xt = x2.stride(0) if k.uses_x else 0
        gx = torch.empty((T, N), dtype=x.dtype, device=device) if want_gx else dummy
        gs0 = torch.empty((max(F, 1), N), dtype=work, device=device)
        gp = torch.empty((max(len(pgrads), 1), N), dtype=work, device=device)
        sc = torch.empty((k.scratch, T, N), dtype=work, device=device) if k.scratch else dummy
        launch(
            k.kernel, N, work, device,
            x2, go, gsT, s0, ctx.prm, gx, gs0, gp, sc,
            N, T, stride_xt, stride_got, stride_gon,
            (T - 1) * stride_xt, (T - 1) * stride_got, (T - 1) * N, T * N,
            backward=True,
        )  # fmt: skip
        if want_gx:
            grads[1] = gx.view(shape)
        for j, s in enumerate(states):
            if needs[2 + j]:
                gj = gs0[j].view(nshape).sum_to_size(s.shape)
                grads[2 + j] = _as(gj, s.dtype)
        for q, j in enumerate(pgrads):
            src = params[j]
            # (summed over the neurons in float64: they are many)
            gj = gp[q].to(torch.float64).view(nshape).sum_to_size(src.shape)
            grads[2 + F + j] = _as(gj, src.dtype).to(src.device)
        return tuple(grads)


# ----------------------------------------------------------------------------- backend
class TritonBackend:
    """The ``"triton"`` backend of :func:`norse.torch.kernels.run`.

    Example:
        >>> isinstance(backend, TritonBackend)
        True
    """

    def unsupported(self, call: Call) -> str | None:
        """The reason this backend cannot run ``call``, or ``None`` if it can.

        Checks metadata only (devices, dtypes, shapes, the step's traced program), never
        tensor values.

        Example:
            >>> from norse.torch.kernels import Call
            >>> from norse.torch.functional import lif
            >>> call = Call(lif.lif_feed_forward_step, torch.zeros(4, 3), None,
            ...             lif.LIFParameters(), 1e-3, spec=lif.SPEC, record_states=True)
            >>> backend.unsupported(call)
            'the input is not on a CUDA device'
        """
        plan = call.memo["triton"] = _prepare(call)
        return plan if isinstance(plan, str) else None

    def run(self, call: Call) -> tuple[Tensor, Any]:
        """Run ``call`` through the fused kernels: ``(outputs of every step, last state)``.

        Example:
            >>> from norse.torch.kernels import Call
            >>> from norse.torch.functional import lif
            >>> x = torch.full((20, 2), 0.5, device="cuda")  # doctest: +SKIP
            >>> s = lif.LIFFeedForwardState(x[0] * 0, x[0] * 0)  # doctest: +SKIP
            >>> call = Call(lif.lif_feed_forward_step, x, s, lif.LIFParameters(), 1e-3,
            ...             spec=lif.SPEC)  # doctest: +SKIP
            >>> z, s = backend.run(call)  # doctest: +SKIP
            >>> z.sum(0)  # doctest: +SKIP
            tensor([3., 3.], device='cuda:0')
        """
        plan = call.memo.pop("triton", None) or _prepare(call)
        if isinstance(plan, str):
            raise NotImplementedError(f"backend='triton' cannot run this call: {plan}")
        if isinstance(plan, _Invalid):
            # Let the reference raise its own error for bad input (or run it, if it can).
            return reference.run(call.step, call.x, call.state, call.p, call.dt, call.weights)
        if not isinstance(plan, _Plan):
            from ._recurrent import run_recurrent

            return run_recurrent(plan, call)
        out, *final = _FusedSequence.apply(plan, call.x, *plan.states, *plan.params)
        return out, rebuild(call.state, final)


#: The registered instance.
backend = TritonBackend()
register("triton", backend)
