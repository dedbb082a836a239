"""``norse.benchmark``: 1.1.0's records and a runnable LIF benchmark (``python -m norse.benchmark``)."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from norse.benchmark import main as bench
from norse.benchmark.benchmark import BenchmarkConfig, BenchmarkData, BenchmarkParameters
from norse.benchmark.norse_lif import LIFBenchmark, lif_feed_forward_benchmark

TINY = ["--start", "4", "--stop", "9", "--step", "4", "--sequence_length", "6",
        "--batch_size", "2", "--runs", "2", "--device", "cpu", "--quiet"]  # fmt: skip


def test_records_have_the_fields_of_1_1_0():
    assert BenchmarkConfig._fields == ("batch_size", "device", "dt", "label", "runs", "profile",
                                       "sequence_length", "start", "stop", "step")  # fmt: skip
    assert BenchmarkParameters._fields == ("device", "dt", "features", "batch_size",
                                           "sequence_length")  # fmt: skip
    assert BenchmarkData._fields == ("config", "durations", "parameters")


def test_the_benchmark_runs_every_backend_and_writes_csv(tmp_path):
    path = tmp_path / "results.csv"
    rows = bench.main([*TINY, "--backends", "reference,auto", "--csv", str(path), "--backward"])
    assert [(r["label"], r["features"]) for r in rows] == [
        ("norse-reference", 4), ("norse-reference", 8), ("norse-auto", 4), ("norse-auto", 8)
    ]  # fmt: skip
    assert all(r["runs"] == 2 and 0 < r["min"] <= r["median"] <= r["max"] for r in rows)
    bench.main([*TINY, "--csv", str(path)])  # appends
    with path.open() as f:
        assert len(list(csv.DictReader(f))) == 8


def test_the_model_is_the_reference_computation():
    import torch

    p = BenchmarkParameters("cpu", 0.001, features=5, batch_size=3, sequence_length=20)
    torch.manual_seed(0)
    ref = LIFBenchmark(p, "reference")
    fused = LIFBenchmark(p, "auto")
    fused.load_state_dict(ref.state_dict())
    x = (torch.rand(20, 3, 5) < 0.5).float() * 5
    assert torch.equal(ref(x), fused(x))
    assert lif_feed_forward_benchmark(p, "auto", backward=True) > 0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--bindsnet"], "not part of this package"),
        (["--start", "10", "--stop", "5"], "--start < --stop"),
        (["--runs", "0"], "--runs must be at least 1"),
        (["--dt", "0"], "--dt must be positive"),
    ],
)
def test_bad_arguments_say_what_is_wrong(argv, message, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(argv)
    assert message in capsys.readouterr().err


def test_an_unknown_backend_is_named():
    with pytest.raises(ValueError, match="unknown backend 'fast'"):
        bench.main([*TINY, "--backends", "reference,fast", "--csv", ""])


def test_python_dash_m_prints_the_table(tmp_path):
    argv = [a for a in TINY if a != "--quiet"]
    done = subprocess.run(
        [sys.executable, "-m", "norse.benchmark", *argv, "--csv", ""],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "| neurons | reference ms | auto ms | reference/auto |" in done.stdout
