"""``python -m norse.task.delays`` in a tiny configuration."""

from __future__ import annotations

import pytest
import torch

from norse.task import delays


def test_data_has_one_spike_per_channel_and_balanced_labels():
    x, y = delays.make_data(32, steps=30, seed=1, jitter=0.3)
    assert x.shape == (30, 32, 3)
    assert torch.equal((x > 0).sum(0), torch.ones(32, 3, dtype=torch.long))
    assert int(y.sum()) == 16
    times = x.argmax(0)
    intervals = times - times[:, :1]
    target = torch.tensor(delays.PATTERN)
    assert (intervals[y == 1] == target).all()
    assert ((intervals[y == 0] - target).abs().amax(1) >= 2).all()


def test_task_runs_and_plots(tmp_path, capsys):
    plot = tmp_path / "delays.png"
    results = delays.main(
        ["--epochs", "2", "--samples", "64", "--steps", "26", "--baseline-hidden", "1",
         "--quiet", "--plot", str(plot)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert [(name, n) for name, n, _ in results] == [
        ("learnable synaptic delays", 4),
        ("no delays", 1),
    ]
    assert all(0.0 <= acc <= 1.0 for _, _, acc in results)
    assert "test accuracy" in out and "learnable synaptic delays" in out
    assert "SynOps/sample" in out
    row = next(line for line in out.splitlines() if line.startswith("learnable synaptic delays"))
    assert float(row.split()[-1]) > 0  # the input spikes reach the synapses
    assert plot.stat().st_size > 0


def test_checkpoint_and_resume(tmp_path, capsys):
    path = tmp_path / "delays.pt"
    flags = ["--samples", "32", "--steps", "26", "--baseline-hidden", "1", "--checkpoint",
             str(path)]  # fmt: skip
    delays.main(["--epochs", "1", *flags])
    assert path.exists()
    first = torch.load(path, weights_only=True)
    assert first["epoch"] == 1 and "synapses.delay" in first["model"]
    delays.main(["--epochs", "2", "--resume", *flags])
    assert "resumed from" in capsys.readouterr().out
    assert torch.load(path, weights_only=True)["epoch"] == 2


def test_bad_flags():
    with pytest.raises(SystemExit):
        delays.parse_args(["--steps", "10"])
    with pytest.raises(SystemExit):
        delays.parse_args(["--sigma", "-1"])
    with pytest.raises(SystemExit):
        delays.parse_args(["--jitter", "1.5"])
