"""Fused Triton sequence kernels (GPU; CPU through ``TRITON_INTERPRET=1``), one module per model.

Each model module holds its ``@triton.jit`` forward and backward kernels, one
``torch.autograd.Function`` and a launcher ``<model>_sequence(x, state, p, dt, out_dtype)``.
The modules import ``triton`` at the top, so import them only through :func:`kernel_module`
once :mod:`norse.torch.kernels.triton_backend` has found triton; this package itself imports
nothing heavy.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["KERNELS", "kernel_module"]

#: Model name (``NeuronSpec.name``) -> module in this package holding its kernels.
KERNELS: dict[str, str] = {
    "lif": "lif",
    "lif_box": "lif_box",
    "li": "leaky_integrator",
    "li_box": "leaky_integrator_box",
    "lif_refrac": "lif_refrac",
    "iaf": "iaf",
}


def kernel_module(name: str) -> ModuleType:
    """The kernel module for the model called ``name`` (imports triton).

    Example:
        >>> kernel_module("lif").__name__
        'norse.torch.kernels.triton.lif'
    """
    try:
        module = KERNELS[name]
    except KeyError:
        raise ValueError(
            f"no Triton kernel for the {name!r} model; the models with one are "
            f"{', '.join(map(repr, KERNELS))}"
        ) from None
    return importlib.import_module(f"{__name__}.{module}")
