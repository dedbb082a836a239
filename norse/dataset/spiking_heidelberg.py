"""The Spiking Heidelberg Digits (SHD) data set.

SHD (Cramer et al., 2020) holds spoken digits (0-9 in English and German, 20 classes) as spike
trains of 700 cochlear-model channels. Each split is one HDF5 file with the ragged arrays
``spikes/times`` (seconds) and ``spikes/units`` (channel numbers), and ``labels``.

:class:`SpikingHeidelbergDigitsDataset` bins every sample into a ``(T, 700)`` uint8 tensor
with ``T = int(1.4 // dt + 1)`` time steps, and :func:`pad_collate` batches them time-first.
Reading needs ``h5py``.

Example:
    A tiny file in the SHD format (the real files come from ``download=True``):

    >>> import tempfile, pathlib, h5py, numpy as np, torch
    >>> from norse.dataset.spiking_heidelberg import SpikingHeidelbergDigitsDataset, pad_collate
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> with h5py.File(root / "shd_train.h5", "w") as f:
    ...     times = f.create_dataset("spikes/times", (2,), dtype=h5py.vlen_dtype(np.float32))
    ...     units = f.create_dataset("spikes/units", (2,), dtype=h5py.vlen_dtype(np.uint16))
    ...     times[0], units[0] = np.array([0.0105, 0.5], np.float32), np.array([3, 699], np.uint16)
    ...     times[1], units[1] = np.array([1.2], np.float32), np.array([42], np.uint16)
    ...     _ = f.create_dataset("labels", data=np.array([7, 19], np.uint8))
    >>> data = SpikingHeidelbergDigitsDataset(root, dt=0.001)
    >>> spikes, label = data[0]
    >>> spikes.shape, spikes.dtype, spikes.is_sparse, label
    (torch.Size([1400, 700]), torch.uint8, True, tensor(7, dtype=torch.uint8))
    >>> spikes.to_dense()[10, 3]  # t = 0.0105 s lies in bin int(0.0105 / 0.001) = 10
    tensor(1, dtype=torch.uint8)
    >>> loader = torch.utils.data.DataLoader(data, batch_size=2, collate_fn=pad_collate)
    >>> x, y = next(iter(loader))
    >>> x.shape, y
    (torch.Size([1400, 2, 700]), tensor([ 7, 19]))
"""

from __future__ import annotations

import gzip
import math
import numbers
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from norse.dataset._download import CHUNK, fetch, file_digest, parse_checksum, verify
from norse.dataset.events import pad_collate

__all__ = ["SpikingHeidelbergDigitsDataset", "pad_collate"]

_OWNER = "SpikingHeidelbergDigitsDataset"


class SpikingHeidelbergDigitsDataset(IterableDataset):
    """The Spiking Heidelberg Digits data set, binned into dense time steps.

    Reads ``root/shd_train.h5`` (``train=True``) or ``root/shd_test.h5`` (``train=False``).
    Each item is ``(spikes, label)``: ``spikes`` has shape ``(int(max_length // dt + 1),
    n_units)``, dtype uint8 (``(1400, 700)`` for ``dt=0.001``: ``1.4 // 0.001`` is ``1399.0``
    in floating point, as in Norse 1.1.0), a coalesced sparse COO tensor
    if ``sparse`` else a dense one; ``label`` is a 0-d uint8 tensor (0-19). A spike at time
    ``t`` of unit ``u`` adds one at ``[int(t / dt), u]`` (several spikes in one bin add up, at
    most 255); spikes at or after ``T * dt`` are dropped, and units outside ``0..699`` raise
    a ``ValueError``.

    Like Norse 1.1.0 this is an :class:`~torch.utils.data.IterableDataset`, but iteration
    works (1.1.0's ``__iter__`` called a method that does not exist) and is split between
    DataLoader workers, and the class also has ``__len__`` and ``__getitem__``. To shuffle,
    wrap it in a map-style view: ``DataLoader(Subset(data, range(len(data))), shuffle=True)``.

    Files and downloads: with ``download=True`` a missing (or corrupt) file is fetched from
    ``base_url + file + ".gz"`` into ``root`` (the cache directory) and decompressed; see
    :meth:`download`. Checksums of the official files are not built in: pass
    ``checksums={"shd_train.h5.gz": "<md5 or sha256>", "shd_train.h5": "..."}`` (a bare hex
    digest of 32 digits is md5, of 64 sha256, or ``"sha256:<hex>"``) to have the download and
    the cached files verified. After a download the sha256 of the extracted file is written
    next to it (``shd_train.h5.sha256``), and a cached file is checked against that record on
    every load, so a truncated or altered cache is reported instead of read.

    Arguments:
        root (str or Path): directory holding (or receiving) the files.
        dt (float): bin width in seconds.
        sparse (bool): return sparse COO spike tensors (else dense).
        train (bool): read the training split (else the test split).
        download (bool): fetch the file when it is missing or fails its checksum.
        checksums (mapping, optional): expected checksums by file name, see above.

    Raises:
        FileNotFoundError: the file is missing and ``download=False``.
        RuntimeError: a file fails its checksum, or the download fails (no network).
    """

    base_url = "https://zenkelab.org/datasets/"
    train_file = "shd_train.h5"
    test_file = "shd_test.h5"
    train_url = base_url + train_file + ".gz"
    test_url = base_url + test_file + ".gz"
    max_length = 1.4
    n_units = 700

    def __init__(
        self,
        root: str | os.PathLike,
        dt: float = 0.001,
        sparse: bool = True,
        train: bool = True,
        download: bool = False,
        checksums: Mapping[str, str] | None = None,
    ):
        super().__init__()
        if isinstance(dt, bool) or not isinstance(dt, numbers.Real):
            raise TypeError(
                "SpikingHeidelbergDigitsDataset: argument 'dt' expected a real number, "
                f"got {dt!r} of type {type(dt).__name__}"
            )
        if not (dt > 0 and math.isfinite(dt)):
            raise ValueError(
                "SpikingHeidelbergDigitsDataset: argument 'dt' expected a finite number > 0, "
                f"got {dt!r}"
            )
        self.root = Path(root).expanduser()
        self.dt = float(dt)
        self.sparse = bool(sparse)
        self.train = bool(train)
        self.checksums = {str(k): v for k, v in (checksums or {}).items()}
        for name, checksum in self.checksums.items():
            parse_checksum(_OWNER, name, checksum)
        self.file_name = self.train_file if self.train else self.test_file
        self.path = self.root / self.file_name
        self.n_bins = int(self.max_length // self.dt + 1)

        if download:
            self.download()
        elif not self.path.is_file():
            raise FileNotFoundError(
                f"SpikingHeidelbergDigitsDataset: {self.path} not found; put {self.file_name} "
                f"in {self.root}, or pass download=True"
            )
        else:
            self._verify_file(self.path)

        self._file = None
        self._pid = None
        h5 = self._h5()
        for key in ("spikes/times", "spikes/units", "labels"):
            if key not in h5:
                raise RuntimeError(
                    f"SpikingHeidelbergDigitsDataset: {self.path} is not an SHD file "
                    f"(no '{key}' dataset)"
                )
        self.labels = torch.as_tensor(np.asarray(h5["labels"][:]).astype(np.uint8))
        if not len(h5["spikes/times"]) == len(h5["spikes/units"]) == len(self.labels):
            raise RuntimeError(
                f"SpikingHeidelbergDigitsDataset: {self.path} has different numbers of "
                "spike times, spike units and labels"
            )

    # ------------------------------------------------------------------ files and checksums
    def _expected(self, name: str) -> tuple[str, str] | None:
        if name in self.checksums:
            return parse_checksum(_OWNER, name, self.checksums[name])
        return None

    def _verify_file(self, path: Path) -> None:
        """Check ``path`` against a given checksum and against the recorded sha256, if any."""
        verify(_OWNER, path, self.checksums.get(path.name))
        record = path.with_name(path.name + ".sha256")
        if record.is_file():
            words = record.read_text().split()
            digest = words[0].lower() if words else ""
            got = file_digest(path, "sha256")
            if got != digest:
                raise RuntimeError(
                    f"SpikingHeidelbergDigitsDataset: {path} is corrupt: sha256 checksum "
                    f"expected {digest} (recorded in {record.name} at download), got {got}; "
                    "delete it and pass download=True to fetch it again"
                )

    def _check_integrity(self) -> bool:
        """Whether the file of this split is present and passes its checksums."""
        if not self.path.is_file():
            return False
        try:
            self._verify_file(self.path)
        except RuntimeError:
            return False
        return True

    def download(self) -> None:
        """Fetch and decompress the file of this split into ``root`` unless it is there and
        intact.

        Downloads ``base_url + file + ".gz"`` to a temporary ``.part`` file, checks it against
        ``checksums[file + ".gz"]`` if given, decompresses it (gzip's own CRC catches a
        damaged archive), checks the result against ``checksums[file]`` if given, and records
        its sha256 in ``file + ".sha256"``. The ``.gz`` is kept in ``root``: a missing or
        corrupt ``.h5`` is extracted from it again without network access (and the archive is
        fetched again if it is damaged). A corrupt download is deleted before the error is
        raised.

        Raises:
            RuntimeError: the server cannot be reached (no network) or a checksum fails.
        """
        if self._check_integrity():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        url = self.base_url + self.file_name + ".gz"
        gz_path = self.root / (self.file_name + ".gz")
        if gz_path.is_file():
            try:
                self._verify_download(gz_path)
                self._extract(gz_path, url)
                return
            except RuntimeError:
                gz_path.unlink(missing_ok=True)  # a damaged archive: fetch it again
        hint = f"without network access, fetch it elsewhere and put {self.file_name} (decompressed) in {self.root}"  # fmt: skip
        fetch(_OWNER, url, gz_path, self.checksums.get(gz_path.name), hint)
        self._extract(gz_path, url)

    def _extract(self, gz_path: Path, url: str) -> None:
        h5_part = self.path.with_name(self.path.name + ".part")
        try:
            with gzip.open(gz_path, "rb") as src, open(h5_part, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)
        except (OSError, EOFError) as error:
            h5_part.unlink(missing_ok=True)
            gz_path.unlink(missing_ok=True)
            raise RuntimeError(
                f"SpikingHeidelbergDigitsDataset: {gz_path.name} downloaded from {url} is not a "
                f"valid gzip file ({error}); it was deleted, try again"
            ) from error
        expected = self._expected(self.file_name)
        if expected is not None:
            algorithm, digest = expected
            got = file_digest(h5_part, algorithm)
            if got != digest:
                h5_part.unlink(missing_ok=True)
                raise RuntimeError(
                    f"SpikingHeidelbergDigitsDataset: {self.file_name} extracted from "
                    f"{gz_path.name} is corrupt: {algorithm} checksum expected {digest}, "
                    f"got {got}"
                )
        record = self.path.with_name(self.path.name + ".sha256")
        record.unlink(missing_ok=True)
        os.replace(h5_part, self.path)
        record.write_text(f"{file_digest(self.path, 'sha256')}  {self.file_name}\n")

    def _verify_download(self, gz_path: Path) -> None:
        verify(_OWNER, gz_path, self.checksums.get(gz_path.name), remove=True)

    # ------------------------------------------------------------------ reading
    def _h5(self):
        """The open HDF5 file, reopened in each process (h5py handles do not survive fork)."""
        if self._file is None or self._pid != os.getpid():
            try:
                import h5py
            except ImportError as error:  # pragma: no cover - h5py is installed in tests
                raise ImportError(
                    "SpikingHeidelbergDigitsDataset needs h5py: pip install h5py"
                ) from error
            try:
                self._file = h5py.File(self.path, "r")
            except OSError as error:
                raise RuntimeError(
                    f"SpikingHeidelbergDigitsDataset: {self.path} is not a readable HDF5 file "
                    f"({error}); replace it, or delete it and pass download=True"
                ) from error
            self._pid = os.getpid()
        return self._file

    def close(self) -> None:
        """Close the HDF5 file (it is reopened on the next read)."""
        if self._file is not None:
            self._file.close()
            self._file = None
            self._pid = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_file"] = None
        state["_pid"] = None
        return state

    def __len__(self) -> int:
        return len(self.labels)

    def _bin_spikes(self, sample: Sequence) -> tuple[torch.Tensor, torch.Tensor]:
        """Bin one ``(times, units, label)`` sample into ``(spikes, label)`` (see the class)."""
        times, units, label = sample
        times = np.asarray(times, dtype=np.float64).reshape(-1)
        units = np.asarray(units).astype(np.int64).reshape(-1)
        if times.shape != units.shape:
            raise ValueError(
                "SpikingHeidelbergDigitsDataset: spike times and units expected the same "
                f"length, got {times.shape[0]} and {units.shape[0]}"
            )
        if units.size and (units.min() < 0 or units.max() >= self.n_units):
            raise ValueError(
                f"SpikingHeidelbergDigitsDataset: spike units expected in 0..{self.n_units - 1}, "
                f"got {int(units.min())}..{int(units.max())}"
            )
        bins = np.floor(times / self.dt)
        keep = (bins >= 0) & (bins < self.n_bins)
        index = torch.as_tensor(np.stack([bins[keep].astype(np.int64), units[keep]]))
        counts = torch.sparse_coo_tensor(
            index,
            torch.ones(index.shape[1], dtype=torch.int32),
            (self.n_bins, self.n_units),
            check_invariants=False,  # the indices were checked above
        ).coalesce()
        spikes = torch.sparse_coo_tensor(
            counts.indices(),
            counts.values().clamp(max=255).to(torch.uint8),
            counts.shape,
            is_coalesced=True,
            check_invariants=False,
        )
        if not self.sparse:
            spikes = spikes.to_dense()
        return spikes, torch.tensor(int(label), dtype=torch.uint8)

    def __getitem__(self, idx) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(idx, torch.Tensor):
            idx = idx.item()
        n = len(self)
        idx = int(idx)
        if idx < 0:
            idx += n
        if not 0 <= idx < n:
            raise IndexError(f"SpikingHeidelbergDigitsDataset: index out of range for {n} samples")
        h5 = self._h5()
        return self._bin_spikes(
            (h5["spikes/times"][idx], h5["spikes/units"][idx], self.labels[idx])
        )

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        # 1.1.0 called a method that does not exist here; this yields every sample once,
        # split between DataLoader workers.
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        for idx in range(start, len(self), step):
            yield self[idx]
