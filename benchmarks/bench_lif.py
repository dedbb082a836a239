"""Time a LIF layer (and Linear + LIF) forward and forward+backward: norse vs snnTorch, SpikingJelly.

Every measurement runs in its own subprocess (a clean heap, and peak memory per case):

* norse ``reference``: the step function looped over time with autograd
  (:mod:`norse.torch.kernels.reference`), and norse ``fused``: the CPU kernels
  (:mod:`norse.torch.kernels.cpu`), both with this interpreter;
* snnTorch (``snntorch.Leaky`` looped over ``x.unbind(0)``) and SpikingJelly
  (``activation_based.neuron.LIFNode(step_mode="m")``) with ``--peer-python``, an interpreter
  of a throwaway environment that has them (see ``benchmarks/README.md``).

Configurations: the LIF layer alone at (T, B, N) = (100, 16, 512) and (500, 16, 4096), with
the input requiring grad, and the Open Neuromorphic workload (Linear(N, N) + LIF, B=16, T=500)
for the sizes in ``--on-sizes``. Forward is timed with autograd recording (as in training);
forward+backward includes ``out.sum().backward()``. Each time is the fastest of at least
``--repeat`` runs (short cases repeat until they fill two seconds) after one warm-up run: on a
shared machine the minimum is the most reproducible estimate (``--json`` keeps every sample
and the medians). Peak memory is the growth of the process's peak RSS over the timed runs,
above what the input, the model and a tiny warm-up run (which loads lazily imported code)
took before them.

The memory-bandwidth bound of the LIF layer is estimated from a copy of the same bytes: the
forward pass must at least read the input and write the spikes (one copy), backward must at
least read what forward kept and write the input gradient (a second copy). The copy runs right
before each timed run of the fused layer; the table gives the fastest run over the fastest
copy and, since the machine's bandwidth may change between the two, the median of each run
over the copy just before it.

Example::

    python benchmarks/bench_lif.py --peer-python /tmp/benchpeers/bin/python --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import fmt

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PEER = "/tmp/benchpeers/bin/python"
FRAMEWORKS = ("reference", "fused", "snntorch", "spikingjelly")
NORSE = ("reference", "fused")


# ----------------------------------------------------------------------------- worker side
def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _build(framework: str, n: int, linear: bool):
    """A callable ``x -> spikes`` for one framework, plus a ``reset`` between runs."""
    import torch

    lin = torch.nn.Linear(n, n) if linear else None

    def pre(x):
        return lin(x) if lin is not None else x

    if framework in NORSE:
        sys.path.insert(0, str(REPO))
        from norse.torch import LIF

        lif = LIF(backend="cpu" if framework == "fused" else "reference")

        def forward(x):
            return lif(pre(x))[0]

        return forward, lambda: None, lin
    if framework == "snntorch":
        import snntorch

        leaky = snntorch.Leaky(beta=0.9)

        def forward(x):
            mem = leaky.init_leaky()
            spikes = []
            for x_t in pre(x).unbind(0):
                spk, mem = leaky(x_t, mem)
                spikes.append(spk)
            return torch.stack(spikes)

        return forward, lambda: None, lin
    if framework == "spikingjelly":
        from spikingjelly.activation_based import neuron

        node = neuron.LIFNode(step_mode="m")

        def forward(x):
            return node(pre(x))

        return forward, node.reset, lin
    raise ValueError(f"unknown framework {framework!r}")


def worker(
    framework: str,
    T: int,
    B: int,
    N: int,
    linear: bool,
    repeat: int,
    copy: bool = False,
    min_time: float = 2.0,
) -> dict:
    import torch

    torch.manual_seed(0)
    forward, reset, lin = _build(framework, N, linear)
    x = torch.rand(T, B, N) * 0.5
    if not linear:
        x.requires_grad_(True)
    params = list(lin.parameters()) if lin is not None else []

    def clear():
        reset()
        x.grad = None
        for q in params:
            q.grad = None

    def run_fwd():
        clear()
        return forward(x)

    def run_fwd_bwd():
        clear()
        forward(x).sum().backward()

    # The bandwidth bound is a copy of the input-sized tensor into a warm buffer, timed right
    # before each timed run, so that both see the same state of a shared machine.
    src = torch.rand(T, B, N) if copy else None
    dst = src.clone() if copy else None  # touched now, so it does not count as peak growth
    copies: list[float] = []
    paired: dict[str, list[float]] = {"fwd": [], "fwd_bwd": []}  # each run over the copy before it

    # A tiny run first loads everything a framework loads lazily (numba and the compiled
    # kernels, for the fused one), so that peak memory counts only the timed work.
    tiny = torch.rand(2, 1, N, requires_grad=not linear)
    forward(tiny).sum().backward()
    clear()
    del tiny

    base = _rss_mb()
    peak_before = _peak_rss_mb()
    times = {}
    for name, fn in (("fwd", run_fwd), ("fwd_bwd", run_fwd_bwd)):
        fn()  # warm-up (and, for the fused kernels, loading the compiled code)
        samples: list[float] = []
        # At least ``repeat`` runs; short cases repeat until they fill ``min_time`` seconds.
        while len(samples) < repeat or (sum(samples) < min_time and len(samples) < 200):
            if copy:
                t0 = time.perf_counter()
                dst.copy_(src)
                copies.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            out = fn()
            samples.append(time.perf_counter() - t0)
            del out
            if copy:  # the bound of fwd+bwd is two copies
                paired[name].append(samples[-1] / copies[-1] / (1 if name == "fwd" else 2))
        times[name] = [t * 1e3 for t in samples]
    peak = max(_peak_rss_mb(), peak_before) - base
    result = {
        "fwd_ms": min(times["fwd"]),
        "fwd_bwd_ms": min(times["fwd_bwd"]),
        "fwd_median_ms": statistics.median(times["fwd"]),
        "fwd_bwd_median_ms": statistics.median(times["fwd_bwd"]),
        "samples_ms": times,
        "peak_mb": peak,
    }
    if copy:
        result["copy_ms"] = min(copies) * 1e3
        result["copy_samples_ms"] = [t * 1e3 for t in copies]
        result["copy_gbps"] = 2 * src.numel() * 4 / min(copies) / 1e9
        result["paired_fwd"] = statistics.median(paired["fwd"])
        result["paired_fwd_bwd"] = statistics.median(paired["fwd_bwd"])
    return result


# ----------------------------------------------------------------------------- driver side
def _spawn(python: str, args: list[str], timeout: float) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [python, str(Path(__file__).resolve()), *args]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": tail[0][:120]}
    return json.loads(lines[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--peer-python",
        default=None,
        help=f"interpreter with snntorch and spikingjelly (default: {DEFAULT_PEER} if present)",
    )
    ap.add_argument("--no-peers", action="store_true", help="skip snnTorch and SpikingJelly")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per case (median)")
    ap.add_argument(
        "--on-sizes",
        default="4096",
        help="N of the Linear+LIF workload, comma separated (e.g. 4096,8192,16384); empty for none",
    )
    ap.add_argument("--on-repeat", type=int, default=2, help="timed runs per Linear+LIF case")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per case")
    ap.add_argument("--json", default=None, help="also write the results to this file")
    ap.add_argument(
        "--frameworks", default=",".join(FRAMEWORKS), help="subset to run, comma separated"
    )
    ap.add_argument("--skip-layer", action="store_true", help="only the Linear+LIF workload")
    ap.add_argument(
        "--worker",
        nargs=6,
        metavar=("FRAMEWORK", "T", "B", "N", "LINEAR", "REPEAT"),
        help=argparse.SUPPRESS,
    )
    ap.add_argument(
        "--bandwidth", nargs=4, metavar=("T", "B", "N", "REPEAT"), help=argparse.SUPPRESS
    )
    a = ap.parse_args()  # fmt: skip

    if a.worker:
        fw, T, B, N, linear, repeat = a.worker
        copy = fw == "fused" and linear == "0"
        print(json.dumps(worker(fw, int(T), int(B), int(N), linear == "1", int(repeat), copy)))
        return

    peer = a.peer_python or (DEFAULT_PEER if Path(DEFAULT_PEER).exists() else None)
    wanted = [f for f in a.frameworks.split(",") if f]
    unknown = set(wanted) - set(FRAMEWORKS)
    if unknown:
        ap.error(f"unknown framework(s) {sorted(unknown)}; choose from {', '.join(FRAMEWORKS)}")
    frameworks = [f for f in wanted if f in NORSE]
    if a.no_peers or peer is None:
        note = "--no-peers" if a.no_peers else f"no --peer-python and no {DEFAULT_PEER}"
        print(f"# peers skipped ({note}); see benchmarks/README.md to set them up")
    else:
        frameworks += [f for f in wanted if f not in NORSE]

    import torch

    load = os.getloadavg()
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}  {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")  # fmt: skip
    print(f"# command: {' '.join([Path(sys.executable).name, *sys.argv])}")

    configs = (
        []
        if a.skip_layer
        else [("LIF", 100, 16, 512, False, a.repeat), ("LIF", 500, 16, 4096, False, a.repeat)]
    )
    configs += [
        ("Linear+LIF", 500, 16, int(n), True, a.on_repeat) for n in a.on_sizes.split(",") if n
    ]
    results = []
    header = f"{'config':<28}{'framework':<14}{'fwd ms':>10}{'fwd+bwd ms':>12}{'ref/this':>10}{'this/fused':>11}{'peak MB':>10}"
    print(header)
    print("-" * len(header))
    for label, T, B, N, linear, repeat in configs:
        name = f"{label} ({T},{B},{N})"
        rows = {}
        for fw in frameworks:
            python = sys.executable if fw in NORSE else peer
            args = ["--worker", fw, str(T), str(B), str(N), "1" if linear else "0", str(repeat)]
            rows[fw] = _spawn(python, args, a.timeout)
        ref = rows.get("reference", {}).get("fwd_bwd_ms")
        fused = rows.get("fused", {}).get("fwd_bwd_ms")
        for fw, r in rows.items():
            if "error" in r:
                print(f"{name:<28}{fw:<14}  {r['error']}")
                continue
            t = r["fwd_bwd_ms"]
            print(f"{name:<28}{fw:<14}{r['fwd_ms']:>10.1f}{t:>12.1f}"
                  f"{fmt(ref / t if ref else None, '.2f'):>10}"
                  f"{fmt(t / fused if fused else None, '.2f'):>11}{r['peak_mb']:>10.0f}")  # fmt: skip
        entry = {"config": name, "T": T, "B": B, "N": N, "linear": linear, "results": rows}
        f = rows.get("fused", {})
        if "copy_ms" in f:
            c = f["copy_ms"]
            print(f"{'':<28}{'copy bound':<14}{c:>10.1f}{2 * c:>12.1f}"
                  f"   fused/bound: fwd {f['fwd_ms'] / c:.2f}x, fwd+bwd "
                  f"{f['fwd_bwd_ms'] / (2 * c):.2f}x ({f['copy_gbps']:.1f} GB/s copy)")  # fmt: skip
            print(f"{'':<28}{'':<14}{'':>22}   median of each run over the copy just before "
                  f"it: fwd {f['paired_fwd']:.2f}x, fwd+bwd {f['paired_fwd_bwd']:.2f}x")  # fmt: skip
        results.append(entry)
    print()
    print(
        "# this/fused: how many times longer than norse fused (fwd+bwd); ref/this: speed-up over the reference"
    )
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
