"""Export Norse models to NIR graphs (:func:`to_nir`).

The parameter conventions (which NIR node each model becomes and how time constants, ``r``
and ``w_in`` relate to Norse's discrete step) are in :mod:`norse.torch.utils.nir_mapping`;
``docs/nir.md`` has the full guide.
"""

from __future__ import annotations

import math
from typing import Any

import nir
import numpy as np
import torch
from torch import Tensor, nn

from . import nir_mapping as mapping

__all__ = ["to_nir"]

#: Modules with no effect on a trained network's forward pass at inference; they add no node.
_IDENTITY = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


def to_nir(
    module: nn.Module,
    sample_data: Tensor,
    model_name: str = "norse",
    dt: float = 0.001,
) -> nir.NIRGraph:
    """Export a Norse model to a NIR graph.

    ``module`` is a single module or a :class:`~norse.torch.SequentialState` /
    ``nn.Sequential`` (nested ones and :class:`~norse.torch.Lift` are unpacked) of supported
    modules. ``sample_data`` is run through it once to learn every node's shape: give
    ``(B, *)`` for models of cells and stateless modules, ``(T, B, *)`` when the model contains
    sequence layers (``LIF``, ``Lift``, ...). Node shapes leave out those leading dimensions.
    An unbatched sample (``(*)``, or ``(T, *)`` for sequence layers) works too: it is a
    sample whose rank is the one the first ``Linear`` (1), ``Conv1d`` (2), ``Conv2d`` or
    pooling (3) expects, or a 1-D sample (2-D for sequence layers) when only elementwise
    modules (neurons, ``Scale``, ...) come first. Only the shape of ``sample_data`` matters; it
    runs in the model's dtype and on its device.

    Supported: ``nn.Linear`` (``Affine``, with a zero bias when the layer has none, as in
    Norse 1.1.0), ``nn.Conv1d``, ``nn.Conv2d``, :class:`~norse.torch.module.conv.LConv2d`,
    ``nn.AvgPool2d``, ``nn.LPPool2d(1, ...)`` and
    :class:`~norse.torch.utils.nir_mapping.SumPool2d` (``SumPool2d``), ``nn.Flatten``, the LIF, LIF box, LI, LI box and IAF cells and layers,
    their recurrent versions (neuron node with ``w_in``/``w_rec`` ``Linear`` nodes and a cycle),
    ``LILinearCell``, the delay modules of :mod:`norse.torch.module.delay` (``Delay`` nodes
    at the rounded delays times ``dt``; a synaptic delay as ``Linear`` -> ``Delay`` ->
    ``Affine``), and the ``Scale``, ``Threshold``, ``Delay`` and ``ScaledInput`` modules
    that :func:`~norse.torch.utils.import_nir.from_nir` creates. ``nn.Identity`` and dropout add
    no node. Anything else raises a ``TypeError`` that names the module.

    Args:
        module (nn.Module): the model.
        sample_data (Tensor): an input the model accepts (see above).
        model_name (str): the node name of a single, non-container module.
        dt (float): the time step (seconds) the graph's parameters are written for. Every
            neuron module must run at this ``dt``.

    Returns:
        nir.NIRGraph: nodes ``"input"``, the modules (named after their position, ``"0"``,
        ``"1"``, ...; nested containers give ``"2.0"``; recurrent layers give ``"<name>.w_in"``,
        ``"<name>.<model>"`` and ``"<name>.w_rec"``) and ``"output"``. ``graph.metadata``
        holds ``dt``.

    Example:
        >>> import norse.torch as norse
        >>> model = norse.SequentialState(torch.nn.Linear(4, 3), norse.LIFCell())
        >>> graph = to_nir(model, torch.zeros(1, 4))
        >>> sorted(graph.nodes), type(graph.nodes["1"]).__name__
        (['0', '1', 'input', 'output'], 'CubaLIF')
        >>> float(graph.nodes["1"].tau_mem[0]), float(graph.nodes["1"].w_in[0])
        (0.01, 5.0)
    """
    who = "to_nir"
    if not isinstance(module, nn.Module):
        raise TypeError(f"{who}: module must be a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(sample_data, Tensor):
        raise TypeError(
            f"{who}: sample_data must be a torch.Tensor the model accepts, got "
            f"{type(sample_data).__name__}"
        )
    if not isinstance(model_name, str) or not model_name:
        raise TypeError(f"{who}: model_name must be a non-empty str, got {model_name!r}")
    dt = mapping._check_dt(dt, who)

    from .import_nir import NIRGraphModule

    if isinstance(module, NIRGraphModule):
        sample_data = _like_model(sample_data, module)
        records = _record_shapes(module, sample_data, list(module.modules()))
        graph = _graph_module(module, records, dt)
        graph.metadata = {"source": "norse", "dt": dt}
        return graph
    leaves = _leaves(module, "", model_name)
    lead = 2 if _has_time_layers(module) else 1
    sample_data = _batched(_like_model(sample_data, module), leaves, lead)
    records = _record_shapes(module, sample_data, list(module.modules()))

    shape = tuple(sample_data.shape[lead:])
    nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array(shape, dtype=np.int64))}
    edges: list[tuple[str, str]] = []
    previous = "input"
    for name, leaf in leaves:
        if isinstance(leaf, _IDENTITY):
            continue
        record = records.get(id(leaf))
        if record is None:
            raise ValueError(
                f"{who}: module {name!r} ({type(leaf).__name__}) was not called when "
                "sample_data ran through the model; to_nir exports models that run their "
                "modules in sequence"
            )
        in_shape, out_shape = record
        lead_here = len(in_shape) - len(shape)
        if lead_here < 0 or tuple(in_shape[lead_here:]) != shape:
            raise ValueError(
                f"{who}: module {name!r} ({type(leaf).__name__}) got input of shape "
                f"{tuple(in_shape)}, which does not follow the previous output {shape}; "
                "to_nir exports models whose modules run in sequence"
            )
        out_ps = tuple(out_shape[lead_here:])
        sub_nodes, sub_edges, entry, exit_ = _export_leaf(
            name, leaf, shape, out_ps, lead_here, dt, records
        )
        nodes.update(sub_nodes)
        edges.append((previous, entry))
        edges.extend(sub_edges)
        previous = exit_
        shape = out_ps
    nodes["output"] = nir.Output(output_type=np.array(shape, dtype=np.int64))
    edges.append((previous, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"source": "norse", "dt": dt})


# ----------------------------------------------------------------------------- structure
def _leaves(module: nn.Module, prefix: str, model_name: str) -> list[tuple[str, nn.Module]]:
    """The modules to export, in order, with their node names."""
    from ..module.lift import Lift

    if isinstance(module, Lift):
        return _leaves(module.lifted_module, prefix, model_name)
    if isinstance(module, nn.Sequential):
        out = []
        for child_name, child in module.named_children():
            out += _leaves(child, f"{prefix}.{child_name}" if prefix else child_name, model_name)
        return out
    return [(prefix or model_name, module)]


def _has_time_layers(module: nn.Module) -> bool:
    """Whether the model contains modules that take ``(T, B, *)`` sequences."""
    from ..module.delay import _DelayModule
    from ..module.lift import Lift
    from ..module.snn import SNN, SNNRecurrent

    kinds: tuple[type, ...] = (SNN, SNNRecurrent, Lift)
    if any(isinstance(m, _DelayModule) and m._sequence for m in module.modules()):
        return True
    try:
        from ..module.conv import LConv2d

        kinds += (LConv2d,)
    except ImportError:  # pragma: no cover - the module exists in every release
        pass
    from .import_nir import NIRGraphModule

    return any(
        isinstance(m, kinds) or (isinstance(m, NIRGraphModule) and m.time_first)
        for m in module.modules()
    )


def _like_model(sample: Tensor, module: nn.Module) -> Tensor:
    """``sample`` in the dtype and on the device of the model's first floating tensor (only
    its shape matters, and e.g. ``torch.tensor(array)`` gives float64)."""
    for tensor in (*module.parameters(), *module.buffers()):
        if tensor.is_floating_point():
            return sample.to(tensor.device, tensor.dtype)
    return sample if sample.is_floating_point() else sample.float()


def _sample_rank(leaves: list[tuple[str, nn.Module]]) -> tuple[int, str, str] | None:
    """The per-sample input rank fixed by the first module that fixes one, with that module's
    name and class name; ``None`` when only elementwise modules come before one that does not
    tell."""
    from ..module.conv import LConv2d
    from ..module.delay import AxonalDelay, SynapticDelay
    from ..module.leaky_integrator import LILinearCell
    from ..module.snn import _NeuronModule
    from .import_nir import CubaLIF, NIRGraphModule

    ranked: tuple[tuple[Any, int], ...] = (
        (nn.Linear, 1),
        (SynapticDelay, 1),
        (LILinearCell, 1),
        (nn.Conv1d, 2),
        ((nn.Conv2d, nn.AvgPool2d, nn.LPPool2d, LConv2d), 3),
    )
    elementwise = (
        _IDENTITY,
        mapping.ScaledInput,
        mapping.Scale,
        mapping.Threshold,
        mapping.Delay,
        AxonalDelay,
        CubaLIF,
    )
    for name, leaf in leaves:
        kind = type(leaf).__name__
        if isinstance(leaf, NIRGraphModule):
            return len(leaf.input_shape), name, kind
        if isinstance(leaf, _NeuronModule) and getattr(leaf, "_recurrent", False):
            return 1, name, kind
        for kinds, rank in ranked:
            if isinstance(leaf, kinds):
                return rank, name, kind
        if not isinstance(leaf, (*elementwise, _NeuronModule)):
            return None
    return None


def _batched(sample: Tensor, leaves: list[tuple[str, nn.Module]], lead: int) -> Tensor:
    """``sample`` with its batch dimension (of size 1 where it had none)."""
    found = _sample_rank(leaves)
    form = "(T, B, *)" if lead == 2 else "(B, *)"
    unbatched_form = "(T, *)" if lead == 2 else "(*)"
    if found is None:
        if sample.dim() < lead:
            raise ValueError(
                f"to_nir: sample_data has shape {tuple(sample.shape)}, but this model needs "
                f"{form} (or one unbatched sample {unbatched_form} with at least one "
                "dimension for the neurons)"
            )
        unbatched = sample.dim() == lead
    else:
        rank, name, kind = found
        if sample.dim() not in (rank + lead - 1, rank + lead):
            per_sample = [f"d{k}" for k in range(rank)]
            batched = ", ".join(["T", "B"][2 - lead :] + per_sample)
            single = ", ".join(["T"][: lead - 1] + per_sample)
            raise ValueError(
                f"to_nir: sample_data has shape {tuple(sample.shape)}, but module {name!r} "
                f"({kind}) takes {rank}-D samples, so the model needs ({batched}), or "
                f"({single}) for one unbatched sample"
                + ("; flatten first to export a Linear over more dimensions" if rank == 1 else "")
            )
        unbatched = sample.dim() == rank + lead - 1
    return sample.unsqueeze(lead - 1) if unbatched else sample


def _first_tensor(value: Any) -> Tensor | None:
    while isinstance(value, (tuple, list)) and value:
        value = value[0]
    return value if isinstance(value, Tensor) else None


def _record_shapes(
    module: nn.Module, sample: Tensor, leaves: list[nn.Module]
) -> dict[int, tuple[tuple[int, ...], tuple[int, ...]]]:
    """Run ``sample`` through ``module``; the first input and output shape of every leaf."""
    records: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {}

    def hook(leaf: nn.Module, args: tuple, output: Any) -> None:
        x, y = _first_tensor(args), _first_tensor(output)
        if id(leaf) not in records and x is not None and y is not None:
            records[id(leaf)] = (tuple(x.shape), tuple(y.shape))

    handles = [leaf.register_forward_hook(hook) for leaf in leaves]
    try:
        with torch.no_grad():
            module(sample)
    except (RuntimeError, ValueError, TypeError) as error:
        raise ValueError(
            f"to_nir: running sample_data of shape {tuple(sample.shape)} through the model "
            f"failed ({type(error).__name__}: {error}); pass an input the model accepts"
        ) from error
    finally:
        for handle in handles:
            handle.remove()
    return records


# ----------------------------------------------------------------------------- leaves
def _array(t: Tensor) -> np.ndarray:
    return t.detach().to("cpu").numpy().copy()


def _check_module_dt(name: str, module: nn.Module, dt: float) -> None:
    module_dt = getattr(module, "dt", dt)
    if not math.isclose(float(module_dt), dt, rel_tol=1e-9):
        raise ValueError(
            f"to_nir: module {name!r} ({type(module).__name__}) runs at dt={module_dt}, but "
            f"the graph is exported at dt={dt}; pass to_nir(..., dt={module_dt}) (every "
            "neuron module must use the same dt)"
        )


def _export_leaf(
    name: str,
    leaf: nn.Module,
    in_shape: tuple[int, ...],
    out_shape: tuple[int, ...],
    lead: int,
    dt: float,
    records: dict | None = None,
) -> tuple[dict[str, Any], list[tuple[str, str]], str, str]:
    """``(nodes, internal edges, entry node, exit node)`` for one module."""
    from ..module.leaky_integrator import LILinearCell
    from ..module.snn import _NeuronModule
    from .import_nir import CubaLIF, NIRGraphModule

    if isinstance(leaf, NIRGraphModule):
        return {name: _graph_module(leaf, records or {}, dt)}, [], name, name

    if isinstance(leaf, mapping.ScaledInput):
        node = _neuron_node(name, leaf.module, in_shape, dt, _array(leaf.scale.double()))
        return {name: node}, [], name, name
    if isinstance(leaf, _NeuronModule):
        if getattr(leaf, "_recurrent", False):
            return _recurrent_nodes(name, leaf, dt)
        return {name: _neuron_node(name, leaf, in_shape, dt, None)}, [], name, name
    if isinstance(leaf, LILinearCell):
        _check_module_dt(name, leaf, dt)
        spec_node = mapping.NEURONS["li"].export(leaf.p, dt, (leaf.hidden_size,), None)
        nodes = {
            f"{name}.w_in": nir.Linear(weight=_array(leaf.input_weights)),
            f"{name}.li": spec_node,
        }
        return nodes, [(f"{name}.w_in", f"{name}.li")], f"{name}.w_in", f"{name}.li"
    if isinstance(leaf, CubaLIF):
        return {name: _cuba_lif_node(name, leaf, in_shape, dt)}, [], name, name
    from ..module.delay import _DelayModule

    if isinstance(leaf, _DelayModule):
        return _delay_nodes(name, leaf, in_shape, dt)
    node = _stateless_node(name, leaf, in_shape, out_shape, lead, dt)
    return {name: node}, [], name, name


def _graph_module(module: nn.Module, records: dict, dt: float) -> nir.NIRGraph:
    """Write an imported graph (:class:`~norse.torch.utils.import_nir.NIRGraphModule`) back."""
    record = records.get(id(module))
    if record is None:
        raise ValueError(
            "to_nir: an imported graph module was not called when sample_data ran through "
            "the model; to_nir exports models that run their modules in sequence"
        )
    step_dims = len(record[0]) - int(module.time_first)
    in_shape = module.input_shape
    batch = step_dims - len(in_shape) if in_shape is not None else 1
    in_shape = in_shape if in_shape is not None else tuple(record[0][-step_dims + batch :])
    out_shape = tuple(record[1][batch + int(module.time_first) :])
    names = module._export_names
    nodes: dict[str, Any] = {
        names[module._input]: nir.Input(input_type=np.array(in_shape, dtype=np.int64)),
    }
    entry = {module._input: names[module._input], module._output: names[module._output]}
    exit_ = dict(entry)
    edges: list[tuple[str, str]] = []
    for node in module._order:
        child = getattr(module, module._names[node])
        shapes = records.get(id(child))
        if shapes is None:
            raise ValueError(
                f"to_nir: node {node!r} of an imported graph did not run with sample_data; "
                "run more than one step or give the graph's delayed edges a declared shape"
            )
        node_in, node_out = tuple(shapes[0][batch:]), tuple(shapes[1][batch:])
        sub_nodes, sub_edges, entry[node], exit_[node] = _export_leaf(
            names[node], child, node_in, node_out, batch, dt, records
        )
        if node in module._shortened:  # a cycle shortened this delay by one step
            sub_nodes = {k: nir.Delay(delay=v.delay + dt) for k, v in sub_nodes.items()}
        nodes.update(sub_nodes)
        edges.extend(sub_edges)
    nodes[names[module._output]] = nir.Output(output_type=np.array(out_shape, dtype=np.int64))
    edges.extend((exit_[src], entry[dst]) for src, dst in module._edges)
    return nir.NIRGraph(nodes=nodes, edges=edges)


def _delay_nodes(
    name: str, leaf: nn.Module, in_shape: tuple[int, ...], dt: float
) -> tuple[dict[str, Any], list[tuple[str, str]], str, str]:
    """Delay modules (:mod:`norse.torch.module.delay`) at their rounded delays
    (``rounded_delays()``: clamped, halves to even) times ``dt``. An axonal delay is one
    ``Delay`` node; a synaptic delay is ``Linear`` (fan-out, one copy of the input per
    synapse) -> ``Delay`` (one per synapse) -> ``Affine`` (each output sums its synapses)."""
    from ..module.delay import AxonalDelay

    steps = _array(leaf.rounded_delays()).astype(np.float64)
    if isinstance(leaf, AxonalDelay):
        node = nir.Delay(delay=np.broadcast_to(steps, in_shape).copy() * dt)
        return {name: node}, [], name, name
    n_out, n_in = steps.shape
    weight = _array(leaf.weight)
    fan_out = np.tile(np.eye(n_in, dtype=weight.dtype), (n_out, 1))  # row o*I + i <- x_i
    synapses = np.zeros((n_out, n_out * n_in), dtype=weight.dtype)
    for o in range(n_out):
        synapses[o, o * n_in : (o + 1) * n_in] = weight[o]
    bias = _array(leaf.bias) if leaf.bias is not None else np.zeros(n_out, dtype=weight.dtype)
    names = (f"{name}.fan_out", f"{name}.delay", f"{name}.weight")
    nodes = {
        names[0]: nir.Linear(weight=fan_out),
        names[1]: nir.Delay(delay=steps.reshape(-1) * dt),
        names[2]: nir.Affine(weight=synapses, bias=bias),
    }
    return nodes, [(names[0], names[1]), (names[1], names[2])], names[0], names[2]


def _neuron_node(
    name: str, leaf: nn.Module, shape: tuple[int, ...], dt: float, input_scale: Any
) -> Any:
    spec = getattr(type(leaf), "spec", None)
    model = mapping.neuron_mapping(spec) if spec is not None else None
    if model is None:
        what = f"model {spec.name!r}" if spec is not None else "a custom activation"
        supported = ", ".join(sorted(mapping.NEURONS))
        raise TypeError(
            f"to_nir: module {name!r} ({type(leaf).__name__}, {what}) has no NIR node; the "
            f"neuron models with a NIR mapping are: {supported}"
        )
    _check_module_dt(name, leaf, dt)
    return model.export(leaf.p, dt, shape, input_scale)


def _recurrent_nodes(
    name: str, leaf: nn.Module, dt: float
) -> tuple[dict[str, Any], list[tuple[str, str]], str, str]:
    hidden = int(leaf.hidden_size)
    spec = type(leaf).spec
    neuron = f"{name}.{spec.name if spec is not None else 'neuron'}"
    w_in, w_rec = f"{name}.w_in", f"{name}.w_rec"
    nodes = {
        w_in: nir.Linear(weight=_array(leaf.input_weights)),
        neuron: _neuron_node(name, leaf, (hidden,), dt, None),
        w_rec: nir.Linear(weight=_array(leaf.recurrent_weights)),
    }
    edges = [(w_in, neuron), (neuron, w_rec), (w_rec, neuron)]
    return nodes, edges, w_in, neuron


def _cuba_lif_node(name: str, leaf: nn.Module, shape: tuple[int, ...], dt: float) -> Any:
    """1.1.0's ``CubaLIF`` import module: a box synapse feeding a LIF box neuron."""
    from ..functional.reset import reset_value

    syn, lif = leaf.synapse, leaf.lif
    for part in (syn, lif):
        _check_module_dt(name, part, dt)
    if not bool(torch.all(torch.as_tensor(syn.p.v_leak) == 0)):
        raise ValueError(
            f"to_nir: module {name!r} (CubaLIF) has a synapse with v_leak != 0, which a NIR "
            "CubaLIF node cannot express; set the synapse's v_leak to 0"
        )
    if lif.p.reset_method is not reset_value:
        raise ValueError(
            f"to_nir: module {name!r} (CubaLIF) resets with "
            f"{getattr(lif.p.reset_method, '__name__', lif.p.reset_method)}; NIR CubaLIF nodes "
            "reset to v_reset"
        )
    who = f"to_nir ({name})"
    p = lif.p
    return nir.CubaLIF(
        tau_syn=1.0 / mapping._per_neuron(syn.p.tau_mem_inv, shape, "synapse tau_mem_inv", who),
        tau_mem=1.0 / mapping._per_neuron(p.tau_mem_inv, shape, "tau_mem_inv", who),
        r=mapping._per_neuron(leaf.r, shape, "r", who),
        v_leak=mapping._per_neuron(p.v_leak, shape, "v_leak", who),
        v_threshold=mapping._per_neuron(p.v_th, shape, "v_th", who),
        v_reset=mapping._per_neuron(p.v_reset, shape, "v_reset", who),
        w_in=mapping._per_neuron(leaf.w_in, shape, "w_in", who),
        metadata=mapping._metadata(p),
    )


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    return tuple(int(v) for v in value)  # type: ignore[return-value]


def _conv_padding(name: str, conv: nn.Module, ndim: int) -> tuple[int, ...]:
    if conv.padding_mode != "zeros":
        raise ValueError(
            f"to_nir: module {name!r} ({type(conv).__name__}) uses "
            f"padding_mode={conv.padding_mode!r}; NIR convolutions pad with zeros"
        )
    padding = conv.padding
    if padding == "valid":
        return (0,) * ndim
    if padding == "same":
        kernel = conv.kernel_size[:ndim]
        dilation = conv.dilation[:ndim]
        total = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
        if any(t % 2 for t in total):
            raise ValueError(
                f"to_nir: module {name!r} uses padding='same' with an even kernel, which pads "
                "unevenly; NIR convolutions pad both sides equally"
            )
        return tuple(t // 2 for t in total)
    return tuple(int(p) for p in padding[:ndim])


def _stateless_node(
    name: str,
    leaf: nn.Module,
    in_shape: tuple[int, ...],
    out_shape: tuple[int, ...],
    lead: int,
    dt: float,
) -> Any:
    try:
        from ..module.conv import LConv2d
    except ImportError:  # pragma: no cover - the module exists in every release
        LConv2d = ()  # noqa: N806

    kind = type(leaf).__name__
    if isinstance(leaf, nn.Linear):
        if len(in_shape) != 1:
            raise ValueError(
                f"to_nir: module {name!r} (Linear) sees per-sample inputs of shape {in_shape}; "
                "NIR Affine/Linear nodes take 1-D inputs. Flatten first, or give sample_data "
                "as (B, features) for step modules and (T, B, features) for sequence layers"
            )
        weight = _array(leaf.weight)
        bias = (
            _array(leaf.bias)
            if leaf.bias is not None
            else np.zeros(weight.shape[0], dtype=weight.dtype)
        )
        return nir.Affine(weight=weight, bias=bias)
    if LConv2d and isinstance(leaf, LConv2d):
        weight = _array(leaf.weight[..., 0])
        return nir.Conv2d(
            input_shape=in_shape[1:],
            weight=weight,
            stride=_pair(leaf.stride[:2]),
            padding=_conv_padding(name, leaf, 2),
            dilation=_pair(leaf.dilation[:2]),
            groups=int(leaf.groups),
            bias=np.zeros(weight.shape[0], dtype=weight.dtype),
        )
    if isinstance(leaf, (nn.Conv1d, nn.Conv2d)):
        ndim = 1 if isinstance(leaf, nn.Conv1d) else 2
        weight = _array(leaf.weight)
        bias = (
            _array(leaf.bias)
            if leaf.bias is not None
            else np.zeros(weight.shape[0], dtype=weight.dtype)
        )
        if len(in_shape) != ndim + 1:
            raise ValueError(
                f"to_nir: module {name!r} ({kind}) sees per-sample inputs of shape {in_shape}, "
                f"expected (channels, {'length' if ndim == 1 else 'height, width'}); check the "
                "batch (and time) dimensions of sample_data"
            )
        node_type = nir.Conv1d if ndim == 1 else nir.Conv2d
        return node_type(
            input_shape=in_shape[1] if ndim == 1 else in_shape[1:],
            weight=weight,
            stride=int(leaf.stride[0]) if ndim == 1 else _pair(leaf.stride),
            padding=(
                _conv_padding(name, leaf, 1)[0] if ndim == 1 else _conv_padding(name, leaf, 2)
            ),
            dilation=int(leaf.dilation[0]) if ndim == 1 else _pair(leaf.dilation),
            groups=int(leaf.groups),
            bias=bias,
        )
    if isinstance(leaf, mapping.SumPool2d) or isinstance(leaf, nn.LPPool2d):
        if float(leaf.norm_type) != 1.0 or leaf.ceil_mode:
            raise ValueError(
                f"to_nir: module {name!r} ({kind}) with norm_type={leaf.norm_type}, "
                f"ceil_mode={leaf.ceil_mode} is not a sum pooling; NIR has SumPool2d "
                "(norm_type=1, ceil_mode=False)"
            )
        kernel = _pair(leaf.kernel_size)
        stride = _pair(leaf.stride) if leaf.stride is not None else kernel
        padding = _pair(getattr(leaf, "padding", 0))
        node = nir.SumPool2d(
            kernel_size=np.array(kernel), stride=np.array(stride), padding=np.array(padding)
        )
        return _typed(node, in_shape, out_shape)
    if isinstance(leaf, nn.AvgPool2d):
        padding = _pair(leaf.padding)
        if (
            leaf.ceil_mode
            or leaf.divisor_override is not None
            or (not leaf.count_include_pad and any(padding))
        ):
            raise ValueError(
                f"to_nir: module {name!r} (AvgPool2d) uses ceil_mode, divisor_override or "
                "count_include_pad=False with padding; NIR AvgPool2d averages over the whole "
                "zero-padded window"
            )
        kernel = _pair(leaf.kernel_size)
        stride = _pair(leaf.stride) if leaf.stride is not None else kernel
        node = nir.AvgPool2d(
            kernel_size=np.array(kernel), stride=np.array(stride), padding=np.array(padding)
        )
        return _typed(node, in_shape, out_shape)
    if isinstance(leaf, nn.Flatten):
        rank = len(in_shape)
        start, end = leaf.start_dim, leaf.end_dim
        start = start - lead if start >= 0 else start + rank
        end = end - lead if end >= 0 else end + rank
        if not 0 <= start <= end < rank:
            raise ValueError(
                f"to_nir: module {name!r} (Flatten(start_dim={leaf.start_dim}, "
                f"end_dim={leaf.end_dim})) flattens the batch (or time) dimension; NIR Flatten "
                "works within one sample. Use start_dim >= 1 (>= 2 on (T, B, ...) sequences)"
            )
        return nir.Flatten(
            input_type={"input": np.array(in_shape, dtype=np.int64)},
            start_dim=start,
            end_dim=-1 if end == rank - 1 else end,
        )
    if isinstance(leaf, mapping.Scale):
        scale = np.broadcast_to(_array(leaf.scale), in_shape).copy()
        return nir.Scale(scale=scale)
    if isinstance(leaf, mapping.Threshold):
        value = np.broadcast_to(_array(leaf.threshold), in_shape).copy()
        meta = {"norse_method": leaf.method, "norse_alpha": float(leaf.alpha)}
        return nir.Threshold(threshold=value, metadata=meta)
    if isinstance(leaf, mapping.Delay):
        steps = np.broadcast_to(_array(leaf.steps), in_shape).astype(np.float64)
        return nir.Delay(delay=steps * dt)
    raise TypeError(
        f"to_nir: module {name!r} ({kind}) has no NIR node. Supported: Linear, Conv1d, Conv2d, "
        "LConv2d, AvgPool2d, LPPool2d(1)/SumPool2d, Flatten, the LIF/LIFBox/LI/LIBox/IAF cells "
        "and layers (and their recurrent versions), Scale, Threshold, Delay; Identity and "
        "Dropout add no node"
    )


def _typed(node: Any, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> Any:
    """Set the input/output types NIR cannot infer for pooling nodes on its own."""
    node.input_type = {"input": np.array(in_shape, dtype=np.int64)}
    node.output_type = {"output": np.array(out_shape, dtype=np.int64)}
    return node
