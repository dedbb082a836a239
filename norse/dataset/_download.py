"""Downloads with checksums, shared by the data set loaders and the tasks.

``checksum`` arguments are ``"md5:<hex>"``, ``"sha256:<hex>"`` (any :mod:`hashlib` name) or a
bare hex digest (32 digits: md5, 64: sha256). Every message names the loader (``owner``) and
the file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

CHUNK = 1 << 20


def file_digest(path: str | os.PathLike, algorithm: str) -> str:
    """The hex digest of the file ``path`` under ``algorithm``, read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_checksum(owner: str, name: str, checksum: str) -> tuple[str, str]:
    """``(algorithm, hex digest)`` of a checksum given for the file ``name``.

    Example:
        >>> parse_checksum("Loader", "a.gz", "0" * 32)
        ('md5', '00000000000000000000000000000000')
        >>> parse_checksum("Loader", "a.gz", "sha1:ABC")
        ('sha1', 'abc')
    """
    text = str(checksum).strip().lower()
    if ":" in text:
        algorithm, _, digest = text.partition(":")
    elif len(text) == 32:
        algorithm, digest = "md5", text
    elif len(text) == 64:
        algorithm, digest = "sha256", text
    else:
        raise ValueError(
            f"{owner}: checksum for {name!r} expected an md5 (32 hex digits), a sha256 (64 hex "
            f"digits) or 'algorithm:digest', got {checksum!r}"
        )
    if algorithm not in hashlib.algorithms_available:
        raise ValueError(f"{owner}: checksum for {name!r} names an unknown hash algorithm {algorithm!r}")  # fmt: skip
    return algorithm, digest


def verify(owner: str, path: Path, checksum: str | None, remove: bool = False) -> None:
    """Raise a ``RuntimeError`` naming ``path`` when it does not match ``checksum`` (no check
    for ``None``); ``remove`` deletes the file first (a bad download)."""
    if checksum is None:
        return
    algorithm, digest = parse_checksum(owner, path.name, checksum)
    got = file_digest(path, algorithm)
    if got != digest:
        if remove:
            path.unlink(missing_ok=True)
        what = "it was deleted" if remove else "delete it and download it again"
        raise RuntimeError(f"{owner}: {path} is corrupt: {algorithm} checksum expected {digest}, got {got}; {what}")  # fmt: skip


def fetch(owner: str, url: str, target: Path, checksum: str | None = None, hint: str = "") -> Path:
    """Download ``url`` to ``target`` through a ``.part`` file (so an interrupted download
    never looks complete), then check it against ``checksum`` (a bad file is deleted).

    Raises:
        RuntimeError: the server cannot be reached (naming the URL and ``hint``: where to put
            the file by hand), or the checksum fails.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as f:  # noqa: S310
            shutil.copyfileobj(response, f, CHUNK)
    except (urllib.error.URLError, OSError) as error:
        part.unlink(missing_ok=True)
        raise RuntimeError(f"{owner}: could not download {url} ({error}){'; ' + hint if hint else ''}") from error  # fmt: skip
    os.replace(part, target)
    verify(owner, target, checksum, remove=True)
    return target
