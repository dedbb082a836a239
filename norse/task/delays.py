"""Detect a spike pattern with fixed inter-spike intervals: learnable delays vs none.

Each sample has three input channels that spike once each, within ``--steps`` steps. In a
*target* sample the spikes keep fixed intervals (channel ``c`` fires ``PATTERN[c]`` steps
after channel 0, at a random onset); in a *distractor* the channels fire in the same order and
at least as far apart, but some channel is at least two steps off the pattern. Every channel
fires exactly once either way, so only the intervals tell the classes apart, and a fast
neuron that sums its inputs sees them only if the spikes arrive together: delays of
``max(PATTERN) - PATTERN[c]`` steps (plus any common offset) turn the pattern into a
coincidence. Each spike's efficacy varies by up to ``--jitter`` (30 %), so that the network
cannot read the intervals off the few per cent a fast synaptic current keeps from a spike
several steps earlier (with exact spikes it can, and a network without delays learns the
task too).

Two networks of the same form are trained and compared::

    spikes (T, B, C) -> SynapticDelay(C, H) -> LIF(H) -> spike count -> Linear(H, 2)
    spikes (T, B, C) -> Linear(C, H)        -> LIF(H) -> spike count -> Linear(H, 2)

the first with learnable synaptic delays (trained through the interpolation between steps,
evaluated at the rounded delays), the second without delays and, by default, with more hidden
neurons. The printed table gives test accuracy and neuron count of each; ``--plot PATH``
draws the learned delays against the ones that turn the pattern into a coincidence.

Run it with ``python -m norse.task.delays``; ``--help`` lists the flags. Like every task it
takes ``--device``, ``--seed``, ``--logdir`` (TensorBoard) and ``--checkpoint`` /
``--resume`` (which hold the delay network).

Example:
    >>> results = main(["--epochs", "1", "--samples", "64", "--steps", "26",
    ...                 "--baseline-hidden", "1", "--quiet"])
    network                      neurons  test accuracy  SynOps/sample
    learnable synaptic delays          4 ...
    no delays                          1 ...
    >>> [(name, neurons) for name, neurons, _ in results]
    [('learnable synaptic delays', 4), ('no delays', 1)]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from norse.task._training import Run, add_arguments, at_least_one, check_arguments
from norse.torch import LIF, LIFParameters, SynapticDelay

__all__ = ["PATTERN", "DelayNet", "evaluate", "make_data", "main", "parse_args", "plot_delays",
           "train"]  # fmt: skip

#: Onset of each channel's spike relative to channel 0 in a target sample (steps).
PATTERN = (0, 5, 11)


def make_data(
    samples: int,
    steps: int = 40,
    seed: int = 0,
    pattern: Sequence[int] = PATTERN,
    jitter: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """``(spikes, labels)``: ``(steps, samples, channels)`` spikes and 0/1 labels (half each).

    ``pattern`` lists each channel's spike time relative to channel 0. A distractor fires the
    channels in the pattern's order, no closer together than the pattern's closest pair,
    within twice its span, and with some channel at least 2 steps away from its place in the
    pattern (relative to channel 0). With ``jitter``, each spike's value (its efficacy) is
    drawn uniformly from ``1 +- jitter``.

    Example:
        >>> x, y = make_data(8, steps=30)
        >>> x.shape, x.sum(0).unique().tolist(), y.tolist()
        (torch.Size([30, 8, 3]), [1.0], [1, 0, 1, 0, 1, 0, 1, 0])
        >>> x, _ = make_data(8, steps=30, jitter=0.25)
        >>> bool(((x == 0) | ((x - 1).abs() <= 0.25)).all()), int((x > 0).sum())
        (True, 24)
    """
    g = torch.Generator().manual_seed(seed)
    pattern_t = torch.as_tensor(pattern, dtype=torch.long)
    span = int(pattern_t.max())
    if steps <= 2 * span:
        raise ValueError(
            f"make_data: steps must exceed twice the pattern's span {span}, got {steps}"
        )
    channels = len(pattern)
    eye = span * torch.eye(channels, dtype=torch.long)
    min_gap = int(((pattern_t[:, None] - pattern_t[None, :]).abs() + eye).min())
    order = pattern_t.argsort()
    labels = (torch.arange(samples) % 2 == 0).long()
    offsets = pattern_t.repeat(samples, 1)
    for n in range(1, samples, 2):  # distractors
        while True:
            o = torch.randint(0, 2 * span + 1, (channels,), generator=g)
            o = o - o.min()
            gap = int(((o[:, None] - o[None, :]).abs() + eye).min())
            off = int(((o - o[0]) - pattern_t).abs().max())
            if bool((o.argsort() == order).all()) and off >= 2 and gap >= min_gap:
                offsets[n] = o
                break
    room = steps - offsets.max(1, keepdim=True).values  # onsets that keep every spike in
    onset = (torch.rand(samples, 1, generator=g) * room).long()
    times = onset + offsets
    spikes = torch.zeros(steps, samples, channels)
    # each spike's efficacy varies (synaptic release noise), so only coincidences are reliable
    efficacy = 1.0 + jitter * (2 * torch.rand(samples, channels, generator=g) - 1)
    spikes[times, torch.arange(samples)[:, None], torch.arange(channels)] = efficacy
    return spikes, labels


class DelayNet(nn.Module):
    """One hidden LIF layer fed through synaptic delays (or a plain ``Linear``).

    Args:
        channels (int): input channels.
        hidden (int): hidden LIF neurons.
        max_delay (int): longest delay in steps; 0 means no delays (``nn.Linear``).

    Example:
        >>> net = DelayNet(3, 2, max_delay=12)
        >>> net(torch.zeros(20, 4, 3)).shape, net.neurons
        (torch.Size([4, 2]), 2)
    """

    def __init__(self, channels: int, hidden: int, max_delay: int) -> None:
        super().__init__()
        if max_delay > 0:
            self.synapses: nn.Module = SynapticDelay(channels, hidden, max_delay)
        else:
            self.synapses = nn.Linear(channels, hidden)
        with torch.no_grad():  # one input alone (almost) stays below the threshold
            nn.init.uniform_(self.synapses.weight, 0.5, 1.5)
            self.synapses.bias.zero_()
        fast = LIFParameters(tau_syn_inv=torch.tensor(500.0), tau_mem_inv=torch.tensor(500.0),
                             v_th=torch.tensor(0.5))  # fmt: skip
        self.lif = LIF(fast)
        self.readout = nn.Linear(hidden, 2)
        self.neurons = hidden

    def forward(self, spikes: Tensor) -> Tensor:
        """Class scores ``(B, 2)`` for a ``(T, B, channels)`` spike sequence."""
        if isinstance(self.synapses, SynapticDelay):
            current, _ = self.synapses(spikes)
        else:
            current = self.synapses(spikes)
        z, _ = self.lif(current)
        return self.readout(z.sum(0))


def train(
    model: DelayNet,
    data: tuple[Tensor, Tensor, Tensor, Tensor],
    args: argparse.Namespace,
    run: Run | None = None,
    label: str = "",
    quiet: bool | None = None,
) -> float:
    """Train ``model`` with Adam (delays at ``--delay-lr``); returns the test accuracy
    (evaluation mode: rounded delays). With ``run``, resumes from and writes its checkpoint
    and logs to its TensorBoard writer; ``quiet`` hides the progress bar (default: the run's
    setting, quiet without a run).

    Example:
        >>> args = parse_args(["--epochs", "1", "--quiet"])
        >>> x, y = make_data(16)
        >>> 0.0 <= train(DelayNet(3, 2, 12), (x, y, x, y), args) <= 1.0
        True
    """
    from tqdm import tqdm

    x_train, y_train, x_test, y_test = data
    delays = [p for n, p in model.named_parameters() if n.endswith("delay")]
    others = [p for n, p in model.named_parameters() if not n.endswith("delay")]
    groups = [{"params": others, "lr": args.lr}]
    if delays:
        groups.append({"params": delays, "lr": args.delay_lr})
    optimizer = torch.optim.Adam(groups)
    generator = torch.Generator().manual_seed(args.seed)
    first = run.resume(model, optimizer, generator) if run is not None else 1
    if quiet is None:
        quiet = run.quiet if run is not None else True
    accuracy = 0.0
    synapses = model.synapses
    for epoch in range(first, args.epochs + 1):
        model.train()
        if isinstance(synapses, SynapticDelay):  # Gaussian kernel, shrinking to 0 at 2/3
            synapses.sigma = args.sigma * max(0.0, 1.0 - epoch / (2 / 3 * args.epochs))
        order = torch.randperm(x_train.shape[1], generator=generator).split(args.batch_size)
        total = 0.0
        bar = tqdm(order, desc=f"{label} epoch {epoch}/{args.epochs}", disable=quiet,
                   leave=False, unit="batch")  # fmt: skip
        for index in bar:
            loss = nn.functional.cross_entropy(model(x_train[:, index]), y_train[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        accuracy = evaluate(model, x_test, y_test)
        if run is not None:
            scalars = {f"{label}/loss": total / x_train.shape[1], f"{label}/accuracy": accuracy}
            run.end_epoch(epoch, model, optimizer, **scalars)
    return evaluate(model, x_test, y_test)


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Test accuracy in evaluation mode (the delays rounded to whole steps).

    Example:
        >>> x, y = make_data(8)
        >>> 0.0 <= evaluate(DelayNet(3, 2, 12), x, y) <= 1.0
        True
    """
    model.eval()
    return float((model(x).argmax(1) == y).float().mean())


def _synops_per_sample(model: nn.Module, x: Tensor) -> float:
    """Synaptic operations per test sample (input spikes through the synapses, and the spike
    counts into the readout; see :func:`~norse.torch.utils.synops.count_synops`), with the
    delays rounded as in evaluation."""
    from norse.torch.utils.synops import count_synops

    model.eval()
    return count_synops(model, x).total / x.shape[1]


def plot_delays(model: DelayNet, path: str) -> None:
    """Bar chart of the learned delays per hidden neuron and channel (relative to the
    neuron's shortest), with the delays that align the pattern (``max(PATTERN) -
    PATTERN[c]``) marked, and each synapse's weight.

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "delays.png")
        >>> plot_delays(DelayNet(3, 2, 12), path)
        >>> os.path.getsize(path) > 0
        True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    synapses = model.synapses
    learned = synapses.delay.detach().clamp(0, synapses.max_delay).cpu().double().numpy()
    weight = synapses.weight.detach().cpu().double().numpy()
    hidden, channels = learned.shape
    ideal = [max(PATTERN) - p for p in PATTERN]
    fig, axes = plt.subplots(1, hidden, figsize=(3.2 * hidden, 3.0), squeeze=False)
    for h, ax in enumerate(axes[0]):
        # a delay only matters relative to the others; show them aligned on the shortest
        shift = float(learned[h].min())
        ax.bar(range(channels), learned[h] - shift, color="tab:blue", label="learned")
        ax.scatter(range(channels), ideal, color="tab:red", zorder=3, label="aligns pattern")
        for c in range(channels):
            height = float(learned[h, c]) - shift
            ax.annotate(f"w={float(weight[h, c]):.1f}", (c, height + 0.2), ha="center",
                        fontsize=7)  # fmt: skip
        ax.set_xticks(range(channels))
        ax.set_xlabel("input channel")
        ax.set_title(f"hidden neuron {h} (shift {shift:.1f})", fontsize=9)
    axes[0][0].set_ylabel("delay (steps, relative)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line flags.

    Example:
        >>> parse_args(["--hidden", "4"]).hidden
        4
    """
    parser = argparse.ArgumentParser(
        prog="python -m norse.task.delays",
        description="Spike-interval pattern detection: learnable delays vs none.",
    )
    parser.add_argument("--epochs", type=int, default=40, help="passes over the training set")
    parser.add_argument("--samples", type=int, default=1024, help="training samples")
    parser.add_argument("--steps", type=int, default=40, help="time steps per sample")
    parser.add_argument("--batch-size", type=int, default=64, help="samples per update")
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (weights)")
    parser.add_argument("--delay-lr", type=float, default=0.2, help="Adam learning rate (delays)")
    parser.add_argument("--hidden", type=int, default=4, help="hidden neurons, delay network")
    parser.add_argument(
        "--baseline-hidden", type=int, nargs="+", default=[2, 4, 16],
        help="hidden neurons of the networks without delays",
    )  # fmt: skip
    parser.add_argument(
        "--sigma", type=float, default=7.0,
        help="initial width (steps) of the Gaussian delay kernel; shrinks to 0 by 2/3 of training",
    )  # fmt: skip
    parser.add_argument(
        "--jitter", type=float, default=0.3,
        help="spike efficacies vary uniformly by this fraction (0 gives exact spikes)",
    )  # fmt: skip
    parser.add_argument("--max-delay", type=int, default=14, help="longest delay (steps)")
    parser.add_argument("--seed", type=int, default=0, help="seed for data, weights, order")
    parser.add_argument("--plot", default=None, help="save a plot of the learned delays here")
    parser.add_argument("--quiet", action="store_true", help="print only the final table")
    add_arguments(parser)
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    at_least_one(parser, args, "epochs", "samples", "batch_size", "hidden", "max_delay")
    if any(h < 1 for h in args.baseline_hidden):
        parser.error("--baseline-hidden values must be at least 1")
    if args.steps <= 2 * max(PATTERN):
        parser.error(f"--steps must exceed twice the pattern's span {max(PATTERN)}")
    if not 0 <= args.jitter < 1:
        parser.error("--jitter must be in [0, 1)")
    if not args.sigma >= 0:
        parser.error("--sigma must be >= 0")
    if not (args.lr > 0 and args.delay_lr > 0):
        parser.error("--lr and --delay-lr must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> list[tuple[str, int, float]]:
    """Train the delay network and the baselines; print a table (neurons, test accuracy and
    synaptic operations per test sample of each) and return
    ``[(name, neurons, test accuracy), ...]``."""
    args = parse_args(argv)
    run = Run(args)
    device = run.device
    x_train, y_train = make_data(args.samples, args.steps, args.seed, jitter=args.jitter)
    x_test, y_test = make_data(
        max(args.samples // 2, 2), args.steps, args.seed + 1, jitter=args.jitter
    )
    data = (x_train.to(device), y_train.to(device), x_test.to(device), y_test.to(device))
    if not run.quiet:
        print(
            f"delays: {args.samples} train / {x_test.shape[1]} test samples, {args.steps} "
            f"steps, pattern intervals {PATTERN}"
        )
    results, synops = [], []
    torch.manual_seed(args.seed)
    model = DelayNet(len(PATTERN), args.hidden, args.max_delay).to(device)
    accuracy = train(model, data, args, run, label="delays")
    results.append(("learnable synaptic delays", model.neurons, accuracy))
    synops.append(_synops_per_sample(model, data[2]))
    for hidden in args.baseline_hidden:
        torch.manual_seed(args.seed)
        baseline = DelayNet(len(PATTERN), hidden, 0).to(device)
        accuracy = train(baseline, data, args, label=f"no delays, {hidden}", quiet=run.quiet)
        results.append(("no delays", baseline.neurons, accuracy))
        synops.append(_synops_per_sample(baseline, data[2]))
    lines = [f"{'network':<28}{'neurons':>8}{'test accuracy':>15}{'SynOps/sample':>15}"]
    lines += [
        f"{name:<28}{neurons:>8}{acc:>15.1%}{ops:>15.1f}"
        for (name, neurons, acc), ops in zip(results, synops, strict=True)
    ]
    if args.plot:
        plot_delays(model, args.plot)
        lines.append(f"learned delays plotted to {args.plot}")
    run.finish(model, "\n".join(lines) + f"\n({run.seconds():.1f} s)")
    return results


if __name__ == "__main__":
    main()
