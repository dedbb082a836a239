"""Time a delayed layer's forward + backward against the same layer without delays (CPU).

Cases, each on a ``(T, B, N)`` input that requires grad, in float32:

* ``Linear(N, M)`` (``nn.Linear`` on the whole sequence) against ``SynapticDelay(N, M,
  max_delay=D)`` with learnable delays (one causal ``conv1d`` whose kernel folds weights and
  delays; kernel ``D + 1`` taps), in training mode and in evaluation mode (rounded delays:
  a one-hot kernel through the same convolution);
* ``AxonalDelay(N, max_delay=D)`` + ``Linear(N, M)`` against ``Linear(N, M)`` (the depthwise
  convolution adds ``N (D + 1)`` multiply-adds per step and sample);
* the fixed integer shift (``AxonalDelay(..., learnable=False)``: a gather) + ``Linear``.

Forward + backward is ``out.sum().backward()`` after a forward with autograd recording. Each
case runs alternately with the plain ``Linear`` (``--repeat`` pairs after one warm-up); the
table gives the fastest time of the case and the median of its ratios to the ``Linear`` run
just before it, which stays meaningful on a shared machine where absolute times drift.

Example::

    python benchmarks/bench_delay.py --repeat 9 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from norse.torch import AxonalDelay, SynapticDelay


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def _fwd_and_train(model, x: torch.Tensor):
    def forward():
        with torch.no_grad():
            model(x)

    def train():
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out
        out.sum().backward()

    return forward, train


def _paired(base, case, x: torch.Tensor, repeat: int) -> tuple[float, float, float, float]:
    """``(fwd, fwd+bwd, fwd ratio, fwd+bwd ratio)`` of ``case``: fastest times, and the
    median ratio to ``base`` over runs that alternate the two (so that both see the same load
    on a shared machine)."""
    b_fwd, b_train = _fwd_and_train(base, x)
    c_fwd, c_train = _fwd_and_train(case, x)
    for fn in (b_fwd, c_fwd, b_train, c_train):
        fn()  # warm-up
    fwd, train, r_fwd, r_train = [], [], [], []
    for _ in range(repeat):
        tb, tc = _time(b_fwd), _time(c_fwd)
        fwd.append(tc)
        r_fwd.append(tc / tb)
        tb, tc = _time(b_train), _time(c_train)
        train.append(tc)
        r_train.append(tc / tb)
    return min(fwd), min(train), statistics.median(r_fwd), statistics.median(r_train)


class _Then(torch.nn.Module):
    def __init__(self, delay: torch.nn.Module, linear: torch.nn.Module) -> None:
        super().__init__()
        self.delay, self.linear = delay, linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.delay(x)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    shapes = ((100, 32, 128, 128, 8), (100, 32, 128, 128, 32), (500, 16, 256, 256, 16))
    for T, B, N, M, D in shapes:
        x = torch.rand(T, B, N).requires_grad_()
        linear = torch.nn.Linear(N, M)
        cases = {
            "Linear (no delay)": torch.nn.Linear(N, M),
            "SynapticDelay (train)": SynapticDelay(N, M, max_delay=D),
            "SynapticDelay (eval, rounded)": SynapticDelay(N, M, max_delay=D).eval(),
            "AxonalDelay + Linear": _Then(AxonalDelay(N, max_delay=D), linear),
            "fixed shift + Linear": _Then(
                AxonalDelay(delays=torch.randint(0, D + 1, (N,)), learnable=False), linear
            ),
        }
        for k, (name, model) in enumerate(cases.items()):
            shape = f"{T}x{B}x{N}->{M}, D={D}" if k == 0 else ""
            rows.append((shape, name, *_paired(linear, model, x, args.repeat)))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, CPU")
    print("| shape | layer | forward (ms) | fwd+bwd (ms) | forward vs Linear | fwd+bwd vs Linear |")
    print("|---|---|---:|---:|---:|---:|")
    for shape, name, fwd, both, r_fwd, r_both in rows:
        print(f"| {shape} | {name} | {fwd:.1f} | {both:.1f} | {r_fwd:.2f}x | {r_both:.2f}x |")


if __name__ == "__main__":
    main()
