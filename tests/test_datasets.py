"""datasets: the idx reader against hand-made files, and the real MNIST test set."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from camo.datasets import MNIST_TEST_FILES, mnist_test
from camo.errors import InputError
from tests.support import shared


def _write_idx(path: Path, array: np.ndarray, *, cut: int = 0) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data[: len(data) - cut]))


def test_reads_hand_made_idx_files(tmp_path: Path) -> None:
    x = np.arange(3 * 28 * 28, dtype=np.int64).reshape(3, 28, 28) % 256
    _write_idx(tmp_path / MNIST_TEST_FILES[0], x)
    _write_idx(tmp_path / MNIST_TEST_FILES[1], np.array([4, 0, 9]))
    images, labels = mnist_test(tmp_path)
    assert images.shape == (3, 1, 28, 28) and labels.tolist() == [4, 0, 9]
    assert float(images[0, 0, 0, 1]) == pytest.approx(1 / 255)


def test_missing_truncated_and_mismatched_files_raise(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="expected t10k-images"):
        mnist_test(tmp_path)
    _write_idx(tmp_path / MNIST_TEST_FILES[0], np.zeros((3, 28, 28)), cut=10)
    _write_idx(tmp_path / MNIST_TEST_FILES[1], np.array([1, 2, 3]))
    with pytest.raises(InputError, match="truncated"):
        mnist_test(tmp_path)
    _write_idx(tmp_path / MNIST_TEST_FILES[0], np.zeros((2, 28, 28)))
    with pytest.raises(InputError, match="do not match"):
        mnist_test(tmp_path)


def test_the_real_mnist_test_set() -> None:
    images, labels = mnist_test(shared("classification", "mnist_t10k"))
    assert images.shape == (10_000, 1, 28, 28) and float(images.max()) == 1.0
    assert np.bincount(labels.numpy()).min() > 800
