"""numba's on-disk cache of the CPU loops, locked so that several processes can share it."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("numba")

from numba.core.caching import IndexDataCacheFile  # noqa: E402
from numba.core.dispatcher import Dispatcher  # noqa: E402

from norse.torch.kernels import _cpu_numba, _numba_cache  # noqa: E402

pytestmark = pytest.mark.skipif(_numba_cache.fcntl is None, reason="needs fcntl (POSIX)")


def test_every_cached_loop_is_locked():
    """The hand-written helpers and the loops generated for a model."""
    import sys

    import torch

    from norse.torch import LIF

    LIF(backend="cpu")(torch.rand(3, 2, 4))
    generated = [m for name, m in sys.modules.items() if name.startswith("norse_fused_")]
    assert generated
    loops = [
        f
        for module in (_cpu_numba, *generated)
        for f in vars(module).values()
        if isinstance(f, Dispatcher)
    ]
    assert len(loops) >= 4
    for f in loops:
        assert isinstance(f._cache._cache_file, _numba_cache.LockedCacheFile), f.py_func.__name__


def _cache_file(tmp_path, stamp=("stamp", 1)):
    inner = IndexDataCacheFile(str(tmp_path), "loop-1.py311", stamp)
    return _numba_cache.LockedCacheFile(inner)


def test_a_load_waits_for_a_save_in_progress(tmp_path):
    cf = _cache_file(tmp_path)
    cf.save("variant a", b"code of a")
    got = []
    with _numba_cache.file_lock(cf.lock_path, exclusive=True):  # another process saving
        reader = threading.Thread(target=lambda: got.append(cf.load("variant a")))
        reader.start()
        reader.join(0.3)
        assert reader.is_alive() and not got  # blocked while the index may be half-written
    reader.join(10)
    assert got == [b"code of a"]


def test_concurrent_saves_keep_every_variant_with_its_own_code(tmp_path):
    """Two writers (as two processes would) adding different variants to one index.

    Unlocked, both can take the same data file number for different variants, and a variant
    then loads another's code; locked, each variant keeps its own.
    """
    writers = [_cache_file(tmp_path) for _ in range(2)]
    keys = {w: [f"writer {k} variant {j}" for j in range(40)] for k, w in enumerate(writers)}
    start = threading.Barrier(len(writers))

    def write(w):
        start.wait()
        for key in keys[w]:
            w.save(key, key.encode())

    threads = [threading.Thread(target=write, args=(w,)) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    reader = _cache_file(tmp_path)
    for key in (k for w in writers for k in keys[w]):
        assert reader.load(key) == key.encode(), key


def test_a_read_only_directory_is_not_locked(tmp_path):
    with _numba_cache.file_lock(str(tmp_path / "missing" / "x.lock"), exclusive=True) as held:
        assert not held
