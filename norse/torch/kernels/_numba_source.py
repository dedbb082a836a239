"""numba source for one traced program: the CPU backend's forward and backward loops.

The generated module defines ``forward``/``backward`` (a range of neurons) and
``forward_chunks``/``backward_chunks`` (ranges taken from a shared counter, one call per
thread). Arrays (``T`` steps, ``M`` flattened neurons, all C-contiguous, working dtype unless
noted):

* ``x``, ``out``, ``gx``, ``gout``: ``(T, M)`` (``gout`` is ``(1, 1)`` when the output's
  gradient is one broadcast number: ``GT = False``);
* ``s0``, ``sT``, ``gs0``, ``gsT``: ``(F, M)``, one row per state field;
* ``prm``: ``(H, L)``, one row per hoisted value; ``L`` is 1 (shared by all neurons) or ``M``;
* ``gprm``: ``(Q, M)`` float64, per-neuron gradients of the parameters asked for, summed over
  time.

Neurons run in blocks of ``blk`` (time outer, neurons inner), so that a block's state stays
in cache. Backward recomputes a block's states over time into a scratch buffer, then runs the
adjoint program backwards in time.
"""

from __future__ import annotations

from typing import NamedTuple

from ._emit import Emitter, checkpoint, inputs_of, needed, one_step
from ._graph import Program

__all__ = ["Variant", "source"]


class Variant(NamedTuple):
    """What one compiled module is specialised for.

    Attributes:
        per_neuron: hoisted values are per neuron (``L = M``) rather than shared.
        hoisted_kinds: the kind (``"f"``, ``"b"``, ``"i"``) of each hoisted value.
        gt: the output gradient is a ``(T, M)`` array (not one number).
        want_gx: the input's gradient is written.
        pgrads: indices (into ``program.param_paths``) of the parameter gradients to compute.
        bf16: the sequences (``x``, ``out``, ``gout``, ``gx``) are bfloat16, passed as their
            bits (``uint16``) and converted in the loops (the math is float32).
    """

    per_neuron: bool
    hoisted_kinds: tuple[str, ...]
    gt: bool = True
    want_gx: bool = True
    pgrads: tuple[int, ...] = ()
    bf16: bool = False


def _lines(emitter: Emitter, nodes: list, indent: str) -> list[str]:
    return [indent + emitter.assign(n) for n in nodes]


def _out(emitter: Emitter, value: object) -> str:
    return emitter.f(value) if value is not None else emitter.const(0.0)


def _hoisted_load(k: int, kind: str, index: str) -> str:
    load = f"prm[{k}, {index}]"
    if kind == "b":
        return f"_h{k} = {load} != 0"
    return f"_h{k} = {load}"


def source(program: Program, variant: Variant, part: str) -> tuple[str, dict]:
    """Module source of the ``part`` (``"forward"`` or ``"backward"`` of a sequence,
    ``"step_forward"`` or ``"step_backward"`` of one step) of ``program``, specialised to
    ``variant``; also returns what the caller needs to know: ``{"scratch": state fields
    stored per step in backward, "uses_x": backward reads x}``."""
    if part.startswith("step_"):
        return _module(_step_source(program, variant, part), part), {"scratch": 0, "uses_x": True}
    F = program.n_state
    kinds = {f"h{k}": kind for k, kind in enumerate(variant.hoisted_kinds)}

    def load(expr: str) -> str:
        return f"_from_bf16({expr})" if variant.bf16 else expr

    def store(expr: str) -> str:
        return f"_to_bf16({expr})" if variant.bf16 else expr

    lane = "b0 + jj"
    hidx = lane if variant.per_neuron else "0"

    # ---------------------------------------------------------------- forward
    fe = Emitter("numba", kinds)
    fwd = needed(program.forward, program.fwd_outputs)
    fwd_used = inputs_of(fwd, program.fwd_outputs)
    body = _lines(fe, fwd, " " * 16)
    outs = [_out(fe, o) for o in program.fwd_outputs]
    fwd_h = sorted(int(n[1:]) for n in fwd_used if n.startswith("h"))
    fwd_src = [
        "@njit(**_OPTS)",
        "def forward(x, out, s0, prm, sT, j0, j1, blk):",
        "    T = x.shape[0]",
        "    F = sT.dtype.type",
        "    CONSTANTS",
        f"    st = _rows({max(F, 1)}, blk, sT)",
        *[f"    st{k} = st[{k}]" for k in range(F)],
    ]
    if not variant.per_neuron:
        fwd_src += ["    " + _hoisted_load(k, variant.hoisted_kinds[k], "0") for k in fwd_h]
    fwd_src += [
        "    for b0 in range(j0, j1, blk):",
        "        n = min(blk, j1 - b0)",
        "        for jj in range(n):",
        *[f"            st{k}[jj] = s0[{k}, b0 + jj]" for k in range(F)],
        "        for t in range(T):",
        "            xr = x[t, b0 : b0 + n]",
        "            orow = out[t, b0 : b0 + n]",
        "            for jj in range(n):",
        f"                _x = {load('xr[jj]')}",
        *[f"                _s{k} = st{k}[jj]" for k in range(F) if f"s{k}" in fwd_used],
    ]
    if variant.per_neuron:
        fwd_src += [
            "                " + _hoisted_load(k, variant.hoisted_kinds[k], hidx) for k in fwd_h
        ]
    fwd_src += body
    fwd_src += [f"                orow[jj] = {store(outs[0])}"]
    fwd_src += [f"                st{k}[jj] = {outs[1 + k]}" for k in range(F)]
    fwd_src += [
        "        for jj in range(n):",
        *[f"            sT[{k}, b0 + jj] = st{k}[jj]" for k in range(F)],
        "    return 0",
    ]
    fwd_text = "\n".join(fwd_src).replace("    CONSTANTS", _constants(fe))

    # ---------------------------------------------------------------- backward
    be = Emitter("numba", kinds)
    gx_out = program.bwd_outputs[0]
    gs_out = program.bwd_outputs[1 : 1 + F]
    gp_out = [program.bwd_outputs[1 + F + k] for k in variant.pgrads]
    targets = ([gx_out] if variant.want_gx else []) + list(gs_out) + gp_out
    cut = checkpoint(program, targets)
    stored = cut.stored  # values the recompute stores per step; "x" is read from x instead
    scratch = [v for v in stored if v != "x"]
    uses_x = "x" in stored
    be.kinds.update(cut.kinds)
    rec_body = _lines(be, cut.recompute, " " * 16)
    rec_outs = [_out(be, program.fwd_outputs[1 + k]) for k in range(F)]
    body = _lines(be, cut.adjoint, " " * 16)
    gx_expr = _out(be, gx_out) if variant.want_gx else None
    gs_expr = [_out(be, g) for g in gs_out]
    gp_expr = [_out(be, g) for g in gp_out]
    used = inputs_of(cut.adjoint, targets) | set(stored)
    rec_used = inputs_of(cut.recompute, [*program.fwd_outputs[1:], *scratch])
    bwd_h = sorted(
        {int(n[1:]) for n in used | (rec_used if scratch else set()) if n.startswith("h")}
    )
    Q = len(gp_out)
    S = len(scratch)
    bwd_src = [
        "@njit(**_OPTS)",
        "def backward(x, gout, gsT, s0, prm, gx, gs0, gprm, j0, j1, blk):",
        "    T = x.shape[0]",
        "    F = gs0.dtype.type",
        "    CONSTANTS",
        f"    st = _rows({max(F, 1)}, blk, gs0)",
        f"    gst = _rows({max(F, 1)}, blk, gs0)",
        f"    acc = _rows({max(Q, 1)}, blk, gprm)",
        f"    sc = _rows({max(S, 1)} * T, blk, gs0).reshape(({max(S, 1)}, T, -1))",
        *[f"    st{k} = st[{k}]" for k in range(F)],
        *[f"    gst{k} = gst[{k}]" for k in range(F)],
        *[f"    acc{q} = acc[{q}]" for q in range(Q)],
        "    go_c = gout[0, 0]",
    ]
    if not variant.per_neuron:
        bwd_src += ["    " + _hoisted_load(k, variant.hoisted_kinds[k], "0") for k in bwd_h]
    hl = (
        ["                " + _hoisted_load(k, variant.hoisted_kinds[k], hidx) for k in bwd_h]
        if variant.per_neuron
        else []
    )
    bwd_src += [
        "    for b0 in range(j0, j1, blk):",
        "        n = min(blk, j1 - b0)",
    ]
    if scratch:
        bwd_src += [
            "        for jj in range(n):",
            *[f"            st{k}[jj] = s0[{k}, b0 + jj]" for k in range(F)],
            "        for t in range(T):",
            "            _prefetch_row(x, t + 6, b0, n, False)",
            "            xr = x[t, b0 : b0 + n]",
            *[f"            sc{m} = sc[{m}, t]" for m in range(len(scratch))],
            "            for jj in range(n):",
            f"                _x = {load('xr[jj]')}",
            *[f"                _s{k} = st{k}[jj]" for k in range(F)],
            *hl,
            *rec_body,
            *[f"                sc{m}[jj] = {be.f(v)}" for m, v in enumerate(scratch)],
            *[f"                st{k}[jj] = {rec_outs[k]}" for k in range(F)],
        ]
    bwd_src += [
        "        for jj in range(n):",
        *[f"            gst{k}[jj] = gsT[{k}, b0 + jj]" for k in range(F)],
        *[f"            acc{q}[jj] = 0.0" for q in range(Q)],
        "        for t in range(T - 1, -1, -1):",
        *(["            xr = x[t, b0 : b0 + n]"] if uses_x else []),
        *[f"            sc{m} = sc[{m}, t]" for m in range(len(scratch))],
        *(["            gor = gout[t, b0 : b0 + n]"] if variant.gt and "go" in used else []),
        *(["            gxr = gx[t, b0 : b0 + n]"] if variant.want_gx else []),
        "            for jj in range(n):",
    ]
    if uses_x:
        bwd_src += [f"                _x = {load('xr[jj]')}"]
    bwd_src += [f"                {be.var(v)} = sc{m}[jj]" for m, v in enumerate(scratch)]
    if "go" in used:
        bwd_src += [
            f"                _go = {load('gor[jj]')}"
            if variant.gt
            else "                _go = go_c"
        ]
    bwd_src += [f"                _gs{k} = gst{k}[jj]" for k in range(F) if f"gs{k}" in used]
    bwd_src += hl
    bwd_src += body
    if variant.want_gx:
        bwd_src += [f"                gxr[jj] = {store(gx_expr)}"]
    bwd_src += [f"                gst{k}[jj] = {gs_expr[k]}" for k in range(F)]
    bwd_src += [f"                acc{q}[jj] += {gp_expr[q]}" for q in range(Q)]
    bwd_src += [
        "        for jj in range(n):",
        *[f"            gs0[{k}, b0 + jj] = gst{k}[jj]" for k in range(F)],
        *[f"            gprm[{q}, b0 + jj] = acc{q}[jj]" for q in range(Q)],
        "    return 0",
    ]
    bwd_text = "\n".join(bwd_src).replace("    CONSTANTS", _constants(be))

    text = fwd_text if part == "forward" else bwd_text
    return _module(text, part), {"scratch": S, "uses_x": uses_x or bool(scratch)}


def _module(text: str, part: str) -> str:
    return "\n".join(
        [
            '"""Generated by norse.torch.kernels.cpu from a traced neuron step (safe to delete)."""',
            "import math",
            "",
            "import numpy as np",
            "from numba import njit",
            "",
            "from norse.torch.kernels._cpu_numba import (",
            "    _OPTS, _exp, _from_bf16, _prefetch_row, _rows, _take, _to_bf16,",
            ")",
            "from norse.torch.kernels._numba_cache import lock_disk_caches",
            "",
            "",
            text,
            "",
            "",
            _CHUNKS[part] if part in _CHUNKS else _step_chunks(text),
            "lock_disk_caches(globals())",
            "",
        ]
    )


def _step_source(program: Program, variant: Variant, part: str) -> str:
    """One step over neurons ``[j0, j1)``, every value its own 1-D array of ``M`` neurons:
    ``forward(x, r, prm, out, s<k>..., o<k>..., j0, j1)`` and
    ``backward(x, r, prm, go, gs<k>..., s<k>..., gx, gr, gprm, g<k>..., j0, j1)``
    (``r``: the recurrent input of a recurrent program; ``gprm``: ``(Q, M)`` float64, the
    per-neuron parameter gradients *added* to it; ``g<k>``: the old state's gradients)."""
    F = program.n_state
    kinds = {f"h{k}": kind for k, kind in enumerate(variant.hoisted_kinds)}
    e = Emitter("numba", kinds)
    ind = " " * 8
    step = one_step(program, part, variant.want_gx, variant.pgrads, "gprm")
    used, args = step.used, step.args
    body = _lines(e, step.nodes, ind)
    stores = [f"{ind}{name}[j] = {_out(e, value)}" for name, value in step.stores]
    stores += [f"{ind}gp{q}[j] += {_out(e, g)}" for q, g in enumerate(step.grads)]
    dtype_of = "out" if part == "step_forward" else "x"
    loads = [f"{ind}_{name} = {name}[j]" for name in ("x", "r") if name in used]
    loads += [f"{ind}_s{k} = s{k}[j]" for k in range(F) if f"s{k}" in used]
    loads += [f"{ind}_go = go[j]"] if "go" in used else []
    loads += [f"{ind}_gs{k} = gs{k}[j]" for k in range(F) if f"gs{k}" in used]
    hoisted = sorted(int(n[1:]) for n in used if n.startswith("h"))
    if variant.per_neuron:
        loads += [f"{ind}_h{k} = p{k}[j]" + (" != 0" if variant.hoisted_kinds[k] == "b" else "")
                  for k in hoisted]  # fmt: skip
    # Each array sliced to [j0, j1) and indexed from 0: LLVM then knows that no index is
    # negative (no wraparound branch) and vectorises the loop.
    rows = [a for a in args if a not in ("prm", "gprm")]
    if variant.per_neuron:
        rows_of = [f"    p{k} = prm[{k}, j0:j1]" for k in hoisted]
    else:
        rows_of = ["    " + _hoisted_load(k, variant.hoisted_kinds[k], "0") for k in hoisted]
    if part == "step_backward":
        rows_of += [f"    gp{q} = gprm[{q}, j0:j1]" for q in range(len(variant.pgrads))]
    lines = [
        "@njit(**_OPTS)",
        f"def {part[5:]}({', '.join(args)}, j0, j1):",
        f"    F = {dtype_of}.dtype.type",
        "    CONSTANTS",
        *[f"    {a} = {a}[j0:j1]" for a in rows],
        *rows_of,
        "    for j in range(j1 - j0):",
        *loads,
        *body,
        *stores,
        "    return 0",
    ]
    return "\n".join(lines).replace("    CONSTANTS", _constants(e))


def _step_chunks(text: str) -> str:
    """``<name>_chunks(<args>, edges, counter, blk)``: the step over the chunks of neurons
    taken from a shared counter (one call per thread), as for the sequence loops."""
    header = next(ln for ln in text.splitlines() if ln.startswith("def "))
    name, rest = header[4:].split("(", 1)
    args = rest.rsplit(", j0, j1)", 1)[0]
    return f"""@njit(**_OPTS)
def {name}_chunks({args}, edges, counter, blk):
    while True:
        k = _take(counter)
        if k >= edges.shape[0] - 1:
            return 0
        {name}({args}, edges[k], edges[k + 1])

"""


def _constants(emitter: Emitter) -> str:
    return _constants_of(emitter.constants)


def _constants_of(constants: dict[str, float]) -> str:
    lines = [f"    {name} = F({value!r})" for name, value in constants.items()]
    return "\n".join(lines) if lines else "    pass"


_CHUNKS = {}
_CHUNKS["forward"] = """@njit(**_OPTS)
def forward_chunks(x, out, s0, prm, sT, edges, counter, blk):
    while True:
        k = _take(counter)
        if k >= edges.shape[0] - 1:
            return 0
        forward(x, out, s0, prm, sT, edges[k], edges[k + 1], blk)

"""
_CHUNKS["backward"] = """@njit(**_OPTS)
def backward_chunks(x, gout, gsT, s0, prm, gx, gs0, gprm, edges, counter, blk):
    while True:
        k = _take(counter)
        if k >= edges.shape[0] - 1:
            return 0
        backward(x, gout, gsT, s0, prm, gx, gs0, gprm, edges[k], edges[k + 1], blk)

"""
