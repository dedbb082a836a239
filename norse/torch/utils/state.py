"""How containers tell stateful modules (called as ``m(x, state)``) from stateless ones."""

from __future__ import annotations

import inspect

import torch


def _is_module_stateful(module: torch.nn.Module) -> bool:
    """True when ``module.forward`` takes a ``state`` argument, or the module is an RNN."""
    if isinstance(module, torch.nn.RNNBase):
        return True
    try:
        return "state" in inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return False
