"""Tests of norse.dataset.spiking_heidelberg on small files in the SHD format."""

import gzip
import hashlib
import shutil
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch

h5py = pytest.importorskip("h5py")

from norse.dataset.spiking_heidelberg import (  # noqa: E402
    SpikingHeidelbergDigitsDataset,
    pad_collate,
)

DT = 0.001
N_BINS = int(1.4 // DT + 1)


def make_samples(n=5, seed=0):
    """Random SHD-like samples; spike times sit in the middle of their 1 ms bins."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(n):
        k = int(rng.integers(1, 40))
        bins = rng.integers(0, N_BINS, k)
        times = ((bins + 0.5) * DT).astype(np.float32)
        units = rng.integers(0, 700, k).astype(np.uint16)
        samples.append((times, units, i % 20))
    return samples


def write_shd(path, samples):
    with h5py.File(path, "w") as f:
        n = len(samples)
        times = f.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.float32))
        units = f.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
        for i, (t, u, _) in enumerate(samples):
            times[i] = t
            units[i] = u
        f.create_dataset("labels", data=np.array([s[2] for s in samples], dtype=np.uint8))


@pytest.fixture
def root(tmp_path):
    samples = make_samples()
    write_shd(tmp_path / "shd_train.h5", samples)
    write_shd(tmp_path / "shd_test.h5", samples[:2])
    return tmp_path, samples


def expected_dense(times, units):
    out = torch.zeros(N_BINS, 700, dtype=torch.uint8)
    for t, u in zip(times.tolist(), units.tolist(), strict=True):
        out[int(t / DT), u] += 1
    return out


def test_class_constants():
    c = SpikingHeidelbergDigitsDataset
    assert c.train_file == "shd_train.h5" and c.test_file == "shd_test.h5"
    assert c.max_length == 1.4 and c.n_units == 700
    assert c.train_url == "https://zenkelab.org/datasets/shd_train.h5.gz"
    assert c.test_url == "https://zenkelab.org/datasets/shd_test.h5.gz"


def test_binning_shapes_dtypes_labels(root):
    path, samples = root
    data = SpikingHeidelbergDigitsDataset(path, dt=DT)
    assert len(data) == 5
    for i, (times, units, label) in enumerate(samples):
        spikes, y = data[i]
        assert spikes.is_sparse and spikes.is_coalesced()
        assert spikes.shape == (N_BINS, 700) and spikes.dtype == torch.uint8
        assert y.dtype == torch.uint8 and y.shape == () and int(y) == label
        assert torch.equal(spikes.to_dense(), expected_dense(times, units))
        assert int(spikes.to_dense().sum()) == len(times)


def test_single_spike_bin_and_duplicates(tmp_path):
    times = np.array([0.0, 0.0375, 0.0375, 1.3995, 1.45], np.float32)
    units = np.array([0, 5, 5, 699, 1], np.uint16)
    write_shd(tmp_path / "shd_train.h5", [(times, units, 3)])
    spikes, label = SpikingHeidelbergDigitsDataset(tmp_path, dt=DT, sparse=False)[0]
    assert spikes[0, 0] == 1
    assert spikes[37, 5] == 2  # two spikes in one bin add up
    assert spikes[1399, 699] == 1
    assert int(spikes.sum()) == 4  # t = 1.45 s is past the last bin and is dropped
    coarse, _ = SpikingHeidelbergDigitsDataset(tmp_path, dt=0.01)[0]
    assert coarse.shape == (int(1.4 // 0.01 + 1), 700)
    assert coarse.to_dense()[3, 5] == 2


def test_sparse_and_dense_agree(root):
    path, _ = root
    sparse = SpikingHeidelbergDigitsDataset(path, sparse=True)
    dense = SpikingHeidelbergDigitsDataset(path, sparse=False)
    for i in range(len(sparse)):
        assert not dense[i][0].is_sparse
        assert torch.equal(sparse[i][0].to_dense(), dense[i][0])
        assert torch.equal(sparse[i][1], dense[i][1])


def test_train_test_split_and_indexing(root):
    path, _ = root
    test = SpikingHeidelbergDigitsDataset(path, train=False)
    assert len(test) == 2 and test.path.name == "shd_test.h5"
    assert torch.equal(test[-1][0].to_dense(), test[1][0].to_dense())
    with pytest.raises(IndexError):
        test[2]


def test_iteration(root):
    path, samples = root
    data = SpikingHeidelbergDigitsDataset(path, sparse=False)
    items = list(data)
    assert len(items) == len(samples)
    for (spikes, y), (times, units, label) in zip(items, samples, strict=True):
        assert torch.equal(spikes, expected_dense(times, units)) and int(y) == label
    assert len(list(data)) == len(samples)  # iterates again
    data.close()
    assert torch.equal(data[0][0], items[0][0])  # reopens after close()


def test_dataloader_collate(root):
    path, samples = root
    data = SpikingHeidelbergDigitsDataset(path)
    loader = torch.utils.data.DataLoader(data, batch_size=2, collate_fn=pad_collate)
    batches = list(loader)
    assert [b[0].shape for b in batches] == [(N_BINS, 2, 700)] * 2 + [(N_BINS, 1, 700)]
    x, y = batches[1]
    assert x.dtype == torch.uint8 and y.dtype == torch.int64
    assert y.tolist() == [samples[2][2], samples[3][2]]
    assert torch.equal(x[:, 1], expected_dense(*samples[3][:2]))


def test_dataloader_workers_split(root):
    path, _ = root
    # Dense: torch's own sharing of sparse tensors between processes warns about invariants.
    data = SpikingHeidelbergDigitsDataset(path, sparse=False)
    loader = torch.utils.data.DataLoader(data, batch_size=None, num_workers=2)
    labels = sorted(int(y) for _, y in loader)
    assert labels == sorted(int(v) for v in data.labels)


def test_pad_collate_pads_to_longest():
    a = (torch.ones(3, 700, dtype=torch.uint8).to_sparse(), torch.tensor(4, dtype=torch.uint8))
    b = (torch.ones(5, 700, dtype=torch.uint8), torch.tensor(9, dtype=torch.uint8))
    x, y = pad_collate([a, b])
    assert x.shape == (5, 2, 700) and x.dtype == torch.uint8
    assert x[3:, 0].sum() == 0 and x[:, 1].sum() == 5 * 700
    assert y.tolist() == [4, 9]
    with pytest.raises(ValueError, match="empty"):
        pad_collate([])


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        SpikingHeidelbergDigitsDataset(tmp_path / "nowhere")
    message = str(info.value)
    assert "put shd_train.h5 in" in message and "download=True" in message
    with pytest.raises(FileNotFoundError, match="shd_test.h5"):
        SpikingHeidelbergDigitsDataset(tmp_path, train=False)


def test_bad_dt(root):
    with pytest.raises(ValueError, match="'dt' expected a finite number > 0, got 0"):
        SpikingHeidelbergDigitsDataset(root[0], dt=0)
    with pytest.raises(TypeError, match="'dt' expected a real number"):
        SpikingHeidelbergDigitsDataset(root[0], dt="1ms")


def test_not_an_shd_file(tmp_path):
    with h5py.File(tmp_path / "shd_train.h5", "w") as f:
        f.create_dataset("labels", data=np.zeros(2, np.uint8))
    with pytest.raises(RuntimeError, match="not an SHD file"):
        SpikingHeidelbergDigitsDataset(tmp_path)


def test_bad_units(tmp_path):
    write_shd(tmp_path / "shd_train.h5", [(np.array([0.1], np.float32), np.array([700]), 0)])
    with pytest.raises(ValueError, match="0..699"):
        SpikingHeidelbergDigitsDataset(tmp_path)[0]


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_checksum_of_cached_file(root):
    path, _ = root
    good = md5(path / "shd_train.h5")
    SpikingHeidelbergDigitsDataset(path, checksums={"shd_train.h5": good})
    bad = "0" * 32
    with pytest.raises(RuntimeError) as info:
        SpikingHeidelbergDigitsDataset(path, checksums={"shd_train.h5": bad})
    message = str(info.value)
    assert "shd_train.h5" in message and "corrupt" in message
    assert bad in message and good in message
    with pytest.raises(ValueError, match="checksum"):
        SpikingHeidelbergDigitsDataset(path, checksums={"shd_train.h5": "xyz"})


def gzip_file(path):
    with open(path, "rb") as src, gzip.open(path.with_name(path.name + ".gz"), "wb") as dst:
        shutil.copyfileobj(src, dst)


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A local 'server' directory with the gzipped files, reached through a file:// URL."""
    remote = tmp_path / "remote"
    remote.mkdir()
    samples = make_samples(4, seed=1)
    write_shd(remote / "shd_train.h5", samples)
    gzip_file(remote / "shd_train.h5")
    monkeypatch.setattr(SpikingHeidelbergDigitsDataset, "base_url", remote.as_uri() + "/")
    return remote, samples


def test_download_and_cache(tmp_path, server):
    remote, samples = server
    cache = tmp_path / "cache"
    checksums = {
        "shd_train.h5.gz": "sha256:"
        + hashlib.sha256((remote / "shd_train.h5.gz").read_bytes()).hexdigest(),
        "shd_train.h5": md5(remote / "shd_train.h5"),
    }
    data = SpikingHeidelbergDigitsDataset(cache, download=True, checksums=checksums)
    assert len(data) == 4 and int(data[3][1]) == samples[3][2]
    assert (cache / "shd_train.h5").read_bytes() == (remote / "shd_train.h5").read_bytes()
    assert (cache / "shd_train.h5.sha256").is_file()
    assert not list(cache.glob("*.part"))
    # Cached: a second load does not download again.
    (remote / "shd_train.h5.gz").unlink()
    assert len(SpikingHeidelbergDigitsDataset(cache, download=True)) == 4
    assert len(SpikingHeidelbergDigitsDataset(cache)) == 4


def test_corrupt_cache_detected_and_refetched(tmp_path, server):
    remote, _ = server
    cache = tmp_path / "cache"
    SpikingHeidelbergDigitsDataset(cache, download=True)
    with open(cache / "shd_train.h5", "r+b") as f:
        f.seek(100)
        f.write(b"garbage")
    with pytest.raises(RuntimeError) as info:
        SpikingHeidelbergDigitsDataset(cache)
    message = str(info.value)
    assert "shd_train.h5" in message and "corrupt" in message and "expected" in message
    # download=True repairs it from the cached .gz, without the network.
    (remote / "shd_train.h5.gz").unlink()
    data = SpikingHeidelbergDigitsDataset(cache, download=True)
    assert len(data) == 4
    # A damaged cached archive is fetched again.
    write_shd(remote / "shd_train.h5", make_samples(4, seed=1))
    gzip_file(remote / "shd_train.h5")
    (cache / "shd_train.h5").unlink()
    (cache / "shd_train.h5.gz").write_bytes(b"not gzip")
    assert len(SpikingHeidelbergDigitsDataset(cache, download=True)) == 4


def test_unreadable_file(tmp_path):
    (tmp_path / "shd_train.h5").write_bytes(b"not hdf5")
    with pytest.raises(RuntimeError, match="not a readable HDF5 file"):
        SpikingHeidelbergDigitsDataset(tmp_path)


def test_corrupt_download(tmp_path, server):
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError) as info:
        SpikingHeidelbergDigitsDataset(
            cache, download=True, checksums={"shd_train.h5.gz": "1" * 32}
        )
    message = str(info.value)
    assert "shd_train.h5.gz" in message and "1" * 32 in message and "got" in message
    assert not (cache / "shd_train.h5.gz").exists() and not (cache / "shd_train.h5").exists()
    with pytest.raises(RuntimeError, match="extracted"):
        SpikingHeidelbergDigitsDataset(cache, download=True, checksums={"shd_train.h5": "2" * 64})
    assert not (cache / "shd_train.h5").exists()


def test_no_network(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(RuntimeError) as info:
        SpikingHeidelbergDigitsDataset(tmp_path, download=True)
    message = str(info.value)
    assert "could not download https://zenkelab.org/datasets/shd_train.h5.gz" in message
    assert "put shd_train.h5" in message
    assert not list(tmp_path.glob("*.part"))
