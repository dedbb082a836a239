"""Scalar code from traced programs: what both generators (numba, Triton) share.

A :class:`~norse.torch.kernels._graph.Program` is a list of nodes over named values. This
module writes each node as one assignment in a small expression language that is valid
Python for numba (``"numba"``) and valid Triton for ``tl.jit`` functions (``"triton"``);
the kernels' drivers (loops over time and neurons, loads and stores) are in
:mod:`norse.torch.kernels._numba_source` and :mod:`norse.torch.kernels.triton`.

Every floating value is computed in the kernel's working type; booleans stay booleans
(``"b"``), integers are carried as floats of the working type (exact for the counters and
flags neuron models use).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from ._graph import Node, Program, Untraceable

__all__ = ["Cut", "Emitter", "Step", "checkpoint", "inputs_of", "needed", "one_step"]


def needed(program: Sequence[Node], outputs: Iterable[Any]) -> list[Node]:
    """The nodes of ``program`` that ``outputs`` depend on, in order."""
    by_name = {n.name: n for n in program}
    need: set[str] = set()
    stack = [o for o in outputs if isinstance(o, str)]
    while stack:
        name = stack.pop()
        if name in need:
            continue
        need.add(name)
        node = by_name.get(name)
        if node is not None:
            stack.extend(a for a in node.args if isinstance(a, str))
    return [n for n in program if n.name in need]


def inputs_of(program: Sequence[Node], outputs: Iterable[Any]) -> set[str]:
    """The program inputs (names not computed by a node) that ``outputs`` read."""
    computed = {n.name for n in program}
    used: set[str] = set()
    for node in program:
        used.update(a for a in node.args if isinstance(a, str) and a not in computed)
    used.update(o for o in outputs if isinstance(o, str) and o not in computed)
    return used


class Emitter:
    """Writes nodes as assignments for one target (``"numba"`` or ``"triton"``).

    ``kinds`` gives the kind of every input value (``"f"`` unless named). Names are prefixed
    with ``_`` so that they never collide with the drivers' own variables. Constants of the
    working type are collected in :attr:`constants` (``name -> value``); the driver defines
    them once, typed (numba: ``F(value)``; Triton: ``tl.full([], value, DT)``).

    Triton code refers to ``DT`` (the kernel's working type, a ``tl.constexpr``) and to
    ``libdevice`` (Triton's ``triton.language.extra.libdevice``, or a stand-in under the
    interpreter), and rounds like torch's CUDA kernels: ``/`` and ``sqrt`` correctly rounded
    (``tl.div_rn``, ``tl.sqrt_rn`` in float32), the functions of libdevice (which is what
    CUDA's ``expf`` and friends are). ``wide`` says that ``DT`` is float64.
    """

    def __init__(
        self, target: str, kinds: dict[str, str] | None = None, wide: bool = False
    ) -> None:
        if target not in ("numba", "triton"):
            raise ValueError(f"unknown target {target!r}")
        self.target = target
        self.kinds: dict[str, str] = dict(kinds or {})
        self.constants: dict[str, float] = {}
        self.wide = wide

    # ---------------------------------------------------------------- operands
    @staticmethod
    def var(name: str) -> str:
        return f"_{name}"

    def kind(self, arg: Any) -> str:
        if isinstance(arg, str):
            return self.kinds.get(arg, "f")
        if isinstance(arg, bool):
            return "b"
        if isinstance(arg, int):
            return "i"
        return "f"

    def const(self, value: float) -> str:
        """A constant of the working type."""
        value = float(value)
        for name, v in self.constants.items():
            if v == value and math.copysign(1, v) == math.copysign(1, value):
                return name
        name = f"k{len(self.constants)}"
        self.constants[name] = value
        return name

    def f(self, arg: Any) -> str:
        """``arg`` as a value of the working float type."""
        if arg is None:
            raise Untraceable("an operation's argument is missing")
        if not isinstance(arg, str):
            return self.const(float(arg))
        kind = self.kind(arg)
        if kind == "f":
            return self.var(arg)
        if kind == "b":
            return self.where(self.var(arg), self.const(1.0), self.const(0.0))
        if self.target == "triton":
            return f"{self.var(arg)}.to(DT)"
        return f"F({self.var(arg)})"

    def b(self, arg: Any) -> str:
        """``arg`` as a boolean."""
        if not isinstance(arg, str):
            return "True" if arg else "False"
        kind = self.kind(arg)
        if kind == "b":
            return self.var(arg)
        return f"({self.var(arg)} != {self.const(0.0) if kind == 'f' else '0'})"

    def where(self, cond: str, a: str, b: str) -> str:
        if self.target == "triton":
            return f"tl.where({cond}, {a}, {b})"
        return f"({a} if {cond} else {b})"

    def call(self, fn: str, *args: str) -> str:
        table = _TRITON_FUNCS if self.target == "triton" else _NUMBA_FUNCS
        if self.target == "triton" and fn == "sqrt" and not self.wide:
            return f"tl.sqrt_rn({', '.join(args)})"
        return f"{table[fn]}({', '.join(args)})"

    def div(self, a: str, b: str) -> str:
        """``a / b``, correctly rounded (Triton's ``/`` is not, in float32)."""
        if self.target == "triton" and not self.wide:
            return f"tl.div_rn({a}, {b})"
        return f"({a} / {b})"

    # ---------------------------------------------------------------- nodes
    def assign(self, node: Node) -> str:
        self.kinds[node.name] = node.kind
        return f"{self.var(node.name)} = {self.expr(node)}"

    def expr(self, node: Node) -> str:  # noqa: C901 - one table of operations
        op, a = node.op, node.args
        f, b = self.f, self.b
        if op == "const":
            value = a[0]
            if node.kind == "b":
                return "True" if value else "False"
            return self.const(value)
        if op == "cast":
            if node.kind == "f":
                return f(a[0])
            if node.kind == "b":
                return b(a[0])
            return f(a[0])  # integers are carried as floats
        if op == "div":
            return self.div(f(a[0]), f(a[1]))
        if op in _BINARY:
            return f"({f(a[0])} {_BINARY[op]} {f(a[1])})"
        if op == "add_alpha":
            return f"({f(a[0])} + {f(a[2])} * {f(a[1])})"
        if op == "sub_alpha":
            return f"({f(a[0])} - {f(a[2])} * {f(a[1])})"
        if op == "neg":
            return f"(-{f(a[0])})"
        if op == "reciprocal":
            return self.div(self.const(1.0), f(a[0]))
        if op in _COMPARE:
            if self.kind(a[0]) == "b" and self.kind(a[1]) == "b" and op in ("eq", "ne"):
                return f"({b(a[0])} {_COMPARE[op]} {b(a[1])})"
            return f"({f(a[0])} {_COMPARE[op]} {f(a[1])})"
        if op == "where":
            if node.kind == "b":
                return self.where(b(a[0]), b(a[1]), b(a[2]))
            return self.where(b(a[0]), f(a[1]), f(a[2]))
        if op == "logical_not":
            return f"(not {b(a[0])})" if self.target == "numba" else f"({b(a[0])} == 0)"
        if op == "logical_and":
            return (
                f"({b(a[0])} and {b(a[1])})"
                if self.target == "numba"
                else f"({b(a[0])} & {b(a[1])})"
            )  # noqa: E501
        if op == "logical_or":
            return (
                f"({b(a[0])} or {b(a[1])})"
                if self.target == "numba"
                else f"({b(a[0])} | {b(a[1])})"
            )  # noqa: E501
        if op == "pow":
            return self._pow(a[0], a[1])
        if op == "abs":
            return self.call("abs", f(a[0]))
        if op in ("exp", "expm1", "log", "log1p", "sqrt", "tanh", "erf", "erfc", "sin", "cos",
                  "floor", "ceil", "trunc", "round"):  # fmt: skip
            return self.call(op, f(a[0]))
        if op == "rsqrt":
            return self.div(self.const(1.0), self.call("sqrt", f(a[0])))
        if op == "sigmoid":
            one = self.const(1.0)
            return self.div(one, f"({one} + {self.call('exp', f'(-{f(a[0])})')})")
        zero = self.const(0.0)
        if op == "relu":
            x = f(a[0])
            return self.where(f"({x} <= {zero})", zero, x)
        if op == "threshold_backward":
            return self.where(f"({f(a[1])} <= {f(a[2])})", zero, f(a[0]))
        if op == "tanh_backward":
            y = f(a[1])
            return f"({f(a[0])} * ({self.const(1.0)} - {y} * {y}))"
        if op == "sigmoid_backward":
            y = f(a[1])
            return f"({f(a[0])} * (({self.const(1.0)} - {y}) * {y}))"
        if op in ("maximum", "clamp_min"):
            x, y = f(a[0]), f(a[1])
            return self.where(f"({x} < {y})", y, x)
        if op in ("minimum", "clamp_max"):
            x, y = f(a[0]), f(a[1])
            return self.where(f"({x} > {y})", y, x)
        if op == "clamp":
            x = f(a[0])
            if a[1] is not None:
                lo = f(a[1])
                x = self.where(f"({x} < {lo})", lo, x)
            if a[2] is not None:
                hi = f(a[2])
                x = self.where(f"({x} > {hi})", hi, x)
            return x
        if op == "heaviside":
            x = f(a[0])
            return self.where(
                f"({x} > {zero})", self.const(1.0), self.where(f"({x} == {zero})", f(a[1]), zero)
            )
        if op in ("sign", "sgn"):
            x = f(a[0])
            return self.where(
                f"({x} > {zero})",
                self.const(1.0),
                self.where(f"({x} < {zero})", self.const(-1.0), zero),
            )
        if op == "fill":
            return f(a[1])
        raise Untraceable(f"the fused kernels do not implement {op}")

    def _pow(self, base: Any, exponent: Any) -> str:
        x = self.f(base)
        if isinstance(exponent, str):
            if self.target == "triton":
                return f"libdevice.pow({x}, {self.f(exponent)})"
            return f"({x} ** {self.f(exponent)})"
        e = float(exponent)
        one = self.const(1.0)
        table = {
            1.0: x,
            2.0: f"({x} * {x})",
            3.0: f"({x} * {x} * {x})",
            0.5: self.call("sqrt", x),
            -0.5: self.div(one, self.call("sqrt", x)),
            -1.0: self.div(one, x),
            -2.0: self.div(one, f"({x} * {x})"),
            0.0: one,
        }
        if e in table:
            return table[e]
        if self.target == "triton":
            return f"libdevice.pow({x}, {self.const(e)})"
        return f"({x} ** {self.const(e)})"


_BINARY = {"add": "+", "sub": "-", "mul": "*", "div": "/"}
_COMPARE = {"gt": ">", "lt": "<", "ge": ">=", "le": "<=", "eq": "==", "ne": "!="}
_NUMBA_FUNCS = {
    "abs": "abs",
    "exp": "_exp",
    "expm1": "math.expm1",
    "log": "math.log",
    "log1p": "math.log1p",
    "sqrt": "math.sqrt",
    "tanh": "math.tanh",
    "erf": "math.erf",
    "erfc": "math.erfc",
    "sin": "math.sin",
    "cos": "math.cos",
    "floor": "np.floor",
    "ceil": "np.ceil",
    "trunc": "np.trunc",
    "round": "np.round",
}
#: libdevice, not ``tl.exp`` & co: those are fast approximations in float32 on NVIDIA GPUs.
_TRITON_FUNCS = {
    "abs": "tl.abs",
    "exp": "libdevice.exp",
    "expm1": "libdevice.expm1",
    "log": "libdevice.log",
    "log1p": "libdevice.log1p",
    "sqrt": "libdevice.sqrt",
    "tanh": "libdevice.tanh",
    "erf": "libdevice.erf",
    "erfc": "libdevice.erfc",
    "sin": "libdevice.sin",
    "cos": "libdevice.cos",
    "floor": "tl.floor",
    "ceil": "tl.ceil",
    "trunc": "libdevice.trunc",
    "round": "libdevice.nearbyint",
}


class Cut(NamedTuple):
    """How backward splits a traced step: the values stored per step by the recompute pass,
    the recompute's nodes (new state and stored values), and the adjoint's nodes (values
    rebuilt from the stored ones, then the gradients)."""

    stored: tuple[str, ...]
    recompute: list[Node]
    adjoint: list[Node]
    kinds: dict[str, str]


#: Operations cheap enough to redo in the adjoint rather than store (no calls into libm:
#: the adjoint's loop stays vectorised; a division costs less than a stored value's traffic).
_CHEAP = {
    "add", "sub", "mul", "neg", "cast", "const", "gt", "lt", "ge", "le", "eq", "ne", "where",
    "abs", "relu", "add_alpha", "sub_alpha", "logical_not", "logical_and", "logical_or",
    "maximum", "minimum", "clamp", "clamp_min", "clamp_max", "heaviside", "sign", "sgn",
    "div", "reciprocal", "pow", "sqrt", "rsqrt",
}  # fmt: skip


def checkpoint(program: Program, targets: list) -> Cut:
    """Choose what backward stores per step (as few values as it can).

    The adjoint needs some values of the forward step (the spikes' pre-threshold voltage,
    the bracket a time constant multiplies, ...). Storing exactly those may take more slots
    than needed: a value that is a cheap function of other stored values (``v1 - v_th`` of
    ``v1``) is rebuilt in the adjoint instead, whenever that does not add a slot. Inputs
    (``x``, the state fields) may be stored too; ``x`` is then read from the input itself.
    """
    nodes = {n.name: n for n in (*program.forward, *program.backward)}
    order = sorted(nodes, key=lambda name: int(name[1:]))
    forward_part: set[str] = {"x", *(f"s{k}" for k in range(program.n_state))}

    def is_free(a: object) -> bool:
        return not isinstance(a, str) or a.startswith("h")

    for name in order:
        args = [a for a in nodes[name].args if not is_free(a)]
        if all(a in forward_part for a in args):
            forward_part.add(name)
    bwd = needed(program.backward, targets)
    adjoint_nodes = [n for n in bwd if n.name not in forward_part]
    stored = {a for n in adjoint_nodes for a in n.args if isinstance(a, str) and a in forward_part}
    stored |= {t for t in targets if isinstance(t, str) and t in forward_part}
    changed = True
    while changed:
        changed = False
        for b in sorted(stored, key=_position):
            node = nodes.get(b)
            if node is None or node.op not in _CHEAP:
                continue
            ins = {a for a in node.args if not is_free(a)}
            new = (stored - {b}) | ins
            if len(new) <= len(stored):
                stored = new
                changed = True
                break
    stored_t = tuple(sorted(stored, key=_position))
    rebuilt = _between(nodes, order, [a for n in adjoint_nodes for a in n.args], set(stored))
    rebuilt |= _between(nodes, order, list(targets), set(stored)) & forward_part
    adjoint = [nodes[n] for n in order if n in rebuilt or n in {m.name for m in adjoint_nodes}]
    state_out = [program.fwd_outputs[1 + k] for k in range(program.n_state)]
    rec = _between(nodes, order, [*state_out, *stored_t], set())
    recompute = [nodes[n] for n in order if n in rec]
    kinds = {n.name: n.kind for n in nodes.values()}
    return Cut(stored_t, recompute, adjoint, kinds)


def _position(name: str) -> tuple[int, int, str]:
    """Inputs first, then nodes in graph order."""
    if name.startswith("t") and name[1:].isdigit():
        return (1, int(name[1:]), "")
    return (0, 0, name)  # (by name: the generated source must not depend on set order)


def _between(nodes: dict, order: list, wanted: list, stop: set) -> set[str]:
    """Names of the nodes that ``wanted`` need, not looking past ``stop``."""
    found: set[str] = set()
    stack = [w for w in wanted if isinstance(w, str)]
    while stack:
        name = stack.pop()
        if name in found or name in stop or name not in nodes:
            continue
        found.add(name)
        stack.extend(a for a in nodes[name].args if isinstance(a, str))
    return found


class Step(NamedTuple):
    """One step of a program as the generators write it (every value its own array):
    ``nodes`` to evaluate, the program inputs they read (``used``), the kernel's array
    arguments (``args``), the ``(argument, value)`` pairs it stores, and the per-neuron
    parameter gradients (``pgrads``' values) that it adds to its ``(Q, M)`` argument."""

    nodes: list[Node]
    used: set[str]
    args: list[str]
    stores: list[tuple[str, Any]]
    grads: list[Any]


def one_step(program: Program, part: str, want_gx: bool = True,
             pgrads: tuple[int, ...] = (), gp: str = "gp") -> Step:  # fmt: skip
    """``part`` ("step_forward" or "step_backward") of ``program``: ``forward(x, r, prm, out,
    s<k>..., o<k>...)`` writes the output and the new state; ``backward(x, r, prm, go,
    gs<k>..., s<k>..., gx, gr, <gp>, g<k>...)`` recomputes the step from its inputs and writes
    the gradients of the input, the recurrent input (of a recurrent program that has one) and
    the old state (``g<k>``), and adds the parameters' to ``<gp>``."""
    F = program.n_state
    fields = [f"s{k}" for k in range(F)]
    if part == "step_forward":
        outs = program.fwd_outputs
        nodes = needed(program.forward, outs)
        args = ["x", "r", "prm", "out", *fields, *(f"o{k}" for k in range(F))]
        stores = list(zip(["out", *(f"o{k}" for k in range(F))], outs, strict=True))
        return Step(nodes, inputs_of(nodes, outs), args, stores, [])
    gx = program.bwd_outputs[0]
    gs = program.bwd_outputs[1 : 1 + F]
    grads = [program.bwd_outputs[1 + F + k] for k in pgrads]
    gr = program.bwd_outputs[-1] if program.rec_field is not None else None
    targets = [t for t in (gx, *gs, *grads, gr) if t is not None]
    nodes = needed(program.backward, targets)
    args = ["x", "r", "prm", "go", *(f"gs{k}" for k in range(F)), *fields, "gx", "gr", gp,
            *(f"g{k}" for k in range(F))]  # fmt: skip
    stores = [("gx", gx)] if want_gx else []
    stores += [("gr", gr)] if program.rec_field is not None else []
    stores += [(f"g{k}", g) for k, g in enumerate(gs)]
    return Step(nodes, inputs_of(nodes, targets), args, stores, grads)
