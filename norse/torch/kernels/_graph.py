"""A neuron model's step, traced once into elementwise programs that the fused kernels run.

The fused kernels never name a model. For a step function ``step(x, state, p, dt) -> (out,
state)`` whose work is elementwise (every neuron model is), :func:`trace` records, under a
``TorchDispatchMode``, the ATen calls of the step *and* of its vector-Jacobian product
(autograd run backwards through the step, surrogate gradients included) on one lane of
neurons, and turns the recording into a :class:`Program`:

* ``prologue``: the values that depend on parameters (and ``dt``) only, such as
  ``dt * tau_mem_inv``. They are computed once per call, in torch, on the real parameter
  tensors, by the very ATen operations the reference runs, so they are bit for bit the
  reference's values.
* ``forward``: one step of one neuron, from ``x``, the state fields ``s<k>`` and the hoisted
  values ``h<k>`` to the output and the new state.
* ``backward``: one step of the adjoint of one neuron: from the same inputs and the incoming
  gradients ``go`` (output) and ``gs<k>`` (new state) to the gradients of ``x``, the old state
  and every parameter tensor (per neuron; the caller sums them over time and reduces them to
  the parameter's shape).

Each program is a list of :class:`Node` in evaluation order, with the dtype class of every
value (``"f"``: the working float type, ``"b"``: bool, ``"i"``: integer), which the code
generators of :mod:`norse.torch.kernels._emit` turn into numba or Triton source. The forward
program evaluates exactly the reference's operations in the reference's order, so float64
results agree bit for bit wherever the math functions do.

Example:
    >>> from norse.torch.functional import lif
    >>> s = lif.LIFFeedForwardState(torch.zeros(3), torch.zeros(3))
    >>> prog = trace(lif.lif_feed_forward_step, s, lif.LIFParameters(), 1e-3, torch.float64)
    >>> prog.state_paths, prog.n_hoisted > 0
    (('v', 'i'), True)
    >>> [n.op for n in prog.forward][:3]
    ['add', 'sub', 'add']
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .._spec import is_namedtuple

__all__ = ["Node", "Program", "Untraceable", "leaves", "rebuild", "trace"]


class Untraceable(Exception):
    """The step cannot be fused (its reason is the message)."""


@dataclass(frozen=True)
class Node:
    """``name = op(*args)``; ``args`` are value names (``str``) or python numbers."""

    name: str
    op: str
    args: tuple[Any, ...]
    kind: str  # "f", "b" or "i"


@dataclass(frozen=True)
class Program:
    """The elementwise programs of one traced step (see the module docstring).

    Attributes:
        state_paths: the state fields, as dotted paths into the (nested) state tuple.
        param_paths: the parameter tensors, as dotted paths into the parameter tuple.
        hoisted: for each ``h<k>``, the name of the prologue value it is.
        forward: nodes computing ``fwd_outputs`` (output, then every new state field) from
            ``x``, ``s<k>``, ``h<k>``.
        backward: nodes computing ``bwd_outputs`` from those and ``go``, ``gs<k>``:
            the gradients of ``x``, of every state field and of every parameter tensor
            (``None`` where a gradient is always zero).
        prologue: ``prologue(*param tensors) -> tuple of hoisted values`` (an fx module).
        differentiable: whether the output carries a gradient at all.
    """

    state_paths: tuple[str, ...]
    param_paths: tuple[str, ...]
    forward: tuple[Node, ...]
    fwd_outputs: tuple[Any, ...]
    backward: tuple[Node, ...]
    bwd_outputs: tuple[Any, ...]
    prologue: Callable[..., tuple[Tensor, ...]]
    n_hoisted: int
    differentiable: tuple[bool, ...]
    #: the kind ("f", "b", "i") of each hoisted value
    hoisted_kinds: tuple[str, ...] = ()
    #: for each hoisted value, the parameter tensors (indices) it is computed from
    hoisted_params: tuple[frozenset[int], ...] = ()
    #: traced from a recurrent step (``trace(..., recurrent=True)``): ``x`` is the projected
    #: input ``W_in x``, the input ``r`` the recurrent input ``W_rec z``, and the last entry
    #: of ``bwd_outputs`` its gradient
    recurrent: bool = False
    #: the state field (index) that the recurrent weights multiply (``None``: no recurrence)
    rec_field: int | None = None

    @property
    def n_state(self) -> int:
        return len(self.state_paths)

    @property
    def n_params(self) -> int:
        return len(self.param_paths)


# ----------------------------------------------------------------------------- tuples
def leaves(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``(dotted path, value)`` of every field of a (nested) named tuple."""
    if not is_namedtuple(obj):
        return [(prefix, obj)]
    out: list[tuple[str, Any]] = []
    for name, value in zip(obj._fields, obj, strict=True):
        out.extend(leaves(value, f"{prefix}.{name}" if prefix else name))
    return out


def flat(obj: Any) -> list[Any]:
    """The leaves of a (nested) named tuple, in order (:func:`leaves` without the paths);
    anything else (``None``, a plain tuple) is one leaf, as :func:`rebuild` takes it."""
    if not (isinstance(obj, tuple) and hasattr(obj, "_fields")):
        return [obj]
    out: list[Any] = []
    for value in obj:
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            out.extend(flat(value))
        else:
            out.append(value)
    return out


def rebuild(template: Any, values: Any) -> Any:
    """``template`` (a nested named tuple) with its leaves replaced by ``values`` in order."""
    it = iter(values)

    def go(t: Any) -> Any:
        if is_namedtuple(t):
            return type(t)(*[go(v) for v in t])
        return next(it)

    return go(template)


# ----------------------------------------------------------------------------- ops
#: ATen operations the generators understand, by the name they know them under. Operations
#: that only move or alias data (``detach``, ``expand`` on one lane, ``clone``) are identities.
_IDENTITY = {
    "detach",
    "alias",
    "clone",
    "expand",
    "view",
    "_unsafe_view",
    "reshape",
    "lift_fresh_copy",
    "lift_fresh",
    "contiguous",
    "squeeze",
    "unsqueeze",
    "copy",
    "positive",
}
_ALIASES = {"detach", "alias", "clone", "lift_fresh", "lift_fresh_copy", "contiguous"}
_OPS = {
    "add", "sub", "mul", "div", "neg", "rsub", "reciprocal", "pow",
    "gt", "lt", "ge", "le", "eq", "ne", "where", "logical_and", "logical_or", "logical_not",
    "abs", "exp", "expm1", "log", "log1p", "sqrt", "rsqrt", "tanh", "sigmoid", "erf", "erfc",
    "sin", "cos", "relu", "threshold_backward", "maximum", "minimum", "clamp", "clamp_min",
    "clamp_max", "heaviside", "sign", "sgn", "floor", "ceil", "trunc", "round",
    "tanh_backward", "sigmoid_backward", "fill", "cast", "const",
}  # fmt: skip
_CONSTANT_LIKE = {"ones_like": 1.0, "zeros_like": 0.0, "empty_like": 0.0}
_CONSTANT_OPS = {*_CONSTANT_LIKE, "full_like", "full", "scalar_tensor"}


def _kind(dtype: torch.dtype) -> str:
    if dtype == torch.bool:
        return "b"
    if dtype.is_floating_point:
        return "f"
    if dtype.is_complex:
        raise Untraceable(f"the step computes with complex numbers ({dtype})")
    return "i"


# ----------------------------------------------------------------------------- tracing
_LOCK = threading.Lock()
_CACHE: dict[Any, Program | str] = {}


def _static_key(value: Any) -> Any:
    try:
        hash(value)
        return (type(value), value)
    except TypeError:
        return (type(value), id(value))


def program_key(
    step: Callable, state: Any, p: Any, dt: float, dtype: torch.dtype, recurrent: bool = False
) -> Any:
    """What a traced program depends on: the step, the tuple types, the parameter tensors'
    dtypes and whether they require gradients, the values of everything in ``p`` that is not
    a tensor, ``dt`` and the working dtype. (The leaves' paths follow from the tuple types.)"""
    parts = tuple(
        (v.dtype, v.requires_grad) if isinstance(v, Tensor) else _static_key(v) for v in flat(p)
    )
    return (step, dtype, float(dt), _types(state), _types(p), parts, recurrent)


def _types(obj: Any) -> Any:
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        if any(isinstance(v, tuple) for v in obj):
            return (type(obj), tuple(_types(v) for v in obj))
        return type(obj)
    return type(obj) if not isinstance(obj, Tensor) else Tensor


def trace(
    step: Callable, state: Any, p: Any, dt: float, dtype: torch.dtype, recurrent: bool = False
) -> Program:
    """The programs of ``step`` for this state structure, parameters and working ``dtype``
    (cached); raises :class:`Untraceable` with the reason when the step cannot be fused.

    ``recurrent``: ``step`` is a recurrent step ``(x, state, W_in, W_rec, p, dt)`` whose
    weights enter only as ``linear(x, W_in)`` and ``linear(state.<field>, W_rec)``. These two
    products become the program's inputs ``x`` and ``r`` (the kernels compute them with
    matrix products); the rest must be elementwise as for a feed-forward step.
    """
    key = program_key(step, state, p, dt, dtype, recurrent)
    with _LOCK:
        found = _CACHE.get(key)
    if found is None:
        if not _autograd_records():
            # (inside a custom operator's body: nothing to cache, the caller traces first)
            raise Untraceable(
                "autograd records nothing here, so the step's gradient cannot be traced"
            )
        try:
            found = _trace(step, state, p, dt, dtype, recurrent)
        except Untraceable as e:
            found = str(e)
        except Exception as e:  # noqa: BLE001 - any failure of the step means: not elementwise
            found = f"the step could not be traced ({type(e).__name__}: {e})"
        with _LOCK:
            if len(_CACHE) > 512:
                _CACHE.clear()
            _CACHE[key] = found
    if isinstance(found, str):
        raise Untraceable(found)
    return found


class _Value:
    """A recorded value: an input, a constant, or the result of one ATen call (an fx-like
    node: ``op``, ``target``, ``args``, ``kwargs``, ``meta["val"]``)."""

    __slots__ = ("op", "target", "args", "kwargs", "meta", "name", "all_input_nodes")

    def __init__(self, op: str, target: Any, args: tuple, kwargs: dict, val: Any, name: str):
        self.op, self.target, self.args, self.kwargs = op, target, args, kwargs
        self.meta = {"val": val}
        self.name = name
        self.all_input_nodes = [a for a in _flat_args(args, kwargs) if isinstance(a, _Value)]


def _flat_args(args: tuple, kwargs: dict) -> list[Any]:
    out: list[Any] = []
    for a in (*args, *kwargs.values()):
        if isinstance(a, (list, tuple)):
            out.extend(a)
        else:
            out.append(a)
    return out


class _Recorder:
    """Records the ATen calls a function makes on the tensors it was given (a
    ``TorchDispatchMode``: forward ops, and the backward ops autograd runs for them)."""

    def __init__(self) -> None:
        self.values: list[_Value] = []
        self.known: dict[int, _Value] = {}
        self.keep: list[Tensor] = []  # (ids stay unique while tracing)

    def input(self, t: Tensor, name: str) -> None:
        v = _Value("placeholder", None, (), {}, t, name)
        self.values.append(v)
        self.known[id(t)] = v
        self.keep.append(t)

    def ref(self, a: Any) -> Any:
        if isinstance(a, Tensor):
            v = self.known.get(id(a))
            if v is None:  # a tensor from outside the traced inputs: a constant
                if a.numel() != 1:
                    raise Untraceable(
                        "the step uses a tensor with more than one element that is neither "
                        "its input, its state nor a parameter"
                    )
                v = _Value("get_attr", None, (), {}, a, f"c{len(self.values)}")
                v.meta["const"] = a.detach().reshape(()).item()
                self.values.append(v)
                self.known[id(a)] = v
                self.keep.append(a)
            return v
        if isinstance(a, (list, tuple)):
            return type(a)(self.ref(x) for x in a)
        return a

    def call(self, func: Any, args: tuple, kwargs: dict) -> Any:
        name = func.overloadpacket.__name__
        if name in ("_local_scalar_dense", "is_nonzero", "item", "equal"):
            raise Untraceable(
                "the step reads tensor values in Python (data-dependent control flow)"
            )
        if name not in ("lift_fresh", "lift_fresh_copy"):  # (``torch.tensor(...)`` in the step)
            for a in (*args, *kwargs.values()):
                if isinstance(a, Tensor) and id(a) not in self.known and a.numel() == 1:
                    raise Untraceable(
                        "the step uses a tensor from outside (not its input, state or a "
                        "parameter): the fused kernels would keep its value of now; pass it "
                        "in the parameters"
                    )
        rargs, rkwargs = self.ref(args), {k: self.ref(v) for k, v in kwargs.items()}
        out = func(*args, **kwargs)
        if not isinstance(out, Tensor):
            raise Untraceable(f"the step's operation {name} does not return one tensor")
        v = _Value("call_function", func, rargs, rkwargs, out, f"n{len(self.values)}")
        self.values.append(v)
        self.known[id(out)] = v
        self.keep.append(out)
        return out


_MODE: Any = None


def _vjp(outputs: list[Tensor], inputs: list[Tensor], grads: list[Tensor]) -> tuple:
    """``torch.autograd.grad(outputs, inputs, grads, allow_unused=True)``, straight through
    the engine: the public function's argument checks import sympy (0.4 s) on first use."""
    engine = getattr(torch.autograd.Variable, "_execution_engine", None)
    if engine is None:  # pragma: no cover - another torch
        return torch.autograd.grad(outputs, inputs, grads, allow_unused=True)
    return engine.run_backward(tuple(outputs), tuple(grads), False, False, tuple(inputs), True,
                               False)  # fmt: skip


def _record(fn: Callable, recorder: _Recorder) -> Any:
    global _MODE
    if _MODE is None:
        from torch.utils._python_dispatch import TorchDispatchMode

        class Mode(TorchDispatchMode):
            recorder: _Recorder

            @classmethod
            def _should_skip_dynamo(cls) -> bool:
                # (otherwise the first call imports torch._dynamo: a second, for nothing)
                return False

            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                return self.recorder.call(func, args, kwargs or {})

        _MODE = Mode
    mode = _MODE()
    mode.recorder = recorder
    with mode:
        return fn()


def _autograd_records() -> bool:
    with torch.enable_grad():
        probe = torch.ones((), requires_grad=True) * 2
    return probe.requires_grad


class _Weights:
    """Stands in for a recurrent step's weights while it is traced (a ``TorchFunctionMode``):
    ``linear(x, W_in)`` gives the lane input ``x`` (the projected input) and
    ``linear(state.<field>, W_rec)`` the lane input ``r``; any other use of the weights or of
    the raw input makes the step untraceable."""

    def __init__(self, x_mark: Tensor, w_in: Tensor, w_rec: Tensor, a: Tensor, r: Tensor,
                 fields: list[Tensor]) -> None:  # fmt: skip
        from torch.overrides import TorchFunctionMode

        marks = {id(x_mark), id(w_in), id(w_rec)}
        found: dict[str, int] = {}

        class Mode(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                flat_args = _flat_args(tuple(args), kwargs)
                if not any(id(a_) in marks for a_ in flat_args if isinstance(a_, Tensor)):
                    return func(*args, **kwargs)
                values = list(args) + list(kwargs.values())
                bias = values[2] if len(values) > 2 else None
                if func is torch.nn.functional.linear and len(values) >= 2 and bias is None:
                    u, w = values[0], values[1]
                    if w is w_in and u is x_mark:
                        return a
                    if w is w_rec:
                        for k, field in enumerate(fields):
                            if u is field and found.setdefault("rec_field", k) == k:
                                return r
                raise Untraceable(
                    "the recurrent step uses its input or weights other than as "
                    "linear(input, input_weights) and linear(state.<field>, recurrent_weights)"
                )

        self.mode = Mode()
        self.found = found


def _trace(step: Callable, state: Any, p: Any, dt: float, dtype: torch.dtype,
           recurrent: bool = False) -> Program:  # fmt: skip
    s_leaves = leaves(state)
    p_leaves = leaves(p)
    for path, value in s_leaves:
        if not isinstance(value, Tensor):
            raise Untraceable(f"state field {path} is a {type(value).__name__}, not a tensor")
    p_tensors = [(path, v) for path, v in p_leaves if isinstance(v, Tensor)]
    statics = [v for _, v in p_leaves]
    F, P = len(s_leaves), len(p_tensors)
    lane = 2

    def lane_dtype(value: Tensor) -> torch.dtype:
        # A parameter wider than the working type meets the state at the working type.
        if value.dtype.is_floating_point and value.dtype.itemsize > dtype.itemsize:
            return dtype
        return value.dtype

    gen = torch.Generator().manual_seed(0)

    def example(kind: torch.dtype) -> Tensor:
        return (torch.rand(lane, generator=gen, dtype=torch.float64) + 0.5).to(kind)

    rec = _Recorder()
    names = ["x", *(f"s{k}" for k in range(F)), *(f"p{k}" for k in range(P))]
    kinds = [dtype] * (1 + F) + [lane_dtype(v) for _, v in p_tensors]
    if recurrent:
        names.append("r")
        kinds.append(dtype)
    ins = [example(k) for k in kinds]
    # Gradients of the input and the state always; of the parameters that require one (the
    # others may go through operations whose derivative the kernels do not implement).
    wants = [True] * (1 + F) + [v.requires_grad for _, v in p_tensors] + [True] * recurrent
    grads_of = [k for k, t in enumerate(ins) if t.is_floating_point() and wants[k]]
    for k in grads_of:
        ins[k].requires_grad_(True)
    g_in = [example(dtype) for _ in range(1 + F)]
    for name, t in zip(names, ins, strict=True):
        rec.input(t, name)
    for name, t in zip(["go", *(f"gs{k}" for k in range(F))], g_in, strict=True):
        rec.input(t, name)
    weights: _Weights | None = None

    def joint() -> tuple[list[Tensor], list[Any], list[int]]:
        nonlocal weights
        it = iter(ins[1 + F : 1 + F + P])
        values = [next(it) if isinstance(v, Tensor) else v for v in statics]
        s_in = rebuild(state, ins[1 : 1 + F])
        with torch.enable_grad():
            if recurrent:
                # (markers of more than one element: the recorder refuses any other use)
                x_mark, w_in, w_rec = torch.empty(lane, 3), torch.empty(3, 3), torch.empty(3, 3)
                weights = _Weights(x_mark, w_in, w_rec, ins[0], ins[-1], ins[1 : 1 + F])
                with weights.mode:
                    out, new_state = step(x_mark, s_in, w_in, w_rec, rebuild(p, values), dt)
            else:
                out, new_state = step(ins[0], s_in, rebuild(p, values), dt)
        new_leaves = leaves(new_state)
        if [q for q, _ in new_leaves] != [q for q, _ in s_leaves]:
            raise Untraceable("the step returns a state of another structure than it takes")
        outs = [out, *(v for _, v in new_leaves)]
        for value in outs:
            if not isinstance(value, Tensor) or tuple(value.shape) != (lane,):
                raise Untraceable(
                    "the step is not elementwise (an output does not have the neurons' shape)"
                )
        diff = [k for k, o in enumerate(outs) if o.requires_grad]
        grads: list[Any] = [None] * len(grads_of)
        if diff:
            grads = list(
                _vjp([outs[k] for k in diff], [ins[k] for k in grads_of], [g_in[k] for k in diff])
            )
        return outs, grads, diff

    try:
        outs, grads, diff = _record(joint, rec)
    except Untraceable:
        raise
    except Exception as e:  # noqa: BLE001
        raise Untraceable(f"the step could not be traced ({type(e).__name__}: {e})") from e
    out_nodes = [rec.ref(o) for o in outs]
    grad_nodes = [rec.ref(g) if g is not None else None for g in grads]
    differentiable = tuple(k in diff for k in range(len(outs)))
    program = _build(rec.values, out_nodes, grad_nodes, grads_of, differentiable, s_leaves,
                     p_tensors, len(ins))  # fmt: skip
    if recurrent:
        assert weights is not None
        rec_field = weights.found.get("rec_field")
        if rec_field is not None and "r" not in _inputs(program.forward, program.fwd_outputs):
            rec_field = None
        program = dataclasses.replace(program, recurrent=True, rec_field=rec_field)
    return program


def _inputs(nodes: tuple[Node, ...], outputs: tuple[Any, ...]) -> set[str]:
    computed = {n.name for n in nodes}
    used = {a for n in nodes for a in n.args if isinstance(a, str) and a not in computed}
    return used | {o for o in outputs if isinstance(o, str) and o not in computed}


# ----------------------------------------------------------------------------- graph -> program
def _target_name(target: Any) -> str:
    """``aten.add.Tensor`` -> ``"add"``; in-place variants by their plain name."""
    name = getattr(target, "__name__", str(target)).split(".")[0]
    if name.endswith("_") and not name.startswith("_"):
        name = name[:-1]
    return name


def _build(
    nodes: list[_Value],
    outs: list[_Value],
    grad_nodes: list[_Value | None],
    grads_of: list[int],
    differentiable: tuple[bool, ...],
    s_leaves: list,
    p_tensors: list,
    n_inputs: int,
) -> Program:
    F, P = len(s_leaves), len(p_tensors)
    placeholders = [n for n in nodes if n.op == "placeholder"]
    grads = [g for g in grad_nodes if g is not None]
    present = [g is not None for g in grad_nodes]

    names: dict[Any, str] = {}
    roles: dict[Any, str] = {}
    for ph in placeholders:
        names[ph] = ph.name
        roles[ph] = {"x": "x", "s": "s", "p": "p", "g": "g", "r": "r"}[ph.name[0]]

    # What every value depends on: parameters only ("p"), nothing ("c"), or the lane ("l").
    dep: dict[Any, str] = {ph: ("p" if roles[ph] == "p" else "l") for ph in placeholders}
    converted: dict[Any, Node] = {}
    for node in nodes:
        if node.op in ("placeholder", "output"):
            continue
        if node.op == "get_attr":
            dep[node] = "c"
            converted[node] = _constant_node(node)
            names[node] = f"t{len(names)}"
            converted[node] = Node(names[node], "const", converted[node].args, converted[node].kind)
            continue
        if node.op != "call_function":
            raise Untraceable(f"the step's graph has a {node.op} node")
        kinds = {dep[a] for a in node.all_input_nodes}
        if _target_name(node.target) in _CONSTANT_OPS:
            dep[node] = "c"
        elif "l" in kinds:
            dep[node] = "l"
        else:
            dep[node] = "p" if "p" in kinds else "c"
        names[node] = f"t{len(names)}"

    def convert(node: Any) -> Node:
        """A node of a program (converted only when a program uses it: operations on the
        parameters alone run in torch, in the prologue, and may be anything)."""
        found = converted.get(node)
        if found is None:
            found = _convert(node, names)
            found = converted[node] = Node(names[node], found.op, found.args, found.kind)
        return found

    # Values of the parameters alone, used by per-lane work, are hoisted into the prologue.
    frontier: list[Any] = []

    def uses(targets: list[Any]) -> list[Any]:
        """The nodes ``targets`` need, in graph order (hoisted values are leaves)."""
        need: set[Any] = set()
        stack = [t for t in targets if hasattr(t, "op")]
        while stack:
            n = stack.pop()
            if n in need:
                continue
            need.add(n)
            if dep.get(n) in ("l", "c") and n.op == "call_function":
                stack.extend(n.all_input_nodes)
            elif dep.get(n) == "p" and n not in frontier:
                frontier.append(n)
        return [n for n in nodes if n in need]

    fwd_nodes = uses(outs)
    grad_targets = [g for g in grads if hasattr(g, "op")]
    bwd_nodes = uses(grad_targets)
    for n in fwd_nodes + bwd_nodes:
        if dep.get(n) == "p" and n not in frontier and n.op != "placeholder":
            frontier.append(n)
    frontier = [n for n in nodes if n in frontier]
    hoisted_names = {n: f"h{k}" for k, n in enumerate(frontier)}

    def program(selected: list[Any]) -> tuple[Node, ...]:
        prog = [convert(n) for n in selected if n.op != "placeholder" and n not in hoisted_names]
        return tuple(_rename(prog, names, hoisted_names))

    def ref(v: Any) -> Any:
        if hasattr(v, "op"):
            if v in hoisted_names:
                return hoisted_names[v]
            return names[v]
        return v

    fwd_outputs = tuple(ref(o) for o in outs)
    grad_iter = iter(grads)
    per_input: list[Any] = [None] * n_inputs
    for k, has in zip(grads_of, present, strict=True):
        if has:
            per_input[k] = ref(next(grad_iter))
    prologue = _prologue(placeholders[1 + F : 1 + F + P], frontier)
    return Program(
        state_paths=tuple(p for p, _ in s_leaves),
        param_paths=tuple(p for p, _ in p_tensors),
        forward=program(fwd_nodes),
        fwd_outputs=fwd_outputs,
        backward=program(bwd_nodes),
        bwd_outputs=tuple(per_input),
        prologue=prologue,
        n_hoisted=len(frontier),
        differentiable=differentiable,
        hoisted_kinds=tuple(_kind(n.meta["val"].dtype) for n in frontier),
        hoisted_params=tuple(_param_deps(n, placeholders[1 + F : 1 + F + P]) for n in frontier),
    )


def _param_deps(node: _Value, params: list[_Value]) -> frozenset[int]:
    index = {id(p): k for k, p in enumerate(params)}
    found: set[int] = set()
    seen: set[int] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if id(n) in index:
            found.add(index[id(n)])
        stack.extend(n.all_input_nodes)
    return frozenset(found)


def _rename(prog: list[Node], names: dict, hoisted: dict) -> list[Node]:
    by_name = {names[n]: h for n, h in hoisted.items()}
    out = []
    for node in prog:
        args = tuple(by_name.get(a, a) if isinstance(a, str) else a for a in node.args)
        out.append(Node(node.name, node.op, args, node.kind))
    return out


def _constant_node(node: _Value) -> Node:
    return Node("", "const", (node.meta["const"],), _kind(node.meta["val"].dtype))


def _arg(a: Any, names: dict) -> Any:
    if hasattr(a, "op"):
        return names[a]
    if isinstance(a, bool):
        return a
    if isinstance(a, (int, float)):
        return a
    raise Untraceable(f"the step passes a {type(a).__name__} to a tensor operation")


def _convert(node: Any, names: dict) -> Node:
    """One ATen call as a generic :class:`Node` (name filled in by the caller)."""
    op = _target_name(node.target)
    val = node.meta.get("val")
    if not isinstance(val, Tensor):
        raise Untraceable(f"the step's operation {op} does not return one tensor")
    kind = _kind(val.dtype)
    args = list(node.args)
    kwargs = dict(node.kwargs)
    if op == "masked_fill":  # masked_fill(self, mask, value)
        a, mask, value = (_arg(v, names) for v in args[:3])
        return Node("", "where", (mask, value, a), kind)
    if op in ("bitwise_and", "bitwise_or", "bitwise_not") and kind == "b":
        return Node(
            "", "logical_" + op[len("bitwise_") :], tuple(_arg(v, names) for v in args), kind
        )
    if op == "copy":  # copy_(destination, source)
        return Node("", "cast", (_arg(args[1], names),), kind)
    if op in _IDENTITY:
        return Node("", "cast", (_arg(args[0], names),), kind)
    if op in _CONSTANT_LIKE:
        return Node("", "const", (_CONSTANT_LIKE[op],), kind)
    if op == "full_like":
        return Node("", "const", (args[1],), kind)
    if op in ("full", "scalar_tensor"):
        return Node("", "const", (args[1] if op == "full" else args[0],), kind)
    if op in ("_to_copy", "to", "type_as", "_to_dtype"):
        return Node("", "cast", (_arg(args[0], names),), kind)
    if op in ("add", "sub") and kwargs.get("alpha", 1) != 1:
        alpha = kwargs["alpha"]
        return Node("", op + "_alpha", (*(_arg(a, names) for a in args[:2]), alpha), kind)
    if op == "rsub":
        alpha = kwargs.get("alpha", args[2] if len(args) > 2 else 1)
        a, b = _arg(args[0], names), _arg(args[1], names)
        if alpha != 1:
            return Node("", "sub_alpha", (b, a, alpha), kind)
        return Node("", "sub", (b, a), kind)
    if op == "div" and kwargs.get("rounding_mode") is not None:
        raise Untraceable(f"division with rounding_mode={kwargs['rounding_mode']!r}")
    if op in ("clamp", "clamp_min", "clamp_max", "threshold_backward", "heaviside", "pow"):
        rest = [_arg(a, names) if a is not None else None for a in args]
        if op == "clamp":
            rest = rest + [None] * (3 - len(rest))
            lo = kwargs.get("min", rest[1])
            hi = kwargs.get("max", rest[2])
            return Node("", "clamp", (rest[0], lo, hi), kind)
        return Node("", op, tuple(rest), kind)
    if op not in _OPS:
        raise Untraceable(f"the step uses {op}, which the fused kernels do not implement")
    if kwargs:
        raise Untraceable(f"the step calls {op} with arguments {sorted(kwargs)}")
    return Node("", op, tuple(_arg(a, names) for a in args), kind)


class _Prologue:
    """Computes the hoisted values from the parameter tensors: the recorded ATen calls, run
    again on the real parameters (their real shapes and dtypes).

    Runs on every fused call, so the plan is made once: each step as ``(slot, op, args,
    kwargs)`` over numbered slots (parameters first), aliases resolved away.
    """

    def __init__(self, params: list[_Value], frontier: list[_Value], steps: list[_Value]):
        slot: dict[int, Any] = {id(p): ("slot", k) for k, p in enumerate(params)}
        plan: list[tuple[int, Any, tuple, dict]] = []
        n = len(params)

        def ref(a: Any) -> Any:
            if isinstance(a, _Value):
                return ("const", a.meta["const"]) if a.op == "get_attr" else slot[id(a)]
            if isinstance(a, (list, tuple)):
                return ("seq", type(a), tuple(ref(x) for x in a))
            return ("value", a)

        for node in steps:
            if _target_name(node.target) in _ALIASES:
                first = node.args[0]
                slot[id(node)] = ref(first)
                continue
            args = tuple(ref(a) for a in node.args)
            kwargs = {k: ref(v) for k, v in node.kwargs.items()}
            plan.append((n, _out_of_place(node.target), args, kwargs))
            slot[id(node)] = ("slot", n)
            n += 1
        self.size = n
        self.plan = plan
        self.outputs = tuple(ref(f) for f in frontier)

    def __call__(self, *tensors: Tensor) -> tuple[Any, ...]:
        env: list[Any] = [*tensors, *([None] * (self.size - len(tensors)))]

        def value(r: tuple) -> Any:
            kind = r[0]
            if kind == "slot":
                return env[r[1]]
            if kind == "seq":
                return r[1](value(x) for x in r[2])
            return r[1]

        for k, op, args, kwargs in self.plan:
            env[k] = op(*[value(a) for a in args], **{n: value(v) for n, v in kwargs.items()})
        return tuple(value(r) for r in self.outputs)


def _out_of_place(op: Any) -> Any:
    """An in-place ATen overload's out-of-place twin (the prologue must never write to the
    user's parameters)."""
    schema = getattr(op, "_schema", None)
    if schema is None or not schema.is_mutable:
        return op
    packet = getattr(torch.ops.aten, _target_name(op))
    return getattr(packet, op._overloadname)


def _prologue(params: list[_Value], frontier: list[_Value]) -> _Prologue:
    needed: set[Any] = set()
    stack = list(frontier)
    while stack:
        n = stack.pop()
        if n in needed or n in params:
            continue
        needed.add(n)
        stack.extend(n.all_input_nodes)
    order = {id(n): k for k, n in enumerate(_all_nodes(frontier, params))}
    steps = sorted((n for n in needed if n.op == "call_function"), key=lambda n: order[id(n)])
    return _Prologue(params, frontier, steps)


def _all_nodes(frontier: list[_Value], params: list[_Value]) -> list[_Value]:
    """Nodes reachable from ``frontier``, inputs before the nodes using them."""
    seen: dict[int, _Value] = {}

    def visit(n: _Value) -> None:
        if id(n) in seen:
            return
        for a in n.all_input_nodes:
            visit(a)
        seen[id(n)] = n

    for n in frontier:
        visit(n)
    return list(seen.values())
