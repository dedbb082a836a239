"""Google's Speech Commands (v0.02): one-second spoken words, read without torchaudio.

The data set (Warden, 2018) is a folder per word of 16 kHz mono 16-bit WAV files named
``<speaker>_nohash_<n>.wav``, the lists ``validation_list.txt`` and ``testing_list.txt`` that
fix the split, and ``_background_noise_/`` with a few long noise recordings. Norse 1.1.0
builds on ``torchaudio.datasets.SPEECHCOMMANDS``; torchaudio has no release for the torch
pinned here, so :class:`SpeechCommands` reads the same folder layout (``root/SpeechCommands/
speech_commands_v0.02/``) and returns the same items, ``(waveform (1, N) float32, sample_rate,
label, speaker_id, utterance_number)``, with the standard library's :mod:`wave`. Downloads
are cached and verified. 1.1.0's helpers keep their names: :func:`generate_background_noise`,
:func:`prepare_dataset`, :func:`label_to_index` and :class:`SpeechCommandsDataset`.
:class:`MFCC` computes the usual features in plain torch.

Example:
    A tiny folder of the same layout (the real one comes from ``download=True``):

    >>> import tempfile, pathlib
    >>> from norse.dataset.speech_commands import (MFCC, SpeechCommands,
    ...     SpeechCommandsDataset, write_wav)
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "SpeechCommands" / "speech_commands_v0.02"
    >>> t = torch.arange(8000) / 16000
    >>> _ = write_wav(folder / "yes" / "ab12_nohash_0.wav", torch.sin(2 * math.pi * 440 * t))
    >>> _ = write_wav(folder / "cat" / "cd34_nohash_1.wav", torch.sin(2 * math.pi * 880 * t))
    >>> words = SpeechCommands(folder.parents[1])
    >>> waveform, rate, label, speaker, n = words[1]
    >>> waveform.shape, rate, label, speaker, n
    (torch.Size([1, 8000]), 16000, 'yes', 'ab12', 0)
    >>> data = SpeechCommandsDataset(words, transform=MFCC(n_mfcc=40))
    >>> features, index = data[1]
    >>> features.shape, index      # padded to one second: 101 frames of 10 ms
    (torch.Size([1, 40, 101]), 0)
    >>> data[0][1]                 # 'cat' is no keyword: the unknown index
    12
"""

from __future__ import annotations

import math
import os
import tarfile
import wave
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from norse.dataset._download import fetch, file_digest, verify

__all__ = [
    "BACKGROUND",
    "KNOWN_WORDS",
    "MFCC",
    "SpeechCommands",
    "SpeechCommandsDataset",
    "UNKNOWN_INDEX",
    "generate_background_noise",
    "label_to_index",
    "prepare_dataset",
    "write_wav",
]

_OWNER = "SpeechCommands"
SAMPLE_RATE = 16000
KNOWN_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
BACKGROUND = "background"
#: ``label_to_index`` of every word that is neither a keyword nor background (as in 1.1.0;
#: 10 is background, 11 unused).
UNKNOWN_INDEX = 12
_NOISE = "_background_noise_"


def read_wav(path: str | os.PathLike) -> tuple[torch.Tensor, int]:
    """``(waveform (channels, N) float32 in [-1, 1), sample_rate)`` of a PCM WAV file (8, 16
    or 32 bit); an unreadable file raises a ``ValueError`` naming it."""
    try:
        with wave.open(str(path), "rb") as f:
            width, channels, rate = f.getsampwidth(), f.getnchannels(), f.getframerate()
            frames = f.readframes(f.getnframes())
    except (wave.Error, EOFError, OSError) as error:
        raise ValueError(f"{_OWNER}: {path} is not a readable PCM WAV file ({error})") from error
    kinds = {1: (np.uint8, 128.0, 128.0), 2: (np.int16, 0.0, 32768.0), 4: (np.int32, 0.0, 2.0**31)}
    if width not in kinds:
        raise ValueError(f"{_OWNER}: {path}: sample width expected 1, 2 or 4 bytes, got {width}")
    kind, offset, scale = kinds[width]
    samples = (np.frombuffer(frames, kind).astype(np.float32) - offset) / scale
    return torch.from_numpy(samples.reshape(-1, channels).T.copy()), rate


def write_wav(
    path: str | os.PathLike, waveform: torch.Tensor, sample_rate: int = SAMPLE_RATE
) -> Path:
    """Write ``waveform`` (``(N,)`` or ``(1, N)``, values in [-1, 1]) as a mono 16-bit WAV."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = torch.as_tensor(waveform, dtype=torch.float64).reshape(-1)
    pcm = (samples.clamp(-1, 1) * 32767).round().to(torch.int16).numpy()
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(int(sample_rate))
        f.writeframes(pcm.astype("<i2").tobytes())
    return path


class SpeechCommands(torch.utils.data.Dataset):
    """The Speech Commands folder, item for item like ``torchaudio.datasets.SPEECHCOMMANDS``.

    Files live in ``root/folder_in_archive/url`` (``root/SpeechCommands/
    speech_commands_v0.02``). ``subset`` ``"training"`` holds every word file not named in
    ``validation_list.txt`` or ``testing_list.txt``, ``"validation"`` and ``"testing"`` those
    listed, ``None`` all. Clips cut by :func:`generate_background_noise` (folder
    ``background``) are split 80/10/10 by their number. The long recordings in
    ``_background_noise_`` are never items. ``_walker`` lists the files, as in torchaudio.

    With ``download=True`` a missing folder is fetched (``base_url + url + ".tar.gz"``,
    2.3 GB) into ``root/folder_in_archive``, checked against ``checksum`` if given
    (``"md5:<hex>"`` or ``"sha256:<hex>"``), and extracted; the archive is kept, so a
    damaged folder is re-extracted without the network.

    Raises:
        FileNotFoundError: the folder is missing and ``download=False`` (saying where to put
            it).
        ValueError: an unknown ``subset``, or an unreadable WAV file (naming it).
        RuntimeError: the download fails or the checksum does not match.
    """

    base_url = "http://download.tensorflow.org/data/"

    def __init__(
        self,
        root: str | os.PathLike,
        url: str = "speech_commands_v0.02",
        folder_in_archive: str = "SpeechCommands",
        download: bool = False,
        subset: str | None = None,
        checksum: str | None = None,
    ) -> None:
        if subset not in (None, "training", "validation", "testing"):
            raise ValueError(f"{_OWNER}: subset expected None, 'training', 'validation' or 'testing', got {subset!r}")  # fmt: skip
        self.subset = subset
        self._archive = Path(root) / folder_in_archive
        self._path = str(self._archive / url)
        self.url = url
        if download and not Path(self._path).is_dir():
            self.download(checksum)
        if not Path(self._path).is_dir():
            raise FileNotFoundError(
                f"{_OWNER}: no data in {self._path}; pass download=True, or extract "
                f"{url}.tar.gz from {self.base_url} into that folder"
            )
        self._walker = self._files()

    def download(self, checksum: str | None = None) -> None:
        """Fetch (unless cached) and extract the archive into ``root/folder_in_archive/url``."""
        archive = self._archive / f"{self.url}.tar.gz"
        if archive.is_file():
            verify(_OWNER, archive, checksum)
        else:
            hint = f"without network access, fetch it elsewhere and extract it into {self._path}"
            fetch(_OWNER, self.base_url + archive.name, archive, checksum, hint)
        target = Path(self._path + ".part")
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(target, filter="data")
        except (tarfile.TarError, OSError, EOFError) as error:
            raise RuntimeError(f"{_OWNER}: {archive} is not a valid tar.gz archive ({error}); delete it and download again") from error  # fmt: skip
        os.replace(target, self._path)
        (Path(self._path) / "archive.sha256").write_text(f"{file_digest(archive, 'sha256')}  {archive.name}\n")  # fmt: skip

    def _files(self) -> list[str]:
        root = Path(self._path)
        listed = {}
        for subset, name in (("validation", "validation_list.txt"), ("testing", "testing_list.txt")):  # fmt: skip
            path = root / name
            if path.is_file():
                for line in path.read_text().split():
                    listed[os.path.normpath(line)] = subset
        files = []
        for path in sorted(root.glob("*/*.wav")):
            word = path.parent.name
            if word == _NOISE:
                continue
            relative = os.path.normpath(f"{word}/{path.name}")
            if word == BACKGROUND:
                _, n = _speaker_and_number(path)
                subset = ("training",) * 8 + ("validation", "testing")
                which = subset[n % 10]
            else:
                which = listed.get(relative, "training")
            if self.subset is None or which == self.subset:
                files.append(str(path))
        return files

    def __len__(self) -> int:
        return len(self._walker)

    def __getitem__(self, n: int) -> tuple[torch.Tensor, int, str, str, int]:
        path = Path(self._walker[n])
        waveform, rate = read_wav(path)
        speaker, number = _speaker_and_number(path)
        return waveform, rate, path.parent.name, speaker, number


def _speaker_and_number(path: Path) -> tuple[str, int]:
    speaker, _, number = path.stem.partition("_nohash_")
    try:
        return speaker, int(number)
    except ValueError:
        return speaker, 0


def generate_background_noise(speech_commands: SpeechCommands) -> list[Path]:
    """Cut the long recordings of ``_background_noise_`` into one-second clips, written as
    ``background/<recording>_nohash_<n>.wav`` next to the word folders (once: existing clips
    are kept), so that background becomes a class of its own; updates the data set's file
    list and returns the clips' paths."""
    root = Path(speech_commands._path)
    out = root / BACKGROUND
    clips = []
    for recording in sorted((root / _NOISE).glob("*.wav")):
        waveform, rate = read_wav(recording)
        for n in range(waveform.shape[1] // rate):
            clip = out / f"{recording.stem.replace('_', '-')}_nohash_{n}.wav"
            if not clip.is_file():
                write_wav(clip, waveform[0, n * rate : (n + 1) * rate], rate)
            clips.append(clip)
    speech_commands._walker = speech_commands._files()
    return clips


def prepare_dataset(speech_commands: SpeechCommands | str | os.PathLike) -> tuple[SpeechCommands, SpeechCommands, SpeechCommands]:  # fmt: skip
    """``(train, valid, test)`` subsets of a :class:`SpeechCommands` folder (or of the folder
    ``root`` given as a path), with background clips generated first."""
    if not isinstance(speech_commands, SpeechCommands):
        speech_commands = SpeechCommands(speech_commands)
    generate_background_noise(speech_commands)
    root = Path(speech_commands._path)
    args = (root.parents[1], root.name, root.parent.name)
    return tuple(SpeechCommands(*args, subset=s) for s in ("training", "validation", "testing"))


def label_to_index(dataset: str | Sequence[Any]) -> int:
    """The class index of a label (or of an item ``(waveform, rate, label, ...)``): the ten
    keywords 0-9 in :data:`KNOWN_WORDS` order, ``"background"`` 10, any other word
    :data:`UNKNOWN_INDEX` (12)."""
    label = dataset if isinstance(dataset, str) else dataset[2]
    if not isinstance(label, str):
        raise TypeError(f"label_to_index: expected a label string or an item (waveform, rate, label, ...), got {type(label).__name__}")  # fmt: skip
    if label in KNOWN_WORDS:
        return KNOWN_WORDS.index(label)
    return len(KNOWN_WORDS) if label == BACKGROUND else UNKNOWN_INDEX


class SpeechCommandsDataset(torch.utils.data.Dataset):
    """``(transform(waveform padded to one second), label index)`` for the items of a
    :class:`SpeechCommands` data set: waveforms are cut or zero-padded at the end to 16000
    samples, labels mapped by :func:`label_to_index`."""

    def __init__(self, dataset: Any, transform: Callable[[torch.Tensor], Any] | None = None) -> None:  # fmt: skip
        self.dataset = dataset
        self.transform = transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, idx: int) -> tuple[Any, int]:
        item = self.dataset[idx]
        waveform = item[0][..., :SAMPLE_RATE]
        waveform = torch.nn.functional.pad(waveform, (0, SAMPLE_RATE - waveform.shape[-1]))
        if self.transform is not None:
            waveform = self.transform(waveform)
        return waveform, label_to_index(item)


class MFCC(torch.nn.Module):
    """Mel-frequency cepstral coefficients, ``(..., n_mfcc, frames)`` of waveforms
    ``(..., samples)``: a Hann-windowed power spectrogram (frames centred, reflect-padded),
    ``n_mels`` triangular filters on the HTK mel scale from 0 Hz to the Nyquist frequency,
    decibels (floored at 1e-10 and at 80 dB under the maximum), and the orthonormal DCT-II.
    The defaults are Speech Commands' (25 ms windows every 10 ms)."""

    def __init__(self, sample_rate: int = SAMPLE_RATE, n_mfcc: int = 40, n_fft: int = 480,
                 hop_length: int = 160, n_mels: int = 80) -> None:  # fmt: skip
        super().__init__()
        if not 1 <= n_mfcc <= n_mels:
            raise ValueError(f"MFCC: n_mfcc expected 1..n_mels={n_mels}, got {n_mfcc}")
        self.n_fft, self.hop_length = n_fft, hop_length
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        hz = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
        mel = 2595.0 * torch.log10(1.0 + hz / 700.0)
        edges = torch.linspace(0, float(mel[-1]), n_mels + 2, dtype=torch.float64)
        lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
        banks = torch.minimum((mel - lower) / (centre - lower), (upper - mel) / (upper - centre))
        self.register_buffer("banks", banks.clamp(min=0).float(), persistent=False)
        k = torch.arange(n_mels, dtype=torch.float64)
        dct = torch.cos(math.pi / n_mels * (k + 0.5) * torch.arange(n_mfcc, dtype=torch.float64)[:, None])  # fmt: skip
        dct[0] *= 1 / math.sqrt(2)
        self.register_buffer("dct", (dct * math.sqrt(2.0 / n_mels)).float(), persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        shape = waveform.shape[:-1]
        flat = waveform.reshape(-1, waveform.shape[-1]).float()
        spectrum = torch.stft(flat, self.n_fft, self.hop_length, window=self.window,
                              center=True, pad_mode="reflect", return_complex=True)  # fmt: skip
        mel = self.banks @ spectrum.abs().square()
        db = 10.0 * torch.log10(mel.clamp(min=1e-10))
        db = torch.maximum(db, db.amax(dim=(-2, -1), keepdim=True) - 80.0)
        return (self.dct @ db).reshape(*shape, self.dct.shape[0], -1)
