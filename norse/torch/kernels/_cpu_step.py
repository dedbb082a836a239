"""Fused CPU steps: recurrent layers and cells, one compiled call per step.

A recurrent layer cannot run its neurons as independent time series (the sequence loops of
:mod:`norse.torch.kernels.cpu`): every step mixes the neurons through the recurrent weights.
Its step is traced with the weights stood in for (``trace(..., recurrent=True)``): the two
products ``W_in x`` and ``W_rec z`` become inputs of an elementwise program, and what is left
runs as one generated numba loop over the neurons per step (every state field its own
array). Around it:

* forward: the input projection of all steps is one matrix product, computed before (in
  torch, by autograd: its backward is the two large products for the input and the input
  weights; over the active inputs only when the input is spike-sparse, see
  :func:`norse.torch.functional.spike_linear.spike_linear`); per step, one product ``z_{t-1} W_rec^T`` (BLAS) into a buffer, then the step
  loop. The state of every step is kept (what the adjoint needs; no autograd graph).
* backward, hand-written through time: per step (last first) the generated adjoint gives the
  gradients of the projected input, of the recurrent input and of the old state; the
  recurrent input's gradient goes back to the spikes by one product with ``W_rec`` per
  step, and to the recurrent weights as one large product at the end.

A cell (one step of a feed-forward or recurrent model) is the same step loop as one
autograd node: forward writes the new state, backward recomputes the step from its inputs
and runs the adjoint.

The step loop evaluates the reference step's operations in its order, and the products are
the reference's own (``linear``), so float64 spikes and states agree with the reference.

Example:
    >>> from norse.torch import LIFRecurrent
    >>> layer = LIFRecurrent(3, 4)
    >>> x = torch.rand(10, 2, 3)
    >>> z, s = layer(x)
    >>> layer.backend = "reference"
    >>> z_ref, s_ref = layer(x)
    >>> torch.equal(z, z_ref), torch.allclose(s.v, s_ref.v)
    (True, True)
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

__all__ = ["StepPlan", "cell", "prepare_recurrent", "run_recurrent"]


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
        self.plan = plan
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
class RecurrentPlan(NamedTuple):
    step: StepPlan
    states: tuple[Tensor, ...]
    params: tuple[Tensor, ...]
    nshape: torch.Size


def prepare_recurrent(call: Any) -> RecurrentPlan | Invalid | str:
    """Decide from metadata only whether the step loops can run a recurrent layer."""
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
    return RecurrentPlan(plan, tuple(states), tuple(params), nshape)


def run_recurrent(plan: RecurrentPlan, call: Any) -> tuple[Tensor, Any]:
    from ..functional.spike_linear import spike_linear

    w_in, w_rec = call.weights
    # All steps' input projection in one product (over the active inputs only when the
    # input is spike-sparse); autograd gives its two large products in backward.
    a = spike_linear(call.x, w_in)
    out, *final = _FusedRecurrent.apply(plan, a, w_rec, *plan.states, *plan.params)
    return out, rebuild(call.state, final)


class _FusedRecurrent(torch.autograd.Function):
    """``(a, W_rec, *state fields, *parameter tensors) -> (out, *final state fields)`` over
    all steps; ``a = linear(x, W_in)`` of every step."""

    @staticmethod
    def forward(ctx: Any, rplan: RecurrentPlan, a: Tensor, w_rec: Tensor,
                *inputs: Tensor) -> tuple[Tensor, ...]:  # fmt: skip
        plan, nshape = rplan.step, rplan.nshape
        program = plan.program
        F, k_z = program.n_state, program.rec_field
        states, params = inputs[:F], inputs[F:]
        work, T, M = plan.work, a.shape[0], math.prod(nshape)
        H = nshape[-1] if nshape else 1
        prm = _hoisted(plan, params, nshape, M)
        an = a.detach().to(work).contiguous().view(T, M)
        # the state before every step, each field's time series contiguous
        # (buffers from the CPU backend's cache: fresh memory costs a page fault per page,
        # more than the step loops themselves)
        empty = _cpu()._empty
        S = empty((max(F, 1), T + 1, M), work)
        for k, s in enumerate(states):
            S[k, 0].view(nshape).copy_(s.detach())
        R = empty((T, M), work) if k_z is not None else None
        out = empty((T, M), work)
        w = w_rec.detach().to(work)
        if M:
            # (every per-step view made once, before the loop: the loop is the hot path)
            a_np, out_np = an.numpy(), out.numpy()
            rows = [list(r) for r in S.numpy()[:F].transpose(1, 0, 2)]
            r_np = list(R.numpy()) if R is not None else [_dummy(work)] * T
            run = _stepper(_loops(plan, plan.variant(), "step_forward"), "forward",
                           (a_np[0], r_np[0], prm, out_np[0], *rows[0], *rows[1]), M)  # fmt: skip
            if R is not None:
                mm, wt = torch.mm, w.t()
                z = S[k_z].view(T + 1, -1, H).unbind(0)
                r = R.view(T, -1, H).unbind(0)
            for t in range(T):
                if R is not None:
                    mm(z[t], wt, out=r[t])  # (linear(z, W_rec), as the reference step has it)
                run(a_np[t], r_np[t], prm, out_np[t], *rows[t], *rows[t + 1])
        ctx.set_materialize_grads(False)
        ctx.rplan, ctx.prm = rplan, prm
        ctx.S, ctx.R, ctx.an, ctx.w = S, R, an, w
        ctx.save_for_backward(a, w_rec, *inputs)
        if not program.differentiable[0]:
            ctx.mark_non_differentiable(out)
        dtype = a.dtype
        outs = out.view(T, *nshape).to(dtype)
        return outs, *(S[k, T].view(nshape).to(dtype) for k in range(F))

    @staticmethod
    def backward(ctx: Any, gout: Tensor | None, *gstate: Tensor | None) -> tuple[Any, ...]:
        rplan = ctx.rplan
        plan, nshape = rplan.step, rplan.nshape
        program = plan.program
        F, k_z = program.n_state, program.rec_field
        a, w_rec, *inputs = ctx.saved_tensors
        states, params = inputs[:F], inputs[F:]
        needs = ctx.needs_input_grad  # (rplan, a, w_rec, *states, *params)
        pgrads = _cpu()._param_grads(program, needs[3 + F :])
        variant = plan.variant(needs[1], pgrads)
        work, T, M = plan.work, a.shape[0], math.prod(nshape)
        H = nshape[-1] if nshape else 1
        S, R, an, w = ctx.S, ctx.R, ctx.an, ctx.w
        d = _dummy(work)
        if gout is None:
            go = torch.zeros((1, M), dtype=work)
        elif gout.stride(0) == 0:  # (the same gradient at every step, e.g. of out.sum())
            go = gout[0].detach().to(work).contiguous().view(1, M)
        else:
            go = gout.detach().to(work).contiguous().view(T, M)
        empty = _cpu()._empty
        G = empty((2, max(F, 1), M), work)  # the state gradients, ping-pong
        for k in range(F):
            if gstate[k] is None:
                G[0, k].zero_()
            else:
                G[0, k].view(nshape).copy_(gstate[k].detach())
        GA = empty((T, M), work) if needs[1] else None
        GR = empty((T, M), work) if R is not None else None
        gprm = np.zeros((len(pgrads), M) if pgrads else (1, 1), np.float64)
        if M:
            a_np = an.numpy()
            go_np = list(go.numpy()) if go.shape[0] == T else [go.numpy()[0]] * T
            rows = [list(r) for r in S.numpy()[:F].transpose(1, 0, 2)]
            g_rows = [list(r[:F]) for r in G.numpy()]
            r_np = list(R.numpy()) if R is not None else [d] * T
            ga_np = list(GA.numpy()) if GA is not None else [d] * T
            gr_np = list(GR.numpy()) if GR is not None else [d] * T
            run = _stepper(
                _loops(plan, variant, "step_backward"), "backward",
                (a_np[0], r_np[0], ctx.prm, go_np[0], *g_rows[0], *rows[0], ga_np[0], gr_np[0],
                 gprm, *g_rows[1]), M,
            )  # fmt: skip
            if GR is not None:
                gz = G.view(2, -1, M)[:, k_z].view(2, -1, H).unbind(0)
                gr = GR.view(T, -1, H).unbind(0)
            for t in range(T - 1, -1, -1):
                i = (T - 1 - t) % 2  # (the gradients of step t's new state are in G[i])
                run(a_np[t], r_np[t], ctx.prm, go_np[t], *g_rows[i], *rows[t], ga_np[t],
                    gr_np[t], gprm, *g_rows[1 - i])  # fmt: skip
                if GR is not None:
                    # the recurrent input's gradient back to the spikes it came from
                    gz[1 - i].addmm_(gr[t], w)
        g0 = G[T % 2]  # (the initial state's gradients)
        grads: list[Any] = [None]
        grads.append(None if GA is None else GA.view(T, *nshape).to(a.dtype))
        if GR is not None and needs[2]:
            # dW[i, j] = sum over steps and batch of gr[i] z_prev[j]: one product
            z_prev = S[k_z, :T].view(-1, H)
            grads.append((GR.view(-1, H).t() @ z_prev).to(w_rec.dtype))
        else:
            grads.append(None)
        for k, s in enumerate(states):
            grads.append(g0[k].view(nshape).sum_to_size(s.shape).to(s.dtype) if needs[3 + k]
                         else None)  # fmt: skip
        grads += [None] * len(params)
        for q, k in enumerate(pgrads):
            grads[3 + F + k] = _reduce(gprm[q], nshape, params[k])
        return tuple(grads)
