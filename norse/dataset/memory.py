"""A store-and-recall memory task for spiking networks.

The network sees a stream of random bits and two command signals. When the *store* command
fires it must remember the bit shown in that period; when the *recall* command fires (later)
it must report the stored bit, while the data channels are silent.

Example:
    >>> import torch
    >>> from norse.dataset.memory import MemoryStoreRecallDataset
    >>> data = MemoryStoreRecallDataset(8, seq_length=10, seq_periods=4, seq_repetitions=2,
    ...                                 population_size=3, seed=0)
    >>> spikes, labels = data[0]
    >>> spikes.shape, labels.shape, labels.dtype
    (torch.Size([80, 12]), torch.Size([8, 2]), torch.uint8)
    >>> loader = torch.utils.data.DataLoader(data, batch_size=4)
    >>> x, y = next(iter(loader))
    >>> x.shape, y.shape
    (torch.Size([4, 80, 12]), torch.Size([4, 8, 2]))
"""

from __future__ import annotations

import math
import numbers

import torch
from torch.utils.data import Dataset

__all__ = ["MemoryStoreRecallDataset"]

# Mixes the sample index into the seed of a sample's generator (a 64-bit odd constant, the
# golden-ratio increment of splitmix64), so that neighbouring indices get unrelated streams.
_MIX = 0x9E3779B97F4A7C15
_MASK = (1 << 63) - 1


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"MemoryStoreRecallDataset: argument '{name}' expected an integer >= {minimum}, "
            f"got {value!r} of type {type(value).__name__}"
        )
    if value < minimum:
        raise ValueError(
            f"MemoryStoreRecallDataset: argument '{name}' expected an integer >= {minimum}, "
            f"got {value!r}"
        )
    return int(value)


def _check_float(name: str, value, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"MemoryStoreRecallDataset: argument '{name}' expected a real number, "
            f"got {value!r} of type {type(value).__name__}"
        )
    value = float(value)
    bad = not (value > 0) if positive else not (value >= 0)
    if bad or not math.isfinite(value):
        what = "> 0" if positive else ">= 0"
        raise ValueError(
            f"MemoryStoreRecallDataset: argument '{name}' expected a finite number {what}, "
            f"got {value!r}"
        )
    return value


class MemoryStoreRecallDataset(Dataset):
    """A memory task: store a bit when told to, and recall it later.

    Each sample concatenates ``seq_repetitions`` independent sequences. A sequence has
    ``seq_periods`` periods of ``seq_length`` time steps each. In every period one of two data
    channels (a random bit, one-hot over two channels) is active. In one period of the first
    half of the sequence (the *store* period, ``store_indices``) the store command fires; in one
    period of the second half (the *recall* period, ``recall_indices``) the recall command
    fires, the data channels are silent, and the label of that period is the one-hot bit shown
    in the store period. All other label rows are zero.

    Every channel is a population of ``population_size`` neurons that fire as Poisson
    processes: active data channels at ``poisson_rate`` Hz, active command channels at
    ``poisson_rate // 2`` Hz (spike probability ``rate * dt`` per step); inactive channels are
    silent.

    Channel layout of the spikes (``4 * population_size`` columns), each block
    ``population_size`` wide: bit 0, bit 1, store command, recall command.

    Randomness: unlike Norse 1.1.0, which seeds the **global** RNG with ``torch.manual_seed``
    when a seed is given, this class never touches the global RNG state. It draws from a
    private :class:`torch.Generator`: the store/recall periods come from one seeded with
    ``seed``, and sample ``idx`` is generated from a generator seeded from ``(seed, idx)``, so
    ``data[idx]`` is the same every time it is read, in any order, in any DataLoader worker.
    With ``seed=None`` a seed is drawn once from the global RNG (so ``torch.manual_seed``
    before construction makes the data reproducible too); it is kept as ``self.seed``.

    Arguments:
        samples (int): number of samples (``len(dataset)``).
        seq_length (int): time steps per period.
        seq_periods (int): periods per sequence (at least 2: store in the first half, recall
            in the second).
        seq_repetitions (int): sequences concatenated per sample.
        population_size (int): neurons per channel.
        poisson_rate (float): firing rate of active data channels in Hz; command channels fire
            at ``poisson_rate // 2``.
        dt (float): time step in seconds; ``poisson_rate * dt`` must be at most 1.
        seed (int, optional): seed of the private generators.

    Returns (from ``dataset[idx]``):
        ``(spikes, labels)``: ``spikes`` is a float32 tensor of shape
        ``(seq_repetitions * seq_periods * seq_length, 4 * population_size)`` with 0/1 entries;
        ``labels`` is a uint8 tensor of shape ``(seq_repetitions * seq_periods, 2)``, one row
        per period, one-hot in the recall periods and zero elsewhere.

    Example:
        >>> data = MemoryStoreRecallDataset(2, seq_length=5, seq_periods=4, seq_repetitions=1,
        ...                                 seed=1)
        >>> spikes, labels = data[1]
        >>> spikes.shape
        torch.Size([20, 20])
        >>> int(labels.sum())  # one recall period per sequence
        1
        >>> bool((data[1][0] == spikes).all())  # deterministic per (seed, idx)
        True
    """

    def __init__(
        self,
        samples: int,
        seq_length: int = 100,
        seq_periods: int = 12,
        seq_repetitions: int = 4,
        population_size: int = 5,
        poisson_rate: float = 100,
        dt: float = 0.001,
        seed: int | None = None,
    ):
        super().__init__()
        self.samples = _check_int("samples", samples, 0)
        self.seq_length = _check_int("seq_length", seq_length, 1)
        self.seq_periods = _check_int("seq_periods", seq_periods, 2)
        self.seq_repetitions = _check_int("seq_repetitions", seq_repetitions, 1)
        self.population_size = _check_int("population_size", population_size, 1)
        self.poisson_rate = _check_float("poisson_rate", poisson_rate, positive=False)
        self.dt = _check_float("dt", dt, positive=True)
        if self.poisson_rate * self.dt > 1:
            raise ValueError(
                "MemoryStoreRecallDataset: arguments 'poisson_rate' and 'dt' expected "
                f"poisson_rate * dt <= 1 (a spike probability per step), got "
                f"{self.poisson_rate} * {self.dt} = {self.poisson_rate * self.dt}"
            )
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        elif isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(
                "MemoryStoreRecallDataset: argument 'seed' expected an integer or None, "
                f"got {seed!r} of type {type(seed).__name__}"
            )
        self.seed = int(seed)
        generator = torch.Generator().manual_seed(self.seed & _MASK)
        shape = (self.samples, self.seq_repetitions)
        half = self.seq_periods // 2
        self.store_indices = torch.randint(0, half, shape, generator=generator)
        self.recall_indices = torch.randint(half, self.seq_periods, shape, generator=generator)

    def __len__(self) -> int:
        return self.samples

    def _generator(self, idx: int) -> torch.Generator:
        return torch.Generator().manual_seed((self.seed + (idx + 1) * _MIX) & _MASK)

    def _sequence(self, store: int, recall: int, generator: torch.Generator):
        periods, length, pop = self.seq_periods, self.seq_length, self.population_size
        bits = torch.randint(0, 2, (periods,), generator=generator)
        data = torch.nn.functional.one_hot(bits, 2).float()  # (periods, 2)
        data[recall] = 0
        command = torch.zeros(periods, 2)
        command[store, 0] = 1
        command[recall, 1] = 1
        labels = torch.zeros(periods, 2, dtype=torch.uint8)
        labels[recall, bits[store]] = 1
        # Rates per (period, channel), then per (time step, neuron).
        rates = torch.cat([data * self.poisson_rate, command * (self.poisson_rate // 2)], dim=1)
        rates = rates.repeat_interleave(length, dim=0).repeat_interleave(pop, dim=1)
        noise = torch.rand(rates.shape, generator=generator)
        spikes = (noise < rates * self.dt).float()
        return spikes, labels

    def __getitem__(self, idx):
        if isinstance(idx, torch.Tensor):
            idx = idx.item()
        if isinstance(idx, bool) or not isinstance(idx, numbers.Integral):
            raise TypeError(
                "MemoryStoreRecallDataset: index expected an integer, "
                f"got {idx!r} of type {type(idx).__name__}"
            )
        idx = int(idx)
        if idx < 0:
            idx += self.samples
        if not 0 <= idx < self.samples:
            raise IndexError(
                f"MemoryStoreRecallDataset: index out of range for {self.samples} samples"
            )
        generator = self._generator(idx)
        parts = [
            self._sequence(
                int(self.store_indices[idx, r]), int(self.recall_indices[idx, r]), generator
            )
            for r in range(self.seq_repetitions)
        ]
        spikes = torch.cat([p[0] for p in parts], dim=0)
        labels = torch.cat([p[1] for p in parts], dim=0)
        return spikes, labels
