"""The all-targets grid: stored 8-bit images are what was classified, and they stay in the ε-ball."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

import camo
from camo.analysis.grid import GridResult, grid
from camo.analysis.plots import grid_figure
from camo.errors import InputError
from tests.support import read_mnist_test


@pytest.fixture(scope="module")
def seven() -> torch.Tensor:
    x, _ = read_mnist_test()
    return x[:1]


@pytest.fixture(scope="module")
def result(mnist_model: camo.Classifier, seven: torch.Tensor) -> GridResult:
    return grid(mnist_model, seven, 0.25, method="pgd", steps=40, source="seven.png")  # far from the edge


def test_every_other_class_is_a_target_and_most_are_reached(result: GridResult) -> None:
    assert result.original_name == "7"
    assert [c.target for c in result.cells] == [0, 1, 2, 3, 4, 5, 6, 8, 9]
    assert sum(c.predicted == c.target for c in result.cells) >= 7


def test_stored_images_are_what_was_classified(mnist_model: camo.Classifier, seven: torch.Tensor,
                                               result: GridResult) -> None:
    original = result.original_image()
    assert np.abs(original[..., 0] - seven[0, 0].numpy()).max() <= 0.5 / 255 + 1e-6
    for cell in result.cells:
        image = cell.image()
        assert np.abs(image - original).max() <= 0.25 + 1 / 255  # ε-ball, plus 8-bit rounding of both
        with torch.no_grad():
            probs = mnist_model(torch.from_numpy(image).permute(2, 0, 1)[None]).softmax(1)[0]
        assert int(probs.argmax()) == cell.predicted
        assert float(probs[cell.target]) == pytest.approx(cell.target_probability, abs=1e-5)


def test_round_trip_and_figure(result: GridResult) -> None:
    data = json.loads(json.dumps(result.to_dict()))
    assert data["kind"] == "grid" and GridResult.from_dict(data) == result
    with Image.open(io.BytesIO(grid_figure(result))) as img:
        assert img.format == "PNG" and img.size[0] > 1000


def test_top_k_and_bad_inputs(mnist_model: camo.Classifier, seven: torch.Tensor) -> None:
    few = grid(mnist_model, seven, 0.1, top_k=3)
    assert len(few.cells) == 3 and few.original not in [c.target for c in few.cells]
    with pytest.raises(InputError, match="unknown method"):
        grid(mnist_model, seven, 0.1, method="fgm")
    with pytest.raises(InputError, match="one image"):
        grid(mnist_model, seven.repeat(2, 1, 1, 1), 0.1)
    with pytest.raises(InputError, match="eps must be ≥ 0"):
        grid(mnist_model, seven, -0.1)
