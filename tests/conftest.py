"""Fixtures: the built-in models, loaded once per session (mnist trains on first use, then is cached)."""

from __future__ import annotations

import pytest

import camo


@pytest.fixture(scope="session")
def mnist_model() -> camo.Classifier:
    return camo.load_model("mnist")


@pytest.fixture(scope="session")
def imagenet_model() -> camo.Classifier:
    return camo.load_model("imagenet")
