"""Doctest set-up shared by ``pytest --doctest-modules norse``: ``torch`` is in scope, seeded."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace):
    torch.manual_seed(0)
    doctest_namespace["torch"] = torch
