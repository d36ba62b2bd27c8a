"""Fixtures: the built-in models, loaded once per session (mnist trains on first use, then is cached)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import camo
from tests.support import torch_threads


@pytest.fixture(scope="session")
def mnist_model() -> camo.Classifier:
    return camo.load_model("mnist")


@pytest.fixture(scope="session")
def imagenet_model() -> camo.Classifier:
    return camo.load_model("imagenet")


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread for a module whose tests are small: threads gain nothing there and cost on shared machines."""
    with torch_threads(1):
        yield
