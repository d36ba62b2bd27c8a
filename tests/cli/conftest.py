"""Fixtures for the CLI tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support import read_mnist_test


@pytest.fixture(scope="module")
def seven(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first MNIST test digit (a 7) as a PNG file."""
    x, _ = read_mnist_test()
    path = tmp_path_factory.mktemp("in") / "seven.png"
    Image.fromarray(np.round(x[0, 0].numpy() * 255).astype(np.uint8)).save(path)
    return path
