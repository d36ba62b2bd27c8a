"""The model seen from full-resolution frames: the resize (area-averaged) and centre crop are part of the
differentiated function, so a perturbation is made for exactly the pixels that are written."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from camo.models import Classifier

log = logging.getLogger("camo")


@dataclass(frozen=True)


class Geometry:
    """How a full frame becomes the model's input: resized (shorter side to fit) then centre-cropped.

    ``scale`` is model pixels per frame pixel; (top, left) is the crop's corner in the resized frame.
    """

    frame: tuple[int, int]      # (height, width)
    resized: tuple[int, int]
    crop: tuple[int, int, int, int]  # top, left, height, width in the resized frame
    scale: float

    @staticmethod
    def of(frame: tuple[int, int], size: tuple[int, int] | None) -> Geometry:
        height, width = frame
        if size is None or (height, width) == tuple(size):
            return Geometry(frame, frame, (0, 0, height, width), 1.0)
        scale = max(size[0] / height, size[1] / width)
        new_h, new_w = max(size[0], round(height * scale)), max(size[1], round(width * scale))
        top, left = (new_h - size[0]) // 2, (new_w - size[1]) // 2
        return Geometry(frame, (new_h, new_w), (top, left, size[0], size[1]), scale)

    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable resize (area when shrinking, bilinear when enlarging) and crop. Shape: (N, C, h, w)."""
        if self.resized != self.frame:
            mode = "area" if self.scale < 1 else "bilinear"
            x = F.interpolate(x, size=self.resized, mode=mode)
        top, left, height, width = self.crop
        return x[..., top : top + height, left : left + width]

    def frame_box(self) -> tuple[int, int, int, int]:
        """The part of the frame the model sees: (left, top, width, height) in frame pixels."""
        top, left, height, width = self.crop
        return (round(left / self.scale), round(top / self.scale), round(width / self.scale),
                round(height / self.scale))


class _FrameView(nn.Module):
    """Full RGB frames in [0, 1] → the classifier's input (grey if it wants grey, its bounds, its size) → logits."""

    def __init__(self, model: Classifier, geometry: Geometry) -> None:
        super().__init__()
        self.model = model
        self.geometry = geometry
        self.grey = model.channels == 1
        self.luma: torch.Tensor
        self.register_buffer("luma", torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.grey:
            x = (x * self.luma).sum(dim=1, keepdim=True)
        x = self.geometry.to_model(x)
        lo, hi = self.model.bounds
        if (lo, hi) != (0.0, 1.0):
            x = lo + x * (hi - lo)
        out: torch.Tensor = self.model(x)
        return out


def frame_classifier(model: Classifier, frame: tuple[int, int]) -> Classifier:
    """The classifier seen from full-resolution RGB frames in [0, 1] of size ``frame`` (height, width).

    Attacks on it perturb frame pixels; ε stays in 8-bit pixel units of the frame.
    """
    geometry = Geometry.of(frame, model.input_size)
    if geometry.resized != frame:
        log.info("frames of %d×%d are resized to %d×%d and centre-cropped to %d×%d for %s (the attack goes "
                 "through the resize, on full-resolution pixels)", frame[1], frame[0], geometry.resized[1],
                 geometry.resized[0], geometry.crop[3], geometry.crop[2], model.name)
    view = Classifier(_FrameView(model, geometry), labels=model.labels, name=model.name)
    view.train(False)
    return view
