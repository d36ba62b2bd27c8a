"""Fixtures: the built-in models, loaded once per session (mnist trains on first use, then is cached).

Also what keeps the suite independent of the machine it runs on: no hypothesis deadline (a loaded 2-core machine
deschedules an example past 200 ms), and the same console for every run (width, no colour codes).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings

import camo
from tests.support import torch_threads

settings.register_profile("camo", deadline=None)
settings.load_profile("camo")


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


@pytest.fixture(autouse=True)
def plain_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables and messages as on a 200-column terminal without colour, whatever the caller's environment says."""
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
