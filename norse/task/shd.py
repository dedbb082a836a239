"""Classify spoken digits from spikes: a recurrent SNN on the Spiking Heidelberg Digits.

The Spiking Heidelberg Digits (SHD) are spoken digits (20 classes) turned into the spikes of
700 cochlea-model channels. Each sample is binned into ``(T, 700)`` steps of ``--dt`` by
:class:`~norse.dataset.spiking_heidelberg.SpikingHeidelbergDigitsDataset` and batched time
first by its ``pad_collate``; a recurrent layer of LIF neurons
(:class:`~norse.torch.LIFRecurrent`, on the fused recurrent kernels, its input projection
over the active inputs only) feeds a linear map to 20 leaky integrators, trained with the
cross-entropy of their largest voltage (:func:`~norse.torch.functional.loss.ce_max_membrane_loss`).
At the end a figure with the input and hidden spike rasters of one test sample and the
learning curve is written to ``--plot``.

The real files (``shd_train.h5``, ``shd_test.h5``) are read from ``--data-root`` (``--download``
fetches them); ``--synthetic`` writes a small data set of the same HDF5 format (each class a
band of channels firing at its own time, with jitter and noise) and trains on that, through
the same loader. ``--tonic`` reads the files through `tonic <https://tonic.readthedocs.io>`_
instead (``tonic.datasets.SHD`` in ``--data-root/SHD``, binned by
:func:`~norse.dataset.events.tonic_dataset`; tonic downloads them when they are missing)::

    python -m norse.task.shd --synthetic --epochs 5
    python -m norse.task.shd --data-root ~/data/shd --epochs 20 --hidden 256
    python -m norse.task.shd --tonic --data-root ~/data --epochs 20

Example:
    >>> history = main(["--synthetic", "--samples", "40", "--epochs", "1", "--dt", "0.02",
    ...                 "--hidden", "16", "--quiet", "--plot", ""])
    test accuracy: ...
    >>> sorted(history[0])
    ['accuracy', 'epoch', 'loss', 'test_accuracy']
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from norse.dataset.events import pad_collate
from norse.dataset.spiking_heidelberg import SpikingHeidelbergDigitsDataset
from norse.task._training import (
    Run,
    add_arguments,
    at_least_one,
    check_arguments,
)
from norse.torch import LI, LIFParameters, LIFRecurrent, LIParameters
from norse.torch.functional.loss import accuracy_max_membrane, ce_max_membrane_loss

__all__ = ["SHDNet", "main", "parse_args", "write_synthetic_shd"]

CLASSES = 20
UNITS = 700


class SHDNet(nn.Module):
    """``LIFRecurrent(700, hidden)`` -> ``Linear(hidden, 20)`` -> ``LI``: voltages
    ``(T, B, 20)`` and the hidden spikes.

    Example:
        >>> net = SHDNet(hidden=8)
        >>> v, z = net(torch.zeros(5, 2, 700))
        >>> v.shape, z.shape
        (torch.Size([5, 2, 20]), torch.Size([5, 2, 8]))
    """

    def __init__(self, hidden: int = 128, dt: float = 0.001) -> None:
        super().__init__()
        # time constants of speech (20 ms synapses, 40 ms membranes): explicit Euler stays
        # stable for the bins of --dt up to 0.02 s
        p = LIFParameters(tau_syn_inv=torch.tensor(50.0), tau_mem_inv=torch.tensor(25.0))
        self.recurrent = LIFRecurrent(UNITS, hidden, p=p, dt=dt)
        with torch.no_grad():  # (sparse input: the default initialisation is nearly silent)
            self.recurrent.input_weights.mul_(3.0)
        self.readout = nn.Linear(hidden, CLASSES)
        self.li = LI(LIParameters(tau_syn_inv=torch.tensor(50.0), tau_mem_inv=torch.tensor(25.0)),
                     dt=dt)  # fmt: skip

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        z, _ = self.recurrent(x)
        v, _ = self.li(self.readout(z))
        return v, z


def write_synthetic_shd(path: str | Path, samples: int, seed: int = 0) -> Path:
    """An SHD-format HDF5 file (``spikes/times``, ``spikes/units``, ``labels``) of ``samples``
    generated digits: class ``c`` is a band of 35 channels firing around ``0.05 + 0.05 c``
    seconds, with jitter and background noise.

    Example:
        >>> import tempfile
        >>> path = write_synthetic_shd(Path(tempfile.mkdtemp()) / "shd_train.h5", 4)
        >>> len(SpikingHeidelbergDigitsDataset(path.parent, dt=0.01, sparse=False))
        4
    """
    import h5py

    rng = np.random.default_rng(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    labels = rng.integers(0, CLASSES, samples)
    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (samples,), dtype=h5py.vlen_dtype(np.float32))
        units = f.create_dataset("spikes/units", (samples,), dtype=h5py.vlen_dtype(np.uint16))
        for k, label in enumerate(labels):
            band = np.arange(35 * label, 35 * label + 35)
            t_band = 0.05 + 0.05 * label + rng.normal(0, 0.01, band.size)
            noise_units = rng.integers(0, UNITS, 60)
            noise_times = rng.uniform(0, 1.3, 60)
            t = np.concatenate([t_band, noise_times]).clip(0, 1.39)
            u = np.concatenate([band, noise_units])
            order = np.argsort(t)
            times[k], units[k] = t[order].astype(np.float32), u[order].astype(np.uint16)
        f.create_dataset("labels", data=labels.astype(np.uint8))
        # (the real files also name the classes and speakers; tonic reads both)
        f.create_dataset("extra/keys", data=np.array([f"class-{c}" for c in range(CLASSES)], "S"))
        f.create_dataset("extra/speaker", data=np.zeros(samples, np.uint8))
    return path


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m norse.task.shd",
        description="A recurrent SNN on the Spiking Heidelberg Digits.",
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=128, help="recurrent LIF neurons")
    parser.add_argument("--dt", type=float, default=0.01, help="bin width in seconds")
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root", default="data/shd", help="folder of shd_*.h5")
    parser.add_argument("--download", action="store_true", help="fetch the SHD files")
    parser.add_argument("--synthetic", action="store_true", help="a generated SHD-format set")
    parser.add_argument("--tonic", action="store_true", help="read the files through tonic")
    parser.add_argument("--samples", type=int, default=400, help="synthetic training samples")
    parser.add_argument("--plot", default="shd.png", help="figure file ('' for none)")
    parser.add_argument("--quiet", action="store_true")
    add_arguments(parser)
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    at_least_one(parser, args, "epochs", "batch_size", "hidden", "samples")
    if not 0 < args.dt <= 0.02:
        parser.error(f"--dt must be in (0, 0.02] seconds (explicit Euler with 20 ms synapses), "
                     f"got {args.dt}")  # fmt: skip
    return args


def _datasets(args: argparse.Namespace, is_main: bool) -> tuple[Any, Any]:
    """The training and test sets: norse's SHD loader, or tonic's with ``--tonic``."""
    files = (SpikingHeidelbergDigitsDataset.train_file, SpikingHeidelbergDigitsDataset.test_file)
    root = Path(tempfile.mkdtemp(prefix="norse-shd-")) if args.synthetic else Path(args.data_root)
    folder = root / "SHD" if args.tonic else root  # tonic keeps its files in save_to/SHD
    if args.synthetic:
        write_synthetic_shd(folder / files[0], args.samples, args.seed)
        write_synthetic_shd(folder / files[1], max(args.samples // 4, 1), args.seed + 1)
        if args.tonic:  # tonic checks for its downloaded archives; the generated set has none
            for name in files:
                (folder / f"{name}.zip").touch()
    if not args.tonic:
        download = args.download and is_main
        return tuple(
            SpikingHeidelbergDigitsDataset(
                root, dt=args.dt, sparse=False, train=train, download=download
            )  # fmt: skip
            for train in (True, False)
        )
    from norse.dataset.events import tonic_dataset

    missing = [folder / name for name in files if not (folder / name).is_file()]
    if missing and not args.download:
        raise FileNotFoundError(
            f"shd: {missing[0]} not found; pass --download to have tonic fetch the SHD files "
            f"into {folder}, or run with --synthetic"
        )
    length = SpikingHeidelbergDigitsDataset.max_length
    return tuple(
        tonic_dataset("SHD", str(root), dt=args.dt, max_length=length, train=train)
        for train in (True, False)
    )


def main(argv: Sequence[str] | None = None) -> list[dict]:
    """Train; returns one record per epoch (``loss``, ``accuracy``, ``test_accuracy``)."""
    from torch.utils.data import Subset

    args = parse_args(argv)
    run = Run(args)
    distributed = run.distributed
    torch.manual_seed(args.seed)
    train, test = _datasets(args, distributed.is_main)
    loader, test_loader = run.loaders(Subset(train, range(len(train))),
                                      Subset(test, range(len(test))), args.batch_size,
                                      pad_collate)  # fmt: skip
    net = SHDNet(args.hidden, args.dt)
    model = distributed.wrap(net)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    history: list[dict] = []
    if not run.quiet:
        print(f"shd: {len(train)} train / {len(test)} test samples, dt {args.dt} s, "
              f"{args.hidden} recurrent LIF neurons")  # fmt: skip
    for epoch in run.epochs(model, optimizer, args.epochs):
        model.train()
        losses, accuracies = [], []
        for x, y in run.progress(loader, f"epoch {epoch}"):
            x, y = x.float().to(run.device), y.to(run.device)
            v, _ = model(x)
            loss = ce_max_membrane_loss(v, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            accuracies.append(float(accuracy_max_membrane(v, y)))
        test_accuracy = _evaluate(model, test_loader, run.device)
        record = {
            "epoch": epoch,
            "loss": distributed.mean(float(np.mean(losses))),
            "accuracy": distributed.mean(float(np.mean(accuracies))),
            "test_accuracy": test_accuracy,
        }
        history.append(record)
        if not run.quiet:
            print(f"epoch {epoch:>3}: loss {record['loss']:.3f}, train accuracy "
                  f"{record['accuracy']:.1%}, test accuracy {test_accuracy:.1%}")  # fmt: skip
        run.end_epoch(epoch, model, optimizer,
                      **{k: record[k] for k in ("loss", "accuracy", "test_accuracy")})  # fmt: skip
    if args.plot and distributed.is_main and history:
        _plot(net, test, history, args.plot)
        if not run.quiet:
            print(f"figure: {args.plot}")
    for data in (train, test):
        getattr(data, "close", lambda: None)()
    final = history[-1]["test_accuracy"] if history else float("nan")
    run.finish(model, f"test accuracy: {final:.1%} ({run.seconds():.1f} s)")
    return history


@torch.no_grad()
def _evaluate(model: nn.Module, loader: Any, device: torch.device) -> float:
    model.eval()
    correct = seen = 0
    for x, y in loader:
        v, _ = model(x.float().to(device))
        correct += round(float(accuracy_max_membrane(v, y.to(device))) * len(y))
        seen += len(y)
    return correct / max(seen, 1)


@torch.no_grad()
def _plot(net: SHDNet, data: SpikingHeidelbergDigitsDataset, history: list[dict],
          path: str) -> None:  # fmt: skip
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, label = data[0]
    x = x.float()
    _, z = net(x.unsqueeze(1).to(next(net.parameters()).device))
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    t_in, u_in = x.nonzero(as_tuple=True)
    axes[0].scatter(t_in * data.dt, u_in, s=1, c="k")
    axes[0].set(title=f"input spikes (class {int(label)})", xlabel="time (s)", ylabel="channel")
    t_h, u_h = z[:, 0].cpu().nonzero(as_tuple=True)
    axes[1].scatter(t_h * data.dt, u_h, s=2, c="tab:blue")
    axes[1].set(title="hidden spikes", xlabel="time (s)", ylabel="neuron")
    epochs = [h["epoch"] for h in history]
    axes[2].plot(epochs, [h["loss"] for h in history], marker="o", label="training loss")
    axes[2].set(title="learning curve", xlabel="epoch", ylabel="loss")
    twin = axes[2].twinx()
    twin.plot(epochs, [h["test_accuracy"] for h in history], marker="s", c="tab:green",
              label="test accuracy")  # fmt: skip
    twin.set_ylim(0, 1)
    twin.set_ylabel("test accuracy")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
