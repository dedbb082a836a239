"""Loading torchvision-layout weights into the lifted spiking models, without network access."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn


def lift_key(key: str) -> str:
    """Insert ``lifted_module`` before a parameter's last name: ``a.b.weight -> a.b.lifted_module.weight``."""
    head, _, leaf = key.rpartition(".")
    return f"{head}.lifted_module.{leaf}" if head else key


def load_pretrained(model: nn.Module, pretrained: Any, url: str, who: str) -> None:
    """Load weights into ``model`` from a local file (``pretrained`` is a path) or the torch hub
    cache (``pretrained=True``); never download."""
    if isinstance(pretrained, (str, os.PathLike)):
        path = os.fspath(pretrained)
    else:
        path = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{who}: pretrained weights not found at {path!r}. norse does not download them; "
            f"fetch {url} on a machine with internet access and pass its local path, e.g. "
            f"{who}(pretrained='/path/to/{os.path.basename(url)}'), or place it in that cache folder"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    own = model.state_dict()
    remapped = {k if k in own else lift_key(k): v for k, v in state.items()}
    model.load_state_dict(remapped)
