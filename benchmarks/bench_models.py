"""Every neuron layer, forward+backward: ``backend="auto"`` against the reference loop.

For each feed-forward layer (``LIF``, ``LSNN``, ``LIFEx``, ``LIFAdEx``, ``LIFAdExRefrac``,
``Izhikevich``, ``LIFRefrac``, ``LI``, ``LIBox``, ``LIFBox``, ``IAF``) it times one
forward+backward (``out.sum().backward()``, the input requiring grad) at (T, B, N) = ``--shape``
(default (100, 16, 512)) with ``backend="auto"``, ``backend="reference"`` and the device's
fused backend named explicitly (``"cpu"`` or ``"triton"``; ``n/a`` where it cannot run the
call). The backends run interleaved, round by round, in one process, so that all see the same
state of a shared machine; each time is the median over ``--repeat`` rounds after a warm-up
round (which also absorbs compiling or loading the fused kernels), and ``ref/auto`` is the
median of the per-round ratios.

The column ``auto ran`` is the backend that ``backend="auto"`` chose, read off
:func:`norse.torch.kernels.select` during one call; where it chose the reference, the note is
the fused backend's reason. A second table times the LIF layer in float32 against bfloat16
(and ``--dtype`` when that is neither).

Example::

    .venv/bin/python benchmarks/bench_models.py
    .venv/bin/python benchmarks/bench_models.py --device cuda --dtype bfloat16 --repeat 15
    .venv/bin/python benchmarks/bench_models.py --models LIF,LSNN --shape 500 16 4096
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from _common import add_shape_argument, fmt, markdown, model_layers, print_header, settle

import norse.torch as nt
from norse.torch import kernels

#: display order of the layer classes; the constructor kwargs (``spec.example``) and input
#: drive (``spec.drive``, the input is ``drive * U(0, 1)``) come from the model registry
_ORDER = ("LIF", "LSNN", "LIFEx", "LIFAdEx", "LIFAdExRefrac", "Izhikevich", "LIFRefrac", "LI", "LIBox", "LIFBox", "IAF")  # fmt: skip


def _layers() -> dict[str, tuple[dict, float]]:
    """layer class name -> (constructor kwargs, input drive), from ``norse.torch._registry``."""
    found = {cls.__name__: (kwargs, drive) for cls, kwargs, drive in model_layers().values()}
    names = sorted(found, key=lambda n: _ORDER.index(n) if n in _ORDER else len(_ORDER))
    return {name: found[name] for name in names}


LAYERS = _layers()

DTYPES = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
    "float64": torch.float64,
}
FUSED = {"cpu": "cpu", "cuda": "triton"}


# ----------------------------------------------------------------------------- measuring
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn: Callable[[], object], number: int, device: torch.device) -> float:
    """Seconds per call of ``fn``, averaged over ``number`` back-to-back calls."""
    _sync(device)
    start = time.perf_counter()
    for _ in range(number):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / number


def auto_choice(layer: torch.nn.Module, x: torch.Tensor) -> str:
    """The backend ``backend="auto"`` runs for ``layer(x)``: one call with
    :func:`norse.torch.kernels.select` wrapped to record its answer (``?`` if it was not asked)."""
    picked: list[str] = []
    original = kernels.select

    def recording(call, backend="auto"):
        name, impl = original(call, backend)
        picked.append(name)
        return name, impl

    kernels.select = recording
    try:
        layer(x)
    finally:
        kernels.select = original
    return picked[-1] if picked else "?"


def _reason(error: Exception) -> str:
    """The backend's reason from a ``NotImplementedError`` of :func:`kernels.select`."""
    text = str(error)
    if "cannot run this call: " in text:
        text = text.split("cannot run this call: ", 1)[1].split("; use backend=", 1)[0]
    return text.splitlines()[0][:90] if text else type(error).__name__


def measure_layer(
    name: str,
    shape: tuple[int, int, int],
    device: torch.device,
    dtype: torch.dtype,
    repeat: int,
    backends: tuple[str, ...],
    target: float = 0.02,
) -> dict:
    """Interleaved fwd+bwd times of one layer class on several backends."""
    cls = getattr(nt, name)
    kwargs, drive = LAYERS[name]
    torch.manual_seed(0)
    x = (drive * torch.rand(*shape, device=device)).to(dtype).requires_grad_(True)
    result: dict = {"layer": name, "shape": list(shape), "dtype": str(dtype).split(".")[-1]}
    layers = {}
    for backend in backends:
        try:
            layers[backend] = cls(**kwargs, backend=backend).to(device)
        except (ValueError, TypeError) as e:  # backend not available here
            result[f"{backend}_error"] = _reason(e)
    if "auto" in layers:
        try:
            result["auto_ran"] = auto_choice(layers["auto"], x)
        except Exception as e:  # reported, not fatal
            result["auto_ran"] = "error"
            result["auto_error"] = _reason(e)

    def fwd_bwd(layer: torch.nn.Module) -> Callable[[], None]:
        def run() -> None:
            x.grad = None
            out, _ = layer(x)
            out.float().sum().backward()

        return run

    runs: dict[str, Callable[[], None]] = {}
    number: dict[str, int] = {}
    for backend, layer in layers.items():
        fn = fwd_bwd(layer)
        try:
            _time(fn, 1, device)  # warm-up: compiles or loads a fused kernel
            settle()  # the steady state; bench_first_call.py times the first call
            _time(fn, 1, device)  # (the backward variants the first call asked for)
            settle()
            once = _time(fn, 1, device)
        except NotImplementedError as e:
            result[f"{backend}_error"] = _reason(e)
            continue
        except Exception as e:  # one failing backend must not stop the table
            result[f"{backend}_error"] = f"{type(e).__name__}: {_reason(e)}"
            continue
        runs[backend] = fn
        # Short calls repeat back to back so that one sample lasts about ``target`` seconds.
        number[backend] = max(1, min(50, int(target / max(once, 1e-6))))
    if "auto" in runs:  # (again, after the warm-up: the first call runs the reference while
        # the kernels compile in the background)
        result["auto_ran"] = auto_choice(layers["auto"], x)
    samples: dict[str, list[float]] = {b: [] for b in runs}
    for _ in range(repeat):
        for backend, fn in runs.items():
            samples[backend].append(_time(fn, number[backend], device) * 1e3)
    for backend, times in samples.items():
        result[f"{backend}_ms"] = statistics.median(times)
        result[f"{backend}_samples_ms"] = times
    if "auto" in samples and "reference" in samples:
        result["ref_over_auto"] = statistics.median(
            r / a for r, a in zip(samples["reference"], samples["auto"], strict=True)
        )
    return result


# ----------------------------------------------------------------------------- printing
def _fmt(value: float | None, spec: str = ".2f") -> str:
    return fmt(value, spec, none="n/a")


def _note(r: dict, fused: str) -> str:
    for key in ("auto_error", f"{fused}_error", "reference_error"):
        if key in r:
            return f"{key.removesuffix('_error')}: {r[key]}"
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_shape_argument(parser, (100, 16, 512))
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default="float32")
    parser.add_argument("--repeat", type=int, default=7, help="interleaved timed rounds (median)")
    parser.add_argument("--models", default=",".join(LAYERS), help="layer classes, comma separated")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--no-dtypes", action="store_true", help="skip the LIF dtype table")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args()

    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device")
    unknown = [m for m in args.models.split(",") if m and m not in LAYERS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {', '.join(LAYERS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = DTYPES[args.dtype]
    fused = FUSED[args.device]
    shape = tuple(args.shape)
    backends = ("auto", "reference", fused)

    print_header(device)
    print(f"# fwd+bwd of each layer at (T, B, N) = {shape}, {args.dtype} on {args.device}; "
          f"medians of {args.repeat} interleaved rounds")  # fmt: skip
    print()

    results = []
    rows = []
    for name in (m for m in args.models.split(",") if m):
        r = measure_layer(name, shape, device, dtype, args.repeat, backends)
        results.append(r)
        rows.append(
            [
                name,
                r.get("auto_ran", "?"),
                _fmt(r.get("auto_ms"), ".1f"),
                _fmt(r.get("reference_ms"), ".1f"),
                _fmt(r.get("ref_over_auto")),
                _fmt(r.get(f"{fused}_ms"), ".1f"),
                _note(r, fused),
            ]
        )
    header = ["layer", "auto ran", "auto ms", "reference ms", "ref/auto", f"{fused} ms", "note"]
    print(markdown(header, rows))

    dtype_results = []
    if not args.no_dtypes:
        names = ["float32", "bfloat16"] + ([args.dtype] if args.dtype not in ("float32", "bfloat16") else [])  # fmt: skip
        rows = []
        base: dict[str, float | None] = {}
        for dname in names:
            r = measure_layer("LIF", shape, device, DTYPES[dname], args.repeat, backends)
            dtype_results.append(r)
            if dname == "float32":
                base = {b: r.get(f"{b}_ms") for b in ("auto", "reference")}
            auto, ref = r.get("auto_ms"), r.get("reference_ms")
            rows.append(
                [
                    dname,
                    r.get("auto_ran", "?"),
                    _fmt(auto, ".1f"),
                    _fmt(auto / base["auto"] if auto and base.get("auto") else None),
                    _fmt(ref, ".1f"),
                    _fmt(ref / base["reference"] if ref and base.get("reference") else None),
                    _fmt(r.get("ref_over_auto")),
                    _note(r, fused),
                ]
            )
        print()
        print(f"LIF layer by dtype, fwd+bwd at {shape} on {args.device}:")
        print()
        header = [
            "dtype",
            "auto ran",
            "auto ms",
            "auto / fp32 auto",
            "reference ms",
            "ref / fp32 ref",
            "ref/auto",
            "note",
        ]
        print(markdown(header, rows))
    print()
    print("# ref/auto: median over rounds of reference time / auto time (> 1: auto is faster)")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"models": results, "dtypes": dtype_results}, indent=2)
        )


if __name__ == "__main__":
    main()
