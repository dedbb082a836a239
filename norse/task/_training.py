"""What every training task shares: device, seed, progress, TensorBoard, checkpoints, and
data-parallel training over several processes (``torchrun``).

A task adds the flags with :func:`add_arguments` and uses:

* :class:`Distributed` (from the environment ``torchrun`` sets: ``RANK``, ``WORLD_SIZE``,
  ``LOCAL_RANK``): one process per rank, ``gloo`` on the CPU and ``nccl`` on CUDA; the model is
  wrapped in ``DistributedDataParallel`` (parameters, learnable neuron parameters included,
  are averaged after every backward pass and stay equal), each process takes its share of
  every batch, and only rank 0 prints, logs and writes checkpoints.
* :func:`save_checkpoint` / :func:`load_checkpoint`: the model, the optimiser, the epoch and
  the random number generators, written atomically (a killed process leaves the previous
  checkpoint intact); ``--resume`` continues from the next epoch with the same weights,
  optimiser state and data order.
* :func:`summary_writer`: TensorBoard's ``SummaryWriter`` for ``--logdir`` (rank 0), or
  ``None``.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> args = parser.parse_args(["--device", "cpu"])
    >>> args.device, args.resume, Distributed().world_size
    ('cpu', False, 1)
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "Distributed",
    "Run",
    "add_arguments",
    "at_least_one",
    "check_arguments",
    "classify_epoch",
    "load_checkpoint",
    "parse_bool",
    "save_checkpoint",
    "summary_writer",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--device``, ``--logdir``, ``--checkpoint``, ``--resume``."""
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--logdir", default=None, help="write TensorBoard logs here")
    parser.add_argument(
        "--checkpoint", default=None, help="save the training state here after every epoch"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue from --checkpoint (if it exists)"
    )


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Errors for flags that cannot work: ``--resume`` without ``--checkpoint``, a CUDA
    device without CUDA."""
    if args.resume and not args.checkpoint:
        parser.error("--resume needs --checkpoint PATH (the file to continue from)")
    if str(args.device).startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: CUDA is not available here; use --device cpu")
    try:
        torch.device(args.device)
    except RuntimeError:
        parser.error(f"--device: expected cpu, cuda or cuda:N, got {args.device!r}")


def at_least_one(parser: argparse.ArgumentParser, args: argparse.Namespace, *names: str) -> None:
    """``parser.error`` naming the flag (as the parser spells it first) of any of the
    arguments ``names`` that is below 1.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> _ = parser.add_argument("--batch_size", "--batch-size", type=int, default=0)
        >>> try:  # argparse prints "error: --batch_size must be at least 1" and exits
        ...     at_least_one(parser, parser.parse_args([]), "batch_size")
        ... except SystemExit as e:
        ...     print("exit", e.code)
        exit 2
    """
    flags = {action.dest: action.option_strings[0] for action in parser._actions if action.option_strings}  # fmt: skip
    for name in names:
        if getattr(args, name) < 1:
            parser.error(f"{flags.get(name, '--' + name)} must be at least 1")


def parse_bool(text: str) -> bool:
    """``type=`` for flags that take ``True``/``False`` (1.1.0's ``--lr_step False``).

    Example:
        >>> parse_bool("True"), parse_bool("no")
        (True, False)
    """
    value = str(text).strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


def classify_epoch(
    model: nn.Module,
    loader: Any,
    device: torch.device | str,
    loss_fn: Any,
    optimizer: torch.optim.Optimizer | None = None,
    description: str = "",
    limit_batches: int | None = None,
    progress: bool = False,
    inputs: Any = None,
    clip_grad: float | None = None,
) -> tuple[float, float]:
    """One pass of a classifier over ``loader``'s ``(x, y)`` batches: trains when an
    ``optimizer`` is given (else evaluates without gradients) and returns ``(mean loss per
    sample, accuracy)`` of the argmax of the output.

    ``loss_fn(output, y)`` is the batch's mean loss; ``inputs`` maps a batch's ``x`` before
    the model (e.g. to time first); ``clip_grad`` clips the gradient norm; ``limit_batches``
    stops early; ``progress`` shows a bar titled ``description``.

    Example:
        >>> model = nn.Linear(4, 3)
        >>> batches = [(torch.randn(8, 4), torch.randint(0, 3, (8,))) for _ in range(2)]
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> loss, accuracy = classify_epoch(model, batches, "cpu", nn.functional.cross_entropy, opt)
        >>> loss > 0 and 0.0 <= accuracy <= 1.0
        True
    """
    from tqdm import tqdm

    training = optimizer is not None
    model.train(training)
    total = correct = seen = 0.0
    bar = tqdm(loader, desc=description, disable=not progress, leave=False, unit="batch")
    with torch.set_grad_enabled(training):
        for k, (x, y) in enumerate(bar):
            if limit_batches is not None and k >= limit_batches:
                break
            x, y = x.to(device), y.to(device)
            out = model(x if inputs is None else inputs(x))
            loss = loss_fn(out, y)
            if training:
                optimizer.zero_grad()
                loss.backward()
                if clip_grad is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
                optimizer.step()
                bar.set_postfix(loss=f"{loss.item():.3f}")
            total += loss.item() * len(y)
            correct += int((out.argmax(1) == y).sum())
            seen += len(y)
    return total / max(seen, 1), correct / max(seen, 1)


class Distributed:
    """The process group ``torchrun`` asks for (nothing when run as one process).

    Example:
        >>> d = Distributed()
        >>> d.rank, d.world_size, d.is_main, d.share(torch.arange(5)).tolist()
        (0, 1, True, [0, 1, 2, 3, 4])
    """

    def __init__(self, device: str = "cpu") -> None:
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = torch.device(device)
        self.active = self.world_size > 1
        if self.active:
            import torch.distributed as dist

            if self.device.type == "cuda":
                self.device = torch.device("cuda", self.local_rank)
                torch.cuda.set_device(self.device)
            if not dist.is_initialized():
                dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` on the device, in ``DistributedDataParallel`` when distributed."""
        model = model.to(self.device)
        if not self.active:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def share(self, index: torch.Tensor) -> torch.Tensor:
        """This process's part of a batch's example indices (every ``world_size``-th)."""
        return index[self.rank :: self.world_size] if self.active else index

    def mean(self, value: float) -> float:
        """The mean of ``value`` over the processes."""
        if not self.active:
            return value
        import torch.distributed as dist

        t = torch.tensor([value], dtype=torch.float64, device=self._comm_device())
        dist.all_reduce(t)
        return float(t.item()) / self.world_size

    def same_parameters(self, model: nn.Module) -> bool:
        """Whether every process holds exactly the same parameters (compared by a checksum of
        their bits, gathered from all processes)."""
        if not self.active:
            return True
        import torch.distributed as dist

        flat = torch.cat([p.detach().double().reshape(-1) for p in model.parameters()])
        digest = torch.stack([flat.sum(), (flat * torch.arange(len(flat)).double()).sum()])
        gathered = [torch.empty_like(digest) for _ in range(self.world_size)]
        dist.all_gather(gathered, digest.to(self._comm_device()))
        return all(torch.equal(g.cpu(), gathered[0].cpu()) for g in gathered)

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as dist

            dist.barrier()

    def close(self) -> None:
        if self.active:
            import torch.distributed as dist

            if dist.is_initialized():
                # (all processes arrive before any tears the group down: gloo aborts a
                # process whose peer disconnects while it still talks to it)
                dist.barrier()
                dist.destroy_process_group()

    def _comm_device(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def save_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    epoch: int, generator: torch.Generator | None = None,
                    **extra: Any) -> None:  # fmt: skip
    """Write the training state after ``epoch`` to ``path`` (atomically: a temporary file,
    then a rename).

    Example:
        >>> import tempfile
        >>> model = nn.Linear(2, 1)
        >>> opt = torch.optim.Adam(model.parameters())
        >>> path = Path(tempfile.mkdtemp()) / "state.pt"
        >>> save_checkpoint(path, model, opt, epoch=3)
        >>> load_checkpoint(path, model, opt)["epoch"]
        3
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "epoch": epoch,
        "model": _unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "generator": None if generator is None else generator.get_state(),
        "extra": extra,
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    generator: torch.Generator | None = None,
                    map_location: Any = "cpu") -> dict:  # fmt: skip
    """Restore what :func:`save_checkpoint` wrote into ``model``, ``optimizer`` (and
    ``generator``); returns the checkpoint (``"epoch"``, ``"extra"``, ...). A file that is not
    a checkpoint raises a ``ValueError`` naming it."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001 - a corrupt or foreign file
        raise ValueError(f"{path}: not a readable checkpoint ({type(e).__name__}: {e})") from e
    missing = [
        k for k in ("epoch", "model", "optimizer") if not isinstance(state, dict) or k not in state
    ]
    if missing:
        raise ValueError(f"{path}: not a training checkpoint (missing {', '.join(missing)})")
    _unwrap(model).load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    if generator is not None and state.get("generator") is not None:
        generator.set_state(state["generator"])
    return state


def summary_writer(logdir: str | None, is_main: bool = True) -> Any:
    """TensorBoard's ``SummaryWriter`` for ``logdir`` on the main process, else ``None``."""
    if not logdir or not is_main:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=logdir)


class Run:
    """The bookkeeping of one training run around a task's own loop: the processes, resuming
    from ``--checkpoint``, TensorBoard scalars, a checkpoint after every epoch, and the end
    (the summary line, whether the processes agree, closing everything).

    Example:
        >>> import argparse
        >>> parser = argparse.ArgumentParser()
        >>> add_arguments(parser)
        >>> args = parser.parse_args([])
        >>> args.quiet = True
        >>> run = Run(args)
        >>> model = run.distributed.wrap(nn.Linear(2, 1))
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> for epoch in range(run.resume(model, opt), 3):
        ...     run.end_epoch(epoch, model, opt, loss=1.0 / epoch)
        >>> run.finish(model, "done")
        done
    """

    def __init__(self, args: argparse.Namespace) -> None:
        import time

        self.args = args
        self.distributed = Distributed(args.device)
        self.quiet = bool(getattr(args, "quiet", False)) or not self.distributed.is_main
        self.writer: Any = None
        self.generator: torch.Generator | None = None
        self.sampler: Any = None
        self.scheduler: Any = None
        self._start = time.perf_counter()

    @property
    def device(self) -> torch.device:
        return self.distributed.device

    def resume(self, model: nn.Module, optimizer: Any, generator: torch.Generator | None = None,
               scheduler: Any = None, first: int = 1) -> int:  # fmt: skip
        """The first epoch to run: ``first``, or the one after ``--checkpoint``'s with
        ``--resume`` (model, optimiser, ``generator`` and learning-rate ``scheduler``
        restored; the checkpoints written by :meth:`end_epoch` hold them). Opens the
        TensorBoard writer."""
        self.generator, self.scheduler = generator, scheduler
        args = self.args
        if args.resume and Path(args.checkpoint).exists():
            state = load_checkpoint(args.checkpoint, model, optimizer, generator, self.device)
            first = state["epoch"] + 1
            if scheduler is not None and state["extra"].get("scheduler") is not None:
                scheduler.load_state_dict(state["extra"]["scheduler"])
            if not self.quiet:
                print(f"resumed from {args.checkpoint} after epoch {state['epoch']}")
        self.writer = summary_writer(args.logdir, self.distributed.is_main)
        return first

    def loaders(self, train: Any, test: Any = None, batch_size: int = 32, collate_fn: Any = None,
                seed: int | None = None) -> tuple[Any, Any]:  # fmt: skip
        """``(train loader, test loader)``: the training set shuffled by a generator seeded
        with ``seed`` (default ``--seed``; it goes into the checkpoints, so ``--resume`` keeps
        the data order), or split between the processes by a ``DistributedSampler`` under
        ``torchrun``; the test loader (``None`` without ``test``) in order."""
        from torch.utils.data import DataLoader
        from torch.utils.data.distributed import DistributedSampler

        seed = self.args.seed if seed is None else seed
        self.sampler = DistributedSampler(train, seed=seed) if self.distributed.active else None
        self.generator = torch.Generator().manual_seed(seed)
        train_loader = DataLoader(train, batch_size=batch_size, shuffle=self.sampler is None,
                                  sampler=self.sampler, collate_fn=collate_fn,
                                  generator=self.generator)  # fmt: skip
        if test is None:
            return train_loader, None
        return train_loader, DataLoader(test, batch_size=batch_size, collate_fn=collate_fn)

    def epochs(self, model: nn.Module, optimizer: Any, last: int, scheduler: Any = None) -> Any:
        """The epochs to run up to ``last``: from 1, or after ``--checkpoint``'s with
        ``--resume`` (see :meth:`resume`, with the generator of :meth:`loaders`); tells the
        distributed sampler each epoch."""
        for epoch in range(self.resume(model, optimizer, self.generator, scheduler), last + 1):
            if self.sampler is not None:
                self.sampler.set_epoch(epoch)
            yield epoch

    def end_classifier_epoch(self, epoch: int, model: nn.Module, optimizer: Any, loss: float,
                             test_loss: float, accuracy: float) -> None:  # fmt: skip
        """:meth:`end_epoch` of a classifier: prints the epoch's training loss, test loss and
        test accuracy, and logs them as ``loss/train``, ``loss/test``, ``accuracy/test``."""
        if not self.quiet:
            print(f"epoch {epoch:>2}: loss {loss:.3f}, test loss {test_loss:.3f}, "
                  f"test accuracy {accuracy:.1%}")  # fmt: skip
        self.end_epoch(epoch, model, optimizer, **{"loss/train": loss, "loss/test": test_loss,
                                                  "accuracy/test": accuracy})  # fmt: skip

    def end_epoch(self, epoch: int, model: nn.Module, optimizer: Any, **scalars: float) -> None:
        """Log ``scalars`` to TensorBoard, write the checkpoint (main process), wait for all."""
        if self.writer is not None:
            for name, value in scalars.items():
                self.writer.add_scalar(name, value, epoch)
        if self.args.checkpoint and self.distributed.is_main:
            extra = {} if self.scheduler is None else {"scheduler": self.scheduler.state_dict()}
            save_checkpoint(self.args.checkpoint, model, optimizer, epoch, self.generator, **extra)
        self.distributed.barrier()

    def progress(self, iterable: Any, description: str, unit: str = "batch", **kwargs: Any) -> Any:
        """``iterable`` behind a tqdm progress bar (none when quiet or not the main process)."""
        from tqdm import tqdm

        return tqdm(iterable, desc=description, disable=self.quiet, leave=False, unit=unit, **kwargs)  # fmt: skip

    def seconds(self) -> float:
        import time

        return time.perf_counter() - self._start

    def finish(self, model: nn.Module, summary: str | None = None) -> None:
        """Print ``summary`` (main process) and, under ``torchrun``, whether all processes hold
        the same parameters; close the writer and the process group."""
        same = self.distributed.same_parameters(model)
        if self.distributed.is_main:
            if summary is not None:
                print(summary)
            if self.distributed.active:
                print(f"parameters equal on all {self.distributed.world_size} processes: {same}")
        if self.writer is not None:
            self.writer.close()
        self.distributed.close()
