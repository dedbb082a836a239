"""Fixtures shared by the kernel tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def background(monkeypatch):
    """``auto`` compiling in the background, with nothing compiled yet in this process."""
    pytest.importorskip("numba")
    from norse.torch.kernels import cpu

    monkeypatch.setattr(cpu, "_BACKGROUND", True)
    monkeypatch.setattr(cpu, "_COMPILER", cpu._Compiler())
    monkeypatch.setattr(cpu, "_LOOPS", {})
    monkeypatch.setattr(cpu, "_ENTRIES", {})
    return cpu._COMPILER
