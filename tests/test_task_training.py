"""What every training task shares (``norse.task._training``), through ``norse.task.digits``:
checkpoint and ``--resume``, TensorBoard logs, and data-parallel training under ``torchrun``."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from norse.task import digits
from norse.task._training import load_checkpoint

SMALL = ["--hidden", "16", "--seq-length", "6", "--batch-size", "64", "--quiet"]


def _state(path):
    return torch.load(path, weights_only=True)


def test_resume_continues_with_the_same_weights_and_optimiser_state(tmp_path):
    straight, resumed = tmp_path / "straight.pt", tmp_path / "resumed.pt"
    digits.main([*SMALL, "--epochs", "2", "--learn-neurons", "--checkpoint", str(straight)])
    digits.main([*SMALL, "--epochs", "1", "--learn-neurons", "--checkpoint", str(resumed)])
    assert _state(resumed)["epoch"] == 1
    digits.main([*SMALL, "--epochs", "2", "--learn-neurons", "--checkpoint", str(resumed),
                 "--resume"])  # fmt: skip
    a, b = _state(straight), _state(resumed)
    assert a["epoch"] == b["epoch"] == 2
    assert a["model"].keys() == b["model"].keys()
    assert "lif.neuron_parameters.tau_mem_inv" in a["model"]
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for pa, pb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values(),
                      strict=True):  # fmt: skip
        for k in pa:
            assert torch.equal(torch.as_tensor(pa[k]), torch.as_tensor(pb[k])), k


def test_tensorboard_log_is_written(tmp_path):
    digits.main([*SMALL, "--epochs", "1", "--logdir", str(tmp_path / "tb")])
    assert any(f.name.startswith("events.out.tfevents") for f in (tmp_path / "tb").iterdir())


def test_bad_flags_and_files_say_what_is_wrong(tmp_path, capsys):
    with pytest.raises(SystemExit):
        digits.parse_args(["--resume"])
    assert "--resume needs --checkpoint" in capsys.readouterr().err
    corrupt = tmp_path / "bad.pt"
    corrupt.write_bytes(b"not a checkpoint")
    model = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="bad.pt: not a readable checkpoint"):
        load_checkpoint(corrupt, model, torch.optim.Adam(model.parameters()))


@pytest.mark.skipif(sys.platform != "linux", reason="torchrun with gloo, tested on Linux")
def test_two_processes_keep_their_parameters_equal(tmp_path):
    """``torchrun --nproc_per_node=2`` with ``gloo``: both processes end with the same
    parameters, the learnable neuron parameters included."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NORSE_CPU_COMPILE": "sync"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "norse.task.digits", *SMALL, "--epochs", "1", "--learn-neurons",
         "--checkpoint", str(tmp_path / "ddp.pt")],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "parameters equal on all 2 processes: True" in done.stdout
    assert _state(tmp_path / "ddp.pt")["epoch"] == 1


def test_correlation_experiment_runs_and_moves_the_weights(tmp_path):
    from norse.task import correlation_experiment

    history = correlation_experiment.main(["--epochs", "6", "--steps", "40", "--quiet",
                                           "--checkpoint", str(tmp_path / "c.pt")])  # fmt: skip
    assert [h["epoch"] for h in history] == list(range(1, 7))
    assert all(h["weight_change"] > 0 for h in history)
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in history)
    more = correlation_experiment.main(["--epochs", "7", "--steps", "40", "--quiet",
                                        "--checkpoint", str(tmp_path / "c.pt"), "--resume"])  # fmt: skip
    assert [h["epoch"] for h in more] == [7]


def _write_idx(path, array):
    import gzip

    import numpy as np

    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(array, np.uint8).tobytes())


def test_mnist_reads_the_original_files_and_says_where_they_go(tmp_path):
    import numpy as np

    from norse.task import mnist

    rng = np.random.default_rng(0)
    for prefix, n in (("train", 6), ("t10k", 4)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    x, y = mnist.load_mnist(tmp_path, train=True)
    assert x.shape == (6, 1, 28, 28) and x.dtype == torch.float32 and 0 <= x.min() <= x.max() <= 1
    assert y.dtype == torch.int64 and y.shape == (6,)
    accuracy = mnist.main(["--data-root", str(tmp_path), "--epochs", "1", "--seq-length", "2",
                           "--batch-size", "4", "--quiet"])  # fmt: skip
    assert 0.0 <= accuracy <= 1.0
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte.*--synthetic"):
        mnist.load_mnist(tmp_path / "empty", train=False)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 20)
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz: unreadable"):
        mnist.load_mnist(tmp_path, train=True)


def test_mnist_download_verifies_md5_and_keeps_intact_files(tmp_path, monkeypatch):
    import hashlib

    import numpy as np

    from norse.task import mnist

    remote, cache = tmp_path / "remote", tmp_path / "cache"
    remote.mkdir()
    rng = np.random.default_rng(1)
    sums = {}
    for name in mnist.FILES:
        shape = (3, 28, 28) if "images" in name else (3,)
        _write_idx(remote / f"{name}.gz", rng.integers(0, 10, shape))
        sums[name] = hashlib.md5((remote / f"{name}.gz").read_bytes()).hexdigest()
    monkeypatch.setattr(mnist, "MIRROR", remote.as_uri() + "/")
    monkeypatch.setattr(mnist, "FILES", sums)
    mnist.download(cache)
    assert mnist.load_mnist(cache, train=False)[0].shape == (3, 1, 28, 28)
    assert not list(cache.glob("*.part"))
    (remote / "t10k-labels-idx1-ubyte.gz").unlink()
    mnist.download(cache)  # intact files are not fetched again
    (cache / "t10k-labels-idx1-ubyte.gz").write_bytes(b"damaged")
    (remote / "t10k-labels-idx1-ubyte.gz").write_bytes(b"also damaged")
    with pytest.raises(RuntimeError, match=r"t10k-labels-idx1-ubyte.gz is corrupt: md5"):
        mnist.download(cache)
    assert not (cache / "t10k-labels-idx1-ubyte.gz").exists()  # a bad download is removed
    (remote / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(RuntimeError, match="could not download .*--synthetic"):
        mnist.download(cache)


def test_mnist_trains_on_synthetic_digits_with_a_checkpoint(tmp_path):
    from norse.task import mnist

    args = ["--synthetic", "--epochs", "1", "--seq-length", "2", "--batch-size", "16",
            "--limit-batches", "2", "--quiet", "--checkpoint", str(tmp_path / "m.pt")]  # fmt: skip
    assert 0.0 <= mnist.main(args) <= 1.0
    assert _state(tmp_path / "m.pt")["epoch"] == 1


def test_memory_task_takes_the_flags_of_1_1_0_and_learns(tmp_path):
    from norse.task import memory

    flags = ["--batch_size", "16", "--learning_rate", "0.01", "--model", "super",
             "--neuron_model", "lsnnlif", "--dt", "0.001", "--optimizer", "adam",
             "--population_size", "5", "--samples", "64", "--save_top_k", "1",
             "--seq_length", "20", "--seq_periods", "12", "--seq_repetitions", "1",
             "--poisson_rate", "100", "--random_seed", "0", "--regularization_factor", "0.01",
             "--regularization_target", "10"]  # fmt: skip
    history = memory.main([*flags, "--max_epochs", "4", "--quiet", "--plot",
                           str(tmp_path / "run.png")])  # fmt: skip
    assert history[-1]["loss"] < history[0]["loss"]
    assert (tmp_path / "run.png").stat().st_size > 1000
    for neuron_model in ("lsnn", "lif"):
        one = memory.main(["--neuron_model", neuron_model, "--samples", "8", "--batch_size",
                           "8", "--seq_length", "5", "--max_epochs", "1", "--quiet"])  # fmt: skip
        assert len(one) == 1


def test_shd_example_trains_on_generated_shd_files_and_writes_its_figure(tmp_path):
    from norse.task import shd

    figure = tmp_path / "shd.png"
    args = ["--synthetic", "--samples", "80", "--epochs", "3", "--dt", "0.02", "--hidden", "32",
            "--quiet", "--plot", str(figure), "--checkpoint", str(tmp_path / "s.pt")]  # fmt: skip
    history = shd.main(args)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["loss"] < history[0]["loss"]
    assert figure.stat().st_size > 5000
    more = shd.main([*args[:4], "4", *args[5:], "--resume"])
    assert [h["epoch"] for h in more] == [4]


def test_shd_reads_the_real_files_from_data_root(tmp_path):
    from norse.task import shd

    shd.write_synthetic_shd(tmp_path / "shd_train.h5", 24, seed=1)
    shd.write_synthetic_shd(tmp_path / "shd_test.h5", 8, seed=2)
    history = shd.main(["--data-root", str(tmp_path), "--epochs", "1", "--dt", "0.02",
                        "--hidden", "8", "--quiet", "--plot", ""])  # fmt: skip
    assert len(history) == 1
    with pytest.raises(FileNotFoundError, match="shd_train.h5"):
        shd.main(["--data-root", str(tmp_path / "none"), "--epochs", "1", "--quiet"])
