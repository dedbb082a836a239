"""numba's on-disk cache, made safe for several processes at once.

numba keeps, per cached function, an index that maps each compiled variant to a numbered data
file. Saving reads the index, takes the first free number, writes the index, then the data;
loading reads the index, then the data; nothing is locked. Two processes that compile different
variants of one function at the same moment (``pytest -n 2``, ``torch.distributed`` workers,
a data-loader pool) can take the same number, and a process loading between another's index and
data writes can read a data file left from an older version. Either way it then runs the machine
code of another variant (another neuron model, another surrogate) without any error.

Here every load holds a shared and every save an exclusive ``flock`` on one lock file next to
the cache, so each process sees an index together with the data it names. Where ``fcntl`` is
missing (Windows), the loops are compiled in each process instead of cached.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = "norse-numba-cache.lock"


@contextlib.contextmanager
def file_lock(path: str, exclusive: bool) -> Iterator[bool]:
    """Hold an ``flock`` on ``path`` (created if missing); yields whether it is held.

    Where the lock file can be neither created nor opened (a read-only directory: nobody can
    write a cache there either), nothing is locked.
    """
    if fcntl is None:  # pragma: no cover - Windows
        yield False
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            yield False
            return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield True
    finally:
        os.close(fd)  # (releases the lock)


class LockedCacheFile:
    """A numba ``IndexDataCacheFile`` whose loads and saves hold the directory's lock."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.lock_path = os.path.join(inner._cache_path, LOCK_NAME)

    def save(self, key: Any, data: Any) -> None:
        with file_lock(self.lock_path, exclusive=True):
            self._inner.save(key, data)

    def load(self, key: Any) -> Any:
        with file_lock(self.lock_path, exclusive=False):
            return self._inner.load(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def lock_disk_caches(namespace: dict[str, Any]) -> None:
    """Make the cache of every numba function in ``namespace`` safe across processes."""
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    for obj in namespace.values():
        if not isinstance(obj, Dispatcher):
            continue
        cache = obj._cache
        inner = getattr(cache, "_cache_file", None)
        if inner is None or isinstance(inner, LockedCacheFile):
            continue  # not cached on disk, or done already
        if fcntl is None or not hasattr(inner, "_cache_path"):
            obj._cache = NullCache()  # compile in each process rather than risk a mixed-up cache
        else:
            cache._cache_file = LockedCacheFile(inner)
