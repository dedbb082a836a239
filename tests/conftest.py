"""Shared test set-up: seeding, devices, and the per-model data the contract tests read.

When you add a neuron model to ``norse/torch/_registry.py`` (``MODELS``), add its entries to
``MODEL_KWARGS`` (only if its modules need extra constructor arguments) and ``MODEL_DRIVE``
below. ``tests/test_models.py`` then runs the contract tests on every module class built on
the model's spec.
"""

from __future__ import annotations

import pytest
import torch

from norse.torch.functional.izhikevich import tonic_spiking

# ----------------------------------------------------------------------------------------
# OTHER ENGINEERS: ADD YOUR MODEL'S ENTRIES HERE (keyed by ``SPEC.name``).
#
# MODEL_KWARGS: extra keyword arguments every module class of the model needs at
#   construction, on top of ``(input_size, hidden_size)`` for the recurrent ones. For
#   example Izhikevich needs ``{"spiking_method": tonic_spiking}``. Leave a model out if its
#   modules build with no arguments.
# MODEL_DRIVE: a constant input amplitude that makes the model's default parameters spike
#   within about 20 steps from the initial (``state=None``) state when fed to a cell every
#   step. Leaky integrators (no spikes) still need an entry: use a moderate value such as 1.
# ----------------------------------------------------------------------------------------
MODEL_KWARGS: dict[str, dict] = {
    "lif": {},
    "lif_box": {},
    "li": {},
    "li_box": {},
    "lif_refrac": {},
    "lsnn": {},
    "coba_lif": {},
    "iaf": {},
    "lif_ex": {},
    "lif_adex": {},
    "lif_adex_refrac": {},
    "izhikevich": {"spiking_method": tonic_spiking},
}

MODEL_DRIVE: dict[str, float] = {
    "lif": 3.0,  # first spike at step 3 (step 9 with 0.5, see API.md §2.4)
    "lif_box": 3.0,  # first spike at step 4
    "li": 1.0,
    "li_box": 1.0,
    "lif_refrac": 3.0,  # first spike at step 3, then 5 refractory steps
    "lsnn": 3.0,  # decay first: one step later than LIF
    "coba_lif": 20.0,  # recurrent only; opens the excitatory conductance
    "iaf": 0.6,  # no leak: 2-4 steps per spike
    "lif_ex": 3.0,
    "lif_adex": 3.0,
    "lif_adex_refrac": 3.0,
    "izhikevich": 200.0,  # a current; ~5 steps (1.25 ms) to the first spike
}

#: Devices the ``device`` fixture runs over; CUDA is skipped without a GPU.
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


def _model_kwargs(name: str) -> dict:
    return dict(MODEL_KWARGS.get(name, {}))


def _model_drive(name: str) -> float:
    try:
        return MODEL_DRIVE[name]
    except KeyError:
        raise KeyError(
            f"tests/conftest.py: no MODEL_DRIVE entry for model {name!r}; add one (an input "
            "amplitude that makes the default parameters spike within ~20 steps)"
        ) from None


# Test modules get the tables through these fixtures rather than ``import conftest``, which
# is ambiguous with the repository's root conftest.py.
@pytest.fixture
def model_kwargs():
    """``model_kwargs(name) -> dict``: constructor kwargs registered for a model."""
    return _model_kwargs


@pytest.fixture
def model_drive():
    """``model_drive(name) -> float``: input amplitude that makes a model spike."""
    return _model_drive


def has_cuda() -> bool:
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    """Skip ``@pytest.mark.cuda`` tests when no CUDA device is present."""
    if has_cuda():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    """Run a test on every available device (``cuda`` carries ``@pytest.mark.cuda``)."""
    return torch.device(request.param)


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random numbers."""
    torch.manual_seed(0)
