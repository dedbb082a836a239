"""NIR code written for Norse 1.1.0 and nirtorch's executor runs unchanged (issue 13).

- ``from_nir`` graphs offer nirtorch ``GraphExecutor``'s ``get_execution_order()``,
  ``execution_order``, ``stateful_modules`` and ``get_input_nodes()``, and their state keeps
  every node's output in ``state.cache`` and every node's state in ``state.state`` under
  nirtorch's keys (the node name with ``.`` replaced by ``_``).
- ``to_nir`` takes unbatched samples (``torch.tensor(d[0])``).
- ``Input`` nodes without ``input_type`` get their shape from the node they feed.
- ``nn.Linear`` exports as ``Affine`` (zero bias when the layer has none), as in 1.1.0.
"""

from __future__ import annotations

import copy
import pickle
import re
import warnings
from pathlib import Path

import nir
import nirtorch
import numpy as np
import pytest
import torch
from torch.utils import _pytree

import norse.torch as norse
from norse.torch.utils.export_nir import to_nir
from norse.torch.utils.import_nir import (
    NIRGraphModule,
    NIRGraphNode,
    NIRGraphState,
    _import_norse_module,
    from_nir,
)

DATA = Path(__file__).parent / "data" / "nir"
IN, N, B, T = 3, 5, 2, 12

FIXTURES = [
    ("lif_norse", 1e-4),
    ("braille_noDelay_bias_zero", 1e-4),
    ("braille_noDelay_noBias_subtract", 1e-4),
    ("cnn_sinabs", 1.0),
    ("two_lif_neurons", 1e-3),
]


def _lif(n: int, threshold: float = 0.5) -> nir.LIF:
    return nir.LIF(
        tau=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.full(n, threshold)
    )


def _untyped(input_type, first: nir.NIRNode, then: nir.NIRNode | None = None) -> nir.NIRGraph:
    """``input -> first [-> then] -> output`` with the given Input type and no Output type."""
    nodes = {"input": nir.Input(input_type=input_type), "first": first}
    edges = [("input", "first")]
    last = "first"
    if then is not None:
        nodes["then"] = then
        edges.append(("first", "then"))
        last = "then"
    nodes["output"] = nir.Output(output_type=None)
    edges.append((last, "output"))
    return nir.NIRGraph(nodes, edges, type_check=False)


def _nirtorch_executor(graph: nir.NIRGraph, dt: float) -> torch.nn.Module:
    """nirtorch 2.x's GraphExecutor over the same node modules (what 1.1.0 returned)."""

    def node_map(node):
        if isinstance(node, (nir.Input, nir.Output, nir.NIRGraph)):
            return None  # nirtorch maps Input/Output to nn.Identity itself
        return _import_norse_module(node, ignore_warnings=True, dt=dt)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return nirtorch.load(graph, node_map)


# ----------------------------------------------------------------------------- executor API
@pytest.mark.parametrize(("name", "dt"), FIXTURES, ids=[f[0] for f in FIXTURES])
def test_keys_and_execution_order_match_nirtorch_executor(name, dt):
    graph = nir.read(DATA / f"{name}.nir")
    ours = from_nir(graph, dt=dt, ignore_warnings=True)
    theirs = _nirtorch_executor(graph, dt)
    # Same node names (dots become underscores), same stateful nodes.
    order = ours.get_execution_order()
    assert {node.name for node in order} == {node.name for node in theirs.get_execution_order()}
    assert ours.stateful_modules == theirs.stateful_modules
    assert order == ours.execution_order and order is not ours.execution_order
    (their_input,) = theirs.get_input_nodes()
    assert [node.name for node in ours.get_input_nodes()] == [order[0].name]
    assert order[0].name == their_input.name
    # Input first, Output last, and every node before the nodes it feeds without delay.
    assert isinstance(order[0].elem, torch.nn.Identity)
    assert isinstance(order[-1].elem, torch.nn.Identity) and not order[-1].outgoing_nodes
    x = (torch.rand(B, *ours.input_shape) < 0.5).float()
    with torch.no_grad():
        _, state = ours(x)
        _, their_state = theirs(x)
    # The state has nirtorch's layout: every node's output in cache, stateful nodes in state.
    assert set(state.cache) == set(their_state.cache) == {node.name for node in order}
    assert set(state.state) == set(their_state.state) == ours.stateful_modules


def test_execution_order_of_a_recurrent_graph():
    model = from_nir(DATA / "braille_noDelay_bias_zero.nir", dt=1e-4)
    order = model.get_execution_order()
    names = [node.name for node in order]
    # lif1.w_rec computes on last step's spikes, so it runs before lif1.lif in each step.
    assert names == ["input", "fc1", "lif1_w_rec", "lif1_lif", "fc2", "lif2", "output"]
    nodes = {node.name: node for node in order}
    assert nodes["lif1_lif"].elem is model.lif1_lif and nodes["fc2"].elem is model.fc2
    assert nodes["lif1_lif"].nir_name == "lif1.lif"
    assert {n.name for n in nodes["lif1_lif"].outgoing_nodes} == {"lif1_w_rec", "fc2"}
    assert {n.name for n in nodes["lif1_w_rec"].outgoing_nodes} == {"lif1_lif"}
    assert all(isinstance(node, NIRGraphNode) for node in order)
    assert repr(nodes["fc1"]) == "NIRGraphNode('fc1', Linear)"
    # The records are not children: the module's children are the graph's nodes only.
    assert [name for name, _ in model.named_children()] == [
        "fc1",
        "lif1_w_rec",
        "lif1_lif",
        "fc2",
        "lif2",
    ]


def test_cache_holds_every_node_output_of_the_step():
    model = from_nir(DATA / "braille_noDelay_bias_zero.nir", dt=1e-4).double()
    x = (torch.rand(30, B, 12, dtype=torch.float64) < 0.6).double() * 2.0
    state, z_prev, spikes = None, torch.zeros(B, 38, dtype=torch.float64), 0.0
    with torch.no_grad():
        for x_t in x:
            out, state = model(x_t, state)
            cache = state.cache
            assert cache["input"] is x_t and cache["output"] is out
            torch.testing.assert_close(cache["fc1"], model.fc1(x_t))
            # The recurrent edge carries last step's spikes of lif1.lif.
            torch.testing.assert_close(cache["lif1_w_rec"], model.lif1_w_rec(z_prev))
            torch.testing.assert_close(cache["fc2"], model.fc2(cache["lif1_lif"]))
            torch.testing.assert_close(cache["lif2"], out)
            assert set(cache["lif1_lif"].unique().tolist()) <= {0.0, 1.0}
            z_prev = cache["lif1_lif"]
            spikes += float(z_prev.sum())
    assert spikes > 0
    assert state.state["lif1_lif"].v.shape == (B, 38)  # neuron states keep their fields


def test_state_answers_to_node_keys_of_folded_recurrent_cells():
    model = norse.SequentialState(torch.nn.Linear(IN, N), norse.LIFRecurrentCell(N, 4))
    imported = from_nir(to_nir(model, torch.zeros(B, IN)))
    cell = getattr(imported, "1")
    assert isinstance(cell, norse.LIFRecurrentCell)
    order = imported.get_execution_order()
    assert [node.name for node in order] == ["input", "0", "1_lif", "output"]
    assert order[2].elem is cell and order[2].nir_name == "1.lif"
    assert imported.stateful_modules == {"1_lif"}

    x = torch.rand(T, B, IN) * 3
    state, spikes = None, 0.0
    for x_t in x:
        out, state = imported(x_t, state)
        spikes += float(out.detach().sum())
    assert spikes > 0
    assert list(state.state) == ["1"]  # the child name, as before
    assert state.state["1_lif"] is state.state["1"]  # and nirtorch's key for the neuron
    assert "1_lif" in state.state and state.state.get("1_lif") is state.state["1"]
    assert "missing" not in state.state and state.state.get("missing") is None
    with pytest.raises(KeyError):
        state.state["missing"]
    torch.testing.assert_close(state.cache["1_lif"], out)

    # A state written with nirtorch's keys is read under the child name.
    last = state.state["1"]
    with torch.no_grad():
        _, by_key = imported(x[0], NIRGraphState({"1_lif": last}, {}))
        _, by_child = imported(x[0], NIRGraphState({"1": last}, {}))
        _, at_rest = imported(x[0])
    assert list(by_key.state) == ["1"]
    torch.testing.assert_close(by_key.state["1"].v, by_child.state["1"].v)
    assert not torch.equal(by_key.state["1"].v, at_rest.state["1"].v)

    # Writing through the node key replaces the child's state.
    rest = norse.LIFState(*(torch.zeros_like(t) for t in state.state["1"]))
    state.state["1_lif"] = rest
    assert list(state.state) == ["1"] and state.state["1"] is rest


def test_state_is_a_pytree_and_pickles():
    model = from_nir(to_nir(norse.LIFRecurrentCell(IN, N), torch.zeros(B, IN), model_name="rec"))
    x = torch.rand(6, B, IN) * 3
    state = None
    with torch.no_grad():  # deepcopy and pickle take graph leaves only
        for x_t in x[:3]:
            _, state = model(x_t, state)
    # Detaching through tree_map (truncated BPTT) keeps the layout and the aliases.
    detached = _pytree.tree_map(lambda t: t.detach() if isinstance(t, torch.Tensor) else t, state)
    assert isinstance(detached, NIRGraphState)
    assert detached.state["rec_lif"] is detached.state["rec"]
    leaves = [leaf for leaf in _pytree.tree_leaves(state) if isinstance(leaf, torch.Tensor)]
    assert len(leaves) == 3 + len(state.cache)  # z, v, i and every cached output
    for copied in (copy.deepcopy(state), pickle.loads(pickle.dumps(state))):
        assert copied.state["rec_lif"].v.equal(state.state["rec"].v)
    a, b = detached, copy.deepcopy(state)
    for x_t in x[3:]:
        out_a, a = model(x_t, a)
        out_b, b = model(x_t, b)
        torch.testing.assert_close(out_a, out_b)


def test_node_names_that_clash_get_prefixed_children_but_keep_their_keys():
    nodes = {
        "input": nir.Input(input_type=np.array([2])),
        "forward": _lif(2),
        "execution_order": nir.Scale(scale=np.full(2, 2.0)),
        "a.b": nir.Scale(scale=np.ones(2)),
        "a_b": nir.Scale(scale=np.ones(2)),
        "output": nir.Output(output_type=np.array([2])),
    }
    edges = [
        ("input", "forward"),
        ("forward", "execution_order"),
        ("execution_order", "a.b"),
        ("a.b", "a_b"),
        ("a_b", "output"),
    ]
    model = from_nir(nir.NIRGraph(nodes, edges))
    assert isinstance(model.node_forward, norse.LIFBoxCell)
    assert isinstance(model.execution_order, list)  # the attribute, not the node
    names = [node.name for node in model.get_execution_order()]
    assert names == ["input", "forward", "execution_order", "a_b", "a_b_1", "output"]
    out, state = model(torch.full((2,), 80.0))
    assert list(state.state) == ["node_forward"]
    assert state.state["forward"] is state.state["node_forward"]
    torch.testing.assert_close(state.cache["execution_order"], 2 * state.cache["forward"])
    torch.testing.assert_close(state.cache["a_b_1"], out)


# ----------------------------------------------------------------------------- unbatched export
def test_to_nir_takes_an_unbatched_sample_like_the_paper_script():
    d = np.loadtxt(DATA / "lif_norse.csv", delimiter=",")[:, :1]  # (1000, 1) float64
    model = norse.SequentialState(
        torch.nn.Linear(1, 1), norse.LIFBoxCell(norse.LIFBoxParameters(v_th=torch.tensor(0.1)))
    )
    with torch.no_grad():
        model[0].weight.fill_(2.0)
    sample = torch.tensor(d[0])
    assert sample.shape == (1,) and sample.dtype == torch.float64
    graph = to_nir(model, sample)
    assert tuple(graph.nodes["input"].input_type["input"]) == (1,)
    assert graph.nodes["0"].weight.shape == (1, 1) and graph.nodes["1"].tau.shape == (1,)
    assert tuple(graph.nodes["output"].output_type["output"]) == (1,)
    # The same graph as from a batched sample.
    batched = to_nir(model, torch.zeros(B, 1))
    assert sorted(graph.edges) == sorted(batched.edges)
    for key, node in graph.nodes.items():
        for field, value in node.to_dict().items():
            np.testing.assert_array_equal(value, batched.nodes[key].to_dict()[field])

    x = torch.tensor(d[:200], dtype=torch.float32) * 3
    imported = from_nir(graph)
    expected, out, s1, s2 = [], [], None, None
    with torch.no_grad():
        for x_t in x:  # unbatched steps, (1,)
            y, s1 = model(x_t, s1)
            z, s2 = imported(x_t, s2)
            expected.append(y)
            out.append(z)
    assert torch.stack(expected).sum() > 0
    torch.testing.assert_close(torch.stack(out), torch.stack(expected))


@pytest.mark.parametrize(
    ("model", "sample", "batched", "input_shape"),
    [
        (
            lambda: norse.SequentialState(torch.nn.Linear(IN, N), norse.LIFBoxCell()),
            torch.zeros(IN),
            torch.zeros(B, IN),
            (IN,),
        ),
        (lambda: norse.LIFBoxCell(), torch.zeros(N), torch.zeros(B, N), (N,)),
        (lambda: norse.LIFCell(), torch.zeros(N), torch.zeros(B, N), (N,)),
        (
            lambda: norse.SequentialState(
                norse.Lift(torch.nn.Linear(IN, N)), norse.LIF(backend="reference")
            ),
            torch.zeros(T, IN),
            torch.zeros(T, B, IN),
            (IN,),
        ),
        (lambda: norse.LI(backend="reference"), torch.zeros(T, N), torch.zeros(T, B, N), (N,)),
        (
            lambda: norse.SequentialState(
                torch.nn.Conv2d(2, 3, 3),
                norse.LIFCell(),
                torch.nn.Flatten(),
                torch.nn.Linear(3 * 4 * 4, N),
            ),
            torch.zeros(2, 6, 6),
            torch.zeros(B, 2, 6, 6),
            (2, 6, 6),
        ),
        (
            lambda: norse.SequentialState(torch.nn.Conv1d(2, 3, 3), norse.IAFCell()),
            torch.zeros(2, 7, dtype=torch.int64),
            torch.zeros(B, 2, 7),
            (2, 7),
        ),
    ],
    ids=["linear-lifbox", "lifbox", "lif", "lift-lif", "li-layer", "conv-flatten", "conv1d"],
)
def test_unbatched_sample_gives_the_batched_graph(model, sample, batched, input_shape):
    model = model()
    graph, expected = to_nir(model, sample), to_nir(model, batched)
    assert tuple(graph.nodes["input"].input_type["input"]) == input_shape
    assert set(graph.nodes) == set(expected.nodes)
    assert sorted(graph.edges) == sorted(expected.edges)
    for key, node in graph.nodes.items():
        assert type(node) is type(expected.nodes[key])
        for field, value in node.to_dict().items():
            np.testing.assert_array_equal(value, expected.nodes[key].to_dict()[field])


def test_unbatched_sample_errors_name_the_expected_shapes():
    with pytest.raises(
        ValueError,
        match=re.escape("module '0' (Linear) takes 1-D samples, so the model needs (B, d0)"),
    ):
        to_nir(norse.SequentialState(torch.nn.Linear(IN, N)), torch.zeros(B, 2, IN))
    with pytest.raises(ValueError, match=re.escape("needs (T, B, d0, d1, d2), or (T, d0, d1, d2)")):
        to_nir(norse.Lift(torch.nn.Conv2d(1, 2, 3)), torch.zeros(5, 5))
    with pytest.raises(ValueError, match=re.escape("needs (T, B, *)")):
        to_nir(norse.LIF(backend="reference"), torch.zeros(N))
    with pytest.raises(ValueError, match=re.escape("needs (B, *)")):
        to_nir(norse.LIFBoxCell(), torch.tensor(1.0))


# ----------------------------------------------------------------------------- untyped Input
@pytest.mark.parametrize("input_type", [None, np.array([]), []], ids=["none", "empty", "list"])
def test_untyped_input_takes_its_shape_from_an_affine(input_type):
    affine = nir.Affine(weight=np.full((2, IN), 0.5), bias=np.zeros(2))
    model = from_nir(_untyped(input_type, affine, _lif(2)), dt=1e-3)
    assert model.input_shape == (IN,)
    typed = from_nir(nir.NIRGraph.from_list(affine, _lif(2)), dt=1e-3)
    x = torch.rand(T, B, IN) * 4
    state, typed_state, spikes = None, None, 0.0
    for x_t in x:
        out, state = model(x_t, state)
        expected, typed_state = typed(x_t, typed_state)
        torch.testing.assert_close(out, expected)
        spikes += float(out.detach().sum())
    assert spikes > 0
    assert model(torch.ones(IN))[0].shape == (2,)  # unbatched steps work too
    with pytest.raises(ValueError, match=re.escape("input must be (*, 3)")):
        model(torch.ones(B, IN + 1))


def test_empty_input_type_dict_is_inferred():
    graph = _untyped(np.array([4]), _lif(4))
    graph.nodes["input"].input_type = {}
    model = from_nir(graph, time_first=True)
    assert model.input_shape == (4,)
    out, _ = model(torch.full((T, B, 4), 2.0))
    assert out.shape == (T, B, 4) and out.sum() > 0


@pytest.mark.parametrize(
    ("first", "shape"),
    [
        (nir.Linear(weight=np.ones((2, 7))), (7,)),
        (_lif(6), (6,)),
        (nir.Scale(scale=np.ones(3)), (3,)),
        (
            nir.Conv2d(
                input_shape=(5, 5),
                weight=np.ones((4, 1, 3, 3)),
                stride=1,
                padding=0,
                dilation=1,
                groups=2,
                bias=np.zeros(4),
            ),
            (2, 5, 5),
        ),
        (nir.NIRGraph.from_list(nir.Linear(weight=np.ones((2, 9)))), (9,)),
    ],
    ids=["linear", "lif", "scale", "grouped-conv2d", "subgraph"],
)
def test_untyped_input_shape_from_the_first_node(first, shape):
    model = from_nir(_untyped(None, first))
    assert model.input_shape == shape
    out, _ = model(torch.ones(B, *shape))
    assert out.shape[0] == B


def test_untyped_input_exports_back_with_the_inferred_shape():
    graph = _untyped(None, nir.Affine(weight=np.ones((2, IN)), bias=np.zeros(2)), _lif(2))
    model = from_nir(graph)
    exported = to_nir(model, torch.zeros(B, IN))
    assert tuple(exported.nodes["input"].input_type["input"]) == (IN,)


def test_untyped_input_that_cannot_be_inferred_says_how_to_set_it():
    pool = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.zeros(2))
    graph = _untyped(None, pool)
    fix = "graph.nodes['input'].input_type = {'input': np.array([n])}"
    with pytest.raises(ValueError, match=re.escape(fix)) as info:
        from_nir(graph)
    assert "'first' (SumPool2d)" in str(info.value) and "from_nir" in str(info.value)
    # Doing what the message says works.
    graph.nodes["input"].input_type = {"input": np.array([1, 4, 4])}
    model = from_nir(graph)
    out, _ = model(torch.ones(B, 1, 4, 4))
    torch.testing.assert_close(out, torch.full((B, 1, 2, 2), 4.0))


def test_untyped_input_with_disagreeing_targets_is_an_error():
    nodes = {
        "input": nir.Input(input_type=None),
        "a": nir.Linear(weight=np.ones((2, 3))),
        "b": nir.Linear(weight=np.ones((2, 4))),
        "output": nir.Output(output_type=None),
    }
    edges = [("input", "a"), ("input", "b"), ("a", "output"), ("b", "output")]
    with pytest.raises(ValueError, match=r"disagree on its shape \('a' expects \(3,\)"):
        from_nir(nir.NIRGraph(nodes, edges, type_check=False))


def test_untyped_input_of_a_subgraph_is_inferred_or_named():
    inner = _untyped(None, nir.Linear(weight=np.ones((2, 3))))
    outer = nir.NIRGraph(
        {"input": nir.Input(input_type=np.array([3])), "sub": inner, "output": nir.Output(None)},
        [("input", "sub"), ("sub", "output")],
        type_check=False,
    )
    out, state = from_nir(outer)(torch.ones(B, 3))
    torch.testing.assert_close(out, torch.full((B, 2), 3.0))
    assert isinstance(state.state["sub"], NIRGraphState)

    inner.nodes["first"] = nir.Threshold(threshold=np.array(0.5))  # scalar: no shape
    with pytest.raises(ValueError, match="in subgraph 'sub'.*Input node 'input' has no input_type"):
        from_nir(outer)


# ----------------------------------------------------------------------------- Linear -> Affine
def test_linear_without_bias_round_trips_as_affine(tmp_path):
    model = norse.SequentialState(
        torch.nn.Linear(IN, N, bias=False),
        norse.LIFCell(),
        torch.nn.Linear(N, 2, bias=False),
        norse.LICell(),
    )
    graph = to_nir(model, torch.zeros(B, IN))
    for name, layer in (("0", model[0]), ("2", model[2])):
        node = graph.nodes[name]
        assert type(node) is nir.Affine
        np.testing.assert_array_equal(node.weight, layer.weight.detach().numpy())
        np.testing.assert_array_equal(node.bias, np.zeros(layer.out_features, np.float32))
    nir.write(tmp_path / "linear.nir", graph)
    imported = from_nir(tmp_path / "linear.nir", time_first=True)
    assert isinstance(imported.__getattr__("0"), torch.nn.Linear)
    x = torch.rand(T, B, IN) * 4
    expected, state = [], None
    with torch.no_grad():
        for x_t in x:
            y, state = model(x_t, state)
            expected.append(y)
        out, _ = imported(x)
    torch.testing.assert_close(out, torch.stack(expected))
    # Exporting the import again writes the same Affine nodes.
    again = to_nir(imported, x)
    for name in ("0", "2"):
        assert type(again.nodes[name]) is nir.Affine
        np.testing.assert_array_equal(again.nodes[name].bias, graph.nodes[name].bias)


def test_nir_linear_nodes_still_import():
    weight = np.arange(6.0).reshape(2, 3)
    model = from_nir(nir.NIRGraph.from_list(nir.Linear(weight=weight)))
    layer = model.linear
    assert isinstance(layer, torch.nn.Linear) and layer.bias is None
    x = torch.rand(B, 3)
    out, _ = model(x)
    torch.testing.assert_close(out, x @ torch.from_numpy(weight).float().T)


def test_graph_module_type_is_unchanged():
    model = from_nir(DATA / "lif_norse.nir", dt=1e-4)
    assert isinstance(model, NIRGraphModule)
    _, state = model(torch.zeros(1))
    assert isinstance(state, NIRGraphState) and state.state["1"].v.shape == (1,)
