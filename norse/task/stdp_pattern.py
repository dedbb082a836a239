"""STDP finds a repeated spike pattern hidden in noise (after Masquelier, Guyonneau & Thorpe 2008).

``n_afferents`` input neurons fire as Poisson processes at ``rate``. Half of them, the *pattern
afferents*, replay the same frozen 50 ms spike pattern in about half of all 50 ms windows, at
random; outside those windows they, and all the other afferents at all times, fire at random
at the same rate. No afferent fires more during the pattern than otherwise, so only the
precise spike timing tells the pattern apart.

A single LIF neuron listens to all afferents through an ``nn.Linear`` layer that an
:class:`norse.torch.module.stdp.STDPLearner` trains with additive, depression-dominated STDP.
Nothing tells the neuron where the pattern is. The network sees ``streams`` independent input
streams at once (the batch dimension), all with the same frozen pattern; one weight vector
learns from all of them (the STDP rule sums over the batch), which gathers experience
``streams`` times faster per time step.

In the beginning the neuron fires at random. Afferents that fire just before its spikes are
potentiated, the others depressed; because the pattern repeats, the afferents of its early
part are the ones that keep preceding the neuron's spikes, so the strongest weights end up on
pattern afferents, and the neuron fires in (nearly) every pattern copy, within a few ms of
its start, and rarely elsewhere.

Run ``python -m norse.task.stdp_pattern --plot docs/images/stdp_pattern.png`` (about 5 s of
CPU time). It prints how selective the neuron became and, with ``--plot``, draws the input
raster with the output spikes, the learned weights and the first-spike latency per pattern
copy (needs matplotlib).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from norse.torch import LIFCell, LIFParameters
from norse.torch.functional.stdp import STDPParameters
from norse.torch.module.stdp import STDPLearner

DT = 1e-3
WINDOW = 50  # steps (ms) per pattern window


@dataclass
class Result:
    """What :func:`run` returns: the inputs, the output spikes and the weights.

    Example:
        >>> result = run(seconds=0.2, streams=2)
        >>> result.spikes_out.shape, result.weights.shape, 0 <= result.hits() <= 1
        (torch.Size([200, 2]), torch.Size([500]), True)
    """

    spikes_in: torch.Tensor  # (T, streams, n_afferents), bool
    spikes_out: torch.Tensor  # (T, streams), bool
    pattern_onsets: list[list[int]]  # per stream: the first step of every pattern copy
    n_pattern: int  # afferents 0 .. n_pattern - 1 carry the pattern
    weights_initial: torch.Tensor  # (n_afferents,)
    weights: torch.Tensor  # (n_afferents,)

    def hits(self, last: int = 20) -> float:
        """Fraction of the last ``last`` pattern copies (per stream) with an output spike."""
        found, total = 0, 0
        for stream, onsets in enumerate(self.pattern_onsets):
            for o in onsets[-last:]:
                found += bool(self.spikes_out[o : o + WINDOW, stream].any())
                total += 1
        return found / max(total, 1)

    def false_alarms(self, last_steps: int = 2000) -> float:
        """Output spikes per second outside the pattern windows, over the last steps."""
        inside = torch.zeros_like(self.spikes_out)
        for stream, onsets in enumerate(self.pattern_onsets):
            for o in onsets:
                inside[o : o + WINDOW, stream] = True
        outside = ~inside[-last_steps:]
        spikes = self.spikes_out[-last_steps:][outside].sum()
        return float(spikes) / (float(outside.sum()) * DT)

    def latencies(self, stream: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """Onset (s) and first-spike latency (ms) of every pattern copy with an output spike."""
        onsets, latency = [], []
        for o in self.pattern_onsets[stream]:
            hit = self.spikes_out[o : o + WINDOW, stream].nonzero()
            if len(hit):
                onsets.append(o * DT)
                latency.append(float(hit[0, 0]) * DT * 1e3)
        return torch.tensor(onsets), torch.tensor(latency)


def make_input(
    seconds: float,
    n_afferents: int,
    rate: float,
    streams: int,
    pattern_probability: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, list[list[int]], int]:
    """Poisson spikes ``(T, streams, n_afferents)`` with one frozen pattern pasted into a random
    ``pattern_probability`` of the windows of every stream.

    Example:
        >>> spikes, onsets, n_pattern = make_input(1.0, 10, 20.0, 2, 0.5, torch.Generator())
        >>> o = onsets[0][0]
        >>> spikes.shape, n_pattern, torch.equal(spikes[o : o + 50, 0, :5], spikes[onsets[1][0]:][:50, 1, :5])
        (torch.Size([1000, 2, 10]), 5, True)
    """
    steps = int(round(seconds / DT)) // WINDOW * WINDOW
    n_pattern = n_afferents // 2
    p_spike = rate * DT
    spikes = torch.rand(steps, streams, n_afferents, generator=generator) < p_spike
    pattern = torch.rand(WINDOW, n_pattern, generator=generator) < p_spike
    onsets = []
    for stream in range(streams):
        chosen = torch.rand(steps // WINDOW, generator=generator) < pattern_probability
        chosen[0] = False  # let the neuron settle first
        starts = (chosen.nonzero()[:, 0] * WINDOW).tolist()
        for o in starts:
            spikes[o : o + WINDOW, stream, :n_pattern] = pattern
        onsets.append(starts)
    return spikes, onsets, n_pattern


def run(
    seconds: float = 10.0,
    n_afferents: int = 500,
    rate: float = 20.0,
    streams: int = 8,
    pattern_probability: float = 0.5,
    seed: int = 0,
) -> Result:
    """Simulate ``seconds`` of biological time and return what happened.

    Example:
        >>> run(seconds=0.1, streams=1).spikes_in.shape
        torch.Size([100, 1, 500])
    """
    g = torch.Generator().manual_seed(seed)
    spikes_in, onsets, n_pattern = make_input(
        seconds, n_afferents, rate, streams, pattern_probability, g
    )

    layer = torch.nn.Linear(n_afferents, 1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(0.3 + 0.4 * torch.rand(1, n_afferents, generator=g))
    weights_initial = layer.weight.detach()[0].clone()
    # The learner sees the raw spikes (the traces count spikes); a spike through a weight of 1
    # adds 1 to the synaptic current, and the threshold sets how many it takes to fire.
    neuron = LIFCell(
        p=LIFParameters(
            tau_syn_inv=torch.tensor(1 / 5e-3),
            tau_mem_inv=torch.tensor(1 / 10e-3),
            v_th=torch.tensor(n_afferents * rate / 600),
        ),
        dt=DT,
    )
    tau = 17e-3  # both STDP windows
    stdp = STDPParameters(
        a_pre=torch.tensor(tau / DT),  # every spike lifts its trace by 1
        a_post=torch.tensor(tau / DT),
        tau_pre_inv=torch.tensor(1 / tau),
        tau_post_inv=torch.tensor(1 / tau),
        eta_plus=0.005,
        eta_minus=0.005 * 1.15,  # depression dominates, so random pairings weaken a synapse
        w_min=0.0,
        w_max=1.0,
    )
    learner = STDPLearner(layer, neuron=neuron, p=stdp, dt=DT)
    state, out = None, []
    with torch.no_grad():
        for x in spikes_in.float().unbind(0):
            z, state = learner(x, state)
            out.append(z[:, 0])
    return Result(
        spikes_in=spikes_in,
        spikes_out=torch.stack(out) > 0,
        pattern_onsets=onsets,
        n_pattern=n_pattern,
        weights_initial=weights_initial,
        weights=layer.weight.detach()[0].clone(),
    )


def plot(result: Result, path: str | Path, window: float = 0.6) -> Path:
    """Raster of the last ``window`` seconds of stream 0, the weights, the latency over time.

    Example:
        >>> plot(run(seconds=1.0), "stdp_pattern.png")  # doctest: +SKIP
        PosixPath('stdp_pattern.png')
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from norse.torch.utils.plot import plot_spike_raster

    steps = int(round(window / DT))
    start = result.spikes_out.shape[0] - steps
    fig = plt.figure(figsize=(8, 5), dpi=72)
    grid = fig.add_gridspec(2, 2, height_ratios=[1.3, 1], hspace=0.5, wspace=0.3)
    ax_raster = fig.add_subplot(grid[0, :])
    ax_w = fig.add_subplot(grid[1, 0])
    ax_lat = fig.add_subplot(grid[1, 1])

    n = result.n_pattern
    every = max(1, result.spikes_in.shape[-1] // 100)  # show 100 afferents
    shown = result.spikes_in[start:, 0, ::every]
    plot_spike_raster(shown, axes=ax_raster, dt=DT, s=2, color="0.3")
    for o in result.pattern_onsets[0]:
        if o >= start:
            ax_raster.axvspan((o - start) * DT, (o - start + WINDOW) * DT, color="C1", alpha=0.25)
    for t in result.spikes_out[start:, 0].nonzero()[:, 0].tolist():
        ax_raster.axvline(t * DT, color="C3", linewidth=1.5)
    ax_raster.axhline(n / every - 0.5, color="C0", linewidth=0.8, linestyle=":")
    ax_raster.set_ylabel(f"afferent (every {every})" if every > 1 else "afferent")
    ax_raster.set_title(
        "after learning: afferents (pattern ones below the dotted line), pattern copies "
        "shaded, output spikes red",
        fontsize=9,
    )

    idx = torch.arange(len(result.weights))
    ax_w.scatter(idx[:n], result.weights[:n], s=3, color="C1", label="pattern afferents")
    ax_w.scatter(idx[n:], result.weights[n:], s=3, color="C0", label="noise afferents")
    ax_w.set_xlabel("afferent")
    ax_w.set_ylabel("weight after learning")
    ax_w.set_ylim(-0.05, 1.05)
    ax_w.legend(fontsize=7, loc="upper right")

    onset, latency = result.latencies(0)
    ax_lat.scatter(onset, latency, s=4, color="C3")
    ax_lat.set_xlabel("time of the pattern copy (s)")
    ax_lat.set_ylabel("first-spike latency (ms)")
    ax_lat.set_ylim(0, WINDOW)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=72)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> Result:
    """Command line entry point: run, report and (optionally) plot.

    Example:
        >>> result = main(["--seconds", "0.1", "--streams", "1"])  # doctest: +ELLIPSIS
        simulated 0.1 s x 1 streams in ... s
        ...
    """
    parser = argparse.ArgumentParser(description="STDP learns a spike pattern hidden in noise")
    parser.add_argument("--seconds", type=float, default=10.0, help="simulated time")
    parser.add_argument("--streams", type=int, default=8, help="input streams (batch)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default="", help="write the figure to this PNG file")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    result = run(seconds=args.seconds, streams=args.streams, seed=args.seed)
    elapsed = time.perf_counter() - start
    n, w = result.n_pattern, result.weights
    _, latency = result.latencies(0)
    print(f"simulated {args.seconds:g} s x {args.streams} streams in {elapsed:.1f} s")
    print(
        f"weights > 0.8: {int((w[:n] > 0.8).sum())} pattern afferents, "
        f"{int((w[n:] > 0.8).sum())} noise afferents; mean weight {w[:n].mean():.2f} "
        f"(pattern) vs {w[n:].mean():.2f} (noise), started at {result.weights_initial.mean():.2f}"
    )
    print(
        f"last 20 pattern copies with an output spike: {100 * result.hits(20):.0f}%; output "
        f"rate outside the pattern over the last 2 s: {result.false_alarms(2000):.1f} Hz; "
        f"median latency of the last 10 detections: {latency[-10:].median():.0f} ms"
    )
    if args.plot:
        print(f"wrote {plot(result, args.plot)}")
    return result


if __name__ == "__main__":
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead
    main()
