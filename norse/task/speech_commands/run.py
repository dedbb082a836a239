"""Train a keyword recogniser (LIF, LSNN or LSTM) on Speech Commands MFCC features.

``python -m norse.task.speech_commands.run`` trains one of the networks of
:mod:`norse.task.speech_commands.model` (``--model lif``, ``lsnn`` or ``lstm``) on the ten
keywords of Google's Speech Commands (``yes no up down left right on off stop go``), each
one-second clip turned into 80 MFCC coefficients per 10 ms frame, read by
:mod:`norse.dataset.speech_commands` (no torchaudio needed); ``--download`` fetches the data set
into ``--data-root``. ``--synthetic`` trains on generated MFCC-like
features ``(T, B, 80)`` with class-dependent structure instead (no files; what most tests
run). 1.1.0's flags are kept (``--learning_rate 1e-4``, ``--batch_size 16``,
``--device``, ``--model lif``); like every task it takes ``--logdir``, ``--checkpoint`` /
``--resume``, ``--limit-batches`` and trains data-parallel under ``torchrun``::

    python -m norse.task.speech_commands.run --synthetic --epochs 2
    python -m norse.task.speech_commands.run --data-root data/speech --download --model lsnn

Example:
    >>> accuracy = main(["--synthetic", "--epochs", "1", "--samples", "32",
    ...                  "--n-features", "16", "--seq-length", "8", "--quiet"])
    test accuracy: ...
    >>> 0.0 <= accuracy <= 1.0
    True
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from norse.dataset.speech_commands import KNOWN_WORDS, MFCC, SpeechCommands, SpeechCommandsDataset
from norse.task._training import (
    Run,
    add_arguments,
    at_least_one,
    check_arguments,
    classify_epoch,
)
from norse.task.speech_commands.model import LSTMModel, lif_model, lsnn_model

__all__ = ["KEYWORDS", "load_speech_commands", "main", "parse_args", "synthetic_features",
           "test", "train"]  # fmt: skip

KEYWORDS = KNOWN_WORDS
N_MFCC = 80


def synthetic_features(n: int, seq_length: int = 50, n_input: int = N_MFCC,
                       n_classes: int = 10, seed: int = 0) -> tuple[Tensor, Tensor]:  # fmt: skip
    """``n`` generated MFCC-like sequences ``(n, seq_length, n_input)`` and labels ``(n,)``:
    each class sweeps its own band of coefficients over time (a "formant track"), drawn with
    a random time shift, amplitude and noise.

    Example:
        >>> x, y = synthetic_features(4, seq_length=10)
        >>> x.shape, y.dtype
        (torch.Size([4, 10, 80]), torch.int64)
    """
    base = torch.Generator().manual_seed(777)
    start = torch.randint(0, n_input, (n_classes,), generator=base).float()
    slope = (torch.rand(n_classes, generator=base) - 0.5) * 2.0 * n_input
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, n_classes, (n,), generator=gen)
    t = torch.linspace(0, 1, seq_length).view(1, seq_length, 1)
    shift = (torch.rand(n, 1, 1, generator=gen) - 0.5) * 0.2
    centre = start[labels].view(n, 1, 1) + slope[labels].view(n, 1, 1) * (t + shift)
    centre = centre.remainder(n_input)
    f = torch.arange(n_input).float().view(1, 1, n_input)
    amplitude = 0.8 + 0.4 * torch.rand(n, 1, 1, generator=gen)
    x = amplitude * torch.exp(-0.5 * ((f - centre) / 3.0) ** 2)
    x = x + 0.1 * torch.randn(x.shape, generator=gen)
    return x, labels


class _FramesFirst(nn.Module):
    """MFCC features of a ``(1, samples)`` waveform as ``(frames, N_MFCC)``."""

    def __init__(self) -> None:
        super().__init__()
        self.mfcc = MFCC(n_mfcc=N_MFCC, n_mels=N_MFCC)

    def forward(self, waveform: Tensor) -> Tensor:
        return self.mfcc(waveform)[0].T


def load_speech_commands(root: str | Path, subset: str = "training",
                         download: bool = False) -> torch.utils.data.Dataset:  # fmt: skip
    """The ten keywords of Speech Commands in ``root`` (``root/SpeechCommands/
    speech_commands_v0.02``; ``subset``: training, validation or testing) as ``(MFCC
    (frames, 80), label)`` pairs, read by :class:`~norse.dataset.speech_commands.SpeechCommands`
    (no torchaudio needed)."""
    words = SpeechCommands(root, subset=subset, download=download)
    words._walker = [path for path in words._walker if Path(path).parent.name in KEYWORDS]
    if not words._walker:
        raise FileNotFoundError(f"speech_commands: no keyword recordings ({', '.join(KEYWORDS)}) in the {subset} subset of {words._path}")  # fmt: skip
    return SpeechCommandsDataset(words, transform=_FramesFirst())


def _time_first(x: Tensor) -> Tensor:
    return x.transpose(0, 1)


def train(model: nn.Module, device: torch.device, loader: Sequence,
          optimizer: torch.optim.Optimizer, epoch: int, limit_batches: int | None = None,
          progress: bool = True) -> tuple[float, float]:  # fmt: skip
    """One epoch over ``(B, T, F)`` batches; returns ``(mean loss, accuracy)``."""
    return classify_epoch(model, loader, device, nn.functional.nll_loss, optimizer,
                          f"epoch {epoch}", limit_batches, progress, _time_first)  # fmt: skip


def test(model: nn.Module, test_loader: Sequence, epoch: int, device: torch.device | str = "cpu",
         limit_batches: int | None = None) -> tuple[float, float]:  # fmt: skip
    """``(mean loss, accuracy)`` on ``test_loader`` after ``epoch``."""
    return classify_epoch(model, test_loader, device, nn.functional.nll_loss,
                          limit_batches=limit_batches, inputs=_time_first)  # fmt: skip


test.__test__ = False  # (1.1.0's name; not a pytest test)


def make_model(name: str, n_features: int) -> nn.Module:
    """The network ``--model`` names."""
    if name == "lif":
        return lif_model(n_features=n_features)
    if name == "lsnn":
        return lsnn_model(n_features=n_features)
    if name == "lstm":
        return LSTMModel(n_features=n_features)
    raise ValueError(f"model must be lif, lsnn or lstm, got {name!r}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m norse.task.speech_commands.run",
                                     description="Keyword recognition with spiking networks.")  # fmt: skip
    parser.add_argument("--learning_rate", "--learning-rate", type=float, default=1e-4)
    parser.add_argument("--batch_size", "--batch-size", type=int, default=16)
    parser.add_argument("--model", default="lif", choices=["lif", "lsnn", "lstm"])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--n-features", type=int, default=128, help="hidden neurons")
    parser.add_argument("--random-seed", "--seed", dest="seed", type=int, default=1234)
    parser.add_argument("--data-root", default="data/speech_commands")
    parser.add_argument("--download", action="store_true", help="fetch Speech Commands")
    parser.add_argument("--synthetic", action="store_true", help="generated features, no files")
    parser.add_argument("--samples", type=int, default=512, help="synthetic training examples")
    parser.add_argument("--seq-length", type=int, default=50, help="synthetic frames")
    parser.add_argument("--limit-batches", type=int, default=None, help="batches per epoch")
    parser.add_argument("--quiet", action="store_true")
    add_arguments(parser)
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    at_least_one(parser, args, "epochs", "batch_size", "n_features", "samples", "seq_length")
    if args.learning_rate <= 0:
        parser.error("--learning_rate must be positive")
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
        train_data = TensorDataset(*synthetic_features(args.samples, args.seq_length,
                                                       seed=args.seed))  # fmt: skip
        test_data = TensorDataset(*synthetic_features(max(args.samples // 4, 1),
                                                      args.seq_length, seed=args.seed + 1))  # fmt: skip
    else:
        if args.download and distributed.is_main:
            load_speech_commands(args.data_root, "training", download=True)
        distributed.barrier()
        train_data = load_speech_commands(args.data_root, "training")
        test_data = load_speech_commands(args.data_root, "testing")
    train_loader, test_loader = run.loaders(train_data, test_data, args.batch_size)
    model = distributed.wrap(make_model(args.model, args.n_features))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    accuracy = 0.0
    for epoch in run.epochs(model, optimizer, args.epochs):
        loss, _ = train(model, run.device, train_loader, optimizer, epoch,
                        args.limit_batches, not run.quiet)  # fmt: skip
        test_loss, accuracy = test(model, test_loader, epoch, run.device, args.limit_batches)
        run.end_classifier_epoch(epoch, model, optimizer, loss, test_loss, accuracy)
    run.finish(model, f"test accuracy: {accuracy:.1%} ({run.seconds():.1f} s)")
    return accuracy


if __name__ == "__main__":
    try:
        main()
    except (ImportError, FileNotFoundError) as e:  # a missing file or package: say so, no traceback
        raise SystemExit(f"error: {e}") from None
