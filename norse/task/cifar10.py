"""Classify CIFAR-10 images with a convolutional spiking network (1.1.0's ``norse.task.cifar10``).

Each image (normalised per channel) drives a constant-current LIF encoder for
``--seq_length`` steps; the spikes pass two spiking convolutions (LIF neurons, max pooling),
a spiking dense layer and a leaky-integrator readout; the class score is the largest readout
voltage over time, trained with a label-smoothing loss (:func:`label_smoothing_loss`).
1.1.0's flags are kept (``--batch_size``, ``--lr``, ``--lr_step``, ``--optimizer``,
``--seq_length``, Lightning's ``--max_epochs``); 1.1.0 needed PyTorch Lightning and
torchvision, this one trains in plain PyTorch and reads CIFAR-10's python batches
(``cifar-10-batches-py/data_batch_1`` ... ``data_batch_5`` and ``test_batch``) from
``--data-root``; ``--synthetic`` trains on generated images instead (no files; what the
tests run). Like every task it takes ``--device``, ``--logdir``, ``--checkpoint`` /
``--resume``, ``--limit-batches`` and trains data-parallel under ``torchrun``::

    python -m norse.task.cifar10 --synthetic --max_epochs 1 --seq_length 8
    python -m norse.task.cifar10 --data-root ~/data/cifar10 --max_epochs 10

Example:
    >>> accuracy = main(["--synthetic", "--max_epochs", "1", "--seq_length", "2",
    ...                  "--samples", "4", "--batch_size", "4", "--quiet"])
    test accuracy: ...
    >>> 0.0 <= accuracy <= 1.0
    True
"""

from __future__ import annotations

import argparse
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from norse.task._training import (
    Run,
    add_arguments,
    at_least_one,
    check_arguments,
    classify_epoch,
    parse_bool,
)
from norse.torch import ConstantCurrentLIFEncoder, LIFCell, LIFParameters, LILinearCell

__all__ = [
    "LIFConvNet",
    "label_smoothing_loss",
    "load_cifar10",
    "main",
    "parse_args",
    "synthetic_images",
]

#: per-channel mean and standard deviation of CIFAR-10's training images
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
FOLDER = "cifar-10-batches-py"


def label_smoothing_loss(y_hat: Tensor, y: Tensor, alpha: float = 0.2) -> Tensor:
    """Label-smoothed cross-entropy of scores ``y_hat`` ``(B, C)`` (logits or
    log-probabilities: a log-softmax is applied) against targets ``y`` ``(B,)``, summed over
    the batch: ``(1 - alpha) * NLL + alpha * mean over classes of -log p``.

    Example:
        >>> y_hat = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
        >>> round(float(label_smoothing_loss(y_hat, torch.tensor([0, 1]))), 4)
        0.6539
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    log_probs = torch.log_softmax(y_hat, dim=-1)
    xent = torch.nn.functional.nll_loss(log_probs, y, reduction="none")
    uniform = -log_probs.mean(dim=-1)
    return ((1.0 - alpha) * xent + alpha * uniform).sum()


class LIFConvNet(nn.Module):
    """A spiking ConvNet for ``(B, 3, 32, 32)`` images, returning log-probabilities ``(B, 10)``
    (from the largest readout voltage over ``seq_length`` steps).

    ``num_channels`` is the number of input channels (3), ``lr`` / ``optimizer`` / ``lr_step``
    configure :meth:`configure_optimizers` (as 1.1.0's Lightning module did), ``p`` holds the
    LIF parameters of the hidden layers and ``noise_scale`` the standard deviation of the
    Gaussian noise added to the encoder's input while training.

    Example:
        >>> net = LIFConvNet(2, 3, 1e-3, "adam", LIFParameters())
        >>> net(torch.rand(4, 3, 32, 32)).shape
        torch.Size([4, 10])
    """

    #: Gains of the currents into the three LIF layers: with default initialisation the
    #: sparse spikes of each layer drive the next too weakly for it to fire within a few dozen
    #: steps (the network stays silent and cannot learn); with these the layers fire at about
    #: 3 %, 20 % and 4 % on the synthetic images.
    GAINS = (3.0, 10.0, 3.0)

    def __init__(self, seq_length: int, num_channels: int, lr: float, optimizer: str,
                 p: LIFParameters | None = None, noise_scale: float = 1e-6,
                 lr_step: bool = True, input_scale: float = 2.0) -> None:  # fmt: skip
        super().__init__()
        if seq_length < 1:
            raise ValueError(f"seq_length must be at least 1, got {seq_length}")
        if optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
        p = LIFParameters() if p is None else p
        self.seq_length = seq_length
        self.num_channels = num_channels
        self.lr = lr
        self.optimizer = optimizer
        self.noise_scale = noise_scale
        self.lr_step = lr_step
        self.input_scale = input_scale
        self.encoder = ConstantCurrentLIFEncoder(seq_length=seq_length)
        self.conv1 = nn.Conv2d(num_channels, 32, 5)
        self.conv2 = nn.Conv2d(32, 64, 5)
        self.fc1 = nn.Linear(64 * 5 * 5, 256)
        self.lif1, self.lif2, self.lif3 = LIFCell(p), LIFCell(p), LIFCell(p)
        self.dropout = nn.Dropout(0.2)
        self.out = LILinearCell(256, 10)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.num_channels or x.shape[2:] != (32, 32):
            raise ValueError(
                f"expected images (B, {self.num_channels}, 32, 32), got {tuple(x.shape)}"
            )
        if self.training and self.noise_scale > 0:
            x = x + self.noise_scale * torch.randn_like(x)
        spikes = self.encoder(x * self.input_scale)
        s1 = s2 = s3 = so = None
        voltages = []
        g1, g2, g3 = self.GAINS
        for ts in range(self.seq_length):
            z = torch.nn.functional.max_pool2d(g1 * self.conv1(spikes[ts]), 2)
            z, s1 = self.lif1(z, s1)
            z = torch.nn.functional.max_pool2d(g2 * self.conv2(z), 2)
            z, s2 = self.lif2(z, s2)
            z = self.dropout(g3 * self.fc1(z.flatten(1)))
            z, s3 = self.lif3(z, s3)
            v, so = self.out(z, so)
            voltages.append(v)
        return torch.log_softmax(torch.stack(voltages).amax(0), dim=1)

    def configure_optimizers(self) -> tuple[torch.optim.Optimizer, object]:
        """``(optimizer, scheduler)``: Adam or SGD (momentum 0.9) at ``lr``; the scheduler
        halves the rate every 10 epochs when ``lr_step`` (else ``None``)."""
        if self.optimizer == "adam":
            opt: torch.optim.Optimizer = torch.optim.Adam(self.parameters(), lr=self.lr)
        else:
            opt = torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9)
        sched = torch.optim.lr_scheduler.StepLR(opt, 10, 0.5) if self.lr_step else None
        return opt, sched


# ----------------------------------------------------------------------------- data
def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")  # noqa: S301 - CIFAR's own format
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as e:
        raise ValueError(f"{path}: not a readable CIFAR-10 batch ({e})") from e
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: not a CIFAR-10 batch (expected a dict)")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise ValueError(f"{path}: not a CIFAR-10 batch (no 'data' or 'labels')")
    data = np.asarray(data, dtype=np.uint8)
    labels = np.asarray(labels, dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise ValueError(
            f"{path}: data has shape {data.shape} and labels {labels.shape}; expected "
            "(N, 3072) and (N,)"
        )
    return data, labels


def load_cifar10(root: str | Path, train: bool = True) -> tuple[Tensor, Tensor]:
    """Images ``(N, 3, 32, 32)`` float32 in ``[0, 1]`` and labels ``(N,)`` int64 from
    CIFAR-10's python batches in ``root/cifar-10-batches-py`` (or ``root`` itself); a missing
    file raises ``FileNotFoundError`` saying where to put it."""
    root = Path(root)
    folder = root / FOLDER if (root / FOLDER).is_dir() else root
    names = [f"data_batch_{k}" for k in range(1, 6)] if train else ["test_batch"]
    data, labels = [], []
    for name in names:
        path = folder / name
        if not path.exists():
            raise FileNotFoundError(
                f"CIFAR-10 file {name} not found in {folder}; unpack cifar-10-python.tar.gz "
                f"(https://www.cs.toronto.edu/~kriz/cifar.html) so that "
                f"{root / FOLDER / name} exists, or run with --synthetic"
            )
        d, lab = _read_batch(path)
        data.append(d)
        labels.append(lab)
    x = torch.from_numpy(np.concatenate(data).reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)
    return x, torch.from_numpy(np.concatenate(labels))


def synthetic_images(n: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``n`` generated 32x32 colour images: each class is a fixed random blob pattern with
    its own colour, drawn with noise and a random shift.

    Example:
        >>> x, y = synthetic_images(4)
        >>> x.shape, y.dtype
        (torch.Size([4, 3, 32, 32]), torch.int64)
    """
    base = torch.Generator().manual_seed(4321)
    shapes = (torch.rand(10, 1, 8, 8, generator=base) > 0.6).float()
    shapes = torch.nn.functional.interpolate(shapes, size=(32, 32), mode="nearest")
    colours = torch.rand(10, 3, 1, 1, generator=base)
    prototypes = shapes * colours
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=gen)
    shifts = torch.randint(-3, 4, (n, 2), generator=gen)
    images = prototypes[labels].clone()
    for k in range(n):
        images[k] = torch.roll(images[k], tuple(shifts[k].tolist()), dims=(1, 2))
    images = (images + 0.25 * torch.rand(images.shape, generator=gen)).clamp(0, 1)
    return images, labels


def _normalise(x: Tensor) -> Tensor:
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


# ----------------------------------------------------------------------------- training
def _mean_smoothed_loss(y_hat: Tensor, y: Tensor) -> Tensor:
    return label_smoothing_loss(y_hat, y) / len(y)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m norse.task.cifar10", description="A spiking ConvNet on CIFAR-10."
    )
    parser.add_argument("--batch_size", "--batch-size", type=int, default=32)
    parser.add_argument("--lr", "--learning-rate", type=float, default=2e-3)
    parser.add_argument("--lr_step", type=parse_bool, default=False, help="True: halve the rate "
                        "every 10 epochs")  # fmt: skip
    parser.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    parser.add_argument("--seq_length", "--seq-length", type=int, default=128)
    parser.add_argument("--max_epochs", "--epochs", type=int, default=10)
    parser.add_argument("--random_seed", "--seed", dest="seed", type=int, default=1234)
    parser.add_argument("--data-root", default="data/cifar10", help="folder holding "
                        f"{FOLDER}/")  # fmt: skip
    parser.add_argument("--synthetic", action="store_true", help="generated images, no files")
    parser.add_argument("--samples", type=int, default=512, help="synthetic training images")
    parser.add_argument("--limit-batches", type=int, default=None, help="batches per epoch")
    parser.add_argument("--quiet", action="store_true")
    add_arguments(parser)
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    at_least_one(parser, args, "max_epochs", "seq_length", "batch_size", "samples")
    if args.lr <= 0:
        parser.error("--lr must be positive")
    if args.limit_batches is not None and args.limit_batches < 1:
        parser.error("--limit-batches must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> float:
    """Train and return the test accuracy."""
    from torch.utils.data import TensorDataset

    args = parse_args(argv)
    run = Run(args)
    distributed = run.distributed
    torch.manual_seed(args.seed)
    if args.synthetic:
        train_set = synthetic_images(args.samples, args.seed)
        test_set = synthetic_images(max(args.samples // 4, 1), args.seed + 1)
    else:
        train_set = load_cifar10(args.data_root, True)
        test_set = load_cifar10(args.data_root, False)
    train_loader, test_loader = run.loaders(
        TensorDataset(_normalise(train_set[0]), train_set[1]),
        TensorDataset(_normalise(test_set[0]), test_set[1]),
        args.batch_size,
    )
    net = LIFConvNet(args.seq_length, 3, args.lr, args.optimizer, LIFParameters(),
                     lr_step=args.lr_step)  # fmt: skip
    optimizer, scheduler = net.configure_optimizers()
    model = distributed.wrap(net)
    accuracy = 0.0
    for epoch in run.epochs(model, optimizer, args.max_epochs, scheduler):
        loss, _ = classify_epoch(model, train_loader, run.device, _mean_smoothed_loss, optimizer,
                                 f"epoch {epoch}", args.limit_batches, not run.quiet)  # fmt: skip
        if scheduler is not None:
            scheduler.step()
        test_loss, accuracy = classify_epoch(model, test_loader, run.device, _mean_smoothed_loss,
                                             limit_batches=args.limit_batches)  # fmt: skip
        run.end_classifier_epoch(epoch, model, optimizer, loss, test_loss, accuracy)
    run.finish(model, f"test accuracy: {accuracy:.1%} ({run.seconds():.1f} s)")
    return accuracy


if __name__ == "__main__":
    try:
        main()
    except (FileNotFoundError, ValueError) as e:  # a missing file or package: say so, no traceback
        raise SystemExit(f"error: {e}") from None
