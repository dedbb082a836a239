"""Neuromorphic event data (``tonic`` data sets) as time-first spike tensors.

Event cameras and cochlear models record *events*: a time stamp and an address (``x``, ``y``,
polarity ``p``) per spike. `tonic <https://tonic.readthedocs.io>`_ reads most public event
data sets (``tonic.datasets.NMNIST``, ``DVSGesture``, ``SHD``, ``SSC``, ...) as numpy
structured arrays with fields such as ``("x", "y", "t", "p")``, time stamps in microseconds.
:class:`EventFrames` bins them into the ``(T, ...)`` tensors a norse layer takes, and
:func:`pad_collate` batches samples of different lengths time-first, ``(T, B, ...)``.
:func:`tonic_dataset` opens a tonic data set by name, wrapped.

``tonic`` is optional (``pip install norse[tonic]``): :class:`EventFrames` works on any data
set whose items are ``(events, target)`` with such structured arrays.

Example:
    A data set of two recordings, as tonic returns them, on a 4 x 3 sensor with 2 polarities:

    >>> import numpy as np, torch
    >>> from norse.dataset.events import EventFrames, pad_collate
    >>> dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
    >>> a = np.array([(0, 0, 0, 1), (3, 2, 1500, 0), (3, 2, 1900, 0)], dtype=dtype)
    >>> b = np.array([(1, 1, 4200, 1)], dtype=dtype)
    >>> recordings = [(a, 3), (b, 7)]
    >>> frames = EventFrames(recordings, dt=0.001, sensor_size=(4, 3, 2))
    >>> x, y = frames[0]
    >>> x.shape, y                      # (T, p, y, x): two 1 ms bins
    (torch.Size([2, 2, 3, 4]), tensor(3))
    >>> x[1, 0, 2, 3]                   # two events of (x=3, y=2, p=0) in the second bin
    tensor(2.)
    >>> loader = torch.utils.data.DataLoader(frames, batch_size=2, collate_fn=pad_collate)
    >>> x, y = next(iter(loader))
    >>> x.shape, y                      # padded to the longest recording (5 bins), time first
    (torch.Size([5, 2, 2, 3, 4]), tensor([3, 7]))
"""

from __future__ import annotations

import importlib.util
import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["EventFrames", "pad_collate", "tonic_dataset"]

_ADDRESS = ("x", "y", "p")  # tonic's sensor_size order


def _ticks_per_bin(dt: float, time_unit: float) -> float:
    """``dt / time_unit``, snapped to the nearest integer when it is one up to rounding (1 ms
    in microseconds is ``1000``, not ``1000.0000000000001``), so that integer time stamps bin
    exactly."""
    ratio = dt / time_unit
    nearest = round(ratio)
    if nearest >= 1 and abs(ratio - nearest) <= 1e-9 * ratio:
        return float(nearest)
    return ratio


class EventFrames(torch.utils.data.Dataset):
    """Bin the event recordings of a data set into time-first frame tensors.

    Item ``k`` of ``dataset`` must be ``(events, target)`` with ``events`` a numpy structured
    array with a time field ``t`` (in units of ``time_unit`` seconds; tonic uses microseconds)
    and any of the address fields ``x``, ``y``, ``p``. An event at time ``t`` lands in bin
    ``floor((t - start_time) / (dt / time_unit))`` at ``[p, y, x]``; frames hold event counts
    (or 0/1 with ``binary=True``). Item ``k`` of this data set is ``(frames, target)`` with
    ``frames`` of shape ``(T, p, y, x)`` (``sensor_size`` is ``(x, y, p)`` as in tonic); with
    ``squeeze=True`` the address axes of size one are dropped, so SHD's ``(700, 1, 1)``
    sensor gives ``(T, 700)``. ``T`` is ``ceil(max_length / dt)`` when ``max_length``
    (seconds) is given, events at or after it dropped; otherwise it is one past the last
    event's bin (at least one), and :func:`pad_collate` pads a batch to the longest.

    Arguments:
        dataset: a map-style data set of ``(events, target)`` items (a tonic data set, say).
        dt (float): bin width in seconds.
        sensor_size (tuple of 3 ints, optional): ``(x, y, p)``; default
            ``dataset.sensor_size``.
        time_unit (float): seconds per time-stamp unit (``1e-6``: microseconds).
        max_length (float, optional): fixed recording length in seconds.
        start_time (float): time stamp (in ``time_unit``) of the first bin's start.
        binary (bool): clamp counts to 1.
        squeeze (bool): drop address axes of size one.
        dtype (torch.dtype): dtype of the frames.

    Raises:
        ValueError: a non-positive ``dt``, ``time_unit`` or ``max_length``; an event address
            outside the sensor, or a time before ``start_time`` (naming the field).
        TypeError: events that are not a structured array with a ``t`` field; no sensor size.
    """

    def __init__(
        self,
        dataset: Any,
        dt: float = 0.001,
        sensor_size: Sequence[int] | None = None,
        time_unit: float = 1e-6,
        max_length: float | None = None,
        start_time: float = 0.0,
        binary: bool = False,
        squeeze: bool = True,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        for name, value in (("dt", dt), ("time_unit", time_unit), ("max_length", max_length)):
            if value is None and name == "max_length":
                continue
            if not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"EventFrames: {name} expected a positive number, got {value!r}")
        if sensor_size is None:
            sensor_size = getattr(dataset, "sensor_size", None)
        if sensor_size is None:
            raise TypeError(
                "EventFrames: sensor_size expected (x, y, p) when the data set has no "
                f"sensor_size attribute, got None for {type(dataset).__name__}"
            )
        sizes = tuple(sensor_size)
        if len(sizes) != 3 or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1 for s in sizes
        ):
            raise ValueError(f"EventFrames: sensor_size expected 3 positive integers (x, y, p), got {sensor_size!r}")  # fmt: skip
        if not isinstance(dtype, torch.dtype):
            raise TypeError(f"EventFrames: dtype expected a torch.dtype, got {dtype!r}")
        self.dataset = dataset
        self.dt = float(dt)
        self.sensor_size = tuple(int(s) for s in sizes)
        self.time_unit = float(time_unit)
        self.max_length = None if max_length is None else float(max_length)
        self.start_time = float(start_time)
        self.binary = bool(binary)
        self.squeeze = bool(squeeze)
        self.dtype = dtype
        self._ticks = _ticks_per_bin(self.dt, self.time_unit)
        self.n_bins = None if max_length is None else max(1, math.ceil(self.max_length / self.dt - 1e-9))  # fmt: skip

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """The shape of one frame: ``(p, y, x)`` less the axes of size one with ``squeeze``."""
        x, y, p = self.sensor_size
        shape = (p, y, x)
        if self.squeeze:
            shape = tuple(s for s in shape if s != 1) or (1,)
        return shape

    def to_frames(self, events: np.ndarray) -> torch.Tensor:
        """Bin one recording (a structured array, see the class) into ``(T, *frame_shape)``."""
        names = getattr(getattr(events, "dtype", None), "names", None)
        if not names or "t" not in names:
            raise TypeError(
                "EventFrames: events expected a numpy structured array with a 't' field (as "
                f"tonic returns), got {type(events).__name__} with fields {names}"
            )
        events = events.reshape(-1)
        t = events["t"]
        steps = np.floor((t.astype(np.float64) - self.start_time) / self._ticks)
        if steps.size and steps.min() < 0:
            raise ValueError(f"EventFrames: event field 't' expected times at or after start_time={self.start_time}, got {t.min()}")  # fmt: skip
        if self.n_bins is None:
            n_bins = int(steps.max()) + 1 if steps.size else 1
        else:
            n_bins = self.n_bins
        keep = steps < n_bins
        flat = steps[keep].astype(np.int64)
        for field, size in zip(_ADDRESS[::-1], self.sensor_size[::-1], strict=True):  # p, y, x
            if field in names and size > 1:
                address = events[field][keep].astype(np.int64)
                if address.size and (address.min() < 0 or address.max() >= size):
                    raise ValueError(
                        f"EventFrames: event field {field!r} expected values in 0..{size - 1} "
                        f"(sensor_size {self.sensor_size}), got {address.min()}..{address.max()}"
                    )
            else:
                address = np.zeros_like(flat)
            flat = flat * size + address
        x, y, p = self.sensor_size
        counts = np.bincount(flat, minlength=n_bins * p * y * x)
        frames = torch.from_numpy(counts).view(n_bins, *self.frame_shape)
        if self.binary:
            frames = frames.clamp(max=1)
        return frames.to(self.dtype)

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, Any]:
        events, target = self.dataset[idx]
        if isinstance(target, numbers.Number) or isinstance(target, np.ndarray):
            target = torch.as_tensor(target)
        return self.to_frames(events), target


def pad_collate(batch: Sequence[tuple[torch.Tensor, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Collate ``(spikes, label)`` items into a time-first batch for a DataLoader.

    Spike tensors (sparse or dense, shape ``(T_i, ...)``) become one dense tensor of shape
    ``(max T_i, batch, ...)``, zero-padded at the end in time, with their dtype kept. Labels
    are stacked into an int64 tensor of shape ``(batch,)``, ready for ``cross_entropy``.

    Example:
        >>> import torch
        >>> a = (torch.ones(2, 3, dtype=torch.uint8), torch.tensor(1, dtype=torch.uint8))
        >>> b = (torch.ones(4, 3, dtype=torch.uint8).to_sparse(), torch.tensor(5))
        >>> x, y = pad_collate([a, b])
        >>> x.shape, x[:, 0].sum().item(), x[:, 1].sum().item(), y
        (torch.Size([4, 2, 3]), 6, 12, tensor([1, 5]))
    """
    if len(batch) == 0:
        raise ValueError("pad_collate: expected a non-empty batch, got an empty one")
    spikes = [s.to_dense() if s.is_sparse else s for s, _ in batch]
    shapes = {tuple(s.shape[1:]) for s in spikes}
    if len(shapes) > 1:
        raise ValueError(f"pad_collate: spike tensors expected the same shape after the time axis, got {sorted(shapes)}")  # fmt: skip
    padded = torch.nn.utils.rnn.pad_sequence(spikes, batch_first=False)
    labels = torch.stack([torch.as_tensor(label).reshape(()).long() for _, label in batch])
    return padded, labels


def tonic_dataset(name: str, root: str, dt: float = 0.001, **kwargs: Any) -> EventFrames:
    """Open ``tonic.datasets.<name>`` under ``root`` (tonic's ``save_to``; tonic downloads
    into ``root/<name>`` when the files are missing) and bin it with :class:`EventFrames`.

    Keyword arguments that :class:`EventFrames` takes (``max_length``, ``binary``, ...) go
    to it; the rest (``train=False``, ``split="valid"``, ...) to the tonic data set. Needs
    ``tonic`` (``pip install norse[tonic]``).

    Example: ``tonic_dataset("SHD", "data", dt=0.004, max_length=1.4, train=False)`` gives
    ``(350, 700)`` frames of the SHD test split.
    """
    if importlib.util.find_spec("tonic") is None:
        raise ImportError("tonic_dataset needs tonic: pip install tonic (or norse[tonic])")
    import tonic.datasets

    cls = getattr(tonic.datasets, name, None)
    if not isinstance(cls, type):
        known = sorted(n for n in dir(tonic.datasets) if n[:1].isupper())
        raise ValueError(f"tonic_dataset: name expected one of tonic.datasets' {known}, got {name!r}")  # fmt: skip
    frame_keys = {"sensor_size", "time_unit", "max_length", "start_time", "binary", "squeeze", "dtype"}  # fmt: skip
    frame_args = {k: kwargs.pop(k) for k in list(kwargs) if k in frame_keys}
    return EventFrames(cls(save_to=str(root), **kwargs), dt=dt, **frame_args)
