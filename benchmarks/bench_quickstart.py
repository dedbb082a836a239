"""Time a training step of the seed quickstart network: Lift's loop over time vs the merge.

``Lift`` runs a per-sample module (Conv2d, MaxPool2d, Flatten, Linear, ...) once on all time
steps merged into the batch; ``Lift(module, batch_independent=False)`` forces the loop of
1.1.0, one call per time step. Both are timed in one process, on copies of the same network
with the same initial weights and the same data, alternating loop and merge run by run, so
that a change in the machine's load hits both.

Networks (each trained with Adam; input ``(T, B, 1, 28, 28)``, default ``T = B = 32``):

* ``quickstart``: the seed document's Quick Start network as written,
  ``SequentialState(Lift(Conv2d(1, 20, 5, 1)), LIFCell(), MaxPool2d(2, 2), LIFCell(),
  Flatten(), LICell())``, called on each ``(B, 1, 28, 28)`` frame in turn with the state
  carried over, as its ``output, state = model(data)`` does for one frame. ``Lift`` takes the
  B images as its time steps, each an unbatched ``(1, 28, 28)`` sample: the loop runs
  ``T * B`` single-image convolutions per training step, the merge ``T`` batched ones. The
  loss is the mean square of the ``LICell`` output over time.
* ``layered``: the same layers as sequence layers on the whole ``(T, B, ...)`` input,
  ``SequentialState(Lift(Conv2d(1, 20, 5)), LIF(), Lift(MaxPool2d(2)), Lift(Conv2d(20, 50,
  5)), LIF(), Lift(MaxPool2d(2)), Lift(Flatten()), Lift(Linear(800, 10)), LI())``; the loop
  runs each lifted layer ``T`` times on a batch of B, the merge once on ``T * B``. The loss is
  the cross entropy of the maximum ``LI`` voltage over time against random labels.

The last column is the relative difference of the two variants' losses at the first step
and at worst over the run: the merge computes the same as the loop, up to float rounding,
which a spike threshold can amplify once the weights have moved.

Each training step is ``zero_grad``, forward, ``loss.backward()``, ``optimizer.step()``. The
table gives the median and the fastest of ``--repeat`` timed steps per variant (after
``--warmup`` untimed ones, which also compile the fused LIF kernels) and the ratio of the
medians.

Example::

    python benchmarks/bench_quickstart.py --repeat 7 --threads 2
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import norse.torch as snn  # noqa: E402


def quickstart() -> nn.Module:
    """The seed Quick Start network, verbatim."""
    return snn.SequentialState(
        snn.Lift(torch.nn.Conv2d(1, 20, 5, 1)),  # Conv layer
        snn.LIFCell(),  # LIF spiking layer
        torch.nn.MaxPool2d(2, 2),
        snn.LIFCell(),
        torch.nn.Flatten(),
        snn.LICell(),  # Non-spiking integrator
    )


def layered() -> nn.Module:
    """The same kind of network with sequence layers over the whole (T, B, ...) input."""
    return snn.SequentialState(
        snn.Lift(nn.Conv2d(1, 20, 5)),
        snn.LIF(),
        snn.Lift(nn.MaxPool2d(2)),
        snn.Lift(nn.Conv2d(20, 50, 5)),
        snn.LIF(),
        snn.Lift(nn.MaxPool2d(2)),
        snn.Lift(nn.Flatten()),
        snn.Lift(nn.Linear(800, 10)),
        snn.LI(),
    )


def quickstart_loss(model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    state, outputs = None, []
    for frame in x.unbind(0):  # one (B, 1, 28, 28) frame per call, as the seed calls it
        out, state = model(frame, state)
        outputs.append(out)
    return torch.stack(outputs).square().mean()


def layered_loss(model: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    voltages, _ = model(x)
    return nn.functional.cross_entropy(voltages.max(0).values, labels)


NETWORKS: dict[str, tuple[Callable[[], nn.Module], Callable[..., torch.Tensor]]] = {
    "quickstart": (quickstart, quickstart_loss),
    "layered": (layered, layered_loss),
}


def force_loop(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose every Lift loops over time as in 1.1.0."""
    looped = copy.deepcopy(model)
    for module in looped.modules():
        if isinstance(module, snn.Lift):
            module.batch_independent = False
    return looped


def train_step(model, optimizer, loss_fn, x, labels) -> tuple[float, float]:
    """One training step; returns (seconds, loss)."""
    t0 = time.perf_counter()
    optimizer.zero_grad()
    loss = loss_fn(model, x, labels)
    loss.backward()
    optimizer.step()
    return time.perf_counter() - t0, loss.item()


def bench(name: str, T: int, B: int, repeat: int, warmup: int) -> dict[str, list[float]]:
    build, loss_fn = NETWORKS[name]
    torch.manual_seed(0)
    merged = build()
    variants = {"loop": force_loop(merged), "merge": merged}
    optimizers = {k: torch.optim.Adam(m.parameters(), lr=1e-3) for k, m in variants.items()}
    x = torch.randn(T, B, 1, 28, 28)
    labels = torch.randint(0, 10, (B,))
    times: dict[str, list[float]] = {k: [] for k in variants}
    losses: dict[str, list[float]] = {k: [] for k in variants}
    for run in range(warmup + repeat):
        for k, model in variants.items():  # alternate: load changes hit both
            seconds, loss = train_step(model, optimizers[k], loss_fn, x, labels)
            losses[k].append(loss)
            if run >= warmup:
                times[k].append(seconds)
    # same network, same data: the two train alike, up to float rounding (which a spike
    # threshold can amplify once the weights have moved)
    drift = [abs(a - b) / max(abs(b), 1e-12) for a, b in zip(*losses.values(), strict=True)]
    return {**times, "drift": drift}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--T", type=int, default=32, help="time steps (default 32)")
    ap.add_argument("--B", type=int, default=32, help="batch size (default 32)")
    ap.add_argument("--repeat", type=int, default=7, help="timed training steps per variant")
    ap.add_argument("--warmup", type=int, default=2, help="untimed training steps first")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--networks", default=",".join(NETWORKS), help="subset to run, comma separated")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    print(
        f"# training step (forward, backward, Adam), input (T, B, 1, 28, 28) = "
        f"({a.T}, {a.B}, 1, 28, 28), {torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    print(f"# {a.repeat} timed steps per variant after {a.warmup} warm-up steps, alternating")
    header = f"{'network':<12}{'loop ms':>10}{'(min)':>9}{'merge ms':>10}{'(min)':>9}"
    print(header + f"{'speed-up':>10}{'loss diff 1st/max':>19}")
    for name in a.networks.split(","):
        r = bench(name, a.T, a.B, a.repeat, a.warmup)
        loop_ms, merge_ms = (statistics.median(r[k]) * 1e3 for k in ("loop", "merge"))
        print(
            f"{name:<12}{loop_ms:>10.1f}{min(r['loop']) * 1e3:>9.1f}{merge_ms:>10.1f}"
            f"{min(r['merge']) * 1e3:>9.1f}{loop_ms / merge_ms:>9.2f}x"
            f"{r['drift'][0]:>11.1e}/{max(r['drift']):.1e}"
        )


if __name__ == "__main__":
    main()
