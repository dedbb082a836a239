"""Helpers shared by the benchmark scripts (formatting, ``--shape``, the registry's models).

The scripts import this as ``from _common import ...``: a script's own directory is on
``sys.path`` when it runs as ``python benchmarks/<name>.py``, from any working directory.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch


def fmt(value, spec: str = ".2f", none: str = "-") -> str:
    """``value`` formatted with ``spec``; ``none`` for ``None``, strings unchanged."""
    if value is None:
        return none
    if isinstance(value, str):
        return value
    return format(value, spec)


def markdown(header: list[str], rows: list[list[str]], escape_pipes: bool = False) -> str:
    """A markdown table; ``escape_pipes`` turns ``|`` inside cells into ``/``."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        cells = [str(c).replace("|", "/") if escape_pipes else str(c) for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def add_shape_argument(
    parser: argparse.ArgumentParser, default: tuple[int, int, int], help: str | None = None
) -> None:
    """``--shape T B N`` (three ints)."""
    parser.add_argument(
        "--shape",
        nargs=3,
        type=int,
        default=default,
        metavar=("T", "B", "N"),
        help=help or f"input shape (default {' '.join(map(str, default))})",
    )


def settle() -> None:
    """Wait for the kernels ``backend="auto"`` compiles in the background on first use (if the
    CPU kernels module is loaded)."""
    cpu = sys.modules.get("norse.torch.kernels.cpu")
    compiler = getattr(cpu, "_COMPILER", None)
    if compiler is not None:
        compiler.wait()


def model_layers() -> dict[str, tuple[type, dict, float]]:
    """``spec.name -> (layer class, constructor kwargs, input drive)`` for every model of
    ``norse.torch._registry.MODELS`` that has a feed-forward layer class, in registry order."""
    from norse.torch import _registry

    out = {}
    for spec in _registry.MODELS:
        layer = _registry.module_classes(spec).get("layer")
        if layer is not None:
            out[spec.name] = (layer, dict(spec.example), float(spec.drive))
    return out


def print_header(device: torch.device) -> None:
    """The run's date, machine, torch, threads and load, and the command line (comment lines
    of a benchmark's output; a busy machine gets a hint)."""
    load = os.getloadavg()
    where = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    )
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}  {where}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")  # fmt: skip
    print(f"# command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    if load[0] > 0.5 and torch.get_num_threads() > 1:
        print("# the machine is busy: --threads 1 gives steadier numbers (waiting OpenMP threads)")
