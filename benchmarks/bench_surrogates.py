"""Time a LIF layer's forward+backward for every surrogate ``method``: fused CPU vs reference.

The surrogate derivative is computed inside the fused backward's vectorised loop, so a
formula that calls a library function (``exp``, ``tanh``, a power) can cost more than the
rest of the loop; this shows what each method costs on top of SuperSpike. Each time is the
fastest of ``--repeat`` runs (the reference: of two), after one warm-up run that also
compiles the loops.

Example::

    python benchmarks/bench_surrogates.py --shape 500 16 4096 --repeat 7
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from norse.torch import LIF  # noqa: E402
from norse.torch.functional.lif import LIFParameters  # noqa: E402
from norse.torch.functional.threshold import SURROGATES  # noqa: E402


def fwd_bwd_ms(layer: LIF, x: torch.Tensor, repeat: int) -> float:
    """The fastest of ``repeat`` timed ``layer(x)[0].sum().backward()`` runs, in ms."""
    best = float("inf")
    for k in range(repeat + 1):  # the first run warms up (and compiles)
        x.grad = None
        t0 = time.perf_counter()
        layer(x)[0].sum().backward()
        if k:
            best = min(best, time.perf_counter() - t0)
    return best * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", nargs=3, type=int, default=[500, 16, 4096], metavar=("T", "B", "N"))
    ap.add_argument("--repeat", type=int, default=5, help="timed runs of the fused layer")
    ap.add_argument("--no-reference", action="store_true", help="time the fused layer only")
    a = ap.parse_args()

    torch.manual_seed(0)
    x = (torch.rand(*a.shape) * 0.5).requires_grad_(True)
    print(f"# LIF layer, (T, B, N) = {tuple(a.shape)}, {torch.get_num_threads()} threads")
    print(f"{'method':<12}{'fused ms':>10}{'reference ms':>14}{'speed-up':>10}")
    # Methods with a gradient, one per surrogate formula (aliases share their formula).
    methods = {}
    for name, fn in SURROGATES.items():
        if fn is not None and fn not in methods.values():
            methods[name] = fn
    for method in methods:
        p = LIFParameters(method=method)
        fused = fwd_bwd_ms(LIF(p, backend="cpu"), x, a.repeat)
        ref = None if a.no_reference else fwd_bwd_ms(LIF(p, backend="reference"), x, 2)
        ratio = "-" if ref is None else f"{ref / fused:.1f}x"
        print(f"{method:<12}{fused:>10.1f}{'-' if ref is None else f'{ref:.1f}':>14}{ratio:>10}")


if __name__ == "__main__":
    main()
