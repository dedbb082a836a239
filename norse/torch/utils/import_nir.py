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

from ..functional.reset import ResetMethod, reset_value
from . import nir_mapping as mapping
from .nir_mapping import _to_tensor

__all__ = ["CubaLIF", "NIRGraphModule", "NIRGraphState", "from_nir"]

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
    recurrent cell (e.g. :class:`~norse.torch.LIFRecurrentCell`).

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
        return mapping.Delay(mapping._delay_steps(node.delay, dt, who) - delay_offset)
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


# ----------------------------------------------------------------------------- the graph
class NIRGraphState(NamedTuple):
    """State of a :class:`NIRGraphModule`.

    Attributes:
        state (dict): the state of every stateful child, keyed by child name.
        cache (dict): last step's output of every node whose output travels on a cycle's
            delayed edge, keyed by node name.

    Example:
        >>> import nir, numpy as np
        >>> graph = nir.NIRGraph.from_list(nir.LI(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2)))
        >>> _, state = from_nir(graph)(torch.ones(2))
        >>> type(state).__name__, list(state.state)
        ('NIRGraphState', ['li'])
    """

    state: dict[str, Any]
    cache: dict[str, Tensor]


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
        self.input_shape = _shape(nodes[self._input].input_type)

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
                module = NIRGraphModule(node, self.dt, reset_method, ignore_warnings, False)
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
        states = dict(state.state)
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
        cache = {n: values[n] for n in self._cached if values.get(n) is not None}
        return out, NIRGraphState(states, cache)

    def _gather(
        self,
        name: str,
        values: dict[str, Tensor | None],
        cache: dict[str, Tensor],
        batch: tuple[int, ...] | None,
        like: Tensor,
    ) -> Tensor | None:
        total = None
        for src, delayed in self._inputs[name]:
            value = cache.get(src) if delayed else values.get(src)
            if value is None and delayed:
                shape = self._out_shapes.get(src)
                if shape is not None and batch is not None:
                    dtype = like.dtype if like.is_floating_point() else torch.float32
                    value = torch.zeros((*batch, *shape), dtype=dtype, device=like.device)
            if value is None:
                continue
            total = value if total is None else total + value
        return total

    def _batch_shape(self, x: Tensor) -> tuple[int, ...] | None:
        if self.input_shape is None:
            return None
        return tuple(x.shape[: x.dim() - len(self.input_shape)])

    def _check_input(self, x: Any, lead: int) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(
                f"NIRGraphModule: input_tensor must be a torch.Tensor, got {type(x).__name__}"
            )
        shape = self.input_shape
        if shape is None:
            if x.dim() < lead + 1:
                raise ValueError(
                    f"NIRGraphModule: expected a (T, ...) sequence (time_first=True), got "
                    f"shape {tuple(x.shape)}"
                )
            return
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
