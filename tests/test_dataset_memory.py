"""Tests of norse.dataset.memory.MemoryStoreRecallDataset."""

import pytest
import torch

from norse.dataset.memory import MemoryStoreRecallDataset

KW = dict(seq_length=20, seq_periods=6, seq_repetitions=3, population_size=4)


def test_len_and_shapes():
    data = MemoryStoreRecallDataset(5, seed=0, **KW)
    assert len(data) == 5
    spikes, labels = data[0]
    assert spikes.shape == (3 * 6 * 20, 4 * 4)
    assert spikes.dtype == torch.float32
    assert labels.shape == (3 * 6, 2)
    assert labels.dtype == torch.uint8
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}


def test_default_shapes():
    spikes, labels = MemoryStoreRecallDataset(1, seed=3)[0]
    assert spikes.shape == (4 * 12 * 100, 4 * 5)
    assert labels.shape == (4 * 12, 2)


def test_store_recall_indices():
    data = MemoryStoreRecallDataset(50, seed=1, **KW)
    assert data.store_indices.shape == data.recall_indices.shape == (50, 3)
    assert data.store_indices.min() >= 0 and data.store_indices.max() < 3
    assert data.recall_indices.min() >= 3 and data.recall_indices.max() < 6


def test_determinism_with_seed():
    a = MemoryStoreRecallDataset(4, seed=7, **KW)
    b = MemoryStoreRecallDataset(4, seed=7, **KW)
    c = MemoryStoreRecallDataset(4, seed=8, **KW)
    for i in (3, 0, 3):  # any order, repeated reads
        assert torch.equal(a[i][0], b[i][0]) and torch.equal(a[i][1], b[i][1])
    assert torch.equal(a[-1][0], a[3][0])
    assert not torch.equal(a[0][0], a[1][0])
    assert not torch.equal(a[0][0], c[0][0])


def test_global_rng_untouched():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    data = MemoryStoreRecallDataset(2, seed=5, **KW)
    data[0]
    assert torch.equal(torch.rand(3), expected)


def test_seed_none_follows_global_seed():
    torch.manual_seed(0)
    a = MemoryStoreRecallDataset(2, **KW)
    torch.manual_seed(0)
    b = MemoryStoreRecallDataset(2, **KW)
    assert a.seed == b.seed
    assert torch.equal(a[1][0], b[1][0])


def test_label_layout_and_commands():
    pop, length, periods = 4, 20, 6
    data = MemoryStoreRecallDataset(8, poisson_rate=400, seed=2, **KW)
    for idx in range(len(data)):
        spikes, labels = data[idx]
        per_period = spikes.reshape(3 * periods, length, 4, pop).sum(dim=(1, 3))  # (P, ch)
        for r in range(3):
            store = int(data.store_indices[idx, r])
            recall = int(data.recall_indices[idx, r])
            rows = labels[r * periods : (r + 1) * periods]
            # One-hot only in the recall period.
            assert rows.sum(dim=1).tolist() == [int(p == recall) for p in range(periods)]
            counts = per_period[r * periods : (r + 1) * periods]
            # Store command only in the store period, recall command only in the recall one.
            assert (counts[:, 2] > 0).nonzero().flatten().tolist() == [store]
            assert (counts[:, 3] > 0).nonzero().flatten().tolist() == [recall]
            # The data is blanked in the recall period; elsewhere exactly one bit fires.
            assert counts[recall, :2].sum() == 0
            for p in range(periods):
                if p != recall:
                    assert ((counts[p, :2] > 0).sum()) == 1
            # The label is the bit shown in the store period.
            assert int(rows[recall].argmax()) == int(counts[store, :2].argmax())


def test_rates():
    data = MemoryStoreRecallDataset(
        1, seq_length=2000, seq_periods=2, seq_repetitions=1, population_size=10, seed=4
    )
    spikes, _ = data[0]
    # Period 0 stores, period 1 recalls: data at 100 Hz in period 0, commands at 50 Hz.
    data_rate = spikes[:2000, :20].sum() / (2000 * 10 * 0.001)
    command_rate = spikes[:2000, 20:30].sum() / (2000 * 10 * 0.001)
    assert 90 < data_rate < 110
    assert 44 < command_rate < 56
    assert spikes[:2000, 30:].sum() == 0 and spikes[2000:, :20].sum() == 0


def test_dataloader_batching():
    data = MemoryStoreRecallDataset(6, seed=0, **KW)
    loader = torch.utils.data.DataLoader(data, batch_size=4)
    batches = list(loader)
    assert [b[0].shape[0] for b in batches] == [4, 2]
    x, y = batches[0]
    assert x.shape == (4, 360, 16) and y.shape == (4, 18, 2) and y.dtype == torch.uint8
    assert torch.equal(x[2], data[2][0])


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(samples=-1), ValueError, ["samples", ">= 0", "-1"]),
        (dict(samples=2.5), TypeError, ["samples", "integer", "2.5"]),
        (dict(samples=2, seq_periods=1), ValueError, ["seq_periods", ">= 2", "1"]),
        (dict(samples=2, seq_length=0), ValueError, ["seq_length", ">= 1", "0"]),
        (dict(samples=2, population_size=0), ValueError, ["population_size"]),
        (dict(samples=2, seq_repetitions=0), ValueError, ["seq_repetitions"]),
        (dict(samples=2, dt=0), ValueError, ["dt", "> 0"]),
        (dict(samples=2, poisson_rate=-1), ValueError, ["poisson_rate", ">= 0"]),
        (dict(samples=2, poisson_rate=2000), ValueError, ["poisson_rate * dt <= 1"]),
        (dict(samples=2, seed="x"), TypeError, ["seed", "integer or None"]),
    ],
)
def test_bad_arguments(kwargs, error, words):
    with pytest.raises(error) as info:
        MemoryStoreRecallDataset(**kwargs)
    message = str(info.value)
    assert "MemoryStoreRecallDataset" in message
    for word in words:
        assert word in message


def test_index_errors():
    data = MemoryStoreRecallDataset(2, seed=0, **KW)
    with pytest.raises(IndexError, match="MemoryStoreRecallDataset"):
        data[2]
    with pytest.raises(TypeError, match="index"):
        data["a"]
    assert torch.equal(data[torch.tensor(1)][0], data[1][0])
