"""Physics shared across neuron models: the update order of API.md §0.4.

Jump-first models add the input before integrating the voltage, so an input changes the voltage
in the same step. Decay-first models (LSNN, ``lif_mc_refrac``) integrate with the old current and
add the input afterwards, so the input reaches the voltage one step later.
"""

from __future__ import annotations

import pytest
import torch

import norse.torch  # noqa: F401  (imports every module class so the registry can find them)
from norse.torch._registry import MODELS, module_classes

JUMP_FIRST = {
    "lif",
    "lif_box",
    "li",
    "li_box",
    "iaf",
    "lif_ex",
    "lif_adex",
    "lif_refrac",
    "lif_adex_refrac",
    "coba_lif",
    "izhikevich",
    "lif_mc",
}
DECAY_FIRST = {"lsnn", "lif_mc_refrac"}

CASES = [
    pytest.param(spec, spec.name in DECAY_FIRST, id=spec.name)
    for spec in MODELS
    if spec.name in JUMP_FIRST | DECAY_FIRST
]


def voltage(state) -> torch.Tensor:
    """The first leaf called ``v`` of a (nested) state."""
    for name, value in zip(state._fields, state, strict=True):
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            return voltage(value)
        if name == "v":
            return value
    raise KeyError("v")


def make_cell(spec, model_kwargs):
    classes = module_classes(spec)
    kwargs = model_kwargs(spec.name)
    if "cell" in classes:
        return classes["cell"](**kwargs), (2, 3)
    w_in = torch.eye(3, dtype=torch.float64)
    cell = classes["recurrent_cell"](3, 3, input_weights=w_in, **kwargs)
    return cell, (2, 3)


@pytest.mark.parametrize("spec, decay_first", CASES)
def test_decay_first_models_see_the_input_one_step_later(
    spec, decay_first, model_kwargs, model_drive
):
    cell, shape = make_cell(spec, model_kwargs)
    cell = cell.double()
    zeros = torch.zeros(shape, dtype=torch.float64)
    # a drive small enough not to make anything spike in two steps
    x = torch.full(shape, 0.01 * model_drive(spec.name), dtype=torch.float64)
    with torch.no_grad():
        start = cell.initial_state(zeros)
        out_x, s_x = cell(x, start)
        out_0, s_0 = cell(zeros, start)
        v_x1, v_01 = voltage(s_x), voltage(s_0)
        _, s_x = cell(zeros, s_x)
        _, s_0 = cell(zeros, s_0)
    if spec.output == "spikes":
        assert out_x.sum() == 0, "the test drive should stay below threshold"
    if decay_first:
        assert torch.equal(v_x1, v_01), "the input must not reach v in its own step"
        assert not torch.equal(voltage(s_x), voltage(s_0)), "the input must reach v one step later"
    else:
        assert (v_x1 != v_01).all(), "the input must reach v in its own step"
