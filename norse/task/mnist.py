"""Classify MNIST digits with a convolutional spiking network (1.1.0's ``norse.task.mnist``).

Each image drives a constant-current LIF encoder for ``--seq-length`` steps; the spikes go
through :class:`~norse.torch.models.conv.ConvNet4` (two spiking convolutions, 1024 LIF
neurons, 10 leaky-integrator outputs); the class score is the largest output voltage over
time. MNIST is read from its original files (``train-images-idx3-ubyte.gz`` and the three
others, gzipped or not) in ``--data-root``; ``--download`` fetches them (and checks their MD5
sums); ``--synthetic`` trains on generated digit-like images instead (no files; what the tests
run). Like every task it takes ``--device``, ``--logdir``, ``--checkpoint`` / ``--resume`` and
trains data-parallel under ``torchrun``::

    python -m norse.task.mnist --synthetic --epochs 1 --seq-length 8
    python -m norse.task.mnist --data-root ~/data/mnist --epochs 10

Example:
    >>> accuracy = main(["--synthetic", "--epochs", "1", "--seq-length", "2",
    ...                  "--batch-size", "16", "--limit-batches", "2", "--quiet"])
    test accuracy: ...
    >>> 0.0 <= accuracy <= 1.0
    True
"""

from __future__ import annotations

import argparse
import gzip
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from norse.dataset._download import fetch, file_digest
from norse.task._training import (
    Run,
    add_arguments,
    at_least_one,
    check_arguments,
    classify_epoch,
    load_checkpoint,
    save_checkpoint,
)
from norse.torch import ConstantCurrentLIFEncoder
from norse.torch.models.conv import ConvNet4

__all__ = ["LIFConvNet", "load", "load_mnist", "main", "save", "synthetic_digits", "test", "train"]

#: the four files, with the MD5 sums of their gzipped form
FILES = {
    "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
}
MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"


class LIFConvNet(nn.Module):
    """Encoder and :class:`~norse.torch.models.conv.ConvNet4`; returns log-probabilities
    ``(B, 10)`` from the maximum output voltage over time.

    Example:
        >>> net = LIFConvNet(28 * 28, seq_length=2)
        >>> net(torch.rand(3, 1, 28, 28)).shape
        torch.Size([3, 10])
    """

    def __init__(self, input_features: int, seq_length: int, input_scale: float = 1.0,
                 model: str = "super", only_first_spike: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.input_features = input_features
        self.seq_length = seq_length
        self.input_scale = input_scale
        self.only_first_spike = only_first_spike
        self.constant_current_encoder = ConstantCurrentLIFEncoder(seq_length=seq_length)
        self.rsnn = ConvNet4(method=model)

    def forward(self, x: Tensor) -> Tensor:
        batch = x.shape[0]
        spikes = self.constant_current_encoder(x.reshape(batch, -1) * self.input_scale)
        if self.only_first_spike:
            # keep each input's first spike only
            seen = spikes.cumsum(0)
            spikes = spikes * (seen == 1)
        spikes = spikes.reshape(self.seq_length, batch, 1, 28, 28)
        voltages = self.rsnn(spikes)
        return torch.log_softmax(voltages.amax(0), dim=1)


# ----------------------------------------------------------------------------- data
def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"{path}: unreadable ({e}); delete it and download again") from e
    if len(data) < 8 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (bad magic number)")
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * k : 8 + 4 * k], "big") for k in range(dims))
    body = np.frombuffer(data, np.uint8, offset=4 + 4 * dims)
    if body.size != int(np.prod(shape)):
        raise ValueError(
            f"{path}: the header promises {int(np.prod(shape))} values of shape {shape}, the "
            f"file holds {body.size} (truncated or corrupt; delete it and download again)"
        )
    return body.reshape(shape)


def _find(root: Path, name: str) -> Path | None:
    for candidate in (root / f"{name}.gz", root / name):
        if candidate.exists():
            return candidate
    return None


def download(root: str | Path) -> None:
    """Fetch the four MNIST files into ``root`` and check their MD5 sums (a mismatch deletes
    the file and raises, naming it and both sums); files already there and intact are kept."""
    root = Path(root)
    for name, md5 in FILES.items():
        target = root / f"{name}.gz"
        if target.exists() and file_digest(target, "md5") == md5:
            continue
        hint = f"put the MNIST files in {root} by hand, or run with --synthetic"
        fetch("mnist", MIRROR + f"{name}.gz", target, checksum=f"md5:{md5}", hint=hint)


def load_mnist(root: str | Path, train: bool = True) -> tuple[Tensor, Tensor]:
    """Images ``(N, 1, 28, 28)`` float32 in ``[0, 1]`` and labels ``(N,)`` int64 from the
    MNIST files in ``root``; a missing file raises ``FileNotFoundError`` saying where to put
    it."""
    root = Path(root)
    prefix = "train" if train else "t10k"
    arrays = []
    for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
        name = f"{prefix}-{kind}"
        path = _find(root, name)
        if path is None:
            raise FileNotFoundError(
                f"MNIST file {name}(.gz) not found in {root}; put it there, pass --download, "
                "or run with --synthetic"
            )
        arrays.append(_read_idx(path))
    images, labels = arrays
    if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise ValueError(
            f"{root}: MNIST {prefix} images have shape {images.shape} and labels "
            f"{labels.shape}; expected (N, 28, 28) and (N,)"
        )
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))


def synthetic_digits(n: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``n`` generated 28x28 "digits": each class is a fixed random stroke pattern, drawn
    with noise and a random shift, so that a network can learn them.

    Example:
        >>> x, y = synthetic_digits(4)
        >>> x.shape, y.dtype
        (torch.Size([4, 1, 28, 28]), torch.int64)
    """
    gen = torch.Generator().manual_seed(seed)
    prototypes = torch.rand(10, 1, 28, 28, generator=torch.Generator().manual_seed(1234)) > 0.8
    labels = torch.randint(0, 10, (n,), generator=gen)
    shifts = torch.randint(-2, 3, (n, 2), generator=gen)
    images = prototypes[labels].float()
    for k in range(n):
        images[k] = torch.roll(images[k], tuple(shifts[k].tolist()), dims=(1, 2))
    images = (images + 0.2 * torch.rand(images.shape, generator=gen)).clamp(0, 1)
    return images, labels


# ----------------------------------------------------------------------------- training
def train(model: nn.Module, device: torch.device, loader: Sequence, optimizer: torch.optim.Optimizer,
          epoch: int, clip_grad: bool = False, grad_clip_value: float = 1.0,
          limit_batches: int | None = None, progress: bool = True,
          writer: object = None) -> tuple[float, float]:  # fmt: skip
    """One epoch; returns ``(mean loss, accuracy)`` on the training batches seen."""
    return classify_epoch(model, loader, device, nn.functional.nll_loss, optimizer,
                          f"epoch {epoch}", limit_batches, progress,
                          clip_grad=grad_clip_value if clip_grad else None)  # fmt: skip


def test(model: nn.Module, device: torch.device, loader: Sequence,
         limit_batches: int | None = None) -> tuple[float, float]:  # fmt: skip
    """``(mean loss, accuracy)`` on ``loader``."""
    return classify_epoch(model, loader, device, nn.functional.nll_loss,
                          limit_batches=limit_batches)  # fmt: skip


test.__test__ = False  # (1.1.0's name; not a pytest test)


def save(path: str | Path, epoch: int, model: nn.Module, optimizer: torch.optim.Optimizer,
         is_best: bool = False) -> None:  # fmt: skip
    """Write a checkpoint (``is_best``: also as ``<path>.best``)."""
    save_checkpoint(path, model, optimizer, epoch)
    if is_best:
        save_checkpoint(Path(str(path) + ".best"), model, optimizer, epoch)


def load(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple:
    """Restore a checkpoint; returns ``(model, optimizer)``."""
    load_checkpoint(path, model, optimizer)
    return model, optimizer


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m norse.task.mnist", description="A spiking ConvNet on MNIST."
    )
    parser.add_argument("--only-first-spike", action="store_true")
    # (1.1.0's default, 1.0, leaves the encoder silent: a pixel of at most 1 never lifts the
    # encoder's membrane over its threshold of 1)
    parser.add_argument("--input-scale", type=float, default=5.0, help="current of a white pixel")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seq-length", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--method", default="super", help="surrogate gradient method")
    parser.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    parser.add_argument("--clip-grad", action="store_true")
    parser.add_argument("--grad-clip-value", type=float, default=1.0)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--random-seed", "--seed", dest="seed", type=int, default=1234)
    parser.add_argument("--data-root", default="data/mnist", help="folder of the MNIST files")
    parser.add_argument("--download", action="store_true", help="fetch MNIST if missing")
    parser.add_argument("--synthetic", action="store_true", help="generated images, no files")
    parser.add_argument("--limit-batches", type=int, default=None, help="batches per epoch")
    parser.add_argument("--quiet", action="store_true")
    add_arguments(parser)
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    at_least_one(parser, args, "epochs", "seq_length", "batch_size")
    return args


def main(argv: Sequence[str] | None = None) -> float:
    """Train and return the test accuracy."""
    from torch.utils.data import TensorDataset

    args = parse_args(argv)
    run = Run(args)
    distributed = run.distributed
    torch.manual_seed(args.seed)
    if args.synthetic:
        train_set, test_set = synthetic_digits(512, args.seed), synthetic_digits(128, args.seed + 1)
    else:
        if args.download and distributed.is_main:
            download(args.data_root)
        distributed.barrier()
        train_set, test_set = load_mnist(args.data_root, True), load_mnist(args.data_root, False)
    train_loader, test_loader = run.loaders(TensorDataset(*train_set), TensorDataset(*test_set),
                                            args.batch_size)  # fmt: skip
    model = distributed.wrap(
        LIFConvNet(28 * 28, args.seq_length, args.input_scale, args.method, args.only_first_spike)
    )
    make = torch.optim.Adam if args.optimizer == "adam" else torch.optim.SGD
    optimizer = make(model.parameters(), lr=args.learning_rate)
    accuracy = 0.0
    for epoch in run.epochs(model, optimizer, args.epochs):
        loss, train_accuracy = train(model, run.device, train_loader, optimizer, epoch,
                                     args.clip_grad, args.grad_clip_value, args.limit_batches,
                                     not run.quiet)  # fmt: skip
        test_loss, accuracy = test(model, run.device, test_loader, args.limit_batches)
        run.end_classifier_epoch(epoch, model, optimizer, loss, test_loss, accuracy)
    run.finish(model, f"test accuracy: {accuracy:.1%} ({run.seconds():.1f} s)")
    return accuracy


if __name__ == "__main__":
    main()
