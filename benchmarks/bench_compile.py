"""``torch.compile`` and ``torch.export`` of norse layers: do they work, and what do they cost?

Part 1 times forward+backward (``out.sum().backward()``, the input requiring grad) of a LIF
layer at (T, B, N) = ``--shape``:

* ``eager auto``: ``LIF()`` (the fused kernel where one applies),
* ``eager reference``: ``LIF(backend="reference")``, the step loop,
* ``compile``: ``torch.compile(LIF())``, and ``compile fullgraph``:
  ``torch.compile(LIF(), fullgraph=True)``. Under compilation the layer records the reference
  loop (the fused kernels are opaque to dynamo), so these measure the compiler on that loop.

Each compiled variant's first call (tracing and compiling forward and backward) is timed on its
own, after ``torch._dynamo.reset()``, and errors are caught and reported. Inductor writes its
caches to a fresh temporary directory (``--keep-inductor-cache`` uses the usual one), so the
first variant's compile is cold; the second may reuse the first's compiled graphs from that
directory when they are the same. Then all variants run interleaved, round by round, in one
process (after a warm-up call each, which recompiles what the resets dropped); the table gives the median of ``--repeat`` rounds,
``compiled/eager`` (the median of the per-round ratios against ``eager auto``), the largest
difference of the spikes from the eager reference, and ``torch._dynamo.explain``'s graph and
graph-break counts.

Part 2 exports ``LIF()`` and a small ``SequentialState(Linear(16, 32), LIF())`` with
``torch.export.export`` (non-strict and strict) on a (10, 2, 16) input and reports ok or the
error, and whether the exported program reproduces the eager output.

The default shape is small because compiling unrolls the time loop (at T = 100 one compile takes
about 40 s on 2 cores); ``--shape 100 16 512`` is the size of the issue.

Example::

    .venv/bin/python benchmarks/bench_compile.py
    .venv/bin/python benchmarks/bench_compile.py --shape 100 16 512 --repeat 9
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch
from _common import add_shape_argument, fmt, markdown, print_header

import norse.torch as nt


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn: Callable[[], object], device: torch.device, number: int = 1) -> float:
    _sync(device)
    start = time.perf_counter()
    for _ in range(number):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / number


def _error(e: BaseException) -> str:
    """One line for a table: the exception's type and the first line of its message."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return f"{type(e).__name__}: {lines[0][:140] if lines else ''}"


def _explain(x: torch.Tensor) -> dict:
    try:
        e = torch._dynamo.explain(nt.LIF())(x.detach())
        reasons = [str(getattr(r, "reason", r)).splitlines()[0][:120] for r in e.break_reasons]
        return {
            "graphs": e.graph_count,
            "graph_breaks": e.graph_break_count,
            "break_reasons": reasons,
        }
    except Exception as e:  # reported, not fatal
        return {"error": _error(e)}
    finally:
        torch._dynamo.reset()


# ----------------------------------------------------------------------------- part 1
def compile_table(args: argparse.Namespace, device: torch.device) -> list[dict]:
    torch.manual_seed(0)
    T, B, N = args.shape
    x = (3.0 * torch.rand(T, B, N, device=device)).requires_grad_(True)
    explained = _explain(x)

    variants: dict[str, dict] = {}
    runs: dict[str, Callable[[], torch.Tensor]] = {}

    def fwd_bwd(module: torch.nn.Module) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            x.grad = None
            out, _ = module(x)
            out.sum().backward()
            return out

        return run

    # Eager first (the auto layer's first call also loads the fused kernel).
    for name, backend in (("eager auto", "auto"), ("eager reference", "reference")):
        fn = fwd_bwd(nt.LIF(backend=backend).to(device))
        variants[name] = {"first_call_s": _time(fn, device)}
        runs[name] = fn

    kwargs = {"backend": args.compile_backend}
    if args.mode:
        kwargs["mode"] = args.mode
    for name, fullgraph in (("compile fullgraph", True), ("compile", False)):
        torch._dynamo.reset()  # nothing of the other variant is reused in memory
        entry: dict = {}
        try:
            compiled = torch.compile(nt.LIF().to(device), fullgraph=fullgraph, **kwargs)
            fn = fwd_bwd(compiled)
            entry["first_call_s"] = _time(fn, device)
            runs[name] = fn
        except Exception as e:  # a failing variant is a result, not the end of the table
            entry["error"] = _error(e)
            if args.verbose:
                traceback.print_exc()
        variants[name] = entry

    # The outputs of every variant against the eager reference.
    reference = runs["eager reference"]().detach().clone()
    for name, fn in runs.items():
        try:
            out = fn().detach()
            diff = (out.float() - reference.float()).abs()
            variants[name]["max_abs_diff"] = diff.max().item()
            variants[name]["spike_mismatches"] = int((diff > 0).sum().item())
        except Exception as e:  # reported, not fatal
            variants[name]["error"] = _error(e)

    # Interleaved timing; short calls repeat back to back to last about 20 ms per sample.
    number = {}
    for name, fn in runs.items():
        once = _time(fn, device)
        number[name] = max(1, min(50, int(0.02 / max(once, 1e-6))))
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeat):
        for name, fn in runs.items():
            samples[name].append(_time(fn, device, number[name]) * 1e3)
    eager = samples["eager auto"]
    for name, times in samples.items():
        variants[name]["ms"] = statistics.median(times)
        variants[name]["samples_ms"] = times
        variants[name]["over_eager"] = statistics.median(
            t / e for t, e in zip(times, eager, strict=True)
        )
    for name in ("compile fullgraph", "compile"):
        variants[name].update({k: v for k, v in explained.items() if k != "break_reasons"})
        if explained.get("break_reasons"):
            variants[name]["break_reasons"] = explained["break_reasons"]
    return [{"variant": name, **entry} for name, entry in variants.items()]


# ----------------------------------------------------------------------------- part 2
def export_table(device: torch.device) -> list[dict]:
    torch.manual_seed(0)
    x = torch.rand(10, 2, 16, device=device)
    models = {
        "LIF()": lambda: nt.LIF(),
        "SequentialState(Linear(16, 32), LIF())": lambda: nt.SequentialState(
            torch.nn.Linear(16, 32), nt.LIF()
        ),
    }
    rows = []
    for label, build in models.items():
        for strict in (False, True):
            entry: dict = {"model": label, "strict": strict}
            try:
                model = build().to(device)
                start = time.perf_counter()
                program = torch.export.export(model, (x,), strict=strict)
                entry["export_s"] = time.perf_counter() - start
                entry["nodes"] = len(program.graph.nodes)
                got = program.module()(x)[0]
                want = model(x)[0]
                entry["matches_eager"] = bool(torch.equal(got, want))
                entry["status"] = "ok"
            except Exception as e:  # the result of this row
                entry["status"] = "failed"
                entry["error"] = _error(e)
            rows.append(entry)
    return rows


# ----------------------------------------------------------------------------- printing
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_shape_argument(
        parser, (25, 16, 512), "input shape (default 25 16 512; the issue's size is 100 16 512)"
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--repeat", type=int, default=7, help="interleaved timed rounds (median)")
    parser.add_argument("--compile-backend", default="inductor", help="torch.compile backend")
    parser.add_argument("--mode", default=None, help="torch.compile mode (e.g. max-autotune)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--no-export", action="store_true", help="skip the torch.export part")
    parser.add_argument(
        "--keep-inductor-cache",
        action="store_true",
        help="use inductor's usual cache directory instead of a fresh temporary one",
    )
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--verbose", action="store_true", help="print compile tracebacks")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    print_header(device)
    print(f"# LIF fwd+bwd at (T, B, N) = {tuple(args.shape)} on {args.device}, torch.compile "
          f"backend={args.compile_backend!r} mode={args.mode!r}; medians of {args.repeat} rounds")  # fmt: skip
    print()

    scratch = None
    if not args.keep_inductor_cache:
        scratch = tempfile.mkdtemp(prefix="norse-bench-inductor-")
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = scratch
    try:
        compiled = compile_table(args, device)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    rows = []
    for r in compiled:
        graphs = f"{r['graphs']} / {r['graph_breaks']}" if "graphs" in r else "-"
        rows.append(
            [
                r["variant"],
                fmt(r.get("first_call_s")),
                fmt(r.get("ms")),
                fmt(r.get("over_eager")),
                fmt(r.get("max_abs_diff"), ".3g"),
                graphs,
                r.get("error", ""),
            ]
        )
    header = [
        "variant",
        "first call s",
        "fwd+bwd ms",
        "this/eager auto",
        "max diff vs eager ref",
        "graphs / breaks",
        "error",
    ]
    print(markdown(header, rows))
    for r in compiled:
        for reason in r.get("break_reasons", [])[:3]:
            print(f"#   {r['variant']} graph break: {reason}")

    exported = []
    if not args.no_export:
        exported = export_table(device)
        print()
        print("torch.export.export on a (10, 2, 16) input:")
        print()
        rows = [
            [
                e["model"],
                "yes" if e["strict"] else "no",
                e["status"],
                fmt(e.get("export_s")),
                str(e.get("nodes", "-")),
                {True: "yes", False: "NO"}.get(e.get("matches_eager"), "-"),
                e.get("error", ""),
            ]
            for e in exported
        ]
        header = ["model", "strict", "status", "export s", "graph nodes", "= eager", "error"]
        print(markdown(header, rows))
    print()
    print("# this/eager auto: median over rounds of this variant's time / LIF()'s eager time "
          "(< 1: faster than eager)")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({"compile": compiled, "export": exported}, indent=2))


if __name__ == "__main__":
    main()
