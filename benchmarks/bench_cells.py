"""What a neuron Cell costs on top of its step function.

Times ``LIFCell()(x, state)`` against ``lif_feed_forward_step(x, state, p)`` on the same
tensors (the module's own ``p``), forward and forward+backward, interleaved in one process so
that both see the same machine. The difference is the module's fixed cost per call: reading
``p``, the input/state checks (run once per input signature, then skipped), step selection.

    .venv/bin/python benchmarks/bench_cells.py --repeat 9
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from norse.torch import LIFCell
from norse.torch.functional.lif import LIFFeedForwardState, lif_feed_forward_step


def _time(fn: Callable[[], object], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def measure(batch: int, neurons: int, backward: bool, repeat: int, number: int) -> dict:
    torch.manual_seed(0)
    cell = LIFCell()
    p = cell.p
    x = torch.randn(batch, neurons, requires_grad=backward)
    state = LIFFeedForwardState(
        v=torch.rand(batch, neurons, requires_grad=backward), i=torch.rand(batch, neurons)
    )

    def run(call: Callable[[], tuple]) -> Callable[[], object]:
        if not backward:
            return call

        def step() -> None:
            z, s = call()
            (z.sum() + s.v.sum()).backward()

        return step

    module = run(lambda: cell(x, state))
    function = run(lambda: lif_feed_forward_step(x, state, p, cell.dt))
    for fn in (module, function):  # warm-up (and the checks' first, uncached run)
        _time(fn, number // 4 + 1)
    cell_times, step_times, diffs = [], [], []
    for _ in range(repeat):  # interleaved: each pair shares the machine's state
        a = _time(module, number)
        b = _time(function, number)
        cell_times.append(a)
        step_times.append(b)
        diffs.append(a - b)
    return {
        "cell_us": statistics.median(cell_times) * 1e6,
        "step_us": statistics.median(step_times) * 1e6,
        "overhead_us": statistics.median(diffs) * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9, help="interleaved timed pairs")
    parser.add_argument("--number", type=int, default=2000, help="calls per timed run")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), medians of {args.repeat} pairs")
    print(f"{'(B, N)':>10} {'pass':>12} {'LIFCell':>10} {'step':>10} {'overhead':>10}")
    for batch, neurons in ((16, 512), (32, 100)):
        for backward in (False, True):
            r = measure(batch, neurons, backward, args.repeat, args.number)
            name = "fwd+bwd" if backward else "forward"
            print(
                f"{f'({batch}, {neurons})':>10} {name:>12} {r['cell_us']:>8.1f}us "
                f"{r['step_us']:>8.1f}us {r['overhead_us']:>8.1f}us"
            )


if __name__ == "__main__":
    main()
