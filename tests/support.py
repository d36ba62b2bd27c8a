"""Helpers shared by the tests: the shared data folder, small models built in-test, the MNIST test set."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test with the reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the shared test data is not on this machine)")
    return path


def small_cnn(seed: int = 0, channels: int = 1, classes: int = 10) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(channels, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
        nn.Flatten(), nn.Linear(64, classes),
    ).eval()


def read_mnist_test() -> tuple[torch.Tensor, torch.Tensor]:
    """The 10,000 MNIST test digits from ../shared/data (skips when absent). Shape: (N, 1, 28, 28), (N,)."""
    from camo.datasets import mnist_test

    return mnist_test(shared("classification", "mnist_t10k"))


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run with ``count`` torch threads: on a loaded 2-core machine, two threads' barriers cost seconds."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
