"""MNIST with PyTorch Lightning (1.1.0's ``mnist_pl``); needs ``lightning``, else use ``mnist``.

1.1.0 trained :class:`LIFConvNet` (the spiking ConvNet of :mod:`norse.task.mnist`) with a
PyTorch Lightning ``Trainer``. This module keeps the name and 1.1.0's constructor and flags
(``--batch_size 32``, ``--learning_rate 2e-3``, ``--model super``, ``--only_first_spike``,
``--optimizer adam``, ``--train_only_output``, ``--seq_length 200``) but training it needs
``lightning`` (or ``pytorch_lightning``) and ``torchvision``: ``pip install lightning
torchvision``. Without them :func:`main` raises an ``ImportError`` that says so; the same
training in plain PyTorch (checkpoints, TensorBoard, ``torchrun``, ``--synthetic``) is
``python -m norse.task.mnist``.

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
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from norse.task import mnist

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
    parser.add_argument("--max_epochs", type=int, default=10)
    parser.add_argument("--data-root", default="data/mnist")
    args = parser.parse_args(argv)
    for name in ("batch_size", "seq_length", "max_epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Train with Lightning; without ``lightning`` an ``ImportError`` saying what to do."""
    args = parse_args(argv)
    if not lightning_available():
        raise ImportError(
            "norse.task.mnist_pl needs PyTorch Lightning: pip install lightning torchvision; "
            "or train the same network without it: python -m norse.task.mnist"
        )
    try:
        import lightning.pytorch as pl
    except ImportError:
        import pytorch_lightning as pl
    from torch.utils.data import DataLoader, TensorDataset

    class _Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = LIFConvNet(28 * 28, args.seq_length, args.learning_rate, args.model,
                                    args.optimizer, 5.0, args.train_only_output,
                                    args.only_first_spike)  # fmt: skip

        def forward(self, x: Tensor) -> Tensor:
            return self.model(x)

        def training_step(self, batch, batch_idx):  # noqa: ANN001, ANN202
            loss = self.model.training_step(batch, batch_idx)
            self.log("loss", loss)
            return loss

        def configure_optimizers(self):  # noqa: ANN202
            return self.model.configure_optimizers()

    data = TensorDataset(*mnist.load_mnist(args.data_root, True))
    loader = DataLoader(data, batch_size=args.batch_size, shuffle=True)
    pl.Trainer(max_epochs=args.max_epochs).fit(_Module(), loader)


if __name__ == "__main__":
    try:
        main()
    except ImportError as e:
        raise SystemExit(f"error: {e}") from None
