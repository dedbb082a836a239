"""Utilities: parameter and state trees, cloning, NIR interchange, plotting, tensorboard.

``to_nir`` and ``from_nir`` are also importable from here (``from norse.torch.utils import
from_nir, to_nir``), which 1.1.0 lacked. They load on first use: the functional modules import
``norse.torch.utils.pytree`` while ``norse.torch`` is still being set up, before the NIR
code's own imports could run.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SynOps", "SynOpsCounter", "count_synops", "from_nir", "to_nir"]


def __getattr__(name: str) -> Any:
    if name == "to_nir":
        from .export_nir import to_nir

        return to_nir
    if name == "from_nir":
        from .import_nir import from_nir

        return from_nir
    if name in ("SynOps", "SynOpsCounter", "count_synops"):
        from . import synops

        return getattr(synops, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
