"""Classify handwritten digits with a small spiking network, in well under a minute on a CPU.

The data set is scikit-learn's bundled 8x8 digits (1797 images, shipped inside the package:
nothing is downloaded). Each image becomes 64 constant input currents, which an LIF encoder
turns into spike trains. A hidden layer of LIF neurons and a leaky-integrator readout follow;
the largest readout voltage over time is the class score::

    pixels -> ConstantCurrentLIFEncoder -> Linear -> LIF -> Linear -> LI -> max over time

Run it with ``python -m norse.task.digits`` (``make demo``); ``--help`` lists the flags. Like
every task it takes ``--device``, ``--seed``, ``--logdir`` (TensorBoard), ``--checkpoint`` /
``--resume``, and trains data-parallel on several processes under ``torchrun``::

    torchrun --nproc_per_node=2 -m norse.task.digits --epochs 3

Example:
    >>> accuracy = main(["--epochs", "1", "--seq-length", "8", "--quiet"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from norse.task._training import (
    Distributed,
    Run,
    add_arguments,
    at_least_one,
    check_arguments,
)
from norse.torch import LI, LIF, ConstantCurrentLIFEncoder, LIFParameters, LIParameters

__all__ = ["DigitsSNN", "load_data", "main", "parse_args", "train_epoch", "evaluate"]

N_PIXELS = 64
N_CLASSES = 10


class DigitsSNN(nn.Module):
    """Encoder, one hidden LIF layer and a leaky-integrator readout.

    The linear maps act on every time step at once (a ``(T, B, F)`` tensor through
    ``nn.Linear``), which is what ``Lift(nn.Linear(...))`` computes, in one matrix product.

    Args:
        hidden (int): number of hidden LIF neurons.
        seq_length (int): number of time steps each image is presented for.
        input_scale (float): current for a fully dark pixel (the encoder spikes for currents
            above its threshold 1).

    Example:
        >>> model = DigitsSNN(hidden=16, seq_length=8)
        >>> model(torch.rand(5, 64)).shape
        torch.Size([5, 10])
    """

    def __init__(self, hidden: int = 128, seq_length: int = 32, input_scale: float = 4.0,
                 learn_neurons: bool = False):  # fmt: skip
        super().__init__()
        self.input_scale = input_scale
        self.encoder = ConstantCurrentLIFEncoder(seq_length)
        self.hidden = nn.Linear(N_PIXELS, hidden)
        with torch.no_grad():
            # PyTorch's default initialisation leaves almost every hidden neuron silent
            # (no spikes, so little gradient); three times larger makes a few percent fire.
            self.hidden.weight.mul_(3.0)
            self.hidden.bias.mul_(3.0)
        tau_mem_inv = torch.tensor(100.0)
        if learn_neurons:  # (the membrane time constant trained with the weights)
            tau_mem_inv = nn.Parameter(tau_mem_inv)
        self.lif = LIF(LIFParameters(tau_mem_inv=tau_mem_inv))
        self.readout = nn.Linear(hidden, N_CLASSES)
        self.li = LI(LIParameters(tau_mem_inv=torch.tensor(100.0)))

    def forward(self, images: Tensor) -> Tensor:
        """Class scores ``(B, 10)`` for images scaled to ``[0, 1]`` (``(B, 64)``)."""
        spikes = self.encoder(self.input_scale * images)  # (T, B, 64)
        z, _ = self.lif(self.hidden(spikes))  # (T, B, hidden)
        v, _ = self.li(self.readout(z))  # (T, B, 10)
        return v.amax(dim=0)


def load_data(seed: int = 0, test_size: float = 0.25) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The digits scaled to ``[0, 1]``, split into stratified train and test sets.

    Returns:
        ``(x_train, y_train, x_test, y_test)`` with images as float32 ``(N, 64)`` rows.

    Example:
        >>> x_train, y_train, x_test, y_test = load_data()
        >>> x_train.shape, x_test.shape
        (torch.Size([1347, 64]), torch.Size([450, 64]))
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.data / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=test_size, stratify=digits.target, random_state=seed
    )
    return (
        torch.from_numpy(x_train),
        torch.from_numpy(y_train).long(),
        torch.from_numpy(x_test),
        torch.from_numpy(y_test).long(),
    )


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: Tensor,
    y: Tensor,
    batch_size: int,
    generator: torch.Generator,
    progress: bool = True,
    description: str = "",
    distributed: Distributed | None = None,
) -> float:
    """One pass over shuffled mini-batches; returns the mean training loss. With
    ``distributed``, each process trains on its share of every batch (the same shuffled order
    everywhere) and the gradients are averaged.

    Example:
        >>> x, y = torch.rand(8, 64), torch.arange(8) % 10
        >>> model = DigitsSNN(hidden=8, seq_length=4)
        >>> opt = torch.optim.Adam(model.parameters())
        >>> loss = train_epoch(model, opt, x, y, 4, torch.Generator().manual_seed(0), False)
        >>> loss > 0
        True
    """
    from tqdm import tqdm

    model.train()
    order = torch.randperm(len(x), generator=generator)
    batches = order.split(batch_size)
    total = 0.0
    bar = tqdm(batches, desc=description, disable=not progress, leave=False, unit="batch")
    for index in bar:
        if distributed is not None:
            index = distributed.share(index)
        loss = nn.functional.cross_entropy(model(x[index]), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(index)
        bar.set_postfix(loss=f"{loss.item():.3f}")
    seen = len(x) if distributed is None else len(x) / distributed.world_size
    mean = total / seen
    return mean if distributed is None else distributed.mean(mean)


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 512) -> float:
    """Fraction of correctly classified examples.

    Example:
        >>> model = DigitsSNN(hidden=8, seq_length=4)
        >>> 0.0 <= evaluate(model, torch.rand(6, 64), torch.arange(6)) <= 1.0
        True
    """
    model.eval()
    correct = 0
    for start in range(0, len(x), batch_size):
        scores = model(x[start : start + batch_size])
        correct += int((scores.argmax(dim=1) == y[start : start + batch_size]).sum())
    return correct / len(x)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line flags of the demo.

    Example:
        >>> parse_args(["--epochs", "3"]).epochs
        3
    """
    parser = argparse.ArgumentParser(
        prog="python -m norse.task.digits",
        description="Train a small spiking network on scikit-learn's 8x8 digits.",
    )
    parser.add_argument("--epochs", type=int, default=12, help="passes over the training set")
    parser.add_argument("--seq-length", type=int, default=24, help="time steps per image")
    parser.add_argument("--batch-size", type=int, default=32, help="images per update")
    parser.add_argument("--lr", type=float, default=5e-3, help="Adam learning rate")
    parser.add_argument("--hidden", type=int, default=128, help="hidden LIF neurons")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights, split, order")
    parser.add_argument("--quiet", action="store_true", help="print only the final accuracy")
    parser.add_argument(
        "--learn-neurons", action="store_true", help="learn the LIF membrane time constant too"
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    at_least_one(parser, args, "epochs", "seq_length", "batch_size", "hidden")
    if not args.lr > 0:
        parser.error("--lr must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> float:
    """Train the network and return its test accuracy.

    Example:
        >>> main(["--epochs", "1", "--quiet"])  # doctest: +SKIP
        0.9...
    """
    args = parse_args(argv)
    run = Run(args)
    distributed, device = run.distributed, run.device
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    x_train, y_train, x_test, y_test = load_data(args.seed)
    x_train, y_train = x_train.to(device), y_train.to(device)
    x_test, y_test = x_test.to(device), y_test.to(device)
    model = distributed.wrap(
        DigitsSNN(args.hidden, args.seq_length, learn_neurons=args.learn_neurons)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    first = run.resume(model, optimizer, generator)
    if not run.quiet:
        processes = f", {distributed.world_size} processes" if distributed.active else ""
        print(
            f"digits: {len(x_train)} train / {len(x_test)} test images, {args.seq_length} "
            f"steps, {args.hidden} hidden LIF neurons{processes}"
        )
    for epoch in range(first, args.epochs + 1):
        loss = train_epoch(
            model,
            optimizer,
            x_train,
            y_train,
            args.batch_size,
            generator,
            progress=not run.quiet,
            description=f"epoch {epoch}/{args.epochs}",
            distributed=distributed,
        )
        accuracy = evaluate(model, x_test, y_test)
        if not run.quiet:
            print(f"epoch {epoch:>2}: loss {loss:.3f}, test accuracy {accuracy:.1%}")
        run.end_epoch(epoch, model, optimizer, **{"loss/train": loss, "accuracy/test": accuracy})
    accuracy = evaluate(model, x_test, y_test)
    run.finish(model, f"test accuracy: {accuracy:.1%} ({run.seconds():.1f} s)")
    return accuracy


if __name__ == "__main__":
    main()
