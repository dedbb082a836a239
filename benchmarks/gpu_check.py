"""One GPU check in one script (at most 8 minutes on an H200): tests, equivalence, benchmarks.

``make gpu-check`` (= ``.venv/bin/python benchmarks/gpu_check.py``) runs three parts, each in
its own subprocess with its own time limit, so that a failure, a crash of the CUDA context or a
hang in one part does not stop the others:

a. ``pytest -m cuda tests -x -q`` with ``TRITON_INTERPRET=0`` (compiled Triton kernels),
   limited to ``--pytest-limit`` seconds (default 240);
b. fused against reference on CUDA: for every model of ``norse.torch._registry.MODELS`` with a
   layer class, ``backend="auto"`` against ``backend="reference"`` at (T, B, N) =
   ``--equiv-shape`` (default (100, 16, 4096)), float32, the same input and cotangents: the
   backend auto ran, spike mismatches (count, first step), the largest difference of outputs,
   final states and input gradients (limit ``--equiv-limit``, default 100 s);
c. GPU benchmarks, forward+backward timed with CUDA events (median of ``--repeat`` interleaved
   rounds after warm-up): the LIF layer at ``--bench-shape`` (default (500, 16, 4096)) and the
   Open Neuromorphic workload ``Linear(N, N)`` + LIF at T = ``--on-T`` (256), B = 16 for N in
   ``--on-sizes`` (4096, 8192, 16384), each in float32 and bfloat16, for ``backend="auto"``,
   ``backend="reference"`` and SpikingJelly's ``LIFNode(step_mode="m")`` on its fastest
   backend that runs (``triton``, then ``cupy``, then ``torch``) when it is installed; with
   the peak memory of each and, for the LIF layer, the time of copying the input once (the
   memory-bandwidth bound of forward; twice for forward+backward). This part gets the rest of
   ``--budget`` (default 480 s).

A part that runs out of time reports what it finished and marks the rest ``skipped``; a worker
that dies has its current case marked ``crashed`` and is restarted on the cases left. The
results go to ``$OUT/gpu_check.json`` and ``$OUT/gpu_check.md`` when the environment variable
``OUT`` is set, else to ``benchmarks/results/``; the markdown is printed too. Without a CUDA
device the script writes "no CUDA device" there and exits 0; ``--device cpu`` runs the parts on
the CPU instead (with ``--smoke`` sizes, to test the script itself).

Example::

    make gpu-check
    .venv/bin/python benchmarks/gpu_check.py --skip-pytest --on-sizes 4096
    .venv/bin/python benchmarks/gpu_check.py --device cpu --smoke     # the script, on a laptop
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from _common import fmt
from _common import markdown as table

REPO = Path(__file__).resolve().parents[1]

DTYPES = ("float32", "bfloat16", "float16", "float64")


def _error(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return f"{type(e).__name__}: {lines[0][:200] if lines else ''}"


# ============================================================================ worker side
def _leaves(obj, prefix: str = "state") -> list[tuple[str, object]]:
    """``(path, tensor)`` of every tensor in a (nested) state tuple."""
    import torch

    if isinstance(obj, torch.Tensor):
        return [(prefix, obj)]
    if isinstance(obj, tuple):
        names = getattr(obj, "_fields", None) or [str(i) for i in range(len(obj))]
        out = []
        for name, value in zip(names, obj, strict=True):
            out.extend(_leaves(value, f"{prefix}.{name}"))
        return out
    return []


class _Recorder:
    """Records the backend that :func:`norse.torch.kernels.select` picks while active."""

    def __enter__(self):
        from norse.torch import kernels

        self.kernels, self.original, self.picked = kernels, kernels.select, []

        def select(call, backend="auto"):
            got = self.original(call, backend)
            self.picked.append(got[0])
            return got

        kernels.select = select
        return self

    def __exit__(self, *exc):
        self.kernels.select = self.original

    @property
    def name(self) -> str:
        return self.picked[-1] if self.picked else "?"


def _rel(diff: float, scale: float) -> float:
    return diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))


def equivalence_case(case: dict, device: str, opts: dict) -> dict:
    """``backend="auto"`` against ``backend="reference"`` for one model."""
    import torch

    from norse.torch import _registry

    spec = next(s for s in _registry.MODELS if s.name == case["model"])
    layer_cls = _registry.module_classes(spec).get("layer")
    if layer_cls is None:
        return {"status": "skipped", "why": "no feed-forward layer class"}
    kwargs = dict(spec.example)
    drive = spec.drive
    dtype = getattr(torch, opts["equiv_dtype"])
    T, B, N = opts["equiv_shape"]
    gen = torch.Generator(device=device).manual_seed(0)
    x = (drive * torch.rand(T, B, N, device=device, generator=gen)).to(dtype)
    cotangents: dict[str, torch.Tensor] = {}

    def cotangent(key: str, like: torch.Tensor) -> torch.Tensor:
        if key not in cotangents:
            g = torch.Generator(device=device).manual_seed(len(cotangents) + 1)
            cotangents[key] = torch.randn(like.shape, device=device, generator=g).to(like.dtype)
        return cotangents[key]

    runs = {}
    for backend in ("reference", "auto"):
        layer = layer_cls(**kwargs, backend=backend).to(device)
        xi = x.clone().requires_grad_(True)
        start = time.perf_counter()
        with _Recorder() as rec:
            out, state = layer(xi)
        loss = (out.float() * cotangent("out", out).float()).sum()
        leaves = _leaves(state)
        for path, leaf in leaves:
            if leaf.is_floating_point() and leaf.requires_grad:
                loss = loss + (leaf.float() * cotangent(path, leaf).float()).sum()
        loss.backward()
        if device == "cuda":
            torch.cuda.synchronize()
        runs[backend] = {
            "ran": rec.name,
            "s": time.perf_counter() - start,
            "out": out.detach(),
            "state": {p: v.detach() for p, v in leaves},
            "grad": xi.grad,
        }
        del layer, out, state, loss, xi
    ref, auto = runs["reference"], runs["auto"]
    result: dict = {
        "status": "ok",
        "layer": layer_cls.__name__,
        "kwargs_from": "norse.torch._registry",
        "auto_ran": auto["ran"],
        "first_call_s": {"reference": ref["s"], "auto": auto["s"]},
        "output": spec.output,
    }
    a, r = auto["out"].float(), ref["out"].float()
    diff = (a - r).abs()
    result["out_max_abs_diff"] = diff.max().item()
    result["out_rel_diff"] = _rel(result["out_max_abs_diff"], r.abs().max().item())
    if spec.output == "spikes":
        mismatch = a != r
        result["spikes_ref"] = int(r.sum().item())
        result["spike_mismatches"] = int(mismatch.sum().item())
        result["spike_mismatch_fraction"] = result["spike_mismatches"] / max(1, r.numel())
        steps = mismatch.flatten(1).any(1).nonzero()
        result["first_mismatch_step"] = int(steps[0].item()) if len(steps) else None
    states = {}
    for path, value in ref["state"].items():
        other = auto["state"].get(path)
        if other is None or other.shape != value.shape:
            states[path] = "missing or other shape"
            continue
        states[path] = (other.float() - value.float()).abs().max().item()
    result["state_max_abs_diff"] = states
    numeric = [v for v in states.values() if isinstance(v, float)]
    result["state_max"] = max(numeric) if numeric else None
    if ref["grad"] is None or auto["grad"] is None:
        result["grad_error"] = "no input gradient"
    else:
        g = (auto["grad"].float() - ref["grad"].float()).abs().max().item()
        result["grad_max_abs_diff"] = g
        result["grad_rel_diff"] = _rel(g, ref["grad"].float().abs().max().item())
    result["verdict"] = _verdict(result)
    return result


def _verdict(r: dict) -> str:
    exact = (
        r.get("out_max_abs_diff") == 0
        and r.get("state_max") in (0, 0.0, None)
        and r.get("grad_max_abs_diff") == 0
    )
    if exact:
        return "identical"
    if r.get("spike_mismatches", 0) > 0:
        return "close" if r["spike_mismatch_fraction"] <= 1e-3 else "DIFFERS"
    if "grad_error" in r or any(isinstance(v, str) for v in r["state_max_abs_diff"].values()):
        return "DIFFERS"
    worst = max(r.get("out_rel_diff", 0.0), r.get("grad_rel_diff", 0.0))
    return "close" if worst <= 1e-3 else "DIFFERS"


def _timer(device: str) -> Callable[[Callable[[], object]], float]:
    """Milliseconds of one call: CUDA events on a GPU, ``perf_counter`` on the CPU."""
    import torch

    if device == "cuda":

        def timed(fn):
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end)

        return timed

    def timed_cpu(fn):
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1e3

    return timed_cpu


def _spikingjelly(device: str, dtype) -> tuple[object, str] | str:
    """SpikingJelly's multi-step LIFNode on its fastest backend that runs here, or why not."""
    import torch

    try:
        from spikingjelly.activation_based import neuron
    except Exception as e:
        return f"not installed ({_error(e)})"
    why = []
    for name in ("triton", "cupy", "torch"):
        try:
            node = neuron.LIFNode(step_mode="m", backend=name).to(device)
            probe = torch.rand(4, 2, 64, device=device, dtype=dtype, requires_grad=True)
            node(probe).float().sum().backward()
            node.reset()
            return node, name
        except Exception as e:
            why.append(f"{name}: {_error(e)[:80]}")
    return "no backend ran: " + "; ".join(why)


def bench_case(case: dict, device: str, opts: dict, deadline: float) -> dict:
    """Interleaved fwd+bwd timings of one configuration on every framework."""
    import torch

    from norse.torch import LIF

    dtype = getattr(torch, case["dtype"])
    T, B, N = case["T"], case["B"], case["N"]
    torch.manual_seed(0)
    lin = torch.nn.Linear(N, N).to(device=device, dtype=dtype) if case["linear"] else None
    x = (torch.rand(T, B, N, device=device) * (0.5 if lin is not None else 3.0)).to(dtype)
    if lin is None:
        x.requires_grad_(True)
    params = list(lin.parameters()) if lin is not None else []

    def pre(v):
        return lin(v) if lin is not None else v

    def clear():
        x.grad = None
        for q in params:
            q.grad = None

    frameworks: dict[str, Callable[[], None]] = {}
    result: dict = {"status": "ok", "frameworks": {}}
    ran = {}
    for backend in ("auto", "reference"):
        layer = LIF(backend=backend).to(device)
        if backend == "auto":
            with _Recorder() as rec, torch.no_grad():
                layer(pre(x[:2]))
            ran[backend] = rec.name

        def run(layer=layer):
            clear()
            layer(pre(x))[0].float().sum().backward()

        frameworks[backend] = run
        ran.setdefault(backend, "reference")
    sj = _spikingjelly(device, dtype) if opts["peers"] else "not requested (--no-peers)"
    if isinstance(sj, tuple):
        node, sj_backend = sj

        def run_sj():
            clear()
            node.reset()
            node(pre(x)).float().sum().backward()

        frameworks["spikingjelly"] = run_sj
        ran["spikingjelly"] = sj_backend
    else:
        result["frameworks"]["spikingjelly"] = {"error": sj}

    timed = _timer(device)
    runs = {}
    for name, fn in frameworks.items():
        entry = result["frameworks"].setdefault(name, {"ran": ran[name]})
        try:
            t0 = time.perf_counter()
            fn()  # first call: compiles the kernels (Triton's cache may hold them)
            if device == "cuda":
                torch.cuda.synchronize()
            entry["first_call_s"] = time.perf_counter() - t0
            fn()
            runs[name] = fn
        except Exception as e:
            entry["error"] = _error(e)
    samples: dict[str, list[float]] = {name: [] for name in runs}
    copies: list[float] = []
    src = x.detach().clone() if lin is None else None
    dst = torch.empty_like(src) if src is not None else None
    for _ in range(opts["repeat"]):
        if time.time() > deadline - 5:
            result["note"] = "rounds cut short by the time budget"
            break
        if src is not None:
            copies.append(timed(lambda: dst.copy_(src)))
        for name, fn in runs.items():
            samples[name].append(timed(fn))
    for name, times in samples.items():
        if times:
            entry = result["frameworks"][name]
            entry["ms"] = statistics.median(times)
            entry["samples_ms"] = times
    if copies:
        result["copy_ms"] = statistics.median(copies)
    order = ("auto", "reference", "spikingjelly")
    result["frameworks"] = {k: result["frameworks"][k] for k in order if k in result["frameworks"]}
    if device == "cuda":
        for name, fn in runs.items():
            gc.collect()
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            fn()
            torch.cuda.synchronize()
            result["frameworks"][name]["peak_mb"] = (
                torch.cuda.max_memory_allocated() - base
            ) / 2**20
    return result


def worker(part: str, cases_file: str, results_file: str, deadline: float, opts: dict) -> None:
    import torch

    device = opts["device"]
    cases = json.loads(Path(cases_file).read_text())
    with open(results_file, "a") as out:

        def emit(record: dict) -> None:
            out.write(json.dumps(record) + "\n")
            out.flush()

        for case in cases:
            if time.time() > deadline - opts["min_case_s"]:
                emit({"id": case["id"], "status": "skipped", "why": "time budget"})
                continue
            emit({"id": case["id"], "event": "start"})
            t0 = time.perf_counter()
            try:
                if part == "equivalence":
                    result = equivalence_case(case, device, opts)
                else:
                    result = bench_case(case, device, opts, deadline)
            except Exception as e:
                result = {"status": "error", "error": _error(e)}
                traceback.print_exc()
            result["case_s"] = time.perf_counter() - t0
            emit({"id": case["id"], "event": "done", **result})
            gc.collect()
            if device == "cuda":
                torch.cuda.empty_cache()


# ============================================================================ driver side
def _kill(proc: subprocess.Popen) -> None:
    """End a worker we started, with its process group (it runs in a session of its own)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


def _tail(path: Path, lines: int = 20) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def run_part(part: str, cases: list[dict], deadline: float, opts: dict, tmp: Path) -> list[dict]:
    """Run ``cases`` in worker subprocesses until done or ``deadline``; one result per case."""
    results: dict[str, dict] = {}
    remaining = list(cases)
    attempt = 0
    while remaining and time.time() < deadline - opts["min_case_s"]:
        attempt += 1
        cases_file = tmp / f"{part}-{attempt}-cases.json"
        results_file = tmp / f"{part}-{attempt}-results.jsonl"
        log = tmp / f"{part}-{attempt}.log"
        cases_file.write_text(json.dumps(remaining))
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", part]
        cmd += ["--cases", str(cases_file), "--results", str(results_file)]
        cmd += ["--deadline", repr(deadline), "--opts", json.dumps(opts)]
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))  # fmt: skip
        if opts["device"] == "cuda":
            env["TRITON_INTERPRET"] = "0"  # compiled kernels, whatever the caller's environment
        timed_out = False
        with open(log, "w") as log_file:
            proc = subprocess.Popen(
                cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
            try:
                proc.wait(timeout=max(1.0, deadline - time.time() + 5))
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill(proc)
        started, before = [], len(results)
        for line in _tail(results_file, 10**6):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("event") == "start":
                started.append(record["id"])
            else:
                record.pop("event", None)
                results[record.pop("id")] = record
        for case_id in started:
            if case_id not in results:
                if timed_out:
                    entry = {"status": "timeout", "error": "killed at the part's time limit"}
                else:
                    entry = {"status": "crashed", "error": f"worker exit code {proc.returncode}"}
                results[case_id] = {**entry, "log": _tail(log)}
        remaining = [c for c in remaining if c["id"] not in results]
        if timed_out or proc.returncode == 0:
            break
        if len(results) == before:  # died before finishing anything: do not loop
            for c in remaining:
                results[c["id"]] = {"status": "error", "error": "worker failed", "log": _tail(log)}
            break
    for c in remaining:
        results.setdefault(c["id"], {"status": "skipped", "why": "time budget"})
    return [{**case, **results[case["id"]]} for case in cases]


def run_pytest(limit: float, extra: list[str], tmp: Path) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-m", "cuda", "tests", "-x", "-q", *extra]
    env = dict(os.environ, TRITON_INTERPRET="0")
    log = tmp / "pytest.log"
    t0 = time.perf_counter()
    timed_out = False
    with open(log, "w") as log_file:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=max(1.0, limit))
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill(proc)
    lines = _tail(log, 60)
    summary = next(
        (
            ln.strip("= ")
            for ln in reversed(lines)
            if any(w in ln for w in ("passed", "failed", "error", "skipped", "no tests ran"))
        ),
        lines[-1] if lines else "no output",
    )
    failures = [ln for ln in _tail(log, 400) if ln.startswith(("FAILED", "ERROR"))]
    return {
        "command": " ".join(["TRITON_INTERPRET=0", "python", *cmd[1:]]),
        "status": "timeout" if timed_out else ("ok" if proc.returncode == 0 else "failed"),
        "returncode": None if timed_out else proc.returncode,
        "seconds": time.perf_counter() - t0,
        "limit_s": limit,
        "summary": summary,
        "failures": failures[:20],
        "tail": lines[-30:],
    }


def environment(device: str) -> dict:
    import importlib.metadata as md

    import torch

    env = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cpu_count": os.cpu_count(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    for package in ("triton", "numba", "spikingjelly", "snntorch", "norse"):
        try:
            env[package] = md.version(package)
        except md.PackageNotFoundError:
            env[package] = None
    if device == "cuda" and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
        env["capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))
        env["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    return env


# ---------------------------------------------------------------------------- report
def _fmt(value, spec: str = ".3g") -> str:
    return fmt(value, spec)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return table(header, rows, escape_pipes=True).split("\n")


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = ["# norse GPU check", ""]
    where = env.get("gpu") or f"no GPU in use ({env.get('cpu_count')} CPU cores)"
    lines.append(
        f"{env['date']}, {where}, torch {env['torch']} (CUDA {env.get('cuda')}), triton "
        f"{env.get('triton')}, spikingjelly {env.get('spikingjelly')}; "
        f"{report.get('seconds', 0):.0f} s of a {report['budget_s']:.0f} s budget."
    )
    lines.append(f"Command: `{env['command']}`")
    lines.append("")
    if report.get("status"):
        lines += [f"**{report['status']}**", ""]

    p = report["parts"].get("pytest")
    if p is not None:
        lines += ["## a. `pytest -m cuda tests -x -q` (TRITON_INTERPRET=0)", ""]
        if p.get("status") == "skipped":
            lines += [f"skipped: {p.get('why')}", ""]
        else:
            lines.append(
                f"**{p['status']}** in {p['seconds']:.0f} s (limit {p['limit_s']:.0f} s): "
                f"{p['summary']}"
            )
            lines.append("")
            if p.get("failures"):
                lines += ["```", *p["failures"], "```", ""]
            elif p["status"] != "ok":
                lines += ["```", *p["tail"][-15:], "```", ""]

    eq = report["parts"].get("equivalence")
    if eq is not None:
        shape = tuple(report["options"]["equiv_shape"])
        lines += [
            f'## b. `backend="auto"` against `backend="reference"`, {shape} '
            f"{report['options']['equiv_dtype']}",
            "",
        ]
        rows = []
        for r in eq:
            if r.get("status") != "ok":
                detail = r.get("error") or r.get("why") or "; ".join(r.get("log", [])[-2:])
                rows.append([r["model"], "-", r.get("status"), *["-"] * 6, detail])
                continue
            mism = (
                f"{r['spike_mismatches']} / {r['spikes_ref']} spikes"
                + (f" (from t={r['first_mismatch_step']})" if r["spike_mismatches"] else "")
                if r["output"] == "spikes"
                else "(voltage)"
            )
            rows.append(
                [
                    f"{r['model']} ({r['layer']})",
                    r["auto_ran"],
                    r["verdict"],
                    mism,
                    _fmt(r.get("out_max_abs_diff")),
                    _fmt(r.get("state_max")),
                    _fmt(r.get("grad_max_abs_diff")),
                    _fmt(r.get("grad_rel_diff")),
                    _fmt(r["first_call_s"]["auto"], ".2f"),
                    r.get("grad_error", ""),
                ]
            )
        header = [
            "model",
            "auto ran",
            "verdict",
            "spike mismatches",
            "max |out diff|",
            "max |state diff|",
            "max |grad diff|",
            "grad diff / max |grad|",
            "auto first call s",
            "note",
        ]
        lines += _table(header, rows)
        lines += [
            "",
            "verdict: identical (all equal), close (at most 1e-3 of the spikes differ, or no "
            "spike differs and outputs and gradients agree to 1e-3 relative), DIFFERS "
            "otherwise. A model whose auto ran the reference is compared with itself.",
            "",
        ]

    bench = report["parts"].get("bench")
    if bench is not None:
        timing = "CUDA events" if report["device"] == "cuda" else "perf_counter, on the CPU"
        lines += [f"## c. Forward+backward (median ms, {timing})", ""]
        rows = []
        peer_note = ""
        for r in bench:
            config = f"{r['label']} ({r['T']}, {r['B']}, {r['N']})"
            if r.get("status") != "ok":
                detail = r.get("error") or r.get("why") or "; ".join(r.get("log", [])[-2:])
                rows.append([config, r["dtype"], r.get("status"), *["-"] * 6, detail])
                continue
            fw = r["frameworks"]
            auto = fw.get("auto", {}).get("ms")
            ref = fw.get("reference", {}).get("ms")
            for name, e in fw.items():
                if name == "spikingjelly" and str(e.get("error", "")).startswith("not "):
                    peer_note = f"SpikingJelly: {e['error']}"
                    continue
                ms = e.get("ms")
                ran = e.get("ran", "-")
                rows.append(
                    [
                        config,
                        r["dtype"],
                        name,
                        ran,
                        _fmt(ms, ".2f"),
                        _fmt(ref / ms if ref and ms else None, ".2f"),
                        _fmt(ms / auto if auto and ms else None, ".2f"),
                        _fmt(e.get("peak_mb"), ".0f"),
                        _fmt(e.get("first_call_s"), ".2f"),
                        e.get("error", r.get("note", "")),
                    ]
                )
            if r.get("copy_ms") and auto:
                c = r["copy_ms"]
                rows.append(
                    [
                        config,
                        r["dtype"],
                        "copy bound",
                        "2 x copy",
                        _fmt(2 * c, ".2f"),
                        "-",
                        _fmt(2 * c / auto, ".2f"),
                        "-",
                        "-",
                        f"auto is {auto / (2 * c):.2f}x the bound of two copies",
                    ]
                )
        header = [
            "config",
            "dtype",
            "framework",
            "ran",
            "fwd+bwd ms",
            "ref/this",
            "this/auto",
            "peak MB",
            "first call s",
            "note",
        ]
        lines += _table(header, rows)
        if peer_note:
            lines += ["", peer_note]
        lines += [
            "",
            "ref/this: speed-up over norse's reference loop; this/auto: how many times longer "
            "than norse auto. SpikingJelly's LIFNode has its own defaults (tau=2, sigmoid "
            "surrogate): the same workload, not the same model.",
            "",
        ]
    return "\n".join(lines)


def _write(report: dict, out_dir: Path) -> str:
    out_dir.mkdir(parents=True, exist_ok=True)
    text = markdown(report)
    (out_dir / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str))
    (out_dir / "gpu_check.md").write_text(text + "\n")
    return text


def _bench_cases(args: argparse.Namespace) -> list[dict]:
    cases = []
    T, B, N = args.bench_shape
    dtypes = [d for d in args.bench_dtypes.split(",") if d]
    for dtype in dtypes:
        cases.append({"label": "LIF", "T": T, "B": B, "N": N, "dtype": dtype, "linear": False})
    for n in (int(v) for v in args.on_sizes.split(",") if v):
        for dtype in dtypes:
            cases.append(
                {
                    "label": "Linear+LIF",
                    "T": args.on_T,
                    "B": B,
                    "N": n,
                    "dtype": dtype,
                    "linear": True,
                }  # fmt: skip
            )
    for c in cases:
        c["id"] = f"{c['label']}-{c['T']}-{c['B']}-{c['N']}-{c['dtype']}"
    return cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for everything")
    parser.add_argument("--pytest-limit", type=float, default=240.0, help="seconds for part a")
    parser.add_argument("--equiv-limit", type=float, default=100.0, help="seconds for part b")
    parser.add_argument("--skip-pytest", action="store_true")
    parser.add_argument("--skip-equivalence", action="store_true")
    parser.add_argument("--skip-bench", action="store_true")
    parser.add_argument(
        "--pytest-args", default="", help="extra pytest arguments (e.g. '-n 4'), space separated"
    )
    parser.add_argument(
        "--equiv-shape", nargs=3, type=int, default=(100, 16, 4096), metavar=("T", "B", "N")
    )
    parser.add_argument("--equiv-dtype", choices=DTYPES, default="float32")
    parser.add_argument("--models", default="", help="only these models (spec names), comma separated")  # fmt: skip
    parser.add_argument(
        "--bench-shape", nargs=3, type=int, default=(500, 16, 4096), metavar=("T", "B", "N")
    )
    parser.add_argument("--bench-dtypes", default="float32,bfloat16")
    parser.add_argument("--on-T", type=int, default=256, help="T of the Linear+LIF workload")
    parser.add_argument("--on-sizes", default="4096,8192,16384", help="N of Linear+LIF")
    parser.add_argument("--repeat", type=int, default=10, help="timed rounds per benchmark")
    parser.add_argument("--no-peers", action="store_true", help="skip SpikingJelly")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes everywhere (tests the script, e.g. with --device cpu)",
    )
    parser.add_argument("--out", default=None, help="output folder (default $OUT, else benchmarks/results)")  # fmt: skip
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cases", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--results", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--opts", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        worker(args.worker, args.cases, args.results, args.deadline, json.loads(args.opts))
        return 0

    start = time.time()
    if args.smoke:
        args.equiv_shape, args.bench_shape = (20, 2, 64), (50, 4, 256)
        args.on_T, args.on_sizes, args.repeat = 16, "256,512", 3
    out_dir = Path(args.out or os.environ.get("OUT") or REPO / "benchmarks" / "results")

    import torch

    opts = {
        "device": args.device,
        "equiv_shape": list(args.equiv_shape),
        "equiv_dtype": args.equiv_dtype,
        "repeat": args.repeat,
        "peers": not args.no_peers,
        "min_case_s": 5.0 if args.smoke else 10.0,
    }
    report: dict = {
        "device": args.device,
        "budget_s": args.budget,
        "options": opts,
        "environment": environment(args.device),
        "parts": {},
    }
    if args.device == "cuda" and not torch.cuda.is_available():
        report["status"] = "no CUDA device"
        print(_write(report, out_dir))
        print(f"\nno CUDA device; wrote {out_dir / 'gpu_check.md'} and gpu_check.json")
        return 0

    deadline = start + args.budget
    with tempfile.TemporaryDirectory(prefix="norse-gpu-check-") as scratch:
        tmp = Path(scratch)

        def checkpoint() -> None:
            report["seconds"] = time.time() - start
            _write(report, out_dir)

        if not args.skip_pytest:
            limit = min(args.pytest_limit, deadline - time.time() - 30)
            print(f"# a. pytest (limit {limit:.0f} s)", flush=True)
            try:
                report["parts"]["pytest"] = run_pytest(limit, args.pytest_args.split(), tmp)
            except Exception as e:
                report["parts"]["pytest"] = {"status": "error", "error": _error(e)}
            checkpoint()

        if not args.skip_equivalence:
            from norse.torch import _registry

            wanted = [m for m in args.models.split(",") if m]
            cases = [
                {"id": s.name, "model": s.name}
                for s in _registry.MODELS
                if not wanted or s.name in wanted
            ]
            part_deadline = min(time.time() + args.equiv_limit, deadline - 20)
            print(f"# b. equivalence, {len(cases)} models (until +{part_deadline - start:.0f} s)", flush=True)  # fmt: skip
            try:
                report["parts"]["equivalence"] = run_part(
                    "equivalence", cases, part_deadline, opts, tmp
                )
            except Exception as e:
                report["parts"]["equivalence"] = [
                    {"id": "all", "model": "all", "status": "error", "error": _error(e)}
                ]
            checkpoint()

        if not args.skip_bench:
            cases = _bench_cases(args)
            part_deadline = deadline - 15  # (a killed worker takes up to 5 s more)
            print(f"# c. benchmarks, {len(cases)} configurations (until +{part_deadline - start:.0f} s)", flush=True)  # fmt: skip
            try:
                report["parts"]["bench"] = run_part("bench", cases, part_deadline, opts, tmp)
            except Exception as e:
                report["parts"]["bench"] = [
                    {"id": "all", "label": "all", "T": "-", "B": "-", "N": "-", "dtype": "-",
                     "status": "error", "error": _error(e)}
                ]  # fmt: skip
            checkpoint()

    report["seconds"] = time.time() - start
    text = _write(report, out_dir)
    print()
    print(text)
    print(f"wrote {out_dir / 'gpu_check.md'} and gpu_check.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
