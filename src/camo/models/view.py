"""A classifier that takes images at any resolution and sees them as its own input, for full-resolution attacks.

A network that expects 224×224 is usually shown a photo resized (shorter side to 224) and centre-cropped: that is
what every camo command does when it reads a file for a model (:func:`camo.images.fit`). To attack the *photo*
rather than that thumbnail, :func:`full_resolution` puts the same resize and crop inside the model, as a
differentiable first layer (:func:`camo.images.model_view`): the attack then changes the photo's own pixels, ε is
per pixel of the photo, and the model's verdict on the photo is the one any camo command gives for the saved file.
"""

from __future__ import annotations

import torch
from torch import nn

from camo.images import model_view
from camo.models.classifier import Classifier


class _ResizeThen(nn.Module):
    """``model(model_view(x, size))``: resize and centre-crop, then the model (which normalises itself)."""

    def __init__(self, model: Classifier, size: tuple[int, int]) -> None:
        super().__init__()
        self.model = model
        self.size = size
        self.train(model.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(model_view(x, self.size))
        return out


def full_resolution(model: Classifier) -> Classifier:
    """``model`` taking images of any size (N, C, H, W) through its usual resized, centre-cropped view.

    The result has the model's bounds, labels, channels and name and no fixed input size; a model without an input
    size takes any size already and is returned as it is.
    """
    if model.input_size is None:
        return model
    return Classifier(_ResizeThen(model, model.input_size), bounds=model.bounds, labels=model.labels,
                      input_size=None, channels=model.channels, name=model.name)
