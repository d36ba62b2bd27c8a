"""Fixtures for the analysis tests: one torch thread (the test machine is shared; two threads fight over two cores)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import torch_threads


@pytest.fixture(autouse=True, scope="package")
def one_thread_for_analysis() -> Iterator[None]:
    with torch_threads(1):
        yield
