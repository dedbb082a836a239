"""NIR interchange: the reference fixtures, the unit conventions, and export -> import round trips.

The conventions under test are in ``docs/nir.md`` and ``norse/torch/utils/nir_mapping.py``:
a graph runs in steps of ``dt``, edge values are held during a step, each neuron takes one
explicit Euler step (current first, then the voltage from the updated current), a spike needs
``v > v_threshold`` and resets to ``v_reset``, and a cycle's edge out of its last neuron carries
the previous step's value. ``euler_step`` below writes those rules out directly from the NIR
node fields (in float64 numpy, sharing no code with the library), so the tests compare the
imported modules against the NIR equations themselves.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

import norse.torch as norse
from norse.torch._registry import MODELS, module_classes
from norse.torch.functional.reset import reset_subtract
from norse.torch.utils import nir_mapping
from norse.torch.utils.export_nir import to_nir
from norse.torch.utils.import_nir import CubaLIF, NIRGraphModule, NIRGraphState, from_nir

DATA = Path(__file__).parent / "data" / "nir"
IN, N, HID, B, T = 3, 5, 4, 2, 40
RECURRENT = ("recurrent_cell", "recurrent")
LAYERS = ("layer", "recurrent")


# ----------------------------------------------------------------------------- reference
def euler_step(node, state: dict, x: np.ndarray, dt: float) -> tuple[np.ndarray, dict]:
    """One step of a NIR neuron node under the documented convention (float64 numpy)."""
    if isinstance(node, (nir.CubaLIF, nir.CubaLI)):
        i = state.get("i", 0.0)
        v = state.get("v", node.v_leak)
        i = i + dt / node.tau_syn * (-i + node.w_in * x)
        v = v + dt / node.tau_mem * (node.v_leak - v + node.r * i)
        if isinstance(node, nir.CubaLI):
            return v, {"i": i, "v": v}
        z = (v > node.v_threshold).astype(np.float64)
        return z, {"i": i, "v": np.where(z > 0, node.v_reset, v)}
    if isinstance(node, (nir.LIF, nir.LI)):
        v = state.get("v", node.v_leak)
        v = v + dt / node.tau * (node.v_leak - v + node.r * x)
        if isinstance(node, nir.LI):
            return v, {"v": v}
        z = (v > node.v_threshold).astype(np.float64)
        return z, {"v": np.where(z > 0, node.v_reset, v)}
    if isinstance(node, nir.IF):
        v = state.get("v", node.v_reset) + dt * node.r * x
        z = (v > node.v_threshold).astype(np.float64)
        return z, {"v": np.where(z > 0, node.v_reset, v)}
    raise AssertionError(type(node))


def linear(node, x: np.ndarray) -> np.ndarray:
    y = x @ np.asarray(node.weight, dtype=np.float64).T
    return y + node.bias if isinstance(node, nir.Affine) else y


def run_import(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """Run an imported graph in float64 over time; returns the stacked outputs."""
    out, _ = model.double()(torch.from_numpy(x))
    return out.detach().numpy()


def per_neuron(rng: np.random.Generator, low: float, high: float, n: int = N) -> np.ndarray:
    return rng.uniform(low, high, n)


# ----------------------------------------------------------------------------- fixtures
def _trace(name: str) -> np.ndarray:
    return np.loadtxt(DATA / f"{name}.csv", delimiter=",")


def test_lif_norse_reproduces_reference_spikes_and_voltage():
    x = torch.from_numpy(_trace("lif_norse")[:, 0]).float().reshape(-1, 1, 1)
    model = from_nir(DATA / "lif_norse.nir", dt=1e-4)  # the dt of the reference traces
    spikes, voltage, state = [], [], None
    with torch.no_grad():
        for x_t in x.unbind(0):
            z, state = model(x_t, state)
            spikes.append(float(z))
            voltage.append(float(state.state["1"].v))
    spikes, voltage = np.array(spikes), np.array(voltage)
    norse_csv, exact_csv = _trace("lif_norse"), _trace("lif_exact")
    assert np.flatnonzero(spikes).tolist() == [460, 510, 710, 760]
    for ref in (norse_csv, exact_csv):
        np.testing.assert_array_equal(spikes, ref[:, 2])
    # Our Euler step at dt = 1e-4 is the one lif_norse.csv was made with (float32 rounding).
    assert np.abs(voltage - norse_csv[:, 1]).max() < 1e-6
    # The exact solution integrates each 1-step input pulse analytically (1 - e^{-dt/tau}
    # instead of dt/tau) and resets mid-step; first-order Euler stays within 1.5e-3 of it
    # until the first spike and within 6.5e-3 (the exact solution's post-reset residue) after.
    first = 460
    assert np.abs(voltage[:first] - exact_csv[:first, 1]).max() < 1.5e-3
    assert np.abs(voltage - exact_csv[:, 1]).max() < 6.5e-3

    # The time-first runner gives the same spikes and final state.
    sequence = from_nir(DATA / "lif_norse.nir", dt=1e-4, time_first=True)
    with torch.no_grad():
        out, last = sequence(x)
    assert out.shape == (1000, 1, 1)
    np.testing.assert_array_equal(out.flatten().numpy(), spikes)
    assert float(last.state["1"].v) == voltage[-1]


def test_cnn_sinabs_imports_and_runs():
    model = from_nir(DATA / "cnn_sinabs.nir", time_first=True, dt=1.0)
    kinds = [type(m).__name__ for m in model.children()]
    assert kinds.count("Conv2d") == 3 and kinds.count("IAFCell") == 5
    assert kinds.count("SumPool2d") == 2 and "Flatten" in kinds
    x = (torch.rand(8, 2, 2, 34, 34) < 0.3).float()
    with torch.no_grad():
        out, _ = model(x)
    assert out.shape == (8, 2, 10)
    assert set(out.unique().tolist()) <= {0.0, 1.0} and out.sum() > 0
    # Flatten keeps the batch dimension: one sample alone gives the same as in the batch.
    with torch.no_grad():
        alone, _ = model(x[:, 1:])
    torch.testing.assert_close(alone, out[:, 1:])


def test_cnn_sinabs_unbatched_per_step():
    model = from_nir(DATA / "cnn_sinabs.nir", dt=1.0)
    with torch.no_grad():
        out, _ = model(torch.ones(2, 34, 34))
    assert out.shape == (10,)


def test_if_input_scales_with_dt():
    # NIR IF is dv/dt = r I: a value held for one step adds r * dt * x (1 at dt = 1 step).
    graph = nir.read(DATA / "cnn_sinabs.nir")
    node = graph.nodes["1"]
    model = from_nir(nir.NIRGraph.from_list(node), dt=0.25)
    assert isinstance(model.__getattr__("if"), nir_mapping.ScaledInput)
    z, state = model(torch.full((16, 16, 16), 0.6))
    z, state = model(torch.full((16, 16, 16), 0.6), state)
    torch.testing.assert_close(state.state["if"].v, torch.full((16, 16, 16), 0.3))


@pytest.mark.parametrize("name", ["braille_noDelay_bias_zero", "braille_noDelay_noBias_subtract"])
def test_braille_graphs_match_the_nir_equations(name):
    graph = nir.read(DATA / f"{name}.nir")
    model = from_nir(graph, dt=1e-4, time_first=True)
    rng = np.random.default_rng(1)
    x = (rng.random((60, 3, 12)) < 0.4).astype(np.float64) * 2.0
    out = run_import(model, x)
    assert out.shape == (60, 3, 7)

    # The same network written out by hand: the recurrent Linear sees last step's spikes.
    nodes, dt = graph.nodes, 1e-4
    s1, s2, z1 = {}, {}, np.zeros((3, nodes["lif1.lif"].tau_mem.shape[0]))
    expected = []
    for x_t in x:
        h = linear(nodes["fc1"], x_t) + linear(nodes["lif1.w_rec"], z1)
        z1, s1 = euler_step(nodes["lif1.lif"], s1, h, dt)
        z2, s2 = euler_step(nodes["lif2"], s2, linear(nodes["fc2"], z1), dt)
        expected.append(z2)
    expected = np.stack(expected)
    assert expected.sum() > 0 and np.array_equal(out, expected)


def test_braille_warns_when_dt_exceeds_time_constants():
    with pytest.warns(UserWarning, match="tau_syn"):
        model = from_nir(DATA / "braille_noDelay_bias_zero.nir", time_first=True)
    assert model.dt == 0.001
    out, _ = model(torch.zeros(5, 2, 12))
    assert out.shape == (5, 2, 7)


def test_braille_subtract_reset_uses_cuba_lif_module():
    model = from_nir(
        DATA / "braille_noDelay_noBias_subtract.nir", dt=1e-4, reset_method=reset_subtract
    )
    assert isinstance(model.lif1_lif, CubaLIF) and isinstance(model.lif2, CubaLIF)
    assert model.lif2.lif.p.reset_method is reset_subtract
    out, _ = model(torch.ones(2, 12))
    assert out.shape == (2, 7)


def test_two_lif_neurons_imports_and_leaks_into_spikes():
    model = from_nir(DATA / "two_lif_neurons.nir", dt=1e-3)
    assert [type(m).__name__ for m in model.children()] == [
        "Linear",
        "LIFBoxCell",
        "Linear",
        "LIFBoxCell",
    ]
    # lif1 starts at rest, v_leak = 1.2, above its threshold 1: it fires at once and then
    # whenever 1.2 (1 - 0.9^n) > 1 again (dt / tau = 0.1), i.e. every n = 18 steps.
    state, fired = None, []
    with torch.no_grad():
        for t in range(60):
            _, state = model(torch.zeros(1, 1), state)
            if float(state.state["lif1"].v) == 0.0:
                fired.append(t)
    assert fired == [0, 18, 36, 54]


def test_lif_rockpool_needs_type_check_false():
    with pytest.warns(UserWarning, match="type_check=False"):
        model = from_nir(DATA / "lif_rockpool.nir", dt=1e-4)
    neuron = model.__getattr__("1_LIFNeuronTorch")
    assert isinstance(neuron, nir_mapping.ScaledInput)  # r = 24.02 is kept, not dropped
    assert float(neuron.scale) == pytest.approx(24.0197, rel=1e-4)
    out, _ = model(torch.ones(3, 1))
    assert out.shape == (3, 1)
    quiet = from_nir(DATA / "lif_rockpool.nir", dt=1e-4, ignore_warnings=True)
    assert isinstance(quiet, NIRGraphModule)


# ----------------------------------------------------------------------------- conventions
def _neuron_nodes(rng: np.random.Generator) -> dict[str, nir.NIRNode]:
    return {
        "CubaLIF": nir.CubaLIF(
            tau_syn=per_neuron(rng, 2e-3, 8e-3),
            tau_mem=per_neuron(rng, 5e-3, 2e-2),
            r=per_neuron(rng, 0.5, 2.0),
            v_leak=per_neuron(rng, -0.2, 0.2),
            v_threshold=per_neuron(rng, 0.3, 0.6),
            v_reset=per_neuron(rng, -0.3, 0.0),
            w_in=per_neuron(rng, 0.5, 3.0),
        ),
        "LIF": nir.LIF(
            tau=per_neuron(rng, 5e-3, 2e-2),
            r=per_neuron(rng, 0.5, 2.0),
            v_leak=per_neuron(rng, -0.2, 0.2),
            v_threshold=per_neuron(rng, 0.3, 0.6),
            v_reset=per_neuron(rng, -0.3, 0.0),
        ),
        "CubaLI": nir.CubaLI(
            tau_syn=per_neuron(rng, 2e-3, 8e-3),
            tau_mem=per_neuron(rng, 5e-3, 2e-2),
            r=per_neuron(rng, 0.5, 2.0),
            v_leak=per_neuron(rng, -0.2, 0.2),
            w_in=per_neuron(rng, 0.5, 3.0),
        ),
        "LI": nir.LI(
            tau=per_neuron(rng, 5e-3, 2e-2),
            r=per_neuron(rng, 0.5, 2.0),
            v_leak=per_neuron(rng, -0.2, 0.2),
        ),
        "IF": nir.IF(
            r=per_neuron(rng, 200.0, 800.0),
            v_threshold=per_neuron(rng, 0.3, 0.6),
            v_reset=np.zeros(N),
        ),
    }


@pytest.mark.parametrize("kind", ["CubaLIF", "LIF", "CubaLI", "LI", "IF"])
def test_imported_neurons_follow_the_nir_equations(kind):
    rng = np.random.default_rng(3)
    node = _neuron_nodes(rng)[kind]
    dt = 1e-3
    model = from_nir(nir.NIRGraph.from_list(node), dt=dt, time_first=True)
    x = rng.uniform(0.0, 2.0, (T, B, N))
    out = run_import(model, x)
    state, expected = {}, []
    for x_t in x:
        y, state = euler_step(node, state, x_t, dt)
        expected.append(y)
    expected = np.stack(expected)
    if kind in ("CubaLI", "LI"):  # imported parameters are float32: ~1e-7 relative
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    else:
        assert expected.sum() > 0
        np.testing.assert_array_equal(out, expected)


def _exact_cuba(t: float, tau_syn: float, tau_mem: float, r: float, w_in: float) -> float:
    """v(t) of tau_syn I' = -I + w_in, tau_mem v' = -v + r I from rest (input held at 1)."""
    a, b = math.exp(-t / tau_syn), math.exp(-t / tau_mem)
    return r * w_in * (1 - (tau_mem * b - tau_syn * a) / (tau_mem - tau_syn))


@pytest.mark.parametrize("kind", ["LIF", "CubaLIF"])
def test_time_constants_are_seconds_euler_converges_first_order(kind):
    # A unit-bug (tau off by a factor of dt) would make the error stay large as dt shrinks.
    tau_syn, tau_mem, r, w_in, t_end = 4e-3, 1e-2, 2.0, 1.5, 2e-2
    if kind == "LIF":
        node = nir.LIF(
            tau=np.array([tau_mem]),
            r=np.array([r]),
            v_leak=np.zeros(1),
            v_threshold=np.array([1e9]),
        )
        exact = r * (1 - math.exp(-t_end / tau_mem))
    else:
        node = nir.CubaLIF(
            tau_syn=np.array([tau_syn]),
            tau_mem=np.array([tau_mem]),
            r=np.array([r]),
            v_leak=np.zeros(1),
            v_threshold=np.array([1e9]),
            w_in=np.array([w_in]),
        )
        exact = _exact_cuba(t_end, tau_syn, tau_mem, r, w_in)
    errors = []
    for dt in (1e-4, 5e-5, 2.5e-5):
        model = from_nir(nir.NIRGraph.from_list(node), dt=dt).double()
        state = None
        with torch.no_grad():
            for _ in range(round(t_end / dt)):
                _, state = model(torch.ones(1, 1, dtype=torch.float64), state)
        v = next(iter(state.state.values())).v
        errors.append(abs(float(v) - exact))
    assert errors[0] < 0.02 * exact
    for coarse, fine in zip(errors, errors[1:], strict=False):
        assert 1.8 < coarse / fine < 2.2


def test_delay_node_shifts_by_whole_steps():
    graph = nir.NIRGraph.from_list(nir.Delay(delay=np.array([0.0, 2e-3, 3e-3])))
    model = from_nir(graph, dt=1e-3, time_first=True)
    x = torch.arange(1.0, 7.0).reshape(6, 1, 1).expand(6, 1, 3)
    out, _ = model(x)
    assert out[:, 0, 0].tolist() == [1, 2, 3, 4, 5, 6]
    assert out[:, 0, 1].tolist() == [0, 0, 1, 2, 3, 4]
    assert out[:, 0, 2].tolist() == [0, 0, 0, 1, 2, 3]
    with pytest.raises(ValueError, match="multiples of dt"):
        from_nir(graph, dt=0.4e-3)


def test_cycle_through_a_delay_accumulates():
    # y_t = x_t + y_{t-1}: the delay of one step closes the loop, no neuron needed.
    nodes = {
        "input": nir.Input(input_type=np.array([2])),
        "sum": nir.Scale(scale=np.ones(2)),
        "back": nir.Delay(delay=np.full(2, 1e-3)),
        "output": nir.Output(output_type=np.array([2])),
    }
    edges = [("input", "sum"), ("sum", "back"), ("back", "sum"), ("sum", "output")]
    model = from_nir(nir.NIRGraph(nodes, edges), dt=1e-3, time_first=True)
    out, _ = model(torch.ones(5, 1, 2))
    assert out[:, 0, 0].tolist() == [1, 2, 3, 4, 5]


def test_algebraic_loop_is_an_error():
    nodes = {
        "input": nir.Input(input_type=np.array([2])),
        "a": nir.Linear(weight=np.eye(2)),
        "b": nir.Linear(weight=np.eye(2)),
        "output": nir.Output(output_type=np.array([2])),
    }
    edges = [("input", "a"), ("a", "b"), ("b", "a"), ("b", "output")]
    with pytest.raises(ValueError, match="cycle a -> b -> a has no neuron"):
        from_nir(nir.NIRGraph(nodes, edges, type_check=False))


def test_two_neuron_cycle_feeds_back_last_step():
    # lif2 -> lif1 closes the loop, so lif1 sees lif2's spikes one step late.
    lif = dict(tau=np.full(1, 1e-2), r=np.ones(1), v_leak=np.zeros(1), v_threshold=np.full(1, 0.05))
    nodes = {
        "input": nir.Input(input_type=np.array([1])),
        "lif1": nir.LIF(**lif),
        "lif2": nir.LIF(**lif),
        "w": nir.Linear(weight=np.full((1, 1), 100.0)),
        "output": nir.Output(output_type=np.array([1])),
    }
    edges = [("input", "lif1"), ("lif1", "w"), ("w", "lif2"), ("lif2", "lif1"), ("lif2", "output")]
    model = from_nir(nir.NIRGraph(nodes, edges), dt=1e-3).double()
    x = np.zeros((8, 1, 1))
    x[0] = 60.0
    out = run_import(NIRGraphModuleTimeFirst(model), x)
    s1, s2, z2, expected = {}, {}, np.zeros((1, 1)), []
    for x_t in x:
        z1, s1 = euler_step(nodes["lif1"], s1, x_t + z2, 1e-3)
        z2, s2 = euler_step(nodes["lif2"], s2, linear(nodes["w"], z1), 1e-3)
        expected.append(z2)
    assert np.stack(expected).sum() > 0
    np.testing.assert_array_equal(out, np.stack(expected))


class NIRGraphModuleTimeFirst(torch.nn.Module):
    """Runs a per-step graph module over time (what ``time_first=True`` does internally)."""

    def __init__(self, step_module: torch.nn.Module) -> None:
        super().__init__()
        self.step_module = step_module

    def forward(self, x):
        state, outs = None, []
        for x_t in x.unbind(0):
            y, state = self.step_module(x_t, state)
            outs.append(y)
        return torch.stack(outs), state


def test_subgraph_runs_like_the_flat_graph():
    rng = np.random.default_rng(5)
    w = rng.normal(size=(N, IN))
    neuron = _neuron_nodes(rng)["CubaLIF"]
    inner = nir.NIRGraph.from_list(nir.Linear(weight=w), neuron)
    outer = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([IN])),
            "block": inner,
            "output": nir.Output(output_type=np.array([N])),
        },
        edges=[("input", "block"), ("block", "output")],
    )
    flat = nir.NIRGraph.from_list(nir.Linear(weight=w), neuron)
    x = rng.uniform(0, 3, (T, B, IN))
    nested_out = run_import(from_nir(outer, time_first=True), x)
    flat_out = run_import(from_nir(flat, time_first=True), x)
    assert flat_out.sum() > 0
    np.testing.assert_array_equal(nested_out, flat_out)


def test_state_continues_across_calls():
    graph = nir.NIRGraph.from_list(*_neuron_nodes(np.random.default_rng(0)).values())
    model = from_nir(graph, time_first=True)
    x = torch.rand(T, B, N) * 4
    whole, _ = model(x)
    first, state = model(x[: T // 2])
    second, _ = model(x[T // 2 :], state)
    torch.testing.assert_close(torch.cat([first, second]), whole)


def test_cuba_lif_module_equals_lif_cell():
    # 1.1.0's synapse + LIF box formulation is the same step as LIFCell with scaled input.
    node = _neuron_nodes(np.random.default_rng(7))["CubaLIF"]
    graph = nir.NIRGraph.from_list(node)
    cell = from_nir(graph, dt=1e-3, time_first=True)
    p = nir_mapping.NEURONS["lif"].load(node, 1e-3, norse.reset_value, "test")[0]
    composed = CubaLIF(
        torch.from_numpy(node.w_in),
        norse.LIBoxCell(norse.LIBoxParameters(p.tau_syn_inv, torch.zeros(N)), dt=1e-3),
        torch.from_numpy(node.r),
        norse.LIFBoxCell(
            norse.LIFBoxParameters(p.tau_mem_inv, p.v_leak, p.v_th, p.v_reset), dt=1e-3
        ),
    )
    x = np.random.default_rng(8).uniform(0, 2, (T, B, N))
    expected = run_import(cell, x)
    out = run_import(norse.Lift(composed), x)
    assert expected.sum() > 0
    np.testing.assert_array_equal(out, expected)


# ----------------------------------------------------------------------------- export
def test_export_units_and_arrays():
    p = norse.LIFParameters(
        tau_syn_inv=torch.tensor(250.0),
        tau_mem_inv=torch.tensor(50.0),
        v_leak=torch.tensor(-0.1),
        v_th=torch.tensor(0.8),
        v_reset=torch.tensor(-0.3),
    )
    model = norse.SequentialState(
        torch.nn.Conv2d(2, 3, 3, padding=1), norse.LIFCell(p, dt=1e-4), norse.IAFCell(dt=1e-4)
    )
    graph = to_nir(model, torch.zeros(4, 2, 6, 6), dt=1e-4)
    lif, iaf = graph.nodes["1"], graph.nodes["2"]
    assert isinstance(lif, nir.CubaLIF) and isinstance(iaf, nir.IF)
    assert lif.tau_syn.shape == (3, 6, 6)  # one value per neuron
    np.testing.assert_allclose(lif.tau_syn, 1 / 250.0)  # seconds, not dt / tau_inv
    np.testing.assert_allclose(lif.tau_mem, 1 / 50.0)
    np.testing.assert_allclose(lif.w_in, (1 / 250.0) / 1e-4)  # tau_syn / dt
    np.testing.assert_allclose(lif.r, 1.0)
    np.testing.assert_allclose(lif.v_reset, np.float32(-0.3))  # kept
    np.testing.assert_allclose(lif.v_leak, np.float32(-0.1))
    np.testing.assert_allclose(iaf.r, 1 / 1e-4)
    assert graph.metadata["dt"] == 1e-4
    conv = graph.nodes["0"]
    assert isinstance(conv, nir.Conv2d) and tuple(conv.input_shape) == (6, 6)
    np.testing.assert_array_equal(conv.bias, model[0].bias.detach().numpy())


def test_export_keeps_bias_and_recurrent_cycle():
    model = norse.SequentialState(torch.nn.Linear(IN, HID), norse.LIFRecurrentCell(HID, N))
    graph = to_nir(model, torch.zeros(B, IN))
    assert isinstance(graph.nodes["0"], nir.Affine)
    np.testing.assert_array_equal(graph.nodes["0"].bias, model[0].bias.detach().numpy())
    assert {"1.w_in", "1.lif", "1.w_rec"} <= set(graph.nodes)
    assert ("1.lif", "1.w_rec") in graph.edges and ("1.w_rec", "1.lif") in graph.edges
    # As in 1.1.0, a Linear without bias becomes an Affine node with a zero bias.
    no_bias = to_nir(torch.nn.Linear(IN, N, bias=False), torch.zeros(B, IN))
    assert isinstance(no_bias.nodes["norse"], nir.Affine)
    np.testing.assert_array_equal(no_bias.nodes["norse"].bias, np.zeros(N, dtype=np.float32))


def test_single_module_graph_structure():
    graph = to_nir(norse.LIFBoxCell(), torch.zeros(B, N), model_name="cell")
    assert set(graph.nodes) == {"input", "cell", "output"}
    assert sorted(graph.edges) == [("cell", "output"), ("input", "cell")]
    assert isinstance(graph.nodes["cell"], nir.LIF)
    assert tuple(graph.nodes["input"].input_type["input"]) == (N,)


def _perturbed(p, n: int, gen: torch.Generator):
    """``p`` with every floating tensor field made per-neuron and moved off its default."""
    changes = {}
    for field, value in zip(p._fields, p, strict=True):
        if field == "alpha":
            changes[field] = torch.tensor(37.0)
        elif field == "method":
            changes[field] = "tanh"
        elif isinstance(value, torch.Tensor) and value.is_floating_point():
            if float(value) == 0.0:
                changes[field] = 0.1 * torch.randn(n, generator=gen)
            else:
                changes[field] = value * (0.6 + 0.8 * torch.rand(n, generator=gen))
    return p._replace(**changes)


def _model(spec, kind: str, model_kwargs):
    cls = module_classes(spec)[kind]
    gen = torch.Generator().manual_seed(11)
    n = HID if kind in RECURRENT else N
    kwargs = model_kwargs(spec.name)
    if nir_mapping.neuron_mapping(spec) is not None:
        kwargs["p"] = _perturbed(spec.parameters(), n, gen)
    if kind in LAYERS:
        kwargs["backend"] = "reference"
    neuron = cls(N, HID, **kwargs) if kind in RECURRENT else cls(**kwargs)
    first = torch.nn.Linear(IN, N)
    if kind in LAYERS:
        return norse.SequentialState(norse.Lift(first), neuron)
    return norse.SequentialState(first, neuron)


def _run_original(model, kind: str, x: torch.Tensor):
    if kind in LAYERS:
        out, state = model(x)
        return out, state[1]
    outs, state = [], None
    for x_t in x.unbind(0):
        y, state = model(x_t, state)
        outs.append(y)
    return torch.stack(outs), state[1]


CASES = [
    (spec, kind) for spec in MODELS for kind in ("cell", "layer", "recurrent_cell", "recurrent")
]


@pytest.mark.parametrize(
    ("spec", "kind"), CASES, ids=[f"{spec.name}-{kind}" for spec, kind in CASES]
)
def test_round_trip_through_a_file(spec, kind, model_kwargs, model_drive, tmp_path):
    if kind not in module_classes(spec):
        pytest.skip(f"{spec.name} has no {kind} module")
    model = _model(spec, kind, model_kwargs)
    x = model_drive(spec.name) * 2 * torch.rand(T, B, IN)
    sample = x if kind in LAYERS else x[0]
    if nir_mapping.neuron_mapping(spec) is None:
        with pytest.raises(TypeError, match=rf"module '1' \({type(model[1]).__name__}"):
            to_nir(model, sample)
        return
    with torch.no_grad():
        expected, expected_state = _run_original(model, kind, x)
    path = tmp_path / "model.nir"
    nir.write(path, to_nir(model, sample))
    imported = from_nir(path, time_first=True)
    with torch.no_grad():
        out, state = imported(x)
    neuron = getattr(imported, "1")
    assert type(neuron) is module_classes(spec)["recurrent_cell" if kind in RECURRENT else "cell"]
    if hasattr(neuron.p, "method"):  # the surrogate travels in the node's metadata
        assert neuron.p.method == "tanh" and float(neuron.p.alpha) == 37.0
    if spec.output == "spikes":
        assert expected.sum() > 0
    # Same parameters and the same step; only BLAS rounding may differ (memory layout).
    torch.testing.assert_close(out, expected)
    for a, e in zip(state.state["1"], expected_state, strict=True):
        torch.testing.assert_close(a, e.expand_as(a))


def test_round_trip_conv_pool_flatten_and_helpers(tmp_path):
    model = norse.SequentialState(
        torch.nn.Conv2d(2, 4, 3, padding=1),
        norse.LIFCell(),
        torch.nn.AvgPool2d(2),
        torch.nn.Conv2d(4, 4, 3, stride=2, bias=False),
        norse.IAFCell(),
        nir_mapping.SumPool2d(2, padding=1),
        torch.nn.Flatten(),
        nir_mapping.Scale(torch.full((16,), 0.5)),
        nir_mapping.Delay(torch.tensor(1)),
        torch.nn.Linear(16, 3),
        nir_mapping.Threshold(torch.tensor(0.05)),
    )
    x = torch.rand(10, B, 2, 12, 12) * 8
    expected, state = [], None
    with torch.no_grad():
        for x_t in x.unbind(0):
            y, state = model(x_t, state)
            expected.append(y)
    expected = torch.stack(expected)
    path = tmp_path / "cnn.nir"
    nir.write(path, to_nir(model, x[0]))
    imported = from_nir(path, time_first=True)
    with torch.no_grad():
        out, _ = imported(x)
    assert expected.sum() > 0
    torch.testing.assert_close(out, expected)


def test_round_trip_of_time_layers_with_lift_and_lconv(tmp_path):
    model = norse.SequentialState(
        norse.LConv2d(1, 2, 3, padding=1),
        norse.LIF(backend="reference"),  # no kernel compilation in this test
        norse.Lift(torch.nn.Flatten()),
        norse.Lift(torch.nn.Linear(2 * 5 * 5, 3)),
        norse.LI(backend="reference"),
    )
    x = torch.rand(10, B, 1, 5, 5) * 10
    with torch.no_grad():
        expected, _ = model(x)
    graph = to_nir(model, x)
    assert tuple(graph.nodes["input"].input_type["input"]) == (1, 5, 5)
    path = tmp_path / "seq.nir"
    nir.write(path, graph)
    with torch.no_grad():
        out, _ = from_nir(path, time_first=True)(x)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize(
    ("name", "dt", "shape"),
    [
        ("cnn_sinabs", 1.0, (2, 34, 34)),
        ("braille_noDelay_bias_zero", 1e-4, (12,)),
        ("braille_noDelay_noBias_subtract", 1e-4, (12,)),
        ("two_lif_neurons", 1e-3, (1,)),
    ],
)
def test_imported_fixtures_export_back_unchanged(name, dt, shape, tmp_path):
    model = from_nir(DATA / f"{name}.nir", dt=dt, time_first=True)
    x = (torch.rand(4, 2, *shape) < 0.4).float() * 3
    with torch.no_grad():
        expected, _ = model(x)
    graph = to_nir(model, x, dt=dt)
    original = nir.read(DATA / f"{name}.nir")
    assert set(graph.nodes) == set(original.nodes)
    assert sorted(graph.edges) == sorted(original.edges)
    nir.write(tmp_path / "again.nir", graph)
    with torch.no_grad():
        out, _ = from_nir(tmp_path / "again.nir", time_first=True)(x)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_nested_graph_module_exports_as_subgraph():
    inner = from_nir(DATA / "lif_norse.nir", dt=1e-3)
    model = norse.SequentialState(torch.nn.Linear(IN, 1), inner, torch.nn.Linear(1, 2))
    graph = to_nir(model, torch.zeros(B, IN))
    assert isinstance(graph.nodes["1"], nir.NIRGraph)
    imported = from_nir(graph, time_first=True)
    x = torch.rand(T, B, IN) * 4
    expected, state = [], None
    with torch.no_grad():
        for x_t in x.unbind(0):
            y, state = model(x_t, state)
            expected.append(y)
        out, _ = imported(x)
    torch.testing.assert_close(out, torch.stack(expected))


def test_delay_cycle_exports_its_full_delay():
    nodes = {
        "input": nir.Input(input_type=np.array([2])),
        "sum": nir.Scale(scale=np.ones(2)),
        "back": nir.Delay(delay=np.full(2, 2e-3)),
        "output": nir.Output(output_type=np.array([2])),
    }
    edges = [("input", "sum"), ("sum", "back"), ("back", "sum"), ("sum", "output")]
    model = from_nir(nir.NIRGraph(nodes, edges), dt=1e-3, time_first=True)
    graph = to_nir(model, torch.ones(5, 1, 2))
    np.testing.assert_allclose(graph.nodes["back"].delay, 2e-3)
    out, _ = from_nir(graph, time_first=True)(torch.ones(5, 1, 2))
    assert out[:, 0, 0].tolist() == [1, 1, 2, 2, 3]  # y_t = x_t + y_{t-2}


def test_imported_graph_trains():
    model = from_nir(DATA / "braille_noDelay_bias_zero.nir", dt=1e-4, time_first=True)
    x = (torch.rand(30, 2, 12) < 0.5).float() * 2
    out, _ = model(x)
    out.sum().backward()
    assert model.fc1.weight.grad is not None and model.fc1.weight.grad.abs().sum() > 0
    assert model.lif1_w_rec.weight.grad.abs().sum() > 0


def test_seed_003_snippet():
    from norse.torch.utils import from_nir, to_nir

    model = norse.SequentialState(
        torch.nn.Linear(4, 8), norse.LIFCell(), torch.nn.Linear(8, 2), norse.LICell()
    )
    example_input = torch.rand(8, 4)
    nir_graph = to_nir(model, example_input)
    imported = from_nir(nir_graph)
    out, _ = imported(example_input)
    expected, _ = model(example_input)
    torch.testing.assert_close(out, expected)
    assert norse.to_nir is to_nir and norse.from_nir is from_nir


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("module", "who"),
    [
        (torch.nn.ReLU(), "'1' (ReLU)"),
        (torch.nn.MaxPool1d(1), "'1' (MaxPool1d)"),
    ],
)
def test_export_names_unsupported_modules(module, who):
    model = norse.SequentialState(torch.nn.Linear(IN, N), module)
    with pytest.raises(TypeError, match=re.escape(f"module {who}")):
        to_nir(model, torch.zeros(B, IN))


def test_export_value_errors():
    box = norse.LIFBoxCell(norse.LIFBoxParameters(reset_method=reset_subtract))
    with pytest.raises(ValueError, match="reset_subtract"):
        to_nir(box, torch.zeros(B, N))
    with pytest.raises(ValueError, match="flattens the batch"):
        to_nir(torch.nn.Flatten(0), torch.zeros(B, 2, 2))
    with pytest.raises(ValueError, match=r"dt=0\.0001"):
        to_nir(norse.LIFCell(dt=1e-4), torch.zeros(B, N))
    with pytest.raises(ValueError, match="1-D inputs"):  # Linear on a conv's (C, H, W)
        to_nir(
            norse.SequentialState(torch.nn.Conv2d(1, 2, 3), torch.nn.Linear(4, N)),
            torch.zeros(B, 1, 6, 6),
        )
    with pytest.raises(ValueError, match=r"module 'norse' \(Linear\) takes 1-D samples"):
        to_nir(torch.nn.Linear(IN, N), torch.zeros(B, 2, IN))
    with pytest.raises(ValueError, match="sample_data"):
        to_nir(torch.nn.Linear(IN, N), torch.zeros(B, IN + 1))


def test_bad_arguments():
    with pytest.raises(TypeError, match="module must be"):
        to_nir("model", torch.zeros(1))
    with pytest.raises(TypeError, match="sample_data"):
        to_nir(norse.LIFCell(), [1.0])
    with pytest.raises(ValueError, match="dt must be a positive number"):
        to_nir(norse.LIFCell(), torch.zeros(1, 2), dt=-1.0)
    with pytest.raises(TypeError, match="node must be"):
        from_nir(42)
    with pytest.raises(ValueError, match="no file"):
        from_nir("does/not/exist.nir")
    with pytest.raises(TypeError, match="reset_method"):
        from_nir(DATA / "lif_norse.nir", reset_method="subtract")


def test_import_names_unsupported_nodes():
    graph = nir.NIRGraph.from_list(nir.I(r=np.ones(2)))
    with pytest.raises(TypeError, match=r"node 'i' \(I\)"):
        from_nir(graph)
    with pytest.raises(ValueError, match="IF nodes import as IAF"):
        from_nir(
            nir.NIRGraph.from_list(nir.IF(r=np.ones(2), v_threshold=np.ones(2))),
            reset_method=reset_subtract,
        )


def test_import_checks_input_shape_and_state():
    model = from_nir(DATA / "lif_norse.nir", dt=1e-4)
    with pytest.raises(ValueError, match=r"input must be \(\*, 1\)"):
        model(torch.zeros(3, 2))
    with pytest.raises(TypeError, match="NIRGraphState"):
        model(torch.zeros(3, 1), [None])
    _, state = model(torch.zeros(3, 1))
    assert isinstance(state, NIRGraphState)
    with pytest.raises(ValueError, match=r"\(T, \*, 1\)"):
        from_nir(DATA / "lif_norse.nir", time_first=True)(torch.zeros(1))


def test_single_node_imports_as_its_module():
    node = nir.LIF(tau=np.full(3, 0.01), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3))
    cell = from_nir(node)
    assert isinstance(cell, norse.LIFBoxCell)
    lifted = from_nir(node, time_first=True)
    assert isinstance(lifted, norse.Lift)
    z, state = lifted(torch.full((30, 2, 3), 2.0))
    assert z.shape == (30, 2, 3) and z.sum() > 0


def test_dt_comes_from_graph_metadata():
    graph = to_nir(norse.LIFCell(dt=2e-4), torch.zeros(1, 3), dt=2e-4)
    assert from_nir(graph).dt == 2e-4
    assert from_nir(graph, dt=1e-3).dt == 1e-3
