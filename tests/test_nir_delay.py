"""NIR export and import of the delay modules: ``nir.Delay`` nodes and round trips."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

import norse.torch as norse
from norse.torch.module.delay import AxonalDelay, AxonalDelayCell, SynapticDelay


def _run_cells(model, x):
    outs, state = [], None
    with torch.no_grad():
        for x_t in x:
            y, state = model(x_t, state)
            outs.append(y)
    return torch.stack(outs)


def test_axonal_delay_exports_rounded_seconds_and_imports_as_cell(tmp_path):
    layer = AxonalDelay(delays=torch.tensor([0.4, 1.5, 2.5, 3.6]), max_delay=4).eval()
    graph = norse.to_nir(layer, torch.zeros(6, 1, 4), dt=1e-3)
    node = graph.nodes["norse"]
    assert isinstance(node, nir.Delay)
    np.testing.assert_allclose(node.delay, [0.0, 2e-3, 2e-3, 4e-3])  # halves to even
    nir.write(tmp_path / "delay.nir", graph)
    imported = norse.from_nir(tmp_path / "delay.nir", dt=1e-3, time_first=True)
    cells = [m for m in imported.modules() if isinstance(m, AxonalDelayCell)]
    assert len(cells) == 1 and cells[0].delay.tolist() == [0, 2, 2, 4]
    x = torch.randn(9, 2, 4)
    out, _ = imported(x)
    expected, _ = layer(x)  # eval mode: the rounded, exact shift
    assert torch.equal(out, expected)


def test_synaptic_delay_network_round_trip():
    torch.manual_seed(0)
    model = norse.SequentialState(
        SynapticDelay(3, 4, max_delay=5), norse.LIFBox(), torch.nn.Linear(4, 2)
    ).eval()
    graph = norse.to_nir(model, torch.zeros(8, 1, 3), dt=1e-3)
    assert isinstance(graph.nodes["0.delay"], nir.Delay)
    assert graph.nodes["0.delay"].delay.shape == (12,)
    np.testing.assert_allclose(
        graph.nodes["0.delay"].delay / 1e-3, model[0].rounded_delays().reshape(-1).numpy()
    )
    imported = norse.from_nir(graph, dt=1e-3, time_first=True)
    x = (torch.rand(12, 2, 3) < 0.4).float() * 2
    with torch.no_grad():
        expected, _ = model(x)
        out, _ = imported(x)
    torch.testing.assert_close(out, expected)
    again = norse.to_nir(imported, torch.zeros(8, 1, 3), dt=1e-3)
    np.testing.assert_allclose(again.nodes["0.delay"].delay, graph.nodes["0.delay"].delay)


def test_cells_export_like_layers():
    cell = AxonalDelayCell(delays=torch.tensor([1, 3]), learnable=False)
    graph = norse.to_nir(norse.SequentialState(cell, norse.LIFBoxCell()), torch.zeros(1, 2))
    np.testing.assert_allclose(graph.nodes["0"].delay, [1e-3, 3e-3])
    imported = norse.from_nir(graph)
    x = torch.rand(7, 1, 2) * 3
    torch.testing.assert_close(_run_cells(imported, x), _run_cells(graph_model(cell), x))


def graph_model(cell):
    return norse.SequentialState(cell, norse.LIFBoxCell())


def test_import_rejects_delays_off_the_grid():
    graph = nir.NIRGraph.from_list(nir.Delay(delay=np.array([1.5e-3])))
    with pytest.raises(ValueError, match="multiples of dt"):
        norse.from_nir(graph, dt=1e-3)
