"""Store and recall: a recurrent spiking network remembers a bit pattern over time.

:class:`~norse.dataset.memory.MemoryStoreRecallDataset` presents, in periods of
``--seq_length`` steps, a pattern of two bits (Poisson spikes of ``--population_size`` neurons
each), a *store* command in one period and a *recall* command in a later one; at recall the
network must output the stored bits. The network (:class:`LSNNLIFNet`) is a recurrent layer
of adaptive LSNN neurons (``--neuron_model lsnn``), of LIF neurons (``lif``) or half of each
(``lsnnlif``, the default), read out by two leaky integrators; the loss is the binary
cross-entropy of the readout's mean voltage in each recall period against the stored bits,
plus a firing-rate regulariser (``--regularization_factor`` toward
``--regularization_target`` Hz). 1.1.0's flags are kept (``--batch_size``,
``--learning_rate``, ``--model`` (the surrogate), ``--neuron_model``, ``--dt``,
``--optimizer``, ``--population_size``, ``--samples``, ``--save_top_k``, ``--seq_length``,
``--seq_periods``, ``--seq_repetitions``, ``--poisson_rate``, ``--random_seed``,
``--regularization_factor``, ``--regularization_target``; Lightning's ``--max_epochs``);
1.1.0's version needed PyTorch Lightning and failed on a missing plot import, this one runs
in plain PyTorch and writes its plot with matplotlib (``--plot``)::

    python -m norse.task.memory --max_epochs 5 --samples 128

Example:
    >>> history = main(["--max_epochs", "1", "--samples", "8", "--batch_size", "4",
    ...                 "--seq_length", "10", "--seq_periods", "4", "--quiet"])
    >>> sorted(history[0])
    ['accuracy', 'epoch', 'loss']
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from norse.dataset.memory import MemoryStoreRecallDataset
from norse.task._training import (
    Run,
    add_arguments,
    at_least_one,
    check_arguments,
)
from norse.torch import LI, LIFParameters, LIFRecurrent, LSNNParameters, LSNNRecurrent

__all__ = ["LSNNLIFNet", "MemoryNet", "main", "parse_args"]


class LSNNLIFNet(nn.Module):
    """Recurrent LSNN and LIF neurons side by side (each seeing the input), ``(T, B, F) ->
    (T, B, hidden)`` spikes.

    Example:
        >>> net = LSNNLIFNet(8, LSNNParameters(), LIFParameters(), 0.001, hidden=6)
        >>> net(torch.rand(5, 2, 8)).shape
        torch.Size([5, 2, 6])
    """

    def __init__(self, input_features: int, p_lsnn: LSNNParameters | None, p_lif: LIFParameters | None,
                 dt: float = 0.001, hidden: int = 64) -> None:  # fmt: skip
        super().__init__()
        if p_lsnn is None and p_lif is None:
            raise ValueError("LSNNLIFNet: give p_lsnn, p_lif or both")
        n_lsnn = 0 if p_lsnn is None else (hidden if p_lif is None else hidden // 2)
        self.lsnn = LSNNRecurrent(input_features, n_lsnn, p=p_lsnn, dt=dt) if n_lsnn else None
        self.lif = (LIFRecurrent(input_features, hidden - n_lsnn, p=p_lif, dt=dt)
                    if p_lif is not None else None)  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        parts = [layer(x)[0] for layer in (self.lsnn, self.lif) if layer is not None]
        return torch.cat(parts, dim=-1)


class MemoryNet(nn.Module):
    """The network and its loss: :class:`LSNNLIFNet`, a linear map to two leaky integrators,
    the mean readout voltage of every period.

    Example:
        >>> args = parse_args(["--seq_length", "4"])
        >>> net = MemoryNet(20, 2, args)
        >>> net(torch.rand(16, 3, 20)).shape   # 4 periods of 4 steps
        torch.Size([3, 4, 2])
    """

    def __init__(self, input_features: int, output_features: int,
                 args: argparse.Namespace) -> None:  # fmt: skip
        super().__init__()
        self.seq_length = args.seq_length
        self.dt = args.dt
        p_lsnn = LSNNParameters(method=args.model) if "lsnn" in args.neuron_model else None
        p_lif = (LIFParameters(method=args.model)
                 if args.neuron_model in ("lif", "lsnnlif") else None)  # fmt: skip
        self.snn = LSNNLIFNet(input_features, p_lsnn, p_lif, args.dt, args.hidden)
        self.readout = nn.Linear(args.hidden, output_features)
        self.li = LI()
        self.regularization_factor = args.regularization_factor
        self.regularization_target = args.regularization_target
        self.last_spikes: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        """Mean readout voltage per period: ``(B, periods, outputs)`` for ``x`` ``(T, B, F)``."""
        spikes = self.snn(x)
        self.last_spikes = spikes
        v, _ = self.li(self.readout(spikes))
        T, B, C = v.shape
        return v.reshape(T // self.seq_length, self.seq_length, B, C).mean(1).permute(1, 0, 2)

    def loss(self, scores: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """``(loss, accuracy)``: binary cross-entropy in the recall periods (where a label is
        set), plus the rate regulariser."""
        recall = labels.sum(-1) > 0  # (B, periods)
        target = labels.float()
        logits = scores[recall] * 10.0
        bce = nn.functional.binary_cross_entropy_with_logits(logits, target[recall])
        accuracy = ((logits > 0) == (target[recall] > 0.5)).all(-1).float().mean()
        loss = bce
        if self.last_spikes is not None and self.regularization_factor:
            rate = self.last_spikes.mean() / self.dt
            loss = (
                loss + self.regularization_factor * ((rate - self.regularization_target) / 100) ** 2
            )
        return loss, accuracy


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m norse.task.memory", description="Store and recall bit patterns."
    )
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--learning_rate", type=float, default=0.01)
    parser.add_argument("--model", default="super",
                        choices=["super", "tanh", "circ", "logistic", "circ_dist"])  # fmt: skip
    parser.add_argument("--neuron_model", default="lsnnlif", choices=["lsnn", "lif", "lsnnlif"])
    parser.add_argument("--dt", type=float, default=0.001)
    parser.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    parser.add_argument("--population_size", type=int, default=5)
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--save_top_k", type=int, default=1, help="(1.1.0's Lightning flag)")
    parser.add_argument("--seq_length", type=int, default=200)
    parser.add_argument("--seq_periods", type=int, default=12)
    parser.add_argument("--seq_repetitions", type=int, default=1)
    parser.add_argument("--poisson_rate", type=int, default=100)
    parser.add_argument("--random_seed", "--seed", dest="random_seed", type=int, default=0)
    parser.add_argument("--regularization_factor", type=float, default=0.01)
    parser.add_argument("--regularization_target", type=float, default=10)
    parser.add_argument("--max_epochs", type=int, default=100, help="(Lightning's flag)")
    parser.add_argument("--hidden", type=int, default=64, help="recurrent neurons")
    parser.add_argument("--plot", default=None, help="write a plot of one run to this file")
    parser.add_argument("--quiet", action="store_true")
    add_arguments(parser)
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    at_least_one(
        parser,
        args,
        "batch_size",
        "population_size",
        "samples",
        "seq_length",
        "seq_periods",
        "seq_repetitions",
        "max_epochs",
        "hidden",
    )
    if args.seq_periods < 2:
        parser.error("--seq_periods must be at least 2 (a store and a recall period)")
    return args


def main(argv: Sequence[str] | None = None) -> list[dict]:
    """Train; returns one record per epoch (``loss``, ``accuracy`` of the last batch)."""
    args = parse_args(argv)
    run = Run(args)
    distributed = run.distributed
    torch.manual_seed(args.random_seed)
    data = MemoryStoreRecallDataset(
        args.samples, args.seq_length, args.seq_periods, args.seq_repetitions,
        args.population_size, args.poisson_rate, args.dt, seed=args.random_seed,
    )  # fmt: skip
    loader, _ = run.loaders(data, batch_size=args.batch_size, seed=args.random_seed)
    features = 4 * args.population_size
    net = MemoryNet(features, 2, args)
    model = distributed.wrap(net)
    make = torch.optim.Adam if args.optimizer == "adam" else torch.optim.SGD
    optimizer = make(model.parameters(), lr=args.learning_rate)
    history = []
    for epoch in run.epochs(model, optimizer, args.max_epochs):
        losses, accuracies = [], []
        for x, y in run.progress(loader, f"epoch {epoch}"):
            x = x.permute(1, 0, 2).to(run.device)  # (T, B, F)
            scores = model(x)
            loss, accuracy = net.loss(scores, y.to(run.device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            accuracies.append(accuracy.item())
        record = {
            "epoch": epoch,
            "loss": distributed.mean(sum(losses) / len(losses)),
            "accuracy": distributed.mean(sum(accuracies) / len(accuracies)),
        }
        history.append(record)
        if not run.quiet:
            print(f"epoch {epoch:>3}: loss {record['loss']:.4f}, recall accuracy "
                  f"{record['accuracy']:.1%}")  # fmt: skip
        run.end_epoch(epoch, model, optimizer, **{"loss/train": record["loss"],
                                                 "accuracy/train": record["accuracy"]})  # fmt: skip
    if args.plot and distributed.is_main:
        _plot_run(net, data, args.plot)
    run.finish(model, None if run.quiet else f"done in {run.seconds():.1f} s")
    return history


@torch.no_grad()
def _plot_run(net: MemoryNet, data: MemoryStoreRecallDataset, path: str) -> None:
    """Input spikes, hidden spikes and readout of one sample, written to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y = data[0]
    scores = net(x.unsqueeze(1))
    hidden = net.last_spikes[:, 0]
    fig, axes = plt.subplots(3, 1, figsize=(8, 6), sharex=False)
    axes[0].imshow(x.T, aspect="auto", cmap="binary", interpolation="nearest")
    axes[0].set_ylabel("input")
    axes[1].imshow(hidden.T, aspect="auto", cmap="binary", interpolation="nearest")
    axes[1].set_ylabel("hidden")
    axes[2].plot(scores[0].numpy(), marker="o")
    axes[2].plot(y.numpy(), linestyle="--")
    axes[2].set_ylabel("readout / label")
    axes[2].set_xlabel("period")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main()
