"""Labelled image sets for evaluation: the MNIST test set in its original idx format."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch

from camo.errors import InputError

MNIST_TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def _read_idx(path: Path) -> np.ndarray:
    """Read an idx file (gzipped or not): magic 0x0000 08 D, D big-endian int32 sizes, then uint8 data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as err:
        raise InputError(f"{path}: cannot read ({err})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise InputError(f"{path}: not an idx file of unsigned bytes")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    if len(raw) - offset != int(np.prod(dims)):
        raise InputError(f"{path}: truncated idx file (expected {int(np.prod(dims))} values)")
    return np.frombuffer(raw, np.uint8, offset=offset).reshape(dims)


def mnist_test(root: str | os.PathLike[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """The 10,000 MNIST test digits from a folder holding ``t10k-images-idx3-ubyte.gz`` and its labels file.

    Returns:
        (x, y): x float in [0, 1] shaped (10000, 1, 28, 28); y int64 shaped (10000,).

    Raises:
        InputError: the files are missing or malformed; the message says where to get them.
    """
    folder = Path(root)
    images_file, labels_file = (folder / name for name in MNIST_TEST_FILES)
    if not images_file.exists() or not labels_file.exists():
        raise InputError(
            f"{folder}: expected {MNIST_TEST_FILES[0]} and {MNIST_TEST_FILES[1]} there "
            "(the MNIST test set from http://yann.lecun.com/exdb/mnist/ or any mirror)"
        )
    x = _read_idx(images_file)
    y = _read_idx(labels_file)
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise InputError(f"{folder}: images {x.shape} and labels {y.shape} do not match")
    return torch.from_numpy(x.copy()).float().unsqueeze(1) / 255.0, torch.from_numpy(y.astype(np.int64))
