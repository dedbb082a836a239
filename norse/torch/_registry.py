"""The neuron models that the shared contract tests (and kernels, NIR export) iterate over.

Add a model's ``SPEC`` here and its modules get the contract tests for free.
"""

from __future__ import annotations

from ._spec import NeuronSpec
from .functional import (
    coba_lif,
    iaf,
    izhikevich,
    leaky_integrator,
    leaky_integrator_box,
    lif,
    lif_adex,
    lif_adex_refrac,
    lif_box,
    lif_ex,
    lif_refrac,
    lsnn,
)

MODELS: tuple[NeuronSpec, ...] = (
    lif.SPEC,
    lif_box.SPEC,
    leaky_integrator.SPEC,
    leaky_integrator_box.SPEC,
    lif_refrac.SPEC,
    lsnn.SPEC,
    coba_lif.SPEC,
    iaf.SPEC,
    lif_ex.SPEC,
    lif_adex.SPEC,
    lif_adex_refrac.SPEC,
    izhikevich.SPEC,
)


def module_classes(spec: NeuronSpec) -> dict[str, type]:
    """The module classes built on ``spec``, keyed ``cell``, ``layer``, ``recurrent_cell``,
    ``recurrent`` (only those that exist)."""
    from .module.snn import SNN, SNNCell, SNNRecurrent, SNNRecurrentCell

    kinds = {
        "cell": SNNCell,
        "recurrent_cell": SNNRecurrentCell,
        "layer": SNN,
        "recurrent": SNNRecurrent,
    }
    found: dict[str, type] = {}
    for kind, base in kinds.items():
        stack = list(base.__subclasses__())
        while stack:
            cls = stack.pop()
            stack.extend(cls.__subclasses__())
            if cls.__dict__.get("spec") is spec and kind not in found:
                found[kind] = cls
    return found
