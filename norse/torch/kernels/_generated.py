"""Generated kernel sources: where they are written, how they are named and imported.

Both fused backends turn a traced program into Python source (numba loops, Triton kernels)
that their compilers need as real files, so that they can cache what they compile on disk.
The files go to a directory of this user (``$NORSE_CACHE_DIR``, else the package's
``__pycache__``, else ``~/.cache/norse``), named after a digest of their text and of the
hand-written helpers they import, and each (program, variant, part) is generated once per
process.

Example:
    >>> module = import_source("norse_example", "ANSWER = 42")
    >>> module.ANSWER
    42
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["cache_directory", "generated", "import_path", "import_source", "write_source"]


def own_directory(*bases: Any) -> Any:
    """``<base>/norse-openmp-<uid>`` for the first base where that is a writable directory owned
    by this user and not writable by others (code is imported from it)."""
    for base in bases:
        d = base / f"norse-openmp-{os.getuid()}"
        try:
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
            st = d.stat()
            if st.st_uid != os.getuid() or st.st_mode & 0o022:
                continue
            probe = d / f".probe{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError:
            continue
        return d
    raise OSError("no writable directory of this user for the generated kernels")


def _helpers_digest() -> str:
    """A digest of the hand-written helpers and generators behind the generated sources
    (numba's cache does not notice when they change; the generated modules' names do)."""
    global _HELPERS_DIGEST
    if _HELPERS_DIGEST is None:
        from pathlib import Path

        here = Path(__file__).parent
        h = hashlib.sha256()
        for f in ("_cpu_numba.py", "_numba_source.py", "_emit.py", "triton/_source.py"):
            h.update((here / f).read_bytes())
        _HELPERS_DIGEST = h.hexdigest()
    return _HELPERS_DIGEST


_HELPERS_DIGEST: str | None = None


def cache_directory() -> Any:
    """Where generated sources (and numba's cache of them) live: ``$NORSE_CACHE_DIR``, else
    the package's ``__pycache__``, else the user's cache directory."""
    global _CACHE_DIR
    if _CACHE_DIR is None:
        from pathlib import Path

        env = os.environ.get("NORSE_CACHE_DIR")
        xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        bases = [Path(env)] if env else [Path(__file__).parent / "__pycache__", Path(xdg) / "norse"]
        _CACHE_DIR = own_directory(*bases)
    return _CACHE_DIR


_CACHE_DIR: Any = None


def write_source(prefix: str, source: str) -> tuple[str, Any]:
    """Write ``source`` to the cache directory, named after its digest: ``(module, path)``."""
    digest = hashlib.sha256((source + _helpers_digest()).encode()).hexdigest()[:20]
    module = f"{prefix}_{digest}"
    path = cache_directory() / f"{module}.py"
    if not path.exists() or path.read_text() != source:  # (written by us, or rewritten)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(source)
        os.replace(tmp, path)
    return module, path


def import_path(module: str, path: Any) -> Any:
    spec = importlib.util.spec_from_file_location(module, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[module] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[module]
        raise
    return mod


def import_source(prefix: str, source: str) -> Any:
    """Write ``source`` to the cache directory (named after its digest) and import it."""
    with _IMPORT_LOCK:  # (the background compiler and a caller may ask at once)
        module, path = write_source(prefix, source)
        mod = sys.modules.get(module)
        if mod is not None:
            return mod
        return import_path(module, path)


_IMPORT_LOCK = threading.RLock()


_GENERATED: dict[Any, tuple[Any, dict]] = {}
_KEEP: dict[int, Any] = {}  # (the programs whose ids are in the keys stay alive)
_GENERATED_LOCK = threading.Lock()


def generated(prefix: str, program: Any, variant: Any, part: str,
              source: Callable[[Any, Any, str], tuple[str, dict]]) -> tuple[Any, dict]:  # fmt: skip
    """The imported module ``source(program, variant, part)`` writes, with the facts it
    returns; generated once per process for each (prefix, program, variant, part)."""
    key = (prefix, id(program), variant, part)
    found = _GENERATED.get(key)
    if found is None:
        with _GENERATED_LOCK:
            found = _GENERATED.get(key)
            if found is None:
                text, facts = source(program, variant, part)
                found = _GENERATED[key] = (import_source(f"{prefix}_{part}", text), facts)
                _KEEP[id(program)] = program
    return found
