"""Whole training steps of three small SNNs: norse's fused paths against the reference and peers.

Each measurement is one training step: ``optimizer.zero_grad()``, forward, loss,
``loss.backward()``, ``Adam.step()``. Workloads (``--only shd,conv,ff``):

* ``shd``, an SHD-like recurrent classifier: input (T, B, 700) = (100, 32, 700) of binary
  spikes at 2 % (Bernoulli, fixed seed) -> ``norse.torch.LIFRecurrent(700, 256)`` ->
  ``torch.nn.Linear(256, 20)`` on every step -> ``norse.torch.LI()``; the loss is the cross
  entropy of the maximum over time of the LI voltage against random labels. Variants: norse
  with ``backend="auto"`` (the default), norse with ``backend="reference"`` on both neuron
  layers, and in the ``--peer-python`` interpreter snnTorch ``RLeaky`` and ``RSynaptic``
  (``all_to_all=True``, 256 neurons, ``reset_mechanism="zero"`` as norse's LIF; beta 0.9 and
  alpha 0.8, norse's ``dt * tau_mem_inv`` and ``1 - dt * tau_syn_inv``), fed by
  ``nn.Linear(700, 256, bias=False)`` applied to all steps at once, looped over time, then
  ``nn.Linear(256, 20)`` on all steps and an ``snntorch.Synaptic(alpha=0.8, beta=0.9,
  reset_mechanism="none")`` readout looped over time (a current-based leaky integrator, as
  norse's ``LI``), with the same loss on its membrane potential.
* ``conv``, a convolutional network stepped cell by cell as in Norse's docs:
  ``SequentialState(Conv2d(1, 16, 5), LIFCell(), MaxPool2d(2), Conv2d(16, 32, 5), LIFCell(),
  MaxPool2d(2), Flatten(), Linear(512, 10), LICell())`` called as ``out, s = model(x[t], s)``
  for each of T = 32 frames of a batch of 16, input Bernoulli spikes with a per-pixel
  probability of 0.2 times a random image (Poisson-like); the loss is the cross entropy of the
  maximum over time of the LICell voltage. Variants: ``default`` (the cells as they dispatch by
  default), ``reference`` (``os.environ["NORSE_BACKEND"] = "reference"`` set around each
  training step and deleted after it; the dispatch reads it at every call) and ``no
  neurons`` (each LIFCell replaced by a stateful identity stub, the LICell kept). The neuron
  update's time is a variant's step time minus the ``no neurons`` step time of the same round
  (median over rounds; it also holds the LICell's backend difference, 160 neurons, negligible).
* ``ff``, feed-forward on 2 % spikes: (T, B, 700) = (100, 64, 700) binary spikes at 2 % ->
  ``Linear(700, 512)`` -> ``LIF()`` -> ``Linear(512, 512)`` -> ``LIF()`` -> ``Linear(512, 20)``
  -> ``LI()`` as layers over time, same loss. Variants: ``sparse`` puts
  ``norse.torch.SpikeLinear`` (with the same weights) in place of the three Linears (all take
  spikes) in a ``SequentialState`` (``n/a`` while norse has no ``SpikeLinear``); ``dense`` keeps
  ``torch.nn.Linear`` and turns any spike fast path off: a ``SequentialState`` keyword whose
  name holds "spike" or "sparse" (read with ``inspect.signature``) is passed ``False``, and
  without one the layers run in a plain loop (``nn.Sequential``-like, states discarded).

Weights: the default initialisations leave the hidden layers almost silent (SHD 0.07 %, the
second LIF layers of ``conv`` and ``ff`` 0 %), which would make a spike-sparse path look
better than it is and is not what training sees. So the input weights of ``LIFRecurrent``
(and of the peers' input Linear, drawn like norse's, ``randn * sqrt(2 / 256)``) are multiplied
by 3, the convolution and Linear weights of ``conv`` by 4 and the Linear weights of ``ff`` by
10 (``--default-init`` skips that). The ``rate`` column is the mean spike rate of the hidden
neuron layers over the first training step, the ``1st loss`` column the first step's loss
(norse variants share weights and data, so it should agree between them).

How it runs: every variant lives in its own worker process (``--worker``; norse with this
interpreter, the peers with ``--peer-python``), all with ``torch.set_num_threads(--threads)``.
A worker builds its network (same seeds everywhere), runs three untimed warm-up steps (waiting
after each for the kernels ``backend="auto"`` compiles in the background, via
``norse.torch.kernels.cpu._COMPILER.wait()`` when it exists) and then waits for the driver.
The driver runs ``--repeat`` rounds, in each one step per variant (the order rotating from round
to round, the others idle meanwhile), so all variants see the same state of a shared machine.
Times are medians over rounds (and the fastest); ratios are medians of per-round ratios. The
``ran`` column is what :func:`norse.torch.kernels.select` answered for each neuron layer during
the last warm-up step and, for cells, whether the fused cell step ran (``cell-fused``) or
handed the call to the reference (``cell-reference``); ``-`` where nothing was asked.

Peak memory (``peak MB``): after the timed rounds each worker, alone, switches glibc's malloc to
return freed blocks of 16 kB and more to the OS at once (``mallopt``; the timed steps ran with
the defaults), trims the heap, resets the process's peak RSS (``/proc/self/clear_refs``) and
runs two more steps: the column is the largest growth of peak RSS (MiB) over the resident
size just before a step, i.e. the extra memory one training step holds at its peak (the
activations kept for backward, gradients, temporaries) on top of the steady state (model, Adam
state, data, loaded libraries). ``n/a`` where ``/proc/self/clear_refs`` cannot be written.

``--profile`` prints, instead of the tables, a ``torch.profiler`` table (top 15 ops by self CPU
time) of one norse SHD-like training step for ``backend="auto"`` and ``"reference"`` (after the
same warm-up; of three profiled steps the fastest, as one hiccup of a shared machine can make
a single step ten times slower).

Example::

    .venv/bin/python benchmarks/bench_training.py --repeat 7 --threads 2
    .venv/bin/python benchmarks/bench_training.py --only shd --no-peers --json shd.json
    .venv/bin/python benchmarks/bench_training.py --profile
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import inspect
import json
import os
import re
import select
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from _common import fmt, markdown, print_header, settle
from torch import nn

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PEER = "/tmp/benchpeers/bin/python"

#: workload -> [(variant, runs in the peer interpreter)]; the first variant is the base of the
#: ratios
WORKLOADS: dict[str, list[tuple[str, bool]]] = {
    "shd": [
        ("auto", False),
        ("reference", False),
        ("snntorch RLeaky", True),
        ("snntorch RSynaptic", True),
    ],
    "conv": [("default", False), ("reference", False), ("no neurons", False)],
    "ff": [("sparse", False), ("dense", False)],
}
TITLES = {
    "shd": "SHD-like: LIFRecurrent(700, 256) -> Linear(256, 20) -> LI, (T, B) = (100, 32), 2 % input spikes",
    "conv": "Convolutional, stepped cell by cell: Conv-LIFCell-Pool-Conv-LIFCell-Pool-Linear-LICell, (T, B) = (32, 16), 28x28",
    "ff": "Feed-forward: Linear(700, 512)-LIF-Linear(512, 512)-LIF-Linear(512, 20)-LI, (T, B) = (100, 64), 2 % input spikes",
}
#: weight multipliers (see the docstring); ``--default-init`` sets them to 1
GAINS = {"shd": 3.0, "conv": 4.0, "ff": 10.0}
#: per-variant target ratio (this / base time; for ``conv`` the neuron update's)
TARGETS = {
    ("shd", "reference"): 2.0,
    ("shd", "snntorch RLeaky"): 2.0,
    ("shd", "snntorch RSynaptic"): 2.0,
    ("conv", "reference"): 2.5,
    ("ff", "dense"): 1.4,
}


class Unavailable(Exception):
    """The variant cannot be built here (shown as ``n/a`` with the reason)."""


# ============================================================================= worker side
class Job:
    """One variant, ready to train: ``loss()`` runs the forward pass and the loss."""

    def __init__(
        self,
        params: list[nn.Parameter],
        loss: Callable[[], torch.Tensor],
        spiking: list[nn.Module],
        env: dict[str, str] | None = None,
        note: str = "",
    ) -> None:
        self.params = params
        self.loss = loss
        self.spiking = spiking  # modules whose output (or output[0]) are the hidden spikes
        self.env = env or {}
        self.note = note

    @contextlib.contextmanager
    def context(self) -> Iterator[None]:
        """The variant's environment variables, set around a call and deleted after it."""
        for key, value in self.env.items():
            os.environ[key] = value
        try:
            yield
        finally:
            for key in self.env:
                os.environ.pop(key, None)


def _spikes(shape: tuple[int, ...], rate: float) -> torch.Tensor:
    return (torch.rand(*shape) < rate).float()


def _max_ce(voltages: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross entropy of the maximum over time (dim 0) of the readout voltage."""
    return nn.functional.cross_entropy(voltages.max(0).values, labels)


def _scale(modules: list[nn.Module], gain: float) -> None:
    with torch.no_grad():
        for module in modules:
            module.weight.mul_(gain)


def _stateful(module: nn.Module) -> bool:
    try:
        return "state" in inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return False


def build_shd(variant: str, gain: float) -> Job:
    T, B, N_IN, N_HID, N_OUT = 100, 32, 700, 256, 20
    torch.manual_seed(0)
    x = _spikes((T, B, N_IN), 0.02)
    labels = torch.randint(0, N_OUT, (B,))
    torch.manual_seed(1)
    if variant.startswith("snntorch"):
        import snntorch

        fc_in = nn.Linear(N_IN, N_HID, bias=False)
        with torch.no_grad():  # drawn as norse's LIFRecurrent input weights
            fc_in.weight.copy_(torch.randn(N_HID, N_IN) * (2.0 / N_HID) ** 0.5 * gain)
        if variant == "snntorch RLeaky":
            hidden = snntorch.RLeaky(
                beta=0.9, linear_features=N_HID, all_to_all=True, reset_mechanism="zero"
            )
        else:
            hidden = snntorch.RSynaptic(
                alpha=0.8, beta=0.9, linear_features=N_HID, all_to_all=True, reset_mechanism="zero"
            )
        fc_out = nn.Linear(N_HID, N_OUT)
        readout = snntorch.Synaptic(alpha=0.8, beta=0.9, reset_mechanism="none")
        model = nn.ModuleList([fc_in, hidden, fc_out, readout])
        synaptic = variant == "snntorch RSynaptic"

        def loss() -> torch.Tensor:
            current = fc_in(x)
            if synaptic:
                spk, syn, mem = hidden.init_rsynaptic()
            else:
                spk, mem = hidden.init_rleaky()
            spikes = []
            for c_t in current.unbind(0):
                if synaptic:
                    spk, syn, mem = hidden(c_t, spk, syn, mem)
                else:
                    spk, mem = hidden(c_t, spk, mem)
                spikes.append(spk)
            y = fc_out(torch.stack(spikes))
            syn_o, mem_o = readout.init_synaptic()
            voltages = []
            for y_t in y.unbind(0):
                _, syn_o, mem_o = readout(y_t, syn_o, mem_o)
                voltages.append(mem_o)
            return _max_ce(torch.stack(voltages), labels)

        return Job(list(model.parameters()), loss, [hidden])

    import norse.torch as nt

    if variant not in ("auto", "reference"):
        raise ValueError(f"unknown shd variant {variant!r}")
    rec = nt.LIFRecurrent(N_IN, N_HID, backend=variant)
    with torch.no_grad():
        rec.input_weights.mul_(gain)
    fc_out = nn.Linear(N_HID, N_OUT)
    li = nt.LI(backend=variant)
    model = nn.ModuleList([rec, fc_out, li])

    def loss() -> torch.Tensor:
        z, _ = rec(x)
        v, _ = li(fc_out(z))
        return _max_ce(v, labels)

    return Job(list(model.parameters()), loss, [rec])


class _NoNeuron(nn.Module):
    """Stands in for a LIFCell: passes its input through and keeps no state."""

    def forward(self, input_tensor: torch.Tensor, state=None):
        return input_tensor, state


def build_conv(variant: str, gain: float) -> Job:
    import norse.torch as nt

    T, B = 32, 16
    torch.manual_seed(0)
    images = torch.rand(B, 1, 28, 28)
    x = (torch.rand(T, B, 1, 28, 28) < 0.2 * images).float()
    labels = torch.randint(0, 10, (B,))
    torch.manual_seed(1)
    if variant not in ("default", "reference", "no neurons"):
        raise ValueError(f"unknown conv variant {variant!r}")
    neuron = _NoNeuron if variant == "no neurons" else nt.LIFCell
    model = nt.SequentialState(
        nn.Conv2d(1, 16, 5),
        neuron(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5),
        neuron(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 10),
        nt.LICell(),
    )
    _scale([model[0], model[3], model[7]], gain)

    def loss() -> torch.Tensor:
        state = None
        voltages = []
        for t in range(T):
            out, state = model(x[t], state)
            voltages.append(out)
        return _max_ce(torch.stack(voltages), labels)

    env = {"NORSE_BACKEND": "reference"} if variant == "reference" else None
    spiking = [] if variant == "no neurons" else [model[1], model[4]]
    return Job(list(model.parameters()), loss, spiking, env)


def _spike_keyword(container: type) -> str | None:
    """A keyword of ``container`` that switches a spike fast path (name holds spike/sparse)."""
    try:
        params = inspect.signature(container.__init__).parameters
    except (TypeError, ValueError):
        return None
    for name, param in params.items():
        if param.kind in (param.KEYWORD_ONLY, param.POSITIONAL_OR_KEYWORD) and (
            "spike" in name or "sparse" in name
        ):
            return name
    return None


class _PlainLoop(nn.Module):
    """The layers called in order, neuron layers as ``layer(x)[0]`` (no spike fast path)."""

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        for layer in self.layers:
            x = layer(x)[0] if _stateful(layer) else layer(x)
        return x, None


def build_ff(variant: str, gain: float) -> Job:
    import norse.torch as nt

    T, B = 100, 64
    torch.manual_seed(0)
    x = _spikes((T, B, 700), 0.02)
    labels = torch.randint(0, 20, (B,))
    torch.manual_seed(1)
    linears = [nn.Linear(700, 512), nn.Linear(512, 512), nn.Linear(512, 20)]
    _scale(linears, gain)
    note = ""
    if variant == "sparse":
        spike_linear = getattr(nt, "SpikeLinear", None)
        if spike_linear is None:
            raise Unavailable("norse.torch.SpikeLinear does not exist (yet)")
        converted = []
        for lin in linears:
            new = spike_linear(lin.in_features, lin.out_features, bias=lin.bias is not None)
            with torch.no_grad():
                new.weight.copy_(lin.weight)
                if lin.bias is not None:
                    new.bias.copy_(lin.bias)
            converted.append(new)
        linears = converted
    elif variant != "dense":
        raise ValueError(f"unknown ff variant {variant!r}")
    lif1, lif2 = nt.LIF(), nt.LIF()
    layers = [linears[0], lif1, linears[1], lif2, linears[2], nt.LI()]
    if variant == "sparse":
        model: nn.Module = nt.SequentialState(*layers)
    else:
        keyword = _spike_keyword(nt.SequentialState)
        if keyword is not None:
            model = nt.SequentialState(*layers, **{keyword: False})
            note = f"SequentialState(..., {keyword}=False)"
        else:
            model = _PlainLoop(layers)
            note = "plain loop (SequentialState has no spike opt-out keyword)"

    def loss() -> torch.Tensor:
        v, _ = model(x)
        return _max_ce(v, labels)

    return Job(list(model.parameters()), loss, [lif1, lif2], note=note)


BUILDERS: dict[str, Callable[[str, float], Job]] = {
    "shd": build_shd,
    "conv": build_conv,
    "ff": build_ff,
}


@contextlib.contextmanager
def _rate_hooks(modules: list[nn.Module], sums: list[float]) -> Iterator[None]:
    """Accumulate (spike sum, element count) of the modules' outputs into ``sums``."""

    def hook(module, inputs, output):
        out = output[0] if isinstance(output, tuple) else output
        if isinstance(out, torch.Tensor):
            sums[0] += float(out.detach().float().sum())
            sums[1] += out.numel()

    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _step_name(call: object) -> str:
    return getattr(getattr(call, "step", None), "__name__", "?").removesuffix("_step")


@contextlib.contextmanager
def _record_select(picked: list[str]) -> Iterator[None]:
    """Record ``step:backend`` for each :func:`norse.torch.kernels.select` answer (layers) and,
    where the fused cells' runner exists (``norse.torch.kernels._cpu_step.CellRunner``, looked
    up guarded: a private name), ``step:cell-fused`` or ``step:cell-reference`` per cell call."""
    kernels = sys.modules.get("norse.torch.kernels")
    if kernels is None or not hasattr(kernels, "select"):
        yield
        return
    original = kernels.select

    def recording(call, backend="auto"):
        name, impl = original(call, backend)
        picked.append(f"{_step_name(call)}:{name}")
        return name, impl

    runner = getattr(sys.modules.get("norse.torch.kernels._cpu_step"), "CellRunner", None)
    runner_call = vars(runner).get("__call__") if isinstance(runner, type) else None

    def recording_cell(self, *args, **kwargs):
        out = runner_call(self, *args, **kwargs)
        fused = "fused" if out is not None else "reference"
        picked.append(f"{_step_name(self)}:cell-{fused}")
        return out

    kernels.select = recording
    if runner_call is not None:
        runner.__call__ = recording_cell
    try:
        yield
    finally:
        kernels.select = original
        if runner_call is not None:
            runner.__call__ = runner_call


def _status_kb(field: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    m = re.search(rf"^{field}:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(m.group(1)) if m else None


def _step_peak_mb(step: Callable[[], object], steps: int = 2) -> dict:
    """The largest growth of peak RSS during one step over the resident size before it."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 16384)  # M_MMAP_THRESHOLD: blocks >= 16 kB are mmapped, freed at once
        libc.mallopt(-1, 0)  # M_TRIM_THRESHOLD: give back free heap top at once
    except (OSError, AttributeError):
        libc = None
    step()  # (allocations under the new settings)
    growth, base_mb = [], None
    for _ in range(steps):
        gc.collect()
        if libc is not None:
            libc.malloc_trim(0)
        try:
            Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
        except OSError as e:
            return {"peak_mb": None, "peak_error": f"clear_refs: {e.strerror}"}
        base = _status_kb("VmRSS")
        step()
        peak = _status_kb("VmHWM")
        if base is None or peak is None:
            return {"peak_mb": None, "peak_error": "no /proc/self/status"}
        growth.append((peak - base) / 1024)
        base_mb = base / 1024
    return {"peak_mb": max(growth), "resident_mb": base_mb}


def worker_main(spec: dict) -> None:
    """Build one variant, warm it up, then answer the driver's commands (JSON lines)."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything else printed goes to stderr, not into the protocol

    def send(msg: dict) -> None:
        proto.write(json.dumps(msg) + "\n")
        proto.flush()

    torch.set_num_threads(spec["threads"])
    try:
        job = BUILDERS[spec["workload"]](spec["variant"], spec["gain"])
    except Unavailable as e:
        send({"error": str(e), "na": True})
        return
    except Exception as e:  # reported in the table
        send({"error": f"{type(e).__name__}: {str(e).splitlines()[0][:150] if str(e) else ''}"})
        return
    optimizer = torch.optim.Adam(job.params, lr=1e-3)

    def step() -> torch.Tensor:
        with job.context():
            optimizer.zero_grad(set_to_none=True)
            loss = job.loss()
            loss.backward()
            optimizer.step()
        return loss

    info: dict = {"note": job.note}
    try:
        sums = [0.0, 0]
        t0 = time.perf_counter()
        with _rate_hooks(job.spiking, sums):
            info["first_loss"] = float(step().detach())
        info["first_step_ms"] = (time.perf_counter() - t0) * 1e3
        info["rate"] = sums[0] / sums[1] if sums[1] else None
        settle()  # the kernels "auto" compiles in the background on first use
        step()  # (the backward variants the first call asked for)
        settle()
        picked: list[str] = []
        with _record_select(picked):
            step()
        settle()
        info["ran"] = ", ".join(dict.fromkeys(picked)) if picked else "-"
    except Exception as e:
        send({"error": f"{type(e).__name__}: {str(e).splitlines()[0][:150] if str(e) else ''}"})
        return
    send({"ready": True, **info})
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "step":
            t0 = time.perf_counter()
            step()
            send({"ms": (time.perf_counter() - t0) * 1e3})
        elif cmd["cmd"] == "memory":
            send(_step_peak_mb(step))
        else:
            send({"bye": True})
            return


# ============================================================================= driver side
class Worker:
    """A variant's worker process, spoken to in JSON lines."""

    def __init__(self, python: str, spec: dict, env: dict[str, str]) -> None:
        self.err = tempfile.TemporaryFile()
        cmd = [python, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, env=env
        )
        self.buf = b""

    def _stderr_tail(self) -> str:
        self.err.seek(0)
        lines = [ln for ln in self.err.read().decode(errors="replace").splitlines() if ln.strip()]
        return lines[-1][:150] if lines else "no output"

    def reply(self, timeout: float) -> dict:
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                if line.startswith(b"{"):
                    return json.loads(line)
            left = deadline - time.monotonic()
            if left <= 0:
                return {"error": f"timeout after {timeout:.0f} s"}
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    self.proc.wait()
                    return {"error": f"worker exited ({self.proc.returncode}): {self._stderr_tail()}"}  # fmt: skip
                self.buf += chunk

    def request(self, cmd: dict, timeout: float) -> dict:
        try:
            self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return {"error": f"worker gone: {self._stderr_tail()}"}
        return self.reply(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(BrokenPipeError, OSError):
                self.proc.stdin.write(b'{"cmd": "quit"}\n')
                self.proc.stdin.flush()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


def run_workload(
    workload: str,
    variants: list[tuple[str, bool]],
    args: argparse.Namespace,
    peer: str | None,
) -> dict:
    """Warm up every variant's worker, run the interleaved rounds, then the memory steps."""
    env = dict(os.environ)
    env.pop("NORSE_BACKEND", None)  # the variants choose their backends themselves
    norse_env = dict(env)
    norse_env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    gain = 1.0 if args.default_init else GAINS[workload]
    results: dict[str, dict] = {}
    workers: dict[str, Worker] = {}
    for variant, is_peer in variants:
        if is_peer and peer is None:
            continue
        spec = {"workload": workload, "variant": variant, "threads": args.threads, "gain": gain}
        python = peer if is_peer else sys.executable
        try:
            workers[variant] = Worker(python, spec, env if is_peer else norse_env)
        except OSError as e:  # (a --peer-python that does not exist)
            results[variant] = {"error": f"cannot start {python}: {e.strerror or e}"}
    try:
        for variant, worker in workers.items():  # (they set up and warm up in parallel)
            results[variant] = worker.reply(args.timeout)
        live = [v for v in workers if "error" not in results[v]]
        for v in live:
            results[v]["samples_ms"] = []
        for round_ in range(args.repeat):
            k = round_ % len(live) if live else 0
            for v in live[k:] + live[:k]:  # rotate the order from round to round
                if "error" in results[v]:
                    continue
                r = workers[v].request({"cmd": "step"}, args.timeout)
                if "error" in r:
                    results[v]["error"] = r["error"]
                    continue
                results[v]["samples_ms"].append(r["ms"])
        for v in live:
            if "error" not in results[v]:
                results[v].update(workers[v].request({"cmd": "memory"}, args.timeout))
    finally:
        for worker in workers.values():
            worker.close()
    return {"gain": gain, "variants": results}


def _ratio(samples: dict[str, list[float]], this: str, base: str) -> float | None:
    a, b = samples.get(this), samples.get(base)
    if not a or not b or len(a) != len(b):
        return None
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def summarize(workload: str, data: dict) -> tuple[list[str], list[list[str]]]:
    """The table of one workload (and the ratios, added to ``data``)."""
    variants = data["variants"]
    samples = {
        v: r["samples_ms"]
        for v, r in variants.items()
        if "error" not in r and len(r.get("samples_ms", [])) > 0
    }
    base = WORKLOADS[workload][0][0]
    n = {len(s) for s in samples.values()}
    complete = {v: s for v, s in samples.items() if len(n) == 1}
    neuron: dict[str, list[float]] = {}
    if workload == "conv" and "no neurons" in complete:
        stub = complete["no neurons"]
        for v in ("default", "reference"):
            if v in complete:
                neuron[v] = [a - b for a, b in zip(complete[v], stub, strict=True)]
    header = ["variant", "ran", "step ms", "min ms", f"this/{base}"]
    if workload == "conv":
        header += ["neuron ms", "neuron this/default"]
    header += ["target", "met", "rate %", "1st loss", "peak MB", "note"]
    rows = []
    for variant, _ in WORKLOADS[workload]:
        r = variants.get(variant)
        if r is None:
            rows.append([variant, "-", "skipped", *[""] * (len(header) - 4), "no peer interpreter"])
            continue
        if "error" in r:
            cells = ["n/a" if r.get("na") else "error"] + [""] * (len(header) - 4)
            rows.append([variant, "-", *cells, r["error"]])
            continue
        s = samples.get(variant, [])
        r["median_ms"] = statistics.median(s) if s else None
        r["min_ms"] = min(s) if s else None
        ratio = _ratio(complete, variant, base)
        r[f"over_{base}"] = ratio
        judged = ratio
        row = [
            variant,
            r.get("ran", "-"),
            fmt(r["median_ms"], ".1f"),
            fmt(r["min_ms"], ".1f"),
            fmt(ratio),
        ]
        if workload == "conv":
            nm = statistics.median(neuron[variant]) if variant in neuron else None
            nr = None
            if variant in neuron and "default" in neuron:
                pairs = [(a, b) for a, b in zip(neuron[variant], neuron["default"], strict=True) if b > 0]  # fmt: skip
                nr = statistics.median(a / b for a, b in pairs) if pairs else None
            r["neuron_ms"], r["neuron_over_default"] = nm, nr
            row += [fmt(nm, ".1f"), fmt(nr)]
            judged = nr
        target = TARGETS.get((workload, variant))
        met = "" if target is None or judged is None else ("yes" if judged >= target else "no")
        rate = r.get("rate")
        note = r.get("note", "")
        if r.get("peak_error"):
            note = f"{note}; {r['peak_error']}" if note else r["peak_error"]
        row += [
            f">= {target:.2f}" if target else "-",
            met,
            fmt(rate * 100 if rate is not None else None, ".2f"),
            fmt(r.get("first_loss"), ".4f"),
            fmt(r.get("peak_mb"), ".0f", none="n/a"),
            note,
        ]
        rows.append(row)
    return header, rows


# ----------------------------------------------------------------------------- --profile
def profile_shd(threads: int, rows: int = 15, tries: int = 3) -> None:
    """``torch.profiler`` tables of one norse SHD-like training step per backend (of ``tries``
    profiled steps the fastest, so that one hiccup of a shared machine does not make the
    table)."""
    from torch.profiler import ProfilerActivity, profile

    for backend in ("auto", "reference"):
        job = build_shd(backend, GAINS["shd"])
        optimizer = torch.optim.Adam(job.params, lr=1e-3)

        def step(job: Job = job, optimizer: torch.optim.Optimizer = optimizer) -> None:
            optimizer.zero_grad(set_to_none=True)
            job.loss().backward()
            optimizer.step()

        picked: list[str] = []
        try:
            for _ in range(3):  # warm-up, and the kernels "auto" compiles in the background
                step()
                settle()
            with _record_select(picked):
                step()
            settle()
            profiled = []  # (seconds, profile) of each profiled step
            for _ in range(tries):
                with profile(activities=[ProfilerActivity.CPU]) as prof:
                    t0 = time.perf_counter()
                    step()
                    seconds = time.perf_counter() - t0
                profiled.append((seconds, prof))
        except Exception as e:  # the other backend's table still prints
            print(f"### backend={backend!r}: {type(e).__name__}: {e}")
            print()
            continue
        seconds, prof = min(profiled, key=lambda sp: sp[0])
        ran = ", ".join(dict.fromkeys(picked)) or "-"
        print(f"### norse SHD-like training step, backend={backend!r} (ran {ran}), "
              f"{threads} threads: the fastest of {tries} profiled steps, "
              f"{seconds * 1e3:.1f} ms under the profiler")  # fmt: skip
        print()
        print("```")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))
        print("```")
        print()


# ----------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=7, help="interleaved timed rounds (median)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads in every variant")
    ap.add_argument("--only", default=",".join(WORKLOADS), help="workloads, comma separated")
    ap.add_argument(
        "--peer-python",
        default=None,
        help=f"interpreter with snntorch (default: {DEFAULT_PEER} if present)",
    )
    ap.add_argument("--no-peers", action="store_true", help="skip the snnTorch variants")
    ap.add_argument("--json", default=None, help="also write the results to this file")
    ap.add_argument(
        "--default-init",
        action="store_true",
        help="keep the default weight initialisations (hidden layers nearly silent)",
    )
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per worker reply")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="print torch.profiler tables of one norse SHD-like step per backend instead",
    )
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        worker_main(json.loads(args.worker))
        return

    wanted = [w for w in args.only.split(",") if w]
    unknown = [w for w in wanted if w not in WORKLOADS]
    if unknown:
        ap.error(f"unknown workload(s) {unknown}; choose from {', '.join(WORKLOADS)}")
    torch.set_num_threads(args.threads)
    if args.profile:
        sys.path.insert(0, str(REPO))
        os.environ.pop("NORSE_BACKEND", None)
        print_header(torch.device("cpu"))
        print()
        profile_shd(args.threads)
        return

    peer = None
    if not args.no_peers:
        peer = args.peer_python or (DEFAULT_PEER if Path(DEFAULT_PEER).exists() else None)
    print_header(torch.device("cpu"))
    print(f"# one training step (forward, loss, backward, Adam) per variant and round; medians of "
          f"{args.repeat} interleaved rounds, {args.threads} threads in every variant")  # fmt: skip
    if peer is None:
        why = "--no-peers" if args.no_peers else f"no --peer-python and no {DEFAULT_PEER}"
        print(f"# snnTorch variants skipped ({why}); see benchmarks/README.md to set them up")
    else:
        print(f"# peers: {peer}")
    if os.environ.get("NORSE_BACKEND"):
        print(f"# NORSE_BACKEND={os.environ['NORSE_BACKEND']} is not passed to the workers")
    if args.default_init:
        print("# --default-init: default weight initialisations")

    results = {}
    for workload in wanted:
        data = run_workload(workload, WORKLOADS[workload], args, peer)
        header, rows = summarize(workload, data)
        results[workload] = data
        gain = data["gain"]
        print()
        print(f"{TITLES[workload]}" + (f" (weights x{gain:g})" if gain != 1 else "") + ":")
        print()
        print(markdown(header, rows, escape_pipes=True))
    print()
    print("# this/<base>: median over rounds of this variant's step time / the base's (> 1: the "
          "base is faster); target: the wanted this/base (conv: of the neuron update)")  # fmt: skip
    print("# neuron ms: step time minus the 'no neurons' step time of the same round (median); "
          "peak MB: growth of peak RSS during one step over the resident size before it")  # fmt: skip
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"argv": sys.argv, "threads": args.threads, "repeat": args.repeat, **results},
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
