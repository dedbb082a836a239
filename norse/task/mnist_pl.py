"""MNIST with PyTorch Lightning (1.1.0's ``mnist_pl``); needs ``lightning``, else use ``mnist``.

1.1.0 trained :class:`LIFConvNet` (the spiking ConvNet of :mod:`norse.task.mnist`) with a
PyTorch Lightning ``Trainer``. This module keeps the name and 1.1.0's constructor and flags
(``--batch_size 32``, ``--learning_rate 2e-3``, ``--model super``, ``--only_first_spike``,
``--optimizer adam``, ``--train_only_output``, ``--seq_length 200``); training needs
``lightning`` (or ``pytorch_lightning``; ``pip install lightning``), not torchvision: the
MNIST files are read as :mod:`norse.task.mnist` reads them. Lightning gives the progress bar,
the TensorBoard logger (``--logdir``), checkpoints (``--checkpoint``, ``--resume``) and DDP
under ``torchrun``; ``--synthetic`` trains on generated digits. Without Lightning
:func:`main` raises an ``ImportError`` that says so; the same training in plain PyTorch is
``python -m norse.task.mnist``::

    python -m norse.task.mnist_pl --synthetic --max_epochs 1 --seq_length 8

Example:
    >>> net = LIFConvNet(28 * 28, seq_length=2, learning_rate=1e-3)
    >>> net(torch.rand(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    >>> net.configure_optimizers().__class__.__name__
    'Adam'
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from norse.task import mnist
from norse.task._training import at_least_one

__all__ = ["LIFConvNet", "lightning_available", "main", "parse_args"]


def lightning_available() -> bool:
    """Whether ``lightning`` or ``pytorch_lightning`` can be imported."""
    return any(importlib.util.find_spec(m) is not None for m in ("lightning", "pytorch_lightning"))


class LIFConvNet(nn.Module):
    """1.1.0's Lightning module as a plain module: :class:`norse.task.mnist.LIFConvNet`
    (``self.net``) with the optimiser settings; ``only_output`` trains the readout only.
    """

    def __init__(self, input_features: int, seq_length: int, learning_rate: float,
                 model: str = "super", optimizer: str = "adam", input_scale: float = 1.0,
                 only_output: bool = False, only_first_spike: bool = False) -> None:  # fmt: skip
        super().__init__()
        if optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.only_output = only_output
        self.net = mnist.LIFConvNet(input_features, seq_length, input_scale, model,
                                    only_first_spike)  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int = 0) -> Tensor:
        x, y = batch
        return nn.functional.nll_loss(self(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        if self.only_output:
            params = [p for n, p in self.net.rsnn.named_parameters() if n.startswith("out")]
            params = params or list(self.parameters())
        else:
            params = list(self.parameters())
        if self.optimizer == "adam":
            return torch.optim.Adam(params, lr=self.learning_rate)
        return torch.optim.SGD(params, lr=self.learning_rate)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m norse.task.mnist_pl",
                                     description="MNIST with PyTorch Lightning.")  # fmt: skip
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=2e-3)
    parser.add_argument("--model", default="super")
    parser.add_argument("--only_first_spike", action="store_true")
    parser.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    parser.add_argument("--train_only_output", action="store_true")
    parser.add_argument("--seq_length", type=int, default=200)
    parser.add_argument("--max_epochs", "--epochs", dest="max_epochs", type=int, default=10)
    parser.add_argument("--input-scale", type=float, default=5.0)
    parser.add_argument("--data-root", default="data/mnist")
    parser.add_argument("--download", action="store_true", help="fetch MNIST (MD5-checked)")
    parser.add_argument("--synthetic", action="store_true", help="generated images, no files")
    parser.add_argument("--samples", type=int, default=512, help="synthetic training images")
    parser.add_argument("--limit-batches", type=int, default=None, help="batches per epoch")
    parser.add_argument("--seed", "--random-seed", dest="seed", type=int, default=1234)
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    parser.add_argument("--device", default="cpu", help="cpu, cuda/gpu or auto")
    parser.add_argument("--logdir", default=None, help="TensorBoard logs (Lightning's logger)")
    parser.add_argument("--checkpoint", default=None, help="the last epoch's checkpoint (.ckpt)")
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    args = parser.parse_args(argv)
    at_least_one(parser, args, "batch_size", "seq_length", "max_epochs", "samples")
    if args.resume and not args.checkpoint:
        parser.error("--resume needs --checkpoint PATH (the file to continue from)")
    return args


def _lightning() -> Any:
    if not lightning_available():
        raise ImportError(
            "norse.task.mnist_pl needs PyTorch Lightning: pip install lightning (or "
            "norse[tasks]); or train the same network without it: python -m norse.task.mnist"
        )
    try:
        import lightning.pytorch as pl
    except ImportError:
        import pytorch_lightning as pl
    return pl


def main(argv: Sequence[str] | None = None) -> float:
    """Train with a Lightning ``Trainer`` (progress bar, TensorBoard logger, checkpoint and
    ``--resume``, DDP under ``torchrun``); returns the test accuracy. Without ``lightning``
    an ``ImportError`` says what to do."""
    args = parse_args(argv)
    pl = _lightning()
    from torch.utils.data import DataLoader, TensorDataset

    class _Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = LIFConvNet(28 * 28, args.seq_length, args.learning_rate, args.model,
                                    args.optimizer, args.input_scale, args.train_only_output,
                                    args.only_first_spike)  # fmt: skip

        def forward(self, x: Tensor) -> Tensor:
            return self.model(x)

        def training_step(self, batch, batch_idx):  # noqa: ANN001, ANN202
            loss = self.model.training_step(batch, batch_idx)
            self.log("loss/train", loss, prog_bar=True)
            return loss

        def test_step(self, batch, batch_idx):  # noqa: ANN001, ANN202
            x, y = batch
            accuracy = (self(x).argmax(1) == y).float().mean()
            self.log("accuracy/test", accuracy, sync_dist=True)

        def configure_optimizers(self):  # noqa: ANN202
            return self.model.configure_optimizers()

    pl.seed_everything(args.seed, verbose=False)
    if args.synthetic:
        train_set = mnist.synthetic_digits(args.samples, args.seed)
        test_set = mnist.synthetic_digits(max(args.samples // 4, 1), args.seed + 1)
    else:
        if args.download:
            mnist.download(args.data_root)
        train_set = mnist.load_mnist(args.data_root, True)
        test_set = mnist.load_mnist(args.data_root, False)
    loader = DataLoader(TensorDataset(*train_set), batch_size=args.batch_size, shuffle=True)
    test_loader = DataLoader(TensorDataset(*test_set), batch_size=args.batch_size)
    callbacks, resume_from = [], None
    if args.checkpoint:
        path = Path(args.checkpoint)
        callbacks.append(pl.callbacks.ModelCheckpoint(dirpath=path.parent or ".",
                                                      filename=path.stem, enable_version_counter=False))  # fmt: skip
        if args.resume and path.with_suffix(".ckpt").is_file():
            resume_from = str(path.with_suffix(".ckpt"))
    logger = False
    if args.logdir:
        logger = pl.loggers.TensorBoardLogger(args.logdir, name="mnist_pl")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    accelerator = {"cuda": "gpu"}.get(args.device.split(":")[0], args.device.split(":")[0])
    trainer = pl.Trainer(
        max_epochs=args.max_epochs,
        accelerator=accelerator,
        devices=world if world > 1 else 1,
        strategy="ddp" if world > 1 else "auto",
        logger=logger,
        callbacks=callbacks,
        enable_checkpointing=bool(callbacks),
        enable_progress_bar=not args.quiet,
        enable_model_summary=not args.quiet,
        limit_train_batches=args.limit_batches,
        limit_test_batches=args.limit_batches,
        deterministic=True,
        log_every_n_steps=max(1, min(50, len(loader))),
    )
    module = _Module()
    trainer.fit(module, loader, ckpt_path=resume_from)
    accuracy = float(trainer.test(module, test_loader, verbose=False)[0]["accuracy/test"])
    if trainer.is_global_zero:
        print(f"test accuracy: {accuracy:.1%}")
    return accuracy


if __name__ == "__main__":
    try:
        main()
    except (ImportError, FileNotFoundError) as e:
        raise SystemExit(f"error: {e}") from None
