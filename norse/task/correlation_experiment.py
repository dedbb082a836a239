"""Learn with correlation sensors: LIF neurons whose weights follow their spike correlations.

A recurrent layer of LIF neurons with correlation sensors on its input and recurrent synapses
(:class:`~norse.torch.LIFCorrelation`) sees one of two Poisson spike patterns (random per-input
rates, seeded: 42 by default). Every ``--update-every`` steps
:func:`~norse.torch.functional.correlation_sensor.correlation_based_update` changes the input
and recurrent weights by a (fixed, random) linear function of the correlation traces; a
leaky-integrator readout (:class:`~norse.torch.LILinearCell`) is trained with Adam to tell the
two patterns apart from the maximum of its voltage. Each epoch prints the loss, the accuracy
and how far the weights moved. Runs in seconds on a CPU::

    python -m norse.task.correlation_experiment --epochs 20

Example:
    >>> history = main(["--epochs", "2", "--steps", "20", "--quiet"])
    >>> len(history), sorted(history[0])
    (2, ['accuracy', 'epoch', 'loss', 'weight_change'])
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import torch
from torch import nn

from norse.task._training import (
    Run,
    add_arguments,
    at_least_one,
    check_arguments,
)
from norse.torch import LIFCorrelation, LILinearCell
from norse.torch.functional.correlation_sensor import correlation_based_update

__all__ = ["main", "parse_args"]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line flags (1.1.0's script took none; these default to its behaviour).

    Example:
        >>> parse_args([]).seed
        42
    """
    parser = argparse.ArgumentParser(
        prog="python -m norse.task.correlation_experiment",
        description="LIF neurons with correlation-based weight updates on Poisson patterns.",
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=100, help="time steps per sample")
    parser.add_argument("--inputs", type=int, default=10, help="input neurons")
    parser.add_argument("--hidden", type=int, default=8, help="LIF neurons")
    parser.add_argument("--update-every", type=int, default=10, help="steps between updates")
    parser.add_argument("--learning-rate", type=float, default=1e-2, help="Adam (readout)")
    parser.add_argument("--update-rate", type=float, default=1e-2, help="correlation updates")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quiet", action="store_true")
    add_arguments(parser)
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    at_least_one(parser, args, "epochs", "steps", "inputs", "hidden", "update_every")
    return args


class _Model(nn.Module):
    def __init__(self, n_in: int, n_hidden: int) -> None:
        super().__init__()
        self.lif = LIFCorrelation(n_in, n_hidden)
        self.readout = LILinearCell(n_hidden, 2)
        self.register_buffer("input_weights", torch.rand(n_hidden, n_in) * 2 / n_in**0.5)
        self.register_buffer("recurrent_weights", torch.randn(n_hidden, n_hidden) * 0.1)
        # the learning rule's map from the traces (batch 1) to a weight change
        self.update_in = nn.Linear(2 * n_in * n_hidden, n_hidden * n_in, bias=False)
        self.update_rec = nn.Linear(2 * n_hidden * n_hidden, n_hidden * n_hidden, bias=False)
        for update in (self.update_in, self.update_rec):
            nn.init.normal_(update.weight, 0.0, 0.01)
            update.weight.requires_grad_(False)


def main(argv: Sequence[str] | None = None) -> list[dict]:
    """Run the experiment; returns one record per epoch."""
    args = parse_args(argv)
    run = Run(args)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    device = run.device
    model = _Model(args.inputs, args.hidden).to(device)
    rates = torch.rand(2, args.inputs, generator=generator).to(device) * 0.2
    optimizer = torch.optim.Adam(model.readout.parameters(), lr=args.learning_rate)
    history = []
    for epoch in range(run.resume(model, optimizer, generator), args.epochs + 1):
        label = epoch % 2
        spikes = (torch.rand(args.steps, 1, args.inputs, generator=generator).to(device)
                  < rates[label]).float()  # fmt: skip
        before = torch.cat([model.input_weights.flatten(), model.recurrent_weights.flatten()])
        state, readout_state, voltages = None, None, []
        w_in, w_rec = model.input_weights, model.recurrent_weights
        for t, x in enumerate(run.progress(spikes.unbind(0), f"epoch {epoch}", unit="step")):
            z, state = model.lif(x, w_in, w_rec, state)
            v, readout_state = model.readout(z, readout_state)
            voltages.append(v)
            with torch.no_grad():
                w_in = correlation_based_update(t, model.update_in, w_in, _sensor(state, "input"),
                                                args.update_rate, args.update_every)  # fmt: skip
                w_rec = correlation_based_update(t, model.update_rec, w_rec,
                                                 _sensor(state, "recurrent"), args.update_rate,
                                                 args.update_every)  # fmt: skip
        model.input_weights.copy_(w_in)
        model.recurrent_weights.copy_(w_rec)
        scores = torch.stack(voltages).amax(0)
        target = torch.tensor([label], device=device)
        loss = nn.functional.cross_entropy(scores, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        after = torch.cat([model.input_weights.flatten(), model.recurrent_weights.flatten()])
        record = {
            "epoch": epoch,
            "loss": loss.item(),
            "accuracy": float(scores.argmax(1).eq(target).float().mean()),
            "weight_change": float((after - before).norm()),
        }
        history.append(record)
        if not run.quiet:
            print(f"epoch {epoch:>3}: loss {record['loss']:.4f}, weight change "
                  f"{record['weight_change']:.4f}")  # fmt: skip
        run.end_epoch(epoch, model, optimizer,
                      **{k: record[k] for k in ("loss", "accuracy", "weight_change")})  # fmt: skip
    run.finish(model)
    return history


def _sensor(state, which: str):
    return getattr(state, f"{which}_correlation_state")


if __name__ == "__main__":
    main()
