"""Activity regularisation (API.md §2.25, §3.21)."""

from __future__ import annotations

import pytest
import torch

from norse.torch.functional.lif import LIFFeedForwardState
from norse.torch.functional.regularization import (
    regularize_step,
    spike_accumulator,
    voltage_accumulator,
)
from norse.torch.module.lif import LIFCell
from norse.torch.module.regularization import RegularizationCell


def test_spike_accumulator_counts_spikes():
    z = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    assert spike_accumulator(z, None).item() == 3
    assert spike_accumulator(z, None, torch.tensor(4.0)).item() == 7


def test_voltage_accumulator_sums_voltages():
    s = LIFFeedForwardState(v=torch.tensor([0.25, -1.0]), i=torch.zeros(2))
    acc = voltage_accumulator(None, s)
    assert torch.equal(acc, s.v) and acc is not s.v
    assert torch.equal(voltage_accumulator(None, s, acc), 2 * s.v)


@pytest.mark.parametrize("accumulator", [spike_accumulator, voltage_accumulator])
def test_regularize_step_passes_spikes_through(accumulator):
    z = torch.tensor([1.0, 0.0])
    s = LIFFeedForwardState(v=torch.tensor([0.1, 0.2]), i=torch.zeros(2))
    out, acc = regularize_step(z, s, accumulator)
    assert out is z
    torch.testing.assert_close(acc, accumulator(z, s, None))


def test_regularize_step_default_is_spike_count():
    _, acc = regularize_step(torch.ones(2, 3), None)
    _, acc = regularize_step(torch.ones(2, 3), None, state=acc)
    assert acc.item() == 12


def test_cell_accumulates_across_calls_and_can_restart():
    z = torch.ones(2, 5)
    reg = RegularizationCell()
    _, c1 = reg(z, None)
    out, c2 = reg(z, None)
    assert out is z and (c1.item(), c2.item()) == (10, 20)
    assert reg.state is c2
    reg.state = None
    assert reg(z, None)[1].item() == 10


def test_cell_with_voltage_accumulator_over_a_run():
    torch.manual_seed(0)
    x = torch.rand(20, 3, 4)
    cell, reg = LIFCell(), RegularizationCell(voltage_accumulator)
    total = torch.zeros(3, 4)
    s = None
    for xt in x.unbind(0):
        z, s = cell(xt, s)
        _, acc = reg(z, s)
        total = total + s.v
    torch.testing.assert_close(acc, total)


def test_spike_count_penalty_lowers_firing():
    """A spike-count penalty has a gradient that lowers the input drive (surrogate path)."""
    w = torch.full((4,), 3.0, requires_grad=True)
    cell, reg = LIFCell(), RegularizationCell()
    s = None
    for _ in range(20):
        z, s = cell(w * torch.ones(2, 4), s)
        _, count = reg(z, s)
    assert count.item() > 0
    count.backward()
    assert torch.all(w.grad > 0)


def test_bad_input():
    with pytest.raises(TypeError, match="accumulator"):
        RegularizationCell(accumulator=3)
    with pytest.raises(TypeError, match="accumulator"):
        regularize_step(torch.ones(1), None, accumulator="spikes")
    with pytest.raises(TypeError, match="'v'"):
        voltage_accumulator(torch.ones(1), (torch.ones(1),))
    with pytest.raises(TypeError, match="z must be a torch.Tensor"):
        spike_accumulator([1, 0], None)


def test_top_level_exports():
    import norse.torch

    names = ("regularize_step", "spike_accumulator", "voltage_accumulator", "RegularizationCell")
    for name in names:
        assert name in norse.torch.__all__
    assert norse.torch.RegularizationCell is RegularizationCell
