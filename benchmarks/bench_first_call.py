"""The first ``LIF()(x)`` forward+backward of a fresh process, with an empty and a warm kernel cache.

Each measurement is a new interpreter (``python -c``) that imports torch and the framework,
builds a LIF layer and runs forward+backward (``out.sum().backward()``) at (T, B, N) =
``--shape`` twice. The table gives the wall time of the whole subprocess (interpreter start,
imports, both calls, exit), the two imports, the first call and the second call.

The kernel cache is a fresh temporary directory per repetition, given to the child as
``NORSE_CACHE_DIR`` (where the engine keeps numba caches and generated sources), with
``NUMBA_CACHE_DIR`` and ``TRITON_CACHE_DIR`` set to its subfolders ``numba`` and ``triton``:

* ``empty``: the first process on the fresh directory (compiles the fused kernels);
* ``warm``: a second process on the same directory (loads them).

``cache files`` counts the files the empty-cache run left in the directory. Rows for
``LIF(backend="reference")`` (no kernels: the floor of import and autograd) and, where their
interpreter can import them, snnTorch (``snntorch.Leaky`` looped over time) and SpikingJelly
(``activation_based.neuron.LIFNode(step_mode="m")``) run the same way. The peers are looked for
in this interpreter and in ``--peer-python`` (default ``/tmp/benchpeers/bin/python`` when it
exists; see ``benchmarks/README.md``). Times are medians over ``--repeat`` repetitions.

Example::

    .venv/bin/python benchmarks/bench_first_call.py
    .venv/bin/python benchmarks/bench_first_call.py --repeat 3 --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import add_shape_argument, fmt, markdown

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PEER = "/tmp/benchpeers/bin/python"

#: The child: ``python -c CHILD FRAMEWORK BACKEND DEVICE T B N``; prints one JSON line.
CHILD = r"""
import time
t0 = time.perf_counter()
import json, sys
import torch
t1 = time.perf_counter()
framework, backend, device = sys.argv[1], sys.argv[2], sys.argv[3]
T, B, N = (int(a) for a in sys.argv[4:7])
info = {}
if framework == "norse":
    import norse.torch as nt
    t2 = time.perf_counter()
    layer = nt.LIF(backend=backend).to(device)
    def forward(x):
        return layer(x)[0]
elif framework == "snntorch":
    import snntorch
    t2 = time.perf_counter()
    leaky = snntorch.Leaky(beta=0.9).to(device)
    def forward(x):
        mem = leaky.init_leaky()
        out = []
        for x_t in x.unbind(0):
            spk, mem = leaky(x_t, mem)
            out.append(spk)
        return torch.stack(out)
elif framework == "spikingjelly":
    from spikingjelly.activation_based import neuron
    t2 = time.perf_counter()
    node = None
    for name in (("triton", "cupy", "torch") if device == "cuda" else ("torch",)):
        try:
            node = neuron.LIFNode(step_mode="m", backend=name).to(device)
            info["ran"] = name
            break
        except Exception:
            continue
    def forward(x):
        node.reset()
        return node(x)
else:
    raise SystemExit(f"unknown framework {framework}")
torch.manual_seed(0)
x = (3.0 * torch.rand(T, B, N, device=device)).requires_grad_(True)
def sync():
    if device == "cuda":
        torch.cuda.synchronize()
def fwd_bwd():
    x.grad = None
    forward(x).sum().backward()
    sync()
s = time.perf_counter()
fwd_bwd()
t3 = time.perf_counter()
fwd_bwd()
t4 = time.perf_counter()
if framework == "norse":  # which backend "auto" chose (after the timing)
    from norse.torch import kernels
    picked, select = [], kernels.select
    def recording(call, backend="auto"):
        got = select(call, backend)
        picked.append(got[0])
        return got
    kernels.select = recording
    layer(x)
    kernels.select = select
    info["ran"] = picked[-1] if picked else "?"
print(json.dumps({
    "import_torch_s": t1 - t0,
    "import_framework_s": t2 - t1,
    "first_call_s": t3 - s,
    "second_call_ms": (t4 - t3) * 1e3,
    "to_first_result_s": t3 - t0,
    **info,
}))
"""


def _count_files(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


def run_child(
    python: str, framework: str, backend: str, device: str, shape, cache: Path, timeout: float
) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["NORSE_CACHE_DIR"] = str(cache)
    env["NUMBA_CACHE_DIR"] = str(cache / "numba")
    env["TRITON_CACHE_DIR"] = str(cache / "triton")
    cmd = [python, "-c", CHILD, framework, backend, device, *map(str, shape)]
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    wall = time.perf_counter() - start
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": tail[0][:120]}
    return {"process_s": wall, **json.loads(lines[-1])}


def importable(python: str, module: str) -> bool:
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    try:
        return subprocess.run([python, "-c", code], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if key in r]
    return statistics.median(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_shape_argument(parser, (100, 16, 512))
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--backend", default="auto", help="norse backend of the LIF layer")
    parser.add_argument("--repeat", type=int, default=1, help="empty/warm pairs per framework")
    parser.add_argument(
        "--peer-python",
        default=None,
        help=f"interpreter with snntorch / spikingjelly (default: {DEFAULT_PEER} if present)",
    )
    parser.add_argument("--no-peers", action="store_true", help="skip snnTorch and SpikingJelly")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference rows")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per subprocess")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()

    cases: list[tuple[str, str, str, str]] = [("norse", f"LIF(backend={args.backend!r})", sys.executable, args.backend)]  # fmt: skip
    if not args.no_reference and args.backend != "reference":
        cases.append(("norse", "LIF(backend='reference')", sys.executable, "reference"))
    notes = []
    if not args.no_peers:
        peer = args.peer_python or (DEFAULT_PEER if Path(DEFAULT_PEER).exists() else None)
        for module, label in (("snntorch", "snnTorch Leaky"), ("spikingjelly", "SpikingJelly LIFNode")):  # fmt: skip
            found = next(
                (py for py in (sys.executable, peer) if py and importable(py, module)), None
            )
            if found:
                cases.append((module, label, found, "-"))
            else:
                notes.append(f"{module} not importable here{' nor by ' + peer if peer else ''}")

    load = os.getloadavg()
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}  {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")  # fmt: skip
    print(f"# command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"# first LIF fwd+bwd of a fresh process at (T, B, N) = {tuple(args.shape)} on "
          f"{args.device}; medians of {args.repeat} repetition(s)")  # fmt: skip
    for note in notes:
        print(f"# skipped: {note}")
    print()

    results = []
    rows = []
    for framework, label, python, backend in cases:
        runs: dict[str, list[dict]] = {"empty": [], "warm": []}
        files: list[int] = []
        for _ in range(args.repeat):
            cache = Path(tempfile.mkdtemp(prefix="norse-first-call-"))
            try:
                for state in ("empty", "warm"):
                    r = run_child(
                        python, framework, backend, args.device, args.shape, cache, args.timeout
                    )
                    runs[state].append(r)
                    if state == "empty":
                        files.append(_count_files(cache))
            finally:
                shutil.rmtree(cache, ignore_errors=True)
        for state, got in runs.items():
            ok = [r for r in got if "error" not in r]
            entry = {
                "framework": framework,
                "label": label,
                "cache": state,
                "runs": got,
                **{
                    k: _median(ok, k)
                    for k in (
                        "process_s",
                        "import_torch_s",
                        "import_framework_s",
                        "first_call_s",
                        "second_call_ms",
                        "to_first_result_s",
                    )
                },
            }
            if state == "empty":
                entry["cache_files"] = statistics.median(files) if files else None
            results.append(entry)
            ran = next((r["ran"] for r in ok if "ran" in r), "-")
            error = next((r["error"] for r in got if "error" in r), "")
            rows.append(
                [
                    label,
                    ran,
                    state,
                    fmt(entry["process_s"]),
                    fmt(entry["import_torch_s"]),
                    fmt(entry["import_framework_s"]),
                    fmt(entry["first_call_s"]),
                    fmt(entry["second_call_ms"], ".1f"),
                    fmt(entry.get("cache_files"), ".0f") if state == "empty" else "",
                    error,
                ]
            )
    header = [
        "layer",
        "ran",
        "cache",
        "process s",
        "import torch s",
        "import framework s",
        "first fwd+bwd s",
        "second fwd+bwd ms",
        "cache files",
        "error",
    ]
    print(markdown(header, rows))
    print()
    print("# process s: wall time of the whole subprocess (start, imports, two calls, exit)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
