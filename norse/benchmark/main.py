"""Run the LIF benchmark over a range of sizes: the reference loop against the fused backends.

``python -m norse.benchmark`` (or ``python -m norse.benchmark.main``) times
:class:`~norse.benchmark.norse_lif.LIFBenchmark` (a bias-free ``Linear`` then LIF neurons over
time) for ``range(start, stop, step)`` neurons, ``runs`` times each, for every backend in
``--backends`` (default ``reference,auto``), prints a table of the median times and the
speed-up over the first backend, and appends the rows to ``benchmark_results.csv`` (``--csv``).
1.1.0's flags are kept; ``--bindsnet`` / ``--genn`` need those simulators' benchmark scripts,
which this package does not ship, and say so.

Example:
    >>> rows = main(["--start", "8", "--stop", "17", "--step", "8", "--sequence_length", "5",
    ...              "--batch_size", "2", "--runs", "1", "--device", "cpu", "--csv", "",
    ...              "--quiet"])
    >>> sorted({row["label"] for row in rows}), [row["features"] for row in rows][:2]
    (['norse-auto', 'norse-reference'], [8, 16])
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from .benchmark import BenchmarkConfig, BenchmarkData, BenchmarkParameters

__all__ = ["benchmark", "collect", "main", "parse_args", "run_benchmark"]


def benchmark(
    model: Callable[[BenchmarkParameters], float],
    collector: Callable[[BenchmarkData, str], dict],
    config: BenchmarkConfig,
) -> list[dict]:
    """Time ``model(parameters)`` (seconds per call) ``config.runs`` times for every size in
    ``range(config.start, config.stop, config.step)``; one collected row per size.

    Example:
        >>> config = BenchmarkConfig(2, "cpu", 0.001, "x", 2, False, 10, 1, 3, 1)
        >>> rows = benchmark(lambda p: p.features * 1e-3, collect, config)
        >>> [(r["features"], r["median"]) for r in rows]
        [(1, 0.001), (2, 0.002)]
    """
    rows = []
    for features in range(config.start, config.stop, config.step):
        parameters = BenchmarkParameters(
            device=config.device,
            dt=config.dt,
            features=features,
            batch_size=config.batch_size,
            sequence_length=config.sequence_length,
        )
        durations = np.array([model(parameters) for _ in range(config.runs)])
        rows.append(collector(BenchmarkData(config, durations, parameters), config.label))
    return rows


def collect(data: BenchmarkData, label: str) -> dict:
    """One table row: the case's sizes and its durations' statistics (seconds).

    Example:
        >>> config = BenchmarkConfig(2, "cpu", 0.001, "x", 2, False, 10, 1, 2, 1)
        >>> p = BenchmarkParameters("cpu", 0.001, 1, 2, 10)
        >>> collect(BenchmarkData(config, np.array([1.0, 3.0]), p), "x")["mean"]
        2.0
    """
    d = data.durations
    return {
        "label": label,
        "device": data.parameters.device,
        "features": data.parameters.features,
        "batch_size": data.parameters.batch_size,
        "sequence_length": data.parameters.sequence_length,
        "dt": data.parameters.dt,
        "runs": int(d.size),
        "mean": float(d.mean()),
        "median": float(np.median(d)),
        "std": float(d.std()),
        "min": float(d.min()),
        "max": float(d.max()),
    }


def run_benchmark(args: argparse.Namespace, function: Callable[[BenchmarkParameters], float],
                  label: str) -> list[dict]:  # fmt: skip
    """:func:`benchmark` with the sizes of ``args``; appends the rows to ``args.csv``."""
    config = BenchmarkConfig(
        batch_size=args.batch_size,
        device=args.device,
        dt=args.dt,
        label=label,
        runs=args.runs,
        profile=args.profile,
        sequence_length=args.sequence_length,
        start=args.start,
        stop=args.stop,
        step=args.step,
    )
    rows = benchmark(function, collect, config)
    if args.csv:
        path = Path(args.csv)
        new = not path.exists()
        with path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else [])
            if new:
                writer.writeheader()
            writer.writerows(rows)
    return rows


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m norse.benchmark", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--batch_size", type=int, default=32)
    ap.add_argument("--start", type=int, default=250, help="first number of neurons")
    ap.add_argument("--step", type=int, default=250)
    ap.add_argument("--stop", type=int, default=5001, help="sizes below this")
    ap.add_argument("--sequence_length", type=int, default=1000)
    ap.add_argument("--dt", type=float, default=0.001)
    default_device = "cuda" if torch.cuda.is_available() else "cpu"
    ap.add_argument("--device", default=default_device, help=f"default {default_device}")
    ap.add_argument("--runs", type=int, default=5, help="timed calls per size (median)")
    ap.add_argument("--profile", action="store_true", help="print a torch.profiler table")
    ap.add_argument("--backends", default="reference,auto", help="LIF backends, comma separated")
    ap.add_argument("--backward", action="store_true", help="time forward + backward")
    ap.add_argument("--csv", default="benchmark_results.csv", help="'' writes no file")
    ap.add_argument("--quiet", action="store_true", help="print no table")
    ap.add_argument("--norse", action="store_true", help="(1.1.0's flag; norse always runs)")
    ap.add_argument("--bindsnet", action="store_true")
    ap.add_argument("--genn", action="store_true")
    args = ap.parse_args(argv)
    for flag in ("bindsnet", "genn"):
        if getattr(args, flag):
            ap.error(
                f"--{flag}: the {flag} benchmark is not part of this package; run norse's "
                "own backends (--backends reference,auto,...)"
            )
    for name in ("batch_size", "step", "sequence_length", "runs"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.start < 1 or args.stop <= args.start:
        ap.error(f"need 1 <= --start < --stop, got --start {args.start} --stop {args.stop}")
    if args.dt <= 0:
        ap.error(f"--dt must be positive, got {args.dt}")
    return args


def main(argv: Sequence[str] | None = None) -> list[dict]:
    """Run the benchmark for every backend; print the table; return the rows."""
    from ..torch import kernels
    from .norse_lif import lif_feed_forward_benchmark

    args = parse_args(argv)
    backends = [b for b in args.backends.split(",") if b]
    for b in backends:
        kernels.check_backend(b, "python -m norse.benchmark --backends")
    rows: list[dict] = []
    for b in backends:

        def run(p: BenchmarkParameters, backend: str = b) -> float:
            return lif_feed_forward_benchmark(p, backend, args.backward)

        rows += run_benchmark(args, run, f"norse-{b}")
    if args.profile:
        _profile(args, backends)
    if not args.quiet:
        print(_table(rows, backends))
    return rows


def _table(rows: list[dict], backends: list[str]) -> str:
    by = {(r["label"], r["features"]): r for r in rows}
    sizes = sorted({r["features"] for r in rows})
    base = f"norse-{backends[0]}"
    head = ["neurons", *(f"{b} ms" for b in backends), *(f"{base[6:]}/{b}" for b in backends[1:])]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n in sizes:
        times = [by[(f"norse-{b}", n)]["median"] for b in backends]
        ratios = [times[0] / t if t > 0 else float("nan") for t in times[1:]]
        cells = [str(n), *(f"{t * 1e3:.2f}" for t in times), *(f"{r:.2f}x" for r in ratios)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _profile(args: argparse.Namespace, backends: list[str]) -> None:
    from torch.profiler import profile

    from .norse_lif import lif_feed_forward_benchmark

    p = BenchmarkParameters(args.device, args.dt, args.start, args.batch_size,
                            args.sequence_length)  # fmt: skip
    for b in backends:
        with profile() as prof:
            lif_feed_forward_benchmark(p, b, args.backward)
        print(f"### backend {b}, {args.start} neurons")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))


if __name__ == "__main__":
    main()
