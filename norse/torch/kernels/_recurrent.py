"""Recurrent layers through time, around a device's generated step loops.

A recurrent layer cannot run its neurons as independent time series: every step mixes the
neurons through the recurrent weights. Its step, traced with the weights stood in for
(``trace(..., recurrent=True)``), is an elementwise program of the projected input ``x``,
the recurrent input ``r`` and the state; the devices' backends generate one step of it as a
loop over the neurons (:mod:`norse.torch.kernels._cpu_step` on the CPU,
:mod:`norse.torch.kernels.triton_backend` on CUDA) and hand it here as an *engine*. Around it,
the same on every device:

* forward: the input projection of all steps is one matrix product, computed before (by
  autograd: its backward is the two large products for the input and the input weights;
  over the active inputs only when the input is spike-sparse, see
  :func:`norse.torch.functional.spike_linear.spike_linear`); per step, one product
  ``z_{t-1} W_rec^T`` into a buffer (the reference's own ``linear``, so float64 spikes stay
  identical) and the step loop. The state of every step is kept (what the adjoint needs; no
  autograd graph).
* backward, hand-written through time: per step (last first) the generated adjoint gives the
  gradients of the projected input, of the recurrent input and of the old state; the
  recurrent input's gradient goes back to the spikes by one product with ``W_rec`` per
  step, and to the recurrent weights as one large product at the end.

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
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ._graph import Program, rebuild

__all__ = ["RecurrentPlan", "run_recurrent"]


class RecurrentPlan(NamedTuple):
    """A recurrent layer's call that an engine's step loops can run."""

    program: Program
    work: torch.dtype  # the loops' dtype
    engine: Any  # the device's step loops (see the module docstring)
    step: Any  # what the engine knows about the program (its plan)
    states: tuple[Tensor, ...]
    params: tuple[Tensor, ...]
    nshape: torch.Size  # the neurons of one step: (*batch, hidden_size)


def run_recurrent(plan: RecurrentPlan, call: Any) -> tuple[Tensor, Any]:
    """``(outputs of every step, last state)`` of the recurrent layer ``call``."""
    from ..functional.spike_linear import spike_linear

    w_in, w_rec = call.weights
    # All steps' input projection in one product (over the active inputs only when the
    # input is spike-sparse); autograd gives its two large products in backward.
    a = spike_linear(call.x, w_in)
    out, *final = _FusedRecurrent.apply(plan, a, w_rec, *plan.states, *plan.params)
    return out, rebuild(call.state, final)


def _param_grads(program: Program, wanted: Any) -> tuple[int, ...]:
    F = program.n_state
    return tuple(
        k for k, want in enumerate(wanted) if want and program.bwd_outputs[1 + F + k] is not None
    )


class _FusedRecurrent(torch.autograd.Function):
    """``(a, W_rec, *state fields, *parameter tensors) -> (out, *final state fields)`` over
    all steps; ``a = linear(x, W_in)`` of every step."""

    @staticmethod
    def forward(ctx: Any, rplan: RecurrentPlan, a: Tensor, w_rec: Tensor,
                *inputs: Tensor) -> tuple[Tensor, ...]:  # fmt: skip
        engine, program, nshape, work = rplan.engine, rplan.program, rplan.nshape, rplan.work
        F, k_z = program.n_state, program.rec_field
        states, params = inputs[:F], inputs[F:]
        T, M, device = a.shape[0], math.prod(nshape), a.device
        H = nshape[-1] if nshape else 1
        prm = engine.hoisted(rplan.step, params, nshape, M)
        an = a.detach().to(work).contiguous().view(T, M)
        # the state before every step, each field's time series contiguous
        S = engine.empty((max(F, 1), T + 1, M), work, device)
        for k, s in enumerate(states):
            S[k, 0].view(nshape).copy_(s.detach())
        R = engine.empty((T, M), work, device) if k_z is not None else None
        out = engine.empty((T, M), work, device)
        w = w_rec.detach().to(work)
        if M:
            # (every per-step view made once, before the loop: the loop is the hot path)
            a_rows, out_rows = engine.rows(an), engine.rows(out)
            rows = [engine.rows(S[:F, t]) for t in range(T + 1)]
            r_rows = engine.rows(R) if R is not None else [engine.dummy(work, device)] * T
            run = engine.stepper(rplan.step, prm, False, (), "forward",
                                 (a_rows[0], r_rows[0], prm, out_rows[0], *rows[0], *rows[1]),
                                 M)  # fmt: skip
            if R is not None:
                mm, wt = torch.mm, w.t()
                z = S[k_z].view(T + 1, -1, H).unbind(0)
                r = R.view(T, -1, H).unbind(0)
            for t in range(T):
                if R is not None:
                    mm(z[t], wt, out=r[t])  # (linear(z, W_rec), as the reference step has it)
                run(a_rows[t], r_rows[t], prm, out_rows[t], *rows[t], *rows[t + 1])
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
        engine, program, nshape, work = rplan.engine, rplan.program, rplan.nshape, rplan.work
        F, k_z = program.n_state, program.rec_field
        a, w_rec, *inputs = ctx.saved_tensors
        states, params = inputs[:F], inputs[F:]
        needs = ctx.needs_input_grad  # (rplan, a, w_rec, *states, *params)
        pgrads = _param_grads(program, needs[3 + F :])
        T, M, device = a.shape[0], math.prod(nshape), a.device
        H = nshape[-1] if nshape else 1
        S, R, an, w = ctx.S, ctx.R, ctx.an, ctx.w
        d = engine.dummy(work, device)
        if gout is None:
            go = torch.zeros((1, M), dtype=work, device=device)
        elif gout.stride(0) == 0:  # (the same gradient at every step, e.g. of out.sum())
            go = gout[0].detach().to(work).contiguous().view(1, M)
        else:
            go = gout.detach().to(work).contiguous().view(T, M)
        G = engine.empty((2, max(F, 1), M), work, device)  # the state gradients, ping-pong
        for k in range(F):
            if gstate[k] is None:
                G[0, k].zero_()
            else:
                G[0, k].view(nshape).copy_(gstate[k].detach())
        GA = engine.empty((T, M), work, device) if needs[1] else None
        GR = engine.empty((T, M), work, device) if R is not None else None
        gp, gp_rows = engine.param_grads(len(pgrads), M, work, device)
        if M:
            a_rows, go_rows = engine.rows(an), engine.rows(go)
            go_rows = go_rows if go.shape[0] == T else go_rows * T
            rows = [engine.rows(S[:F, t]) for t in range(T + 1)]
            g_rows = [engine.rows(G[i, :F]) for i in range(2)]
            r_rows = engine.rows(R) if R is not None else [d] * T
            ga_rows = engine.rows(GA) if GA is not None else [d] * T
            gr_rows = engine.rows(GR) if GR is not None else [d] * T
            run = engine.stepper(
                rplan.step, ctx.prm, needs[1], pgrads, "backward",
                (a_rows[0], r_rows[0], ctx.prm, go_rows[0], *g_rows[0], *rows[0], ga_rows[0],
                 gr_rows[0], gp_rows, *g_rows[1]), M,
            )  # fmt: skip
            if GR is not None:
                gz = G[:, k_z].view(2, -1, H).unbind(0)
                gr = GR.view(T, -1, H).unbind(0)
            for t in range(T - 1, -1, -1):
                i = (T - 1 - t) % 2  # (the gradients of step t's new state are in G[i])
                run(a_rows[t], r_rows[t], ctx.prm, go_rows[t], *g_rows[i], *rows[t], ga_rows[t],
                    gr_rows[t], gp_rows, *g_rows[1 - i])  # fmt: skip
                if GR is not None:
                    # the recurrent input's gradient back to the spikes it came from
                    gz[1 - i].addmm_(gr[t], w)
        g0 = G[T % 2]  # (the initial state's gradients)
        grads: list[Any] = [None]
        grads.append(None if GA is None else GA.view(T, *nshape).to(a.dtype))
        if GR is not None and needs[2]:
            # dW[i, j] = sum over steps and batch of gr[i] z_prev[j]: one product
            z_prev = S[k_z, :T].reshape(-1, H)
            grads.append((GR.view(-1, H).t() @ z_prev).to(w_rec.dtype))
        else:
            grads.append(None)
        for k, s in enumerate(states):
            grads.append(g0[k].view(nshape).sum_to_size(s.shape).to(s.dtype) if needs[3 + k]
                         else None)  # fmt: skip
        grads += [None] * len(params)
        for q, k in enumerate(pgrads):
            # (summed over the neurons in float64: they are many)
            gk = gp[q].to(torch.float64).view(nshape).sum_to_size(params[k].shape)
            grads[3 + F + k] = gk.to(params[k].dtype).to(params[k].device)
        return tuple(grads)
