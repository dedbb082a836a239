"""Shared test set-up: seeding, devices, and the per-model data the contract tests read.

When you add a neuron model to ``norse/torch/_registry.py`` (``MODELS``),
``tests/test_models.py`` runs the contract tests on every module class built on the model's
spec, and ``tests/kernels/test_fused.py`` the fused kernels against the reference; both read
the model's ``SPEC.example`` (constructor kwargs) and ``SPEC.drive`` (input amplitude).
"""

from __future__ import annotations

import os

# Under ``backend="auto"`` the CPU loops compile in the background on first use and the
# reference runs meanwhile; the tests compile them in the caller, so that ``auto`` runs the
# fused path from the first call (tests/kernels/test_cpu_backend.py covers the background).
os.environ.setdefault("NORSE_CPU_COMPILE", "sync")

import pytest  # noqa: E402
import torch  # noqa: E402

from norse.torch._registry import MODELS  # noqa: E402

#: Constructor kwargs and input drive per model, from the models' specs (``SPEC.example``,
#: ``SPEC.drive``): a new model in ``norse/torch/_registry.py`` brings its own.
MODEL_KWARGS: dict[str, dict] = {spec.name: dict(spec.example) for spec in MODELS}
MODEL_DRIVE: dict[str, float] = {spec.name: spec.drive for spec in MODELS}

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
