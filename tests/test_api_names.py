"""Every public name of Norse 1.1.0 (plus our deliberate supersets) exists at its module path.

One test per module path, so a failure lists exactly what that module lacks. The table is
in ``tests/api_names.py``. Run this file as a script for a summary:
``python tests/test_api_names.py`` prints present/missing counts per module.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if __name__ == "__main__":  # script mode: find the table and the package from anywhere
    sys.path[:0] = [str(HERE), str(HERE.parent)]
import api_names  # noqa: E402

EXPECTED = api_names.expected_modules()


def diff(path: str) -> tuple[frozenset[str], list[str], str | None]:
    """``(expected, missing, import error)`` for one module path."""
    expected = EXPECTED[path]
    try:
        module = importlib.import_module(path)
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        return expected, sorted(expected), f"{type(e).__name__}: {e}"
    return expected, sorted(expected - set(dir(module))), None


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_module_has_every_name(path):
    expected, missing, error = diff(path)
    if error is not None:
        pytest.fail(f"cannot import {path} ({error}); it should define {len(expected)} names")
    assert not missing, (
        f"{path} lacks {len(missing)} of {len(expected)} names: {', '.join(missing)}"
    )


def test_top_level_all_lists_every_name():
    import norse.torch

    missing = sorted(api_names.top_level_all() - set(norse.torch.__all__))
    assert not missing, f"norse.torch.__all__ lacks {len(missing)} names: {', '.join(missing)}"


def test_top_level_all_names_exist():
    import norse.torch

    absent = [n for n in norse.torch.__all__ if not hasattr(norse.torch, n)]
    assert not absent, f"norse.torch.__all__ lists names that do not exist: {absent}"


def test_norse_package():
    import norse

    assert norse.__all__ == ["benchmark", "dataset", "task", "torch", "utils"]


def test_table_matches_the_appendix_counts():
    """API.md Appendix A counts, so that edits to the table do not drop names."""
    counts = {
        "functional": sum(map(len, api_names.FUNCTIONAL.values())),
        "functional.adjoint": sum(map(len, api_names.ADJOINT.values())),
        "models": sum(map(len, api_names.MODELS.values())),
        "top level": len(api_names.TOP_LEVEL_1_1_0 | api_names.PLOT | api_names.TENSORBOARD),
    }
    assert counts == api_names.APPENDIX_COUNTS
    assert len(api_names.FUNCTIONAL) == 31 and len(api_names.ADJOINT) == 6


def main() -> int:
    """Print present/missing counts per module; the exit status is the number of modules
    with missing names."""
    rows = []
    for path in sorted(EXPECTED):
        expected, missing, error = diff(path)
        rows.append((path, len(expected) - len(missing), len(expected), missing, error))
    width = max(len(r[0]) for r in rows)
    print(f"{'module':<{width}}  present/expected  missing")
    for path, present, total, missing, error in rows:
        note = f"(import failed: {error})" if error else ", ".join(missing[:6])
        if not error and len(missing) > 6:
            note += f", ... (+{len(missing) - 6})"
        print(f"{path:<{width}}  {present:>7}/{total:<8}  {note}")
    present = sum(r[1] for r in rows)
    total = sum(r[2] for r in rows)
    complete = sum(1 for r in rows if r[1] == r[2])
    print(
        f"\n{complete}/{len(rows)} modules complete; {present}/{total} names present, "
        f"{total - present} missing"
    )
    return len(rows) - complete


if __name__ == "__main__":
    sys.exit(1 if main() else 0)
