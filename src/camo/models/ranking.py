"""What a classifier says about an image: its k most likely classes, as plain data."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from camo.errors import InputError
from camo.models.classifier import Classifier


@dataclass(frozen=True)
class Ranked:
    """One class of a ranking: index, short name and softmax probability."""

    index: int
    label: str
    probability: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def top_k(model: Classifier, x: torch.Tensor, k: int = 5) -> list[list[Ranked]]:
    """The ``k`` most likely classes of each image of a batch, most likely first.

    Shape: x (N, C, H, W) in the model's bounds; returns N lists of min(k, classes) entries.

    Raises:
        InputError: ``k`` < 1.
    """
    if k < 1:
        raise InputError(f"top-k must be ≥ 1; got {k}")
    with torch.no_grad():
        probs = model(x).float().softmax(dim=1)
    values, indices = probs.topk(min(k, int(probs.shape[1])), dim=1)
    return [[Ranked(int(i), model.label_name(int(i)), float(p)) for p, i in zip(row_p, row_i, strict=True)]
            for row_p, row_i in zip(values, indices, strict=True)]
