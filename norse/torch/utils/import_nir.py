"""Import NIR graphs as Norse modules (:func:`from_nir`).

A graph becomes a :class:`NIRGraphModule`: one child module per node, run in the order of the
graph's edges once per time step. The conventions (parameter mapping, when input reaches the
voltage, cycles, delays, dt) are in :mod:`norse.torch.utils.nir_mapping` and ``docs/nir.md``.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, NamedTuple

import nir
import numpy as np
import torch
from torch import Tensor, nn
from torch.utils import _pytree

from ..functional.reset import ResetMethod, reset_value
from . import nir_mapping as mapping
from .nir_mapping import _to_tensor

__all__ = ["CubaLIF", "NIRGraphModule", "NIRGraphNode", "NIRGraphState", "from_nir"]

_NEURON_NODES = (nir.CubaLIF, nir.LIF, nir.CubaLI, nir.LI, nir.IF, nir.I)


def from_nir(
    node: nir.NIRNode | str | os.PathLike,
    ignore_warnings: bool = False,
    reset_method: ResetMethod = reset_value,
    dt: float | None = None,
    *,
    time_first: bool = False,
) -> nn.Module:
    """Build a Norse module from a NIR graph (or a single NIR node, or a ``.nir`` file).

    The graph module runs one time step per call, ``m(x, state) -> (out, state)``, as in
    1.1.0; with ``time_first=True`` it takes whole sequences instead,
    ``m(x[T, B, ...]) -> (out[T, B, ...], state)``. Neurons become Norse's own cells (NIR
    ``CubaLIF`` -> :class:`~norse.torch.LIFCell`, ``LIF`` -> :class:`~norse.torch.LIFBoxCell`,
    ``CubaLI`` -> :class:`~norse.torch.LICell`, ``LI`` -> :class:`~norse.torch.LIBoxCell`,
    ``IF`` -> :class:`~norse.torch.IAFCell`), with a
    :class:`~norse.torch.utils.nir_mapping.ScaledInput` when ``r`` and ``w_in`` scale the input.
    A ``Linear`` -> neuron <-> ``Linear`` cycle with unit scaling comes back as the model's
    recurrent cell (e.g. :class:`~norse.torch.LIFRecurrentCell`). ``Delay`` nodes become
    :class:`~norse.torch.AxonalDelayCell` with fixed delays of ``round(delay / dt)`` steps.

    Args:
        node: a ``nir.NIRGraph``, a single NIR node, or the path of a ``.nir`` file. Files that
            fail NIR's type check (older exports) are read again with ``type_check=False``
            (with a warning).
        ignore_warnings (bool): silence the warnings about type-check fallbacks and about time
            constants shorter than ``dt`` (for which explicit Euler is unstable).
        reset_method (ResetMethod): how spiking box neurons (NIR ``LIF``) reset;
            ``reset_subtract`` also works for ``CubaLIF`` nodes, which then import as
            :class:`CubaLIF` (synapse + LIF box) instead of ``LIFCell``.
        dt (float): the time step in seconds. ``None`` takes ``graph.metadata["dt"]`` (written
            by :func:`~norse.torch.utils.export_nir.to_nir`) and else ``0.001``.
        time_first (bool): return a module that runs ``(T, B, ...)`` sequences.

    Returns:
        nn.Module: a :class:`NIRGraphModule` for a graph, the node's module for a single node
        (wrapped in :class:`~norse.torch.Lift` when ``time_first``).

    Example:
        >>> import nir, numpy as np
        >>> graph = nir.NIRGraph.from_list(
        ...     nir.Affine(weight=np.ones((2, 3)), bias=np.zeros(2)),
        ...     nir.LIF(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2),
        ...             v_threshold=np.full(2, 0.5)))
        >>> model = from_nir(graph, dt=0.001, time_first=True)
        >>> spikes, state = model(torch.ones(20, 8, 3))
        >>> spikes.shape, type(model.lif).__name__
        (torch.Size([20, 8, 2]), 'LIFBoxCell')
    """
    who = "from_nir"
    if isinstance(node, (str, os.PathLike)):
        node = _read(node, ignore_warnings)
    if not isinstance(node, nir.NIRNode):
        raise TypeError(
            f"{who}: node must be a nir.NIRNode (usually a nir.NIRGraph) or the path of a .nir "
            f"file, got {type(node).__name__}"
        )
    if not callable(reset_method):
        raise TypeError(
            f"{who}: reset_method must be a reset function such as reset_value or "
            f"reset_subtract, got {type(reset_method).__name__}"
        )
    if dt is None:
        metadata = getattr(node, "metadata", None)
        dt = metadata.get("dt", 0.001) if isinstance(metadata, dict) else 0.001
    dt = mapping._check_dt(dt, who)
    if isinstance(node, nir.NIRGraph):
        return NIRGraphModule(
            node,
            dt=dt,
            reset_method=reset_method,
            ignore_warnings=ignore_warnings,
            time_first=time_first,
        )
    module = _import_norse_module(node, ignore_warnings, reset_method, dt)
    if time_first:
        from ..module.lift import Lift

        return Lift(module)
    return module


def _read(path: str | os.PathLike, ignore_warnings: bool) -> nir.NIRGraph:
    """``nir.read``, retrying without NIR's type check for older files."""
    if not os.path.exists(path):
        raise ValueError(f"from_nir: no file at {os.fspath(path)!r}; pass a .nir file's path")
    try:
        return nir.read(path)
    except (ValueError, AssertionError, KeyError, TypeError) as error:
        if not ignore_warnings:
            warnings.warn(
                f"from_nir: {os.fspath(path)!r} fails NIR's type check ({error}); reading it "
                "with type_check=False (pass ignore_warnings=True to silence this)",
                UserWarning,
                stacklevel=3,
            )
        return nir.read(path, type_check=False)


# ----------------------------------------------------------------------------- nodes
class CubaLIF(nn.Module):
    """A current-based LIF neuron as a box synapse feeding a box LIF neuron (1.1.0's import).

    ``x -> w_in * x -> synapse -> r * I -> lif``. With a synapse ``LIBoxCell`` of
    ``tau_mem_inv = 1 / tau_syn`` and ``v_leak = 0`` this is the same step as
    :class:`~norse.torch.LIFCell` (see :mod:`norse.torch.utils.nir_mapping`), but the neuron
    can reset with any ``reset_method``. :func:`from_nir` builds it for NIR ``CubaLIF`` nodes
    when ``reset_method`` is not ``reset_value``.

    Args:
        w_in (Tensor): input weights (elementwise).
        synapse (nn.Module): the current, a :class:`~norse.torch.LIBoxCell`.
        r (Tensor): resistance (elementwise) between current and voltage.
        lif (nn.Module): the neuron, a :class:`~norse.torch.LIFBoxCell`.

    Example:
        >>> from norse.torch import LIBoxCell, LIBoxParameters, LIFBoxCell
        >>> neuron = CubaLIF(torch.tensor(1.0), LIBoxCell(LIBoxParameters(tau_mem_inv=torch.tensor(200.0))),
        ...                  torch.tensor(1.0), LIFBoxCell())
        >>> z, (s_syn, s_lif) = neuron(torch.ones(2))
        >>> s_syn.v.detach(), s_lif.v.detach()
        (tensor([0.2000, 0.2000]), tensor([0.0200, 0.0200]))
    """

    def __init__(self, w_in: Tensor, synapse: nn.Module, r: Tensor, lif: nn.Module) -> None:
        super().__init__()
        self.register_buffer("w_in", torch.as_tensor(w_in))
        self.synapse = synapse
        self.register_buffer("r", torch.as_tensor(r))
        self.lif = lif

    def forward(self, input_tensor: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        if state is None:
            state = (None, None)
        x = self.w_in * input_tensor
        x, s1 = self.synapse(x, state[0])
        x = self.r * x
        z, s2 = self.lif(x, state[1])
        return z, (s1, s2)


def _ints(value: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in np.atleast_1d(np.asarray(value)).ravel())


def _padding(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf8")
    if isinstance(value, str):
        return value
    return _ints(value)


def _weight(node: Any, who: str) -> Tensor:
    weight = np.asarray(node.weight)
    if weight.ndim != 2:
        raise ValueError(
            f"{who}: weight has shape {weight.shape}; Norse imports 2-D (out, in) weights only"
        )
    return _to_tensor(weight)


def _warn_time_constants(
    node: Any, model: mapping.NeuronMapping, dt: float, who: str, ignore_warnings: bool
) -> None:
    if ignore_warnings:
        return
    for field in model.time_constants:
        tau = np.asarray(getattr(node, field), dtype=np.float64)
        if tau.size and float(tau.min()) < dt:
            warnings.warn(
                f"{who}: {field} = {float(tau.min()):.3g} s is shorter than dt = {dt} s, so "
                "the explicit Euler step overshoots (and diverges above 2 dt); import with "
                "the dt the graph was made for (e.g. from_nir(..., dt=1e-4))",
                UserWarning,
                stacklevel=4,
            )
            return


def _import_norse_module(
    node: nir.NIRNode,
    ignore_warnings: bool = False,
    reset_method: ResetMethod = reset_value,
    dt: float = 0.001,
    name: str = "",
    delay_offset: int = 0,
) -> nn.Module:
    """The Norse module for one (non-graph) NIR node; a TypeError for unsupported nodes."""
    from ..functional.leaky_integrator_box import LIBoxParameters
    from ..functional.lif_box import LIFBoxParameters
    from ..module.leaky_integrator_box import LIBoxCell
    from ..module.lif_box import LIFBoxCell

    kind = type(node).__name__
    who = f"from_nir: node {name!r} ({kind})" if name else f"from_nir ({kind})"
    if isinstance(node, nir.Affine):
        weight = _weight(node, who)
        linear = nn.Linear(weight.shape[1], weight.shape[0], bias=True)
        with torch.no_grad():
            linear.weight.copy_(weight)
            linear.bias.copy_(_to_tensor(node.bias))
        return linear
    if isinstance(node, nir.Linear):
        weight = _weight(node, who)
        linear = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        with torch.no_grad():
            linear.weight.copy_(weight)
        return linear
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        weight = _to_tensor(node.weight)
        groups = int(node.groups)
        conv_type = nn.Conv1d if isinstance(node, nir.Conv1d) else nn.Conv2d
        conv = conv_type(
            weight.shape[1] * groups,
            weight.shape[0],
            tuple(weight.shape[2:]),
            stride=_ints(node.stride),
            padding=_padding(node.padding),
            dilation=_ints(node.dilation),
            groups=groups,
            bias=True,
        )
        with torch.no_grad():
            conv.weight.copy_(weight)
            conv.bias.copy_(_to_tensor(node.bias))
        return conv
    if isinstance(node, nir.SumPool2d):
        return mapping.SumPool2d(_ints(node.kernel_size), _ints(node.stride), _ints(node.padding))
    if isinstance(node, nir.AvgPool2d):
        return nn.AvgPool2d(_ints(node.kernel_size), _ints(node.stride), _ints(node.padding))
    if isinstance(node, nir.Flatten):
        start, end = int(node.start_dim), int(node.end_dim)
        shape = _shape(node.input_type)
        if shape is None:  # unknown rank: assume one leading batch dimension
            return nn.Flatten(start + 1 if start >= 0 else start, end + 1 if end >= 0 else end)
        rank = len(shape)
        return nn.Flatten(start - rank if start >= 0 else start, end - rank if end >= 0 else end)
    if isinstance(node, nir.Scale):
        return mapping.Scale(_to_tensor(node.scale))
    if isinstance(node, nir.Threshold):
        meta = mapping._surrogate(node.metadata or {}, ("method", "alpha"))
        return mapping.Threshold(_to_tensor(node.threshold), **meta)
    if isinstance(node, nir.Delay):
        from ..module.delay import AxonalDelayCell

        steps = mapping._delay_steps(node.delay, dt, who) - delay_offset
        return AxonalDelayCell(delays=steps, learnable=False)
    if isinstance(node, _NEURON_NODES):
        spec = mapping.spec_for_node(node)
        model = mapping.neuron_mapping(spec) if spec is not None else None
        cell_type = mapping.module_class(spec, "cell") if spec is not None else None
        if model is None or cell_type is None:
            hint = (
                "the IAF model (norse.torch.functional.iaf) is not available in this build"
                if isinstance(node, nir.IF)
                else "Norse has no neuron model for it"
            )
            raise TypeError(f"{who} cannot be imported: {hint}")
        _warn_time_constants(node, model, dt, who, ignore_warnings)
        p, scale = model.load(node, dt, reset_method, who)
        if isinstance(node, nir.CubaLIF) and reset_method is not reset_value:
            synapse = LIBoxCell(
                LIBoxParameters(tau_mem_inv=p.tau_syn_inv, v_leak=torch.zeros_like(p.tau_syn_inv)),
                dt=dt,
            )
            lif = LIFBoxCell(
                LIFBoxParameters(
                    tau_mem_inv=p.tau_mem_inv,
                    v_leak=p.v_leak,
                    v_th=p.v_th,
                    v_reset=p.v_reset,
                    method=p.method,
                    alpha=p.alpha,
                    reset_method=reset_method,
                ),
                dt=dt,
            )
            return CubaLIF(_to_tensor(node.w_in), synapse, _to_tensor(node.r), lif)
        cell = cell_type(p, dt=dt)
        if mapping._is_unit_scale(scale):
            return cell
        return mapping.ScaledInput(cell, _to_tensor(np.asarray(scale)))
    if isinstance(node, (nir.Input, nir.Output)):
        raise TypeError(f"{who}: Input and Output nodes belong to a graph; pass the graph")
    supported = (
        "Affine, Linear, Conv1d, Conv2d, SumPool2d, AvgPool2d, Flatten, Scale, Threshold, "
        "Delay, CubaLIF, LIF, CubaLI, LI, IF, NIRGraph"
    )
    raise TypeError(f"{who} cannot be imported; Norse imports these NIR nodes: {supported}")


def _shape(types: Any) -> tuple[int, ...] | None:
    """The shape in a NIR ``input_type``/``output_type`` dict (``None`` when unknown)."""
    if not isinstance(types, dict) or len(types) != 1:
        return None
    value = next(iter(types.values()))
    if value is None:
        return None
    array = np.asarray(value)
    if array.dtype == object or array.ndim > 1:
        return None
    return tuple(int(v) for v in array.ravel())


def _node_input_shape(node: Any) -> tuple[int, ...] | None:
    """The per-sample input shape a node expects, from its parameters (``None`` if unknown)."""
    if isinstance(node, (nir.Affine, nir.Linear)):
        weight = np.asarray(node.weight)
        return (int(weight.shape[1]),) if weight.ndim == 2 else None
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        if node.input_shape is None:
            return None
        channels = int(np.asarray(node.weight).shape[1]) * int(node.groups)
        return (channels, *_ints(node.input_shape))
    if isinstance(node, nir.NIRGraph):
        inputs = [n for n, v in node.nodes.items() if isinstance(v, nir.Input)]
        if len(inputs) != 1:
            return None
        shape = _shape(node.nodes[inputs[0]].input_type)
        if shape:
            return shape
        targets = [d for s, d in node.edges if s == inputs[0] and d in node.nodes]
        found = {_node_input_shape(node.nodes[d]) for d in targets} - {None}
        return found.pop() if len(found) == 1 else None
    return _shape(getattr(node, "input_type", None)) or None


def _infer_input_shape(
    name: str, nodes: dict[str, Any], edges: list[tuple[str, str]], who: str
) -> tuple[int, ...]:
    """The shape of an ``Input`` node without ``input_type``, from the nodes it feeds."""
    targets = list(dict.fromkeys(d for s, d in edges if s == name))
    found = {d: _node_input_shape(nodes[d]) for d in targets}
    shapes = set(found.values()) - {None}
    fix = (
        f"set it before importing, e.g. graph.nodes[{name!r}].input_type = "
        "{'input': np.array([n])} with the shape of one sample"
    )
    if len(shapes) > 1:
        listed = ", ".join(f"{d!r} expects {s}" for d, s in found.items() if s is not None)
        raise ValueError(
            f"{who}: the graph's Input node {name!r} has no input_type, and the nodes it feeds "
            f"disagree on its shape ({listed}); {fix}"
        )
    if not shapes:
        listed = ", ".join(f"{d!r} ({type(nodes[d]).__name__})" for d in targets) or "none"
        raise ValueError(
            f"{who}: the graph's Input node {name!r} has no input_type, and the nodes it feeds "
            f"({listed}) do not determine it (an Affine/Linear weight, a convolution with "
            f"input_shape or a neuron's parameter arrays would); {fix}"
        )
    return shapes.pop()


def _node_keys(names: list[str]) -> dict[str, str]:
    """nirtorch's key for every node (``.`` -> ``_``), made unique with a numeric suffix."""
    keys: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        key = base = name.replace(".", "_")
        k = 1
        while key in used:
            key, k = f"{base}_{k}", k + 1
        used.add(key)
        keys[name] = key
    return keys


# ----------------------------------------------------------------------------- the graph
class NIRGraphState(NamedTuple):
    """State of a :class:`NIRGraphModule`, laid out as nirtorch's ``GraphExecutorState``.

    Node keys are the NIR node names with ``.`` replaced by ``_`` (as nirtorch writes them:
    ``"lif1.lif"`` -> ``"lif1_lif"``).

    Attributes:
        state (dict): the state of every stateful node (neurons, delays, subgraphs), keyed by
            child name (``state.state["1"].v``). The node key works too where it differs from
            the child name (a folded recurrent cell ``"1"`` is also ``state.state["1_lif"]``).
        cache (dict): the output of every node at this step, including ``"input"`` and
            ``"output"``, keyed by node key (``state.cache["lif1_lif"]`` are the spikes of node
            ``"lif1.lif"``). The next step reads a cycle's delayed edges from here.

    Example:
        >>> import nir, numpy as np
        >>> graph = nir.NIRGraph.from_list(nir.LI(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2)))
        >>> _, state = from_nir(graph)(torch.ones(2))
        >>> type(state).__name__, list(state.state), list(state.cache)
        ('NIRGraphState', ['li'], ['input', 'li', 'output'])
    """

    state: dict[str, Any]
    cache: dict[str, Tensor]


class _StateDict(dict):
    """A dict of node states keyed by child name that also answers to the node keys
    (``aliases``: node key -> child name) where the two differ."""

    def __init__(self, items: Any = (), aliases: dict[str, str] | None = None) -> None:
        super().__init__(items)
        self.aliases = dict(aliases or {})
        for alias, child in self.aliases.items():  # a state built with node keys
            if dict.__contains__(self, alias) and not dict.__contains__(self, child):
                dict.__setitem__(self, child, dict.pop(self, alias))

    def _key(self, key: Any) -> Any:
        if not dict.__contains__(self, key) and key in self.aliases:
            return self.aliases[key]
        return key

    def __missing__(self, key: Any) -> Any:
        if key in self.aliases and dict.__contains__(self, self.aliases[key]):
            return dict.__getitem__(self, self.aliases[key])
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, self._key(key))

    def get(self, key: Any, default: Any = None) -> Any:
        return dict.get(self, self._key(key), default)

    def __setitem__(self, key: Any, value: Any) -> None:
        dict.__setitem__(self, self._key(key), value)

    def __reduce__(self) -> Any:
        return (_StateDict, (dict(self), self.aliases))


# States are pytrees (tree_map over a NIRGraphState reaches every tensor, e.g. to detach).
_pytree.register_pytree_node(
    _StateDict,
    lambda d: (list(d.values()), (list(d.keys()), d.aliases)),
    lambda values, context: _StateDict(zip(context[0], values, strict=True), context[1]),
    serialized_type_name="norse.torch.utils.import_nir._StateDict",
)


class NIRGraphNode:
    """One node of an imported graph in evaluation order, as nirtorch's executor lists them.

    Attributes:
        name (str): the node key (the NIR name with ``.`` replaced by ``_``), which also keys
            :class:`NIRGraphState`.
        elem (nn.Module): the node's module (an ``nn.Identity`` for the ``Input`` and
            ``Output`` nodes; the recurrent cell for a folded ``Linear -> neuron <-> Linear``
            cycle, listed under the neuron's name).
        outgoing_nodes (dict): the nodes this node's output goes to (keys; values are ``None``).
        nir_name (str): the node's name in the NIR graph.

    Example:
        >>> import nir, numpy as np
        >>> graph = nir.NIRGraph.from_list(nir.Scale(scale=np.ones(2)))
        >>> [node.name for node in from_nir(graph).get_execution_order()]
        ['input', 'scale', 'output']
    """

    def __init__(self, name: str, elem: nn.Module, nir_name: str) -> None:
        self.name = name
        self.elem = elem
        self.nir_name = nir_name
        self.outgoing_nodes: dict[NIRGraphNode, None] = {}

    def __repr__(self) -> str:
        return f"NIRGraphNode({self.name!r}, {type(self.elem).__name__})"


class NIRGraphModule(nn.Module):
    """Runs a NIR graph: one child module per node, evaluated once per time step.

    Every step, the input goes to the graph's ``Input`` node and each node gets the sum of
    the values on its incoming edges, in dependency order. In a cycle, the edge leaving the
    last neuron on the cycle carries that neuron's output from the previous step (zeros at
    the first step), or, when the cycle runs through a ``Delay`` of at least one step, the
    delay's input edges do (and the delay is one step shorter). A cycle without a neuron or a
    delay is an error.

    Children are named after the nodes (``.`` becomes ``_``); a ``Linear`` -> neuron <->
    ``Linear`` cycle folds into one recurrent cell named after the nodes' common prefix.
    Like nirtorch's ``GraphExecutor`` it lists its nodes in evaluation order
    (:meth:`get_execution_order`), names its stateful nodes (``stateful_modules``) and returns
    a state with every node's output in ``state.cache`` (:class:`NIRGraphState`).

    An ``Input`` node without ``input_type`` (or with an empty one) takes its shape from the
    node it feeds (an ``Affine``/``Linear`` weight, a convolution with ``input_shape``, a
    neuron's parameter arrays, ...); when none of them tells, a ``ValueError`` says how to set it.

    Args:
        graph (nir.NIRGraph): the graph.
        dt (float): time step in seconds.
        reset_method (ResetMethod): reset of spiking box neurons (see :func:`from_nir`).
        ignore_warnings (bool): silence the import warnings.
        time_first (bool): ``forward`` takes ``(T, B, ...)`` sequences.

    Shape:
        per step: input ``(*, *input_shape)``, output ``(*, *output_shape)``; with
        ``time_first``: ``(T, *, ...)`` in and out.

    Example:
        >>> import nir, numpy as np
        >>> graph = nir.NIRGraph.from_list(nir.Linear(weight=np.eye(2)),
        ...     nir.LI(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2)))
        >>> model = NIRGraphModule(graph, dt=0.001)
        >>> v, state = model(torch.ones(1, 2))
        >>> v.detach(), sorted(state.state)
        (tensor([[0.1000, 0.1000]]), ['li'])
    """

    def __init__(
        self,
        graph: nir.NIRGraph,
        dt: float = 0.001,
        reset_method: ResetMethod = reset_value,
        ignore_warnings: bool = False,
        time_first: bool = False,
    ) -> None:
        super().__init__()
        who = "from_nir"
        if not isinstance(graph, nir.NIRGraph):
            raise TypeError(f"NIRGraphModule: graph must be a nir.NIRGraph, got {type(graph)}")
        self.dt = mapping._check_dt(dt, "NIRGraphModule")
        self.time_first = bool(time_first)
        nodes = dict(graph.nodes)
        edges = [(_resolve(s, nodes, who), _resolve(d, nodes, who)) for s, d in graph.edges]
        inputs = [n for n, v in nodes.items() if isinstance(v, nir.Input)]
        outputs = [n for n, v in nodes.items() if isinstance(v, nir.Output)]
        for kind, found in (("Input", inputs), ("Output", outputs)):
            if len(found) != 1:
                raise ValueError(
                    f"{who}: the graph has {len(found)} {kind} nodes ({found}); Norse runs "
                    f"graphs with exactly one {kind} node (add one, or read the file with "
                    "type_check=True so NIR adds them)"
                )
        self._input, self._output = inputs[0], outputs[0]
        self.input_shape = _shape(nodes[self._input].input_type) or _infer_input_shape(
            self._input, nodes, edges, who
        )
        # nirtorch's GraphExecutor attributes, set before the children so that a node with
        # one of these names gets a prefixed child name instead of replacing them.
        self.execution_order: list[NIRGraphNode] = []
        self.stateful_modules: set[str] = set()

        fused, edges = _fold_recurrent(nodes, edges, self.dt, reset_method, ignore_warnings)
        for absorbed in fused.values():
            for n in absorbed[1]:
                nodes.pop(n)
        kinds = {n: _kind(n, v, fused, self.dt) for n, v in nodes.items()}
        delayed, shortened = _break_cycles(list(nodes), edges, kinds, who)
        order = _topological(list(nodes), edges, delayed, who)

        self._names: dict[str, str] = {}
        self._order: list[str] = []
        # What to_nir needs to write the graph back: node names (a folded recurrent cell
        # under its nodes' common prefix), the edges, and the delays shortened by a cycle.
        self._export_names = {n: (fused[n][2] if n in fused else n) for n in nodes}
        self._edges = list(edges)
        self._shortened = set(shortened)
        for name in order:
            node = nodes[name]
            if name in (self._input, self._output):
                continue
            if name in fused:
                module = fused[name][0]
            elif isinstance(node, nir.NIRGraph):
                try:
                    module = NIRGraphModule(node, self.dt, reset_method, ignore_warnings, False)
                except ValueError as error:
                    raise ValueError(f"{who}: in subgraph {name!r}: {error}") from None
            else:
                module = _import_norse_module(
                    node, ignore_warnings, reset_method, self.dt, name, int(name in shortened)
                )
            child = _child_name(fused[name][2] if name in fused else name, self)
            self.add_module(child, module)
            self._names[name] = child
            self._order.append(name)
        self._stateful = {n for n in self._order if _is_stateful(getattr(self, self._names[n]))}
        self._inputs: dict[str, list[tuple[str, bool]]] = {n: [] for n in nodes}
        for k, (src, dst) in enumerate(edges):
            self._inputs[dst].append((src, k in delayed))
        for name in self._order + [self._output]:
            if not self._inputs[name]:
                raise ValueError(
                    f"{who}: node {name!r} has no incoming edge; connect it or remove it"
                )
        self._cached = sorted({edges[k][0] for k in delayed})
        self._out_shapes = {n: _shape(getattr(nodes[n], "output_type", None)) for n in self._cached}

        self._keys = _node_keys(order)
        children = set(self._names.values())
        self._aliases = {
            self._keys[n]: self._names[n]
            for n in self._stateful
            if self._keys[n] != self._names[n] and self._keys[n] not in children
        }
        self.stateful_modules.update(self._keys[n] for n in self._stateful)
        ends = {self._input: nn.Identity(), self._output: nn.Identity()}
        records = {
            n: NIRGraphNode(
                self._keys[n], getattr(self, self._names[n]) if n in self._names else ends[n], n
            )
            for n in order
        }
        for src, dst in edges:
            records[src].outgoing_nodes[records[dst]] = None
        self.execution_order.extend(records[n] for n in order)

    # -- nirtorch's GraphExecutor interface ----------------------------------------------------
    def get_execution_order(self) -> list[NIRGraphNode]:
        """The nodes in the order every step evaluates them, ``Input`` first and ``Output``
        last (nirtorch's ``GraphExecutor.get_execution_order``).

        Example:
            >>> import nir, numpy as np
            >>> graph = nir.NIRGraph.from_list(nir.Linear(weight=np.eye(2)),
            ...     nir.LI(tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2)))
            >>> from_nir(graph).get_execution_order()
            [NIRGraphNode('input', Identity), NIRGraphNode('linear', Linear),
             NIRGraphNode('li', LIBoxCell), NIRGraphNode('output', Identity)]
        """
        return list(self.execution_order)

    def get_input_nodes(self) -> list[NIRGraphNode]:
        """The graph's input node, in a list (nirtorch's ``GraphExecutor.get_input_nodes``).

        Example:
            >>> import nir, numpy as np
            >>> from_nir(nir.NIRGraph.from_list(nir.Scale(scale=np.ones(2)))).get_input_nodes()
            [NIRGraphNode('input', Identity)]
        """
        return [node for node in self.execution_order if node.nir_name == self._input]

    # -- running ---------------------------------------------------------------------------
    def forward(
        self, input_tensor: Tensor, state: NIRGraphState | None = None
    ) -> tuple[Tensor, NIRGraphState]:
        """One step (or, with ``time_first``, the whole sequence); returns ``(output, state)``."""
        if not self.time_first:
            return self.step(input_tensor, state)
        self._check_input(input_tensor, 1)
        outputs = []
        for x in input_tensor.unbind(0):
            out, state = self.step(x, state)
            outputs.append(out)
        return torch.stack(outputs), state

    def step(
        self, input_tensor: Tensor, state: NIRGraphState | None = None
    ) -> tuple[Tensor, NIRGraphState]:
        """Advance the graph by one time step: ``(x[*, *input_shape], state) -> (out, state)``.

        Example:
            >>> import nir, numpy as np
            >>> graph = nir.NIRGraph.from_list(nir.Scale(scale=np.full(3, 2.0)))
            >>> NIRGraphModule(graph).step(torch.ones(3))[0]
            tensor([2., 2., 2.])
        """
        self._check_input(input_tensor, 0)
        if state is None:
            state = NIRGraphState({}, {})
        elif not isinstance(state, NIRGraphState):
            raise TypeError(
                f"NIRGraphModule: state must be the NIRGraphState this module returned (or "
                f"None), got {type(state).__name__}"
            )
        states = _StateDict(state.state, self._aliases)
        batch = self._batch_shape(input_tensor)
        values: dict[str, Tensor | None] = {self._input: input_tensor}
        for name in self._order:
            x = self._gather(name, values, state.cache, batch, input_tensor)
            child = self._names[name]
            module = getattr(self, child)
            if x is None:  # only delayed inputs of unknown shape at the first step
                values[name] = None
            elif name in self._stateful:
                values[name], states[child] = module(x, states.get(child))
            else:
                values[name] = module(x)
        out = self._gather(self._output, values, state.cache, batch, input_tensor)
        if out is None:
            raise ValueError(
                "NIRGraphModule: the output received no value at this step (its inputs come "
                "only from delayed edges whose shape the graph does not declare)"
            )
        values[self._output] = out
        cache = {self._keys[n]: v for n, v in values.items() if v is not None}
        return out, NIRGraphState(states, cache)

    def _gather(
        self,
        name: str,
        values: dict[str, Tensor | None],
        cache: dict[str, Tensor],
        batch: tuple[int, ...],
        like: Tensor,
    ) -> Tensor | None:
        total = None
        for src, delayed in self._inputs[name]:
            value = cache.get(self._keys[src]) if delayed else values.get(src)
            if value is None and delayed:
                shape = self._out_shapes.get(src)
                if shape is not None:
                    dtype = like.dtype if like.is_floating_point() else torch.float32
                    value = torch.zeros((*batch, *shape), dtype=dtype, device=like.device)
            if value is None:
                continue
            total = value if total is None else total + value
        return total

    def _batch_shape(self, x: Tensor) -> tuple[int, ...]:
        return tuple(x.shape[: x.dim() - len(self.input_shape)])

    def _check_input(self, x: Any, lead: int) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(
                f"NIRGraphModule: input_tensor must be a torch.Tensor, got {type(x).__name__}"
            )
        shape = self.input_shape
        n = len(shape)
        if x.dim() < n + lead or tuple(x.shape[x.dim() - n :]) != shape:
            form = (
                f"(T, *, {', '.join(map(str, shape))})"
                if lead
                else f"(*, {', '.join(map(str, shape))})"
            )
            raise ValueError(
                f"NIRGraphModule: the graph's input {self._input!r} has shape {shape}, so the "
                f"input must be {form}; got {tuple(x.shape)}"
                + ("" if lead else " (use time_first=True for (T, B, ...) sequences)")
            )

    def extra_repr(self) -> str:
        return f"input_shape={self.input_shape}, dt={self.dt}, time_first={self.time_first}"


def _is_stateful(module: nn.Module) -> bool:
    from .state import _is_module_stateful

    return _is_module_stateful(module)


def _resolve(name: Any, nodes: dict[str, Any], who: str) -> str:
    """A node name for an edge endpoint (``"sub.port"`` refers to the subgraph ``sub``)."""
    if isinstance(name, bytes):
        name = name.decode("utf8")
    if name in nodes:
        return name
    parts = str(name).split(".")
    for k in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:k])
        if isinstance(nodes.get(prefix), nir.NIRGraph):
            return prefix
    raise ValueError(f"{who}: an edge refers to {name!r}, which is not a node of the graph")


def _child_name(name: str, owner: nn.Module) -> str:
    child = name.replace(".", "_") or "node"
    if hasattr(nn.Module, child) or child in owner.__dict__ or "." in child:
        child = f"node_{child}"
    base, k = child, 1
    while child in owner._modules or hasattr(owner, child):
        child, k = f"{base}_{k}", k + 1
    return child


def _plain_linear(node: Any) -> bool:
    """A bias-free linear map: ``Linear``, or ``Affine`` with a zero bias."""
    if isinstance(node, nir.Linear):
        return np.asarray(node.weight).ndim == 2
    if isinstance(node, nir.Affine):
        return np.asarray(node.weight).ndim == 2 and not np.any(np.asarray(node.bias))
    return False


def _fold_recurrent(
    nodes: dict[str, Any],
    edges: list[tuple[str, str]],
    dt: float,
    reset_method: ResetMethod,
    ignore_warnings: bool,
) -> tuple[dict[str, tuple[nn.Module, list[str], str]], list[tuple[str, str]]]:
    """Find ``A -> neuron <-> R`` (bias-free ``Linear`` maps, unit input scale) and build the
    model's recurrent cell for them. Returns ``{neuron: (cell, absorbed nodes, child name)}``
    and the edges with ``A`` and ``R`` removed."""
    fused: dict[str, tuple[nn.Module, list[str], str]] = {}
    for name, node in list(nodes.items()):
        spec = mapping.spec_for_node(node) if isinstance(node, _NEURON_NODES) else None
        if spec is None or (isinstance(node, nir.CubaLIF) and reset_method is not reset_value):
            continue
        cell_type = mapping.module_class(spec, "recurrent_cell")
        preds = [s for s, d in edges if d == name]
        if cell_type is None or len(preds) != 2 or len(set(preds)) != 2:
            continue
        for a, r in (preds, preds[::-1]):
            if (
                a in fused
                or r in fused
                or not (_plain_linear(nodes[a]) and _plain_linear(nodes[r]))
            ):
                continue
            if [d for s, d in edges if s == a] != [name]:
                continue
            if [s for s, d in edges if d == r] != [name] or [d for s, d in edges if s == r] != [
                name
            ]:
                continue
            w_in, w_rec = np.asarray(nodes[a].weight), np.asarray(nodes[r].weight)
            hidden = w_rec.shape[0]
            if w_rec.shape != (hidden, hidden) or w_in.shape[0] != hidden:
                continue
            if _shape(node.output_type) not in (None, (hidden,)):
                continue
            model = mapping.neuron_mapping(spec)
            who = f"from_nir: node {name!r} ({type(node).__name__})"
            p, scale = model.load(node, dt, reset_method, who)
            if not mapping._is_unit_scale(scale):
                continue
            _warn_time_constants(node, model, dt, who, ignore_warnings)
            cell = cell_type(
                w_in.shape[1],
                hidden,
                p,
                input_weights=nn.Parameter(_to_tensor(w_in)),
                recurrent_weights=nn.Parameter(_to_tensor(w_rec)),
                autapses=bool(np.any(np.diag(w_rec))),
                dt=dt,
            )
            prefix = name.rpartition(".")[0]
            shared = (
                prefix and all(n.startswith(prefix + ".") for n in (a, r)) and prefix not in nodes
            )
            fused[name] = (cell, [a, r], prefix if shared else name)
            edges = [
                (s, name if d == a else d)
                for s, d in edges
                if (s, d) not in ((a, name), (name, r), (r, name))
            ]
            break
    return fused, edges


def _kind(name: str, node: Any, fused: dict, dt: float) -> str:
    """``"neuron"`` (its outgoing edge can carry last step's value), ``"delay"`` (a Delay of at
    least one step: its incoming edges can) or ``""``."""
    if name in fused or isinstance(node, _NEURON_NODES):
        return "neuron"
    if isinstance(node, nir.Delay):
        steps = np.asarray(node.delay, dtype=np.float64) / dt
        if steps.size and float(np.round(steps).min()) >= 1:
            return "delay"
    return ""


def _find_cycle(names: list[str], edges: list[tuple[str, str]], skip: set[int]) -> list[int] | None:
    """The edge indices of one cycle (in order), ignoring edges in ``skip``; ``None`` if none."""
    out: dict[str, list[tuple[int, str]]] = {n: [] for n in names}
    for k, (s, d) in enumerate(edges):
        if k not in skip:
            out[s].append((k, d))
    color = dict.fromkeys(names, 0)
    for root in names:
        if color[root]:
            continue
        color[root] = 1
        path, path_edges, stack = [root], [], [iter(out[root])]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                color[path.pop()] = 2
                stack.pop()
                if path_edges:
                    path_edges.pop()
                continue
            k, dst = nxt
            if color[dst] == 1:
                return path_edges[path.index(dst) :] + [k]
            if color[dst] == 0:
                color[dst] = 1
                path.append(dst)
                path_edges.append(k)
                stack.append(iter(out[dst]))
    return None


def _break_cycles(
    names: list[str], edges: list[tuple[str, str]], kinds: dict[str, str], who: str
) -> tuple[set[int], set[str]]:
    """Pick the edges that carry last step's values so that the rest is acyclic."""
    delayed: set[int] = set()
    shortened: set[str] = set()
    while (cycle := _find_cycle(names, edges, delayed)) is not None:
        for k in reversed(cycle):
            src, dst = edges[k]
            if kinds[dst] == "delay":
                delayed.update(j for j, (_, d) in enumerate(edges) if d == dst)
                shortened.add(dst)
                break
            if kinds[src] == "neuron":
                delayed.add(k)
                break
        else:
            loop = " -> ".join([edges[k][0] for k in cycle] + [edges[cycle[0]][0]])
            raise ValueError(
                f"{who}: the cycle {loop} has no neuron or Delay, so it cannot be evaluated "
                "step by step (an algebraic loop); put a neuron or a Delay on it"
            )
    return delayed, shortened


def _topological(
    names: list[str], edges: list[tuple[str, str]], delayed: set[int], who: str
) -> list[str]:
    """Kahn's algorithm over the non-delayed edges, ties broken by the graph's node order."""
    rank = {n: k for k, n in enumerate(names)}
    indegree = dict.fromkeys(names, 0)
    for k, (_, d) in enumerate(edges):
        if k not in delayed:
            indegree[d] += 1
    ready = sorted((n for n in names if indegree[n] == 0), key=rank.__getitem__)
    order = []
    while ready:
        name = ready.pop(0)
        order.append(name)
        for k, (s, d) in enumerate(edges):
            if s == name and k not in delayed:
                indegree[d] -= 1
                if indegree[d] == 0:
                    ready.append(d)
                    ready.sort(key=rank.__getitem__)
    if len(order) != len(names):  # pragma: no cover - _break_cycles leaves no cycle
        raise ValueError(f"{who}: the graph still has a cycle after breaking recurrent edges")
    return order
