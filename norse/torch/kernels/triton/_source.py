"""Triton source for one traced program: the forward and backward kernels of the GPU backend.

One program (Triton's sense: one instance of the kernel) runs a block of ``BLOCK`` neurons
through all ``T`` steps, with their state in registers. Arrays (``N`` flattened neurons,
neurons contiguous; ``DT`` is the working type: float64 for float64 inputs, else float32):

* ``x``: ``(T, N)`` in the input's dtype, rows ``stride_xt`` apart; ``out``, ``gx``:
  ``(T, N)`` contiguous, in the input's dtype; ``go``: the output's gradient, ``(T, N)`` with
  strides ``stride_got, stride_gon`` (0 where it is broadcast);
* ``s0``, ``gsT``, ``gs0``: ``(F, N)`` in ``DT``, one row per state field; ``sT<k>``: the
  final state, one ``(N,)`` array per field in the input's dtype (separate tensors: autograd
  forbids modifying outputs in place that are views of one another);
* ``prm``: ``(H, L)`` in ``DT``, one row per hoisted value; ``L`` is 1 (shared by all
  neurons, loaded as scalars) or ``N``;
* ``gp``: ``(Q, N)`` in ``DT``, per-neuron gradients of the parameters asked for, summed
  over time;
* ``sc``: ``(S, T, N)`` in ``DT``, backward's scratch: the values the adjoint needs of every
  step (:func:`~norse.torch.kernels._emit.checkpoint`), recomputed forward first.

Every offset is a pointer bumped row by row (no ``t * N`` products that could overflow 32
bits). Loop-carried values keep one type (``[BLOCK]`` of ``DT``): new states are written
through ``tl.where(mask, value, 0)``, which also keeps the lanes past ``N`` finite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .._emit import Emitter, checkpoint, inputs_of, needed, one_step
from .._graph import Program

__all__ = ["Variant", "source"]

_IN = " " * 4
_LOOP = " " * 8


@dataclass(frozen=True)
class Variant:
    """What one generated module is specialised for.

    Attributes:
        per_neuron: hoisted values are per neuron (``L = N``) rather than shared.
        hoisted_kinds: the kind (``"f"``, ``"b"``, ``"i"``) of each hoisted value.
        wide: the working type is float64.
        has_go: the output has a gradient (else it is zero).
        want_gx: the input's gradient is written.
        pgrads: indices (into ``program.param_paths``) of the parameter gradients to compute.
    """

    per_neuron: bool
    hoisted_kinds: tuple[str, ...]
    wide: bool
    has_go: bool = True
    want_gx: bool = True
    pgrads: tuple[int, ...] = ()


def _out(emitter: Emitter, value: object) -> str:
    return emitter.f(value) if value is not None else emitter.const(0.0)


def _constants(emitter: Emitter) -> list[str]:
    lines = []
    for name, value in emitter.constants.items():
        text = repr(value) if math.isfinite(value) else f"float('{value}')"
        lines.append(f"{_IN}{name} = tl.full([], {text}, DT)")
    return lines


def _as_kind(kind: str, load: str) -> str:
    """A value loaded from a float row, as the kind it has in the program."""
    return f"({load} != 0)" if kind == "b" else load


def _hoisted(variant: Variant, used: set[str]) -> list[str]:
    """Loads of the hoisted values ``used`` (once, before the time loop)."""
    wanted = sorted(int(n[1:]) for n in used if n.startswith("h"))
    if not wanted:
        return []
    lines = []
    if not variant.per_neuron:
        for k in wanted:
            load = f"tl.load(prm_ptr + {k}).to(DT)"
            lines.append(f"{_IN}_h{k} = {_as_kind(variant.hoisted_kinds[k], load)}")
        return lines
    lines.append(f"{_IN}h_ptrs = prm_ptr + offs")
    for k in range(wanted[-1] + 1):
        if k in wanted:
            load = "tl.load(h_ptrs, mask=mask, other=1.0).to(DT)"
            lines.append(f"{_IN}_h{k} = {_as_kind(variant.hoisted_kinds[k], load)}")
        if k < wanted[-1]:
            lines.append(f"{_IN}h_ptrs += N")
    return lines


def _rows_in(name: str, ptr: str, count: int, dtype: str = "DT") -> list[str]:
    """``name<k> = row k of ptr`` for ``k < count``, as ``[BLOCK]`` vectors of ``dtype``."""
    lines = [f"{_IN}{name}_ptrs = {ptr} + offs"] if count else []
    for k in range(count):
        if k:
            lines.append(f"{_IN}{name}_ptrs += N")
        lines.append(f"{_IN}{name}{k} = tl.load({name}_ptrs, mask=mask, other=0.0).to({dtype})")
    return lines


def _rows_out(ptr: str, values: list[str]) -> list[str]:
    """Store ``values`` as the rows of ``ptr`` (converted to its element type)."""
    lines = [f"{_IN}o_ptrs = {ptr} + offs"] if values else []
    for k, value in enumerate(values):
        if k:
            lines.append(f"{_IN}o_ptrs += N")
        lines.append(f"{_IN}tl.store(o_ptrs, ({value}).to({ptr}.dtype.element_ty), mask=mask)")
    return lines


def _head() -> list[str]:
    """This program's block of neurons (int64 offsets), then the constants (filled in last)."""
    return [
        f"{_IN}offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)",
        f"{_IN}mask = offs < N",
        "CONSTANTS",
    ]


def _forward(program: Program, variant: Variant) -> str:
    F = program.n_state
    kinds = {f"h{k}": kind for k, kind in enumerate(variant.hoisted_kinds)}
    e = Emitter("triton", kinds, wide=variant.wide)
    fwd = needed(program.forward, program.fwd_outputs)
    used = inputs_of(fwd, program.fwd_outputs)
    body = [_LOOP + e.assign(n) for n in fwd]
    outs = [_out(e, o) for o in program.fwd_outputs]
    zero = e.const(0.0)
    finals = "".join(f", sT{k}_ptr" for k in range(F))
    lines = [
        "@triton.jit",
        f"def forward(x_ptr, out_ptr, s0_ptr, prm_ptr, N, T, stride_xt{finals},",
        "            DT: tl.constexpr, BLOCK: tl.constexpr):",
        *_head(),
        *_hoisted(variant, used),
        *_rows_in("st", "s0_ptr", F),
        f"{_IN}x_ptrs = x_ptr + offs",
        f"{_IN}out_ptrs = out_ptr + offs",
        f"{_IN}for _ in range(T):",
    ]
    if "x" in used:
        lines.append(f"{_LOOP}_x = tl.load(x_ptrs, mask=mask, other=0.0).to(DT)")
    lines += [f"{_LOOP}_s{k} = st{k}" for k in range(F) if f"s{k}" in used]
    lines += body
    lines += [
        f"{_LOOP}tl.store(out_ptrs, ({outs[0]}).to(out_ptr.dtype.element_ty), mask=mask)",
        *[f"{_LOOP}st{k} = tl.where(mask, {outs[1 + k]}, {zero})" for k in range(F)],
        f"{_LOOP}x_ptrs += stride_xt",
        f"{_LOOP}out_ptrs += N",
        *[
            f"{_IN}tl.store(sT{k}_ptr + offs, st{k}.to(sT{k}_ptr.dtype.element_ty), mask=mask)"
            for k in range(F)
        ],
    ]
    return "\n".join(lines).replace("CONSTANTS", "\n".join(_constants(e)) or f"{_IN}pass")


def _position(name: str) -> tuple[int, int, str]:
    """A fixed order of stored values (inputs by name, then nodes in graph order)."""
    if name.startswith("t") and name[1:].isdigit():
        return (1, int(name[1:]), "")
    return (0, 0, name)


def _backward(program: Program, variant: Variant) -> tuple[str, dict]:
    F = program.n_state
    kinds = {f"h{k}": kind for k, kind in enumerate(variant.hoisted_kinds)}
    be = Emitter("triton", kinds, wide=variant.wide)
    gx_out = program.bwd_outputs[0]
    gs_out = program.bwd_outputs[1 : 1 + F]
    gp_out = [program.bwd_outputs[1 + F + k] for k in variant.pgrads]
    targets = ([gx_out] if variant.want_gx else []) + list(gs_out) + gp_out
    cut = checkpoint(program, targets)
    stored = sorted(cut.stored, key=_position)
    scratch = [v for v in stored if v != "x"]
    uses_x = "x" in stored
    be.kinds.update(cut.kinds)
    S, Q = len(scratch), len(gp_out)

    # the recompute: the states over time, storing what the adjoint needs
    rec_body = [_LOOP + be.assign(n) for n in cut.recompute]
    rec_outs = [_out(be, program.fwd_outputs[1 + k]) for k in range(F)]
    rec_stores = [be.f(v) for v in scratch]
    rec_used = inputs_of(cut.recompute, [*program.fwd_outputs[1:], *scratch])
    # the adjoint, backwards in time
    adj_body = [_LOOP + be.assign(n) for n in cut.adjoint]
    gx_expr = _out(be, gx_out) if variant.want_gx else None
    gs_expr = [_out(be, g) for g in gs_out]
    gp_expr = [_out(be, g) for g in gp_out]
    used = inputs_of(cut.adjoint, targets) | set(stored)
    zero = be.const(0.0)
    hoisted = used | (rec_used if scratch else set())

    lines = [
        "@triton.jit",
        "def backward(x_ptr, go_ptr, gsT_ptr, s0_ptr, prm_ptr, gx_ptr, gs0_ptr, gp_ptr, sc_ptr,",
        "             N, T, stride_xt, stride_got, stride_gon, last_x, last_go, last_row,",
        "             stride_sc, DT: tl.constexpr, BLOCK: tl.constexpr):",
        *_head(),
        *_hoisted(variant, hoisted),
    ]
    if scratch:
        lines += [
            *_rows_in("st", "s0_ptr", F),
            f"{_IN}x_ptrs = x_ptr + offs",
            f"{_IN}sc0_ptrs = sc_ptr + offs",
            *[f"{_IN}sc{m}_ptrs = sc{m - 1}_ptrs + stride_sc" for m in range(1, S)],
            f"{_IN}for _ in range(T):",
        ]
        if "x" in rec_used:
            lines.append(f"{_LOOP}_x = tl.load(x_ptrs, mask=mask, other=0.0).to(DT)")
        lines += [f"{_LOOP}_s{k} = st{k}" for k in range(F) if f"s{k}" in rec_used]
        lines += rec_body
        lines += [f"{_LOOP}tl.store(sc{m}_ptrs, {v}, mask=mask)" for m, v in enumerate(rec_stores)]
        lines += [f"{_LOOP}st{k} = tl.where(mask, {rec_outs[k]}, {zero})" for k in range(F)]
        lines += [f"{_LOOP}x_ptrs += stride_xt"]
        lines += [f"{_LOOP}sc{m}_ptrs += N" for m in range(S)]
    go_read = variant.has_go and "go" in used
    lines += [
        *_rows_in("gst", "gsT_ptr", F),
        *[f"{_IN}acc{q} = tl.zeros([BLOCK], DT)" for q in range(Q)],
        *([f"{_IN}x_ptrs = x_ptr + offs + last_x"] if uses_x else []),
        *([f"{_IN}go_ptrs = go_ptr + offs * stride_gon + last_go"] if go_read else []),
        *([f"{_IN}gx_ptrs = gx_ptr + offs + last_row"] if variant.want_gx else []),
    ]
    if scratch:
        lines += [f"{_IN}sc0_ptrs = sc_ptr + offs + last_row"]
        lines += [f"{_IN}sc{m}_ptrs = sc{m - 1}_ptrs + stride_sc" for m in range(1, S)]
    lines += [f"{_IN}for _ in range(T):"]
    if uses_x:
        lines += [f"{_LOOP}_x = tl.load(x_ptrs, mask=mask, other=0.0).to(DT)"]
    for m, v in enumerate(scratch):
        load = f"tl.load(sc{m}_ptrs, mask=mask, other=0.0)"
        lines += [f"{_LOOP}{be.var(v)} = {_as_kind(be.kind(v), load)}"]
    if "go" in used:
        load = "tl.load(go_ptrs, mask=mask, other=0.0).to(DT)"
        lines += [f"{_LOOP}_go = {load if go_read else zero}"]
    lines += [f"{_LOOP}_gs{k} = gst{k}" for k in range(F) if f"gs{k}" in used]
    lines += adj_body
    if variant.want_gx:
        lines += [
            f"{_LOOP}tl.store(gx_ptrs, ({gx_expr}).to(gx_ptr.dtype.element_ty), mask=mask)",
            f"{_LOOP}gx_ptrs -= N",
        ]
    lines += [f"{_LOOP}gst{k} = tl.where(mask, {gs_expr[k]}, {zero})" for k in range(F)]
    lines += [f"{_LOOP}acc{q} += {gp_expr[q]}" for q in range(Q)]
    lines += [f"{_LOOP}x_ptrs -= stride_xt"] if uses_x else []
    lines += [f"{_LOOP}go_ptrs -= stride_got"] if go_read else []
    lines += [f"{_LOOP}sc{m}_ptrs -= N" for m in range(S)]
    lines += _rows_out("gs0_ptr", [f"gst{k}" for k in range(F)])
    lines += _rows_out("gp_ptr", [f"acc{q}" for q in range(Q)])
    text = "\n".join(lines).replace("CONSTANTS", "\n".join(_constants(be)) or f"{_IN}pass")
    return text, {"scratch": S, "uses_x": uses_x or bool(scratch)}


def _step(program: Program, variant: Variant, part: str) -> str:
    """One step over the neurons, every value its own ``(N,)`` array:
    ``step_forward(x, r, prm, out, s<k>..., o<k>..., N)`` and
    ``step_backward(x, r, prm, go, gs<k>..., s<k>..., gx, gr, gp, g<k>..., N)`` (``r``: the
    recurrent input of a recurrent program; ``gp``: ``(Q, N)``, the per-neuron parameter
    gradients *added* to it; ``g<k>``: the old state's gradients)."""
    F = program.n_state
    kinds = {f"h{k}": kind for k, kind in enumerate(variant.hoisted_kinds)}
    e = Emitter("triton", kinds, wide=variant.wide)
    fields = [f"s{k}" for k in range(F)]
    step = one_step(program, part, variant.want_gx, variant.pgrads)
    nodes, used, args, gp = step.nodes, step.used, step.args, step.grads
    stores = [(name, _out(e, value)) for name, value in step.stores]
    loads = [n for n in ("x", "r", *fields, "go", *(f"gs{k}" for k in range(F))) if n in used]
    body = [_IN + e.assign(n) for n in nodes]
    lines = [
        "@triton.jit",
        f"def {part}({', '.join(a + '_ptr' for a in args)}, N,",
        "          DT: tl.constexpr, BLOCK: tl.constexpr):",
        *_head(),
        *_hoisted(variant, used),
        *[f"{_IN}_{n} = tl.load({n}_ptr + offs, mask=mask, other=0.0).to(DT)" for n in loads],
        *body,
        *[
            f"{_IN}tl.store({n}_ptr + offs, ({v}).to({n}_ptr.dtype.element_ty), mask=mask)"
            for n, v in stores
        ],
    ]
    if gp:
        lines.append(f"{_IN}gp_ptrs = gp_ptr + offs")
        for q, g in enumerate(gp):
            if q:
                lines.append(f"{_IN}gp_ptrs += N")
            acc = f"tl.load(gp_ptrs, mask=mask, other=0.0) + ({_out(e, g)})"
            lines.append(f"{_IN}tl.store(gp_ptrs, {acc}, mask=mask)")
    return "\n".join(lines).replace("CONSTANTS", "\n".join(_constants(e)) or f"{_IN}pass")


def source(program: Program, variant: Variant, part: str) -> tuple[str, dict]:
    """Module source of the ``part`` (``"forward"`` or ``"backward"`` of a sequence,
    ``"step_forward"`` or ``"step_backward"`` of one step) of ``program``, specialised to
    ``variant``; also returns what the caller needs to know: ``{"scratch": values stored per
    step in backward, "uses_x": backward reads x}``."""
    if part.startswith("step_"):
        kernel, facts = _step(program, variant, part), {"scratch": 0, "uses_x": True}
    elif part == "forward":
        kernel, facts = _forward(program, variant), {"scratch": 0, "uses_x": True}
    else:
        kernel, facts = _backward(program, variant)
    module = "\n".join(
        [
            '"""Generated by norse.torch.kernels.triton from a traced neuron step (safe to '
            'delete)."""',
            "import triton",
            "import triton.language as tl",
            "",
            "from norse.torch.kernels.triton import libdevice",
            "",
            "",
            kernel,
            "",
        ]
    )
    return module, facts
