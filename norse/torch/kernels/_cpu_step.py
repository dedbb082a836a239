"""Fused CPU steps: cells and the step loops of recurrent layers, one compiled call per step.

A step traced into an elementwise program (a recurrent step with its two products as the
inputs ``x`` and ``r``, ``trace(..., recurrent=True)``) runs as one generated numba loop over
the neurons (``_numba_source.source(..., "step_forward" | "step_backward")``, every value its
own 1-D array):

* a cell (one step of a feed-forward or recurrent model) is that loop as one autograd node
  (:class:`CellRunner`, kept by the module per signature): forward writes the new state,
  backward recomputes the step from its inputs and runs the adjoint;
* a recurrent layer runs it once per step inside the device-independent loop through time of
  :mod:`norse.torch.kernels._recurrent` (:data:`CPU_ENGINE`).

The loop evaluates the reference step's operations in its order, so float64 spikes and states
agree with the reference.

Example:
    >>> from norse.torch.functional import lif
    >>> x = torch.rand(2, 3)
    >>> s = lif.LIFFeedForwardState(torch.zeros(2, 3), torch.zeros(2, 3))
    >>> runner = cell(lif.lif_feed_forward_step, x, s, lif.LIFParameters(), 1e-3, ())
    >>> type(runner).__name__, runner.nshape
    ('CellRunner', torch.Size([2, 3]))
"""

from __future__ import annotations

import math
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from . import _tracing
from ._checks import Invalid, check
from ._graph import Program, Untraceable, flat, rebuild, trace

__all__ = ["CPU_ENGINE", "CellRunner", "StepPlan", "cell", "prepare_recurrent"]


class StepPlan(NamedTuple):
    """A recurrent layer or a cell that the step loops can run."""

    program: Program
    work: torch.dtype  # the loops' dtype: the input's, float32 for 16-bit inputs
    per_neuron: bool  # hoisted values per neuron (a parameter has one value per neuron)
    background: bool  # loops not compiled yet are compiled in the background meanwhile

    def variant(self, want_gx: bool = True, pgrads: tuple[int, ...] = ()) -> Any:
        key = (self.per_neuron, self.program.hoisted_kinds, want_gx, pgrads)
        found = _VARIANTS.get(key)
        if found is None:
            from ._numba_source import Variant

            found = _VARIANTS[key] = Variant(self.per_neuron, self.program.hoisted_kinds,
                                             want_gx=want_gx, pgrads=pgrads)  # fmt: skip
        return found


_VARIANTS: dict[Any, Any] = {}


_CPU: Any = None


def _cpu() -> Any:
    """:mod:`norse.torch.kernels.cpu` (which imports this module lazily)."""
    global _CPU
    if _CPU is None:
        from . import cpu

        _CPU = cpu
    return _CPU


def _plan(step: Callable, state: Any, p: Any, dt: float, dtype: torch.dtype, recurrent: bool,
          explicit: bool, params: list) -> StepPlan | str:  # fmt: skip
    cpu = _cpu()
    work = torch.float32 if dtype.itemsize < 4 else dtype
    try:
        program = trace(step, state, p, float(dt), work, recurrent)
    except Untraceable as e:
        return str(e)
    if id(program) in cpu._FAILED:
        return cpu._FAILED[id(program)]
    per_neuron = any(params[k].numel() > 1 for deps in program.hoisted_params for k in deps)
    return StepPlan(program, work, per_neuron, cpu._BACKGROUND and not explicit)


def _parts(plan: StepPlan, wanted: tuple[bool, ...], want_gx: bool) -> list[tuple[str, Any]]:
    """The step loops a call needs: forward, and backward when autograd records."""
    parts = [("step_forward", plan.variant())]
    if torch.is_grad_enabled() and plan.program.differentiable[0]:
        pgrads = _cpu()._param_grads(plan.program, wanted)
        parts.append(("step_backward", plan.variant(want_gx, pgrads)))
    return parts


def _ready(plan: StepPlan, wanted: tuple[bool, ...], want_gx: bool) -> str | None:
    """``None`` once the step loops a call needs are compiled (in the background under
    ``auto``, in the caller otherwise); else request them and say why to wait. Raises
    ``cpu._CompileError`` when numba fails in the caller."""
    compiler = _cpu()._COMPILER
    waiting = None
    for part, variant in _parts(plan, wanted, want_gx):
        if not plan.background:
            _loops(plan, variant, part)
            continue
        key = compiler.key(plan.program, variant, part, plan.work)
        if key in compiler._ready:
            continue
        failed = compiler._failed.get(key)
        if failed is not None:
            return failed
        compiler.request(plan.program, variant, part, plan.work)
        waiting = "the CPU step loops of this model are being compiled in the background"
    return waiting


# ----------------------------------------------------------------------------- one step
def _flat_np(t: Tensor, work: torch.dtype, nshape: torch.Size) -> np.ndarray:
    """``t`` (broadcastable to the neurons) as a C-contiguous 1-D array of the working type."""
    if t.dtype == work and t.shape == nshape and t.is_contiguous():
        return t.detach().numpy().reshape(-1)
    t = t.detach()
    if t.dtype != work:
        t = t.to(work)
    if t.shape != nshape:
        t = t.expand(nshape)
    return t.contiguous().view(-1).numpy()


_DUMMY: dict[torch.dtype, np.ndarray] = {}


def _dummy(work: torch.dtype) -> np.ndarray:
    found = _DUMMY.get(work)
    if found is None:
        found = _DUMMY[work] = np.zeros(1, _cpu()._NUMPY[work])
    return found


def _stepper(loops: Any, part: str, args: tuple, M: int) -> Callable[..., Any]:
    """``run(*args)``: the step loop ``part`` ("forward" or "backward") of ``loops`` over
    ``M`` neurons, for arguments of the types of ``args`` (resolved once for many steps)."""
    cpu = _cpu()
    # One step is little work per neuron: threads pay off from fewer neurons than for a
    # sequence (whose loops count neuron-steps); below that, one direct call.
    work = M * 16
    if work < 2 * cpu._MIN_WORK or torch.get_num_threads() == 1:
        entry = cpu._entry(getattr(sys.modules[loops.module], part), (*args, 0, M))
        return lambda *a: entry(*a, 0, M)
    chunks = getattr(loops, f"{part}_chunks")
    return lambda *a: cpu._launch(chunks, a, M, work, 16, loops.module)


def _launch(loops: Any, part: str, args: tuple, M: int) -> None:
    _stepper(loops, part, args, M)(*args)


def _loops(plan: StepPlan, variant: Any, part: str) -> Any:
    return _cpu()._loops(plan.program, variant, part)


def _forward_step(loops: Any, plan: StepPlan, prm: np.ndarray, a: np.ndarray,
                  r: np.ndarray | None, out: np.ndarray, s: list, o: list) -> None:  # fmt: skip
    M = out.shape[0]
    if M:
        _launch(loops, "forward", (a, _dummy(plan.work) if r is None else r, prm, out, *s, *o), M)


def _backward_step(loops: Any, plan: StepPlan, prm: np.ndarray, a: np.ndarray,
                   r: np.ndarray | None, go: np.ndarray, gs: list, s: list, gx: np.ndarray | None,
                   gr: np.ndarray | None, gprm: np.ndarray, g: list) -> None:  # fmt: skip
    M = go.shape[0]
    if M:
        d = _dummy(plan.work)
        args = (a, d if r is None else r, prm, go, *gs, *s, d if gx is None else gx,
                d if gr is None else gr, gprm, *g)  # fmt: skip
        _launch(loops, "backward", args, M)


def _hoisted(plan: StepPlan, params: tuple, nshape: torch.Size, M: int) -> np.ndarray:
    return _cpu()._hoisted(plan.program, params, nshape, M, plan.work, plan.per_neuron)


def _grad_np(g: Tensor | None, work: torch.dtype, nshape: torch.Size, M: int) -> np.ndarray:
    if g is None:
        return np.zeros(M, _cpu()._NUMPY[work])
    return _flat_np(g, work, nshape)


def _reduce(g: np.ndarray, nshape: torch.Size, like: Tensor) -> Tensor:
    return torch.from_numpy(g).view(nshape).sum_to_size(like.shape).to(like.dtype)


# ----------------------------------------------------------------------------- cells
def _outputs(n: int, nshape: torch.Size, work: torch.dtype) -> tuple[list[Tensor], list]:
    """``n`` fresh tensors of the neurons' shape and their flat arrays."""
    # (one allocation each, as the reference makes them: a block of all n is a size the
    # allocator hands back to the system between steps, and every page then faults again)
    out = [torch.empty(nshape, dtype=work) for _ in range(n)]
    return out, [t.view(-1).numpy() for t in out]


class _FusedCell(torch.autograd.Function):
    """``(a, r, *state fields, *parameter tensors) -> (out, *new state fields)``: one step.

    ``a`` is the input (the projected input of a recurrent cell), ``r`` the recurrent input
    (``None`` for a feed-forward cell); ``prm`` the hoisted values (the runner's)."""

    @staticmethod
    def forward(ctx: Any, plan: StepPlan, nshape: torch.Size, prm: np.ndarray, a: Tensor,
                r: Tensor | None, *inputs: Tensor) -> tuple[Tensor, ...]:  # fmt: skip
        F = plan.program.n_state
        work = plan.work
        (out, *new), rows = _outputs(1 + F, nshape, work)
        _forward_step(
            _loops(plan, plan.variant(), "step_forward"), plan, prm, _flat_np(a, work, nshape),
            None if r is None else _flat_np(r, work, nshape), rows[0],
            [_flat_np(s, work, nshape) for s in inputs[:F]], rows[1:],
        )  # fmt: skip
        ctx.set_materialize_grads(False)
        ctx.plan, ctx.nshape, ctx.prm = plan, nshape, prm
        ctx.save_for_backward(a, r, *inputs)
        if not plan.program.differentiable[0]:
            ctx.mark_non_differentiable(out)
        if a.dtype == work:
            return out, *new
        return out.to(a.dtype), *(t.to(a.dtype) for t in new)

    @staticmethod
    def backward(ctx: Any, gout: Tensor | None, *gstate: Tensor | None) -> tuple[Any, ...]:
        plan, nshape = ctx.plan, ctx.nshape
        a, r, *inputs = ctx.saved_tensors
        F = plan.program.n_state
        states, params = inputs[:F], inputs[F:]
        needs = ctx.needs_input_grad  # (plan, nshape, prm, a, r, *states, *params)
        pgrads = _cpu()._param_grads(plan.program, needs[5 + F :])
        variant = plan.variant(needs[3], pgrads)
        work, M = plan.work, math.prod(nshape)
        (ga, gr, *g), rows = _outputs(2 + F, nshape, work)
        gprm = np.zeros((len(pgrads), M) if pgrads else (1, 1), np.float64)
        _backward_step(
            _loops(plan, variant, "step_backward"), plan, ctx.prm, _flat_np(a, work, nshape),
            None if r is None else _flat_np(r, work, nshape), _grad_np(gout, work, nshape, M),
            [_grad_np(gstate[k], work, nshape, M) for k in range(F)],
            [_flat_np(s, work, nshape) for s in states], rows[0] if needs[3] else None,
            rows[1] if r is not None else None, gprm, rows[2:],
        )  # fmt: skip
        grads: list[Any] = [None, None, None]
        grads.append(ga.to(a.dtype) if needs[3] else None)
        grads.append(gr.to(a.dtype) if r is not None and needs[4] else None)
        for k, s in enumerate(states):
            grads.append(g[k].sum_to_size(s.shape).to(s.dtype) if needs[5 + k] else None)
        grads += [None] * len(params)
        for q, k in enumerate(pgrads):
            grads[5 + F + k] = _reduce(gprm[q], nshape, params[k])
        return tuple(grads)


class CellRunner:
    """Runs one signature of a cell (input shape and dtype, state structure, parameters)
    through the fused step, once its loops are compiled; the module keeps it with its checks.

    ``runner(x, state, weights)`` returns ``(out, state)``, or ``None`` when the call must
    run on the reference (loops still compiling, another device, a traced call, ...).
    """

    def __init__(self, plan: StepPlan, call: Any, params: list[Tensor], nshape: torch.Size,
                 wanted: tuple[bool, ...]) -> None:  # fmt: skip
        # (what a new plan needs, without this call's tensors: the module keeps the runner)
        template = rebuild(call.state, [torch.empty(()) for _ in flat(call.state)])
        self.plan, self.step = plan, call.step
        self.replan = (call.step, template, call.p, call.dt, call.x.dtype, bool(call.weights),
                       call.explicit)  # fmt: skip
        self.params = tuple(params)
        self.nshape = nshape
        self.wanted = wanted
        self.ready = False
        self.failed = False  # (numba failed to compile the loops: the reference runs)
        self._key: Any = None
        self._prm: Any = None

    def __call__(self, x: Tensor, state: Any, weights: tuple) -> tuple[Tensor, Any] | None:
        if self.failed or os.environ.get("NORSE_BACKEND") == "reference" or not x.is_cpu:
            return None
        if _tracing(x):
            return None
        states = flat(state)
        dtype = x.dtype
        for s in states:
            if s.dtype != dtype or not s.is_cpu:
                return None
        wanted = tuple(t.requires_grad for t in self.params)
        if wanted != self.wanted:  # (a parameter was frozen or unfrozen in place)
            plan = _plan(*self.replan, list(self.params))
            if isinstance(plan, str):
                return None
            self.plan, self.wanted, self.ready = plan, wanted, False
        plan = self.plan
        if not self.ready:
            try:
                if _ready(plan, self.wanted, x.requires_grad) is not None:
                    return None
            except _cpu()._CompileError as e:
                _cpu()._FAILED[id(plan.program)] = str(e)
                warnings.warn(f"{e}; running the reference step instead", RuntimeWarning,
                              stacklevel=4)  # fmt: skip
                self.failed = True
                return None
            self.ready = _ready(plan, self.wanted, True) is None
        program = plan.program
        if weights:
            w_in, w_rec = weights
            a = torch.nn.functional.linear(x, w_in)
            k = program.rec_field
            r = None if k is None else torch.nn.functional.linear(states[k], w_rec)
        else:
            a, r = x, None
        out, *new = _FusedCell.apply(plan, self.nshape, self._hoisted(), a, r, *states,
                                     *self.params)  # fmt: skip
        return out, rebuild(state, new)

    def _hoisted(self) -> np.ndarray:
        """The hoisted values, computed again only when a parameter's value changed (read
        from the values themselves: an in-place change through ``.data`` bumps no version)."""
        params = self.params
        if all(t.numel() == 1 for t in params):
            key = (id(self.plan), tuple(t.item() for t in params))
            if key == self._key:
                return self._prm
        else:
            key = None
        M = math.prod(self.nshape)
        prm = _hoisted(self.plan, params, self.nshape, M)
        self._key, self._prm = key, prm
        return prm


def cell(
    step: Callable, x: Tensor, state: Any, p: Any, dt: float, weights: tuple
) -> CellRunner | str:
    """A :class:`CellRunner` for this signature of a cell, or why it runs on the reference
    (metadata only)."""
    from . import Call

    cpu = _cpu()
    if not cpu._HAS_NUMBA:
        return "numba is not installed (pip install numba)"
    # (as a sequence of one step: the same checks as for layers)
    call = Call(step, x.unsqueeze(0), state, p, dt, None, tuple(weights))
    found = check(call, cpu._on_cpu, recurrent=True)
    if isinstance(found, (str, Invalid)):
        return found if isinstance(found, str) else found.why
    states, params = found
    nshape = call.x.shape[1:]
    if weights:
        nshape = torch.Size((*x.shape[:-1], weights[0].shape[0]))
    plan = _plan(call.step, call.state, call.p, call.dt, call.x.dtype, bool(call.weights),
                 call.explicit, params)  # fmt: skip
    if isinstance(plan, str):
        return plan
    if plan.program.recurrent and plan.program.rec_field is not None:
        if states[plan.program.rec_field].shape != nshape:
            return "the recurrent spikes do not have the neurons' shape"
    wanted = tuple(t.requires_grad for t in params)
    return CellRunner(plan, call, params, nshape, wanted)


# ----------------------------------------------------------------------------- recurrent layers
def prepare_recurrent(call: Any) -> Any:
    """Decide from metadata only whether the step loops can run a recurrent layer: a
    :class:`~norse.torch.kernels._recurrent.RecurrentPlan`, bad input, or why not."""
    from ._recurrent import RecurrentPlan

    cpu = _cpu()
    found = check(call, cpu._on_cpu, recurrent=True)
    if isinstance(found, (str, Invalid)):
        return found
    states, params = found
    x, (w_in, _) = call.x, call.weights
    nshape = torch.Size((*x.shape[1:-1], w_in.shape[0]))
    plan = _plan(call.step, call.state, call.p, call.dt, call.x.dtype, bool(call.weights),
                 call.explicit, params)  # fmt: skip
    if isinstance(plan, str):
        return plan
    k = plan.program.rec_field
    if k is not None and states[k].shape != nshape:
        return Invalid("the recurrent spikes do not have the neurons' shape")
    if plan.background:
        wanted = tuple(t.requires_grad for t in params)
        waiting = _ready(plan, wanted, True)
        if waiting is not None:
            return waiting
    return RecurrentPlan(plan.program, plan.work, CPU_ENGINE, plan, tuple(states),
                         tuple(params), nshape)  # fmt: skip


class _CPUEngine:
    """How the recurrent loop of :mod:`norse.torch.kernels._recurrent` runs on the CPU: the
    generated numba step loops, numpy rows, buffers from the CPU backend's cache (fresh
    memory costs a page fault per page, more than the step loops themselves)."""

    def empty(self, shape: tuple[int, ...], work: torch.dtype, device: torch.device) -> Tensor:
        return _cpu()._empty(shape, work)

    def rows(self, t: Tensor) -> list:
        return list(t.numpy())

    def dummy(self, work: torch.dtype, device: torch.device) -> Any:
        return _dummy(work)

    def hoisted(self, plan: StepPlan, params: tuple, nshape: torch.Size, M: int) -> Any:
        return _hoisted(plan, params, nshape, M)

    def param_grads(self, Q: int, M: int, work: torch.dtype, device: torch.device) -> tuple:
        g = torch.zeros((Q, M) if Q else (1, 1), dtype=torch.float64)
        return g, g.numpy()

    def stepper(self, plan: StepPlan, prm: Any, want_gx: bool, pgrads: tuple, part: str,
                args: tuple, M: int) -> Callable[..., Any]:  # fmt: skip
        variant = plan.variant(want_gx, pgrads) if part == "backward" else plan.variant()
        return _stepper(_loops(plan, variant, f"step_{part}"), part, args, M)


CPU_ENGINE = _CPUEngine()
