"""Measuring a patch: pasted exactly into every image not of the target, at chosen scales and placements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from camo.attacks.core import Model, frozen
from camo.attacks.patch.common import PatchCallback, predicted_labels, target_index
from camo.attacks.patch.geometry import apply_patch, as_patch, check_images, random_positions, resize_patch
from camo.errors import InputError

#: Where evaluation puts the patch: uniform random positions, the centre, or the four corners in turn.
Placement = Literal["random", "center", "corner"]


@dataclass(frozen=True)
class PatchEvaluation:
    """How often a patch wins on images not of the target class.

    ``targeted_success``: fraction now classified as the target. ``fooling_rate``: fraction whose class changed
    from their label (the true label where known, else the model's prediction on the clean image).
    """

    target: int
    target_name: str
    placement: str
    scale: float
    area_fraction: float
    images: int
    excluded: int                     # images left out because they already are (or are labelled) the target
    targeted_success: float
    fooling_rate: float
    mean_p_target: float              # mean softmax probability of the target over the images
    examples: tuple[torch.Tensor, ...] = ()     # a few patched images (C, H, W), for figures
    example_labels: tuple[str, ...] = ()        # the clean label of each example
    example_predictions: tuple[str, ...] = ()   # what the model says with the patch
    example_confidences: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target_name, "target_index": self.target, "placement": self.placement,
            "scale": self.scale, "area_fraction": self.area_fraction, "images": self.images,
            "excluded": self.excluded, "targeted_success": self.targeted_success, "fooling_rate": self.fooling_rate,
            "mean_p_target": self.mean_p_target,
        }


def _place_positions(placement: Placement | tuple[int, int], n: int, patch_size: tuple[int, int],
                     image_size: tuple[int, int], generator: torch.Generator | None) -> torch.Tensor:
    (h, w), (height, width) = patch_size, image_size
    if placement == "random":
        return random_positions(n, patch_size, image_size, generator=generator)
    if placement == "center":
        return torch.tensor([[(width - w) // 2, (height - h) // 2]]).expand(n, 2)
    if placement == "corner":
        # The four corners in turn: the placements furthest from where MNIST digits and most photo subjects sit.
        corners = torch.tensor([[0, 0], [width - w, 0], [0, height - h], [width - w, height - h]])
        return corners[torch.arange(n) % 4]
    if isinstance(placement, tuple):
        return torch.tensor([placement]).expand(n, 2)
    raise InputError(f"placement must be 'random', 'center', 'corner' or (x, y); got {placement!r}")


def evaluate_patch(
    model: Model,
    patch: torch.Tensor,
    images: torch.Tensor,
    target: int | str,
    *,
    labels: torch.Tensor | None = None,
    placement: Placement | tuple[int, int] = "random",
    scale: float = 1.0,
    generator: torch.Generator | None = None,
    batch_size: int = 256,
    examples: int = 8,
) -> PatchEvaluation:
    """Paste the patch (exactly, no resampling beyond ``scale``) into every image not of the target and classify.

    Args:
        model: the classifier.
        patch: (C, h, w) in the model's bounds (e.g. a saved PNG loaded back).
        images: (N, C, H, W) test images.
        target: label name or index.
        labels: true labels (N,); None uses the model's predictions on the clean images. Images whose label is the
            target are left out.
        placement: "random" (uniform positions where the patch fits), "center", "corner" (the four in turn) or
            a fixed (x, y).
        scale: resize the patch by this factor first (see :func:`resize_patch`).
        generator: for random positions.
        batch_size: images per forward pass.
        examples: how many patched images to keep for figures.

    Returns:
        A :class:`PatchEvaluation`.
    """
    check_images(images)
    index, name = target_index(model, target)
    small = resize_patch(patch, scale)
    height, width = images.shape[-2:]
    if labels is None:
        labels = predicted_labels(model, images, batch_size)
    with torch.no_grad(), frozen(model):
        keep = labels != index
        kept, kept_labels = images[keep], labels[keep]
        h, w = small.shape[-2:]
        positions = _place_positions(placement, len(kept), (h, w), (height, width), generator)
        predictions: list[torch.Tensor] = []
        confidences: list[torch.Tensor] = []
        p_target: list[torch.Tensor] = []
        shown: list[torch.Tensor] = []
        for i in range(0, len(kept), batch_size):
            patched = apply_patch(kept[i : i + batch_size], small, at=positions[i : i + batch_size])
            probs = torch.softmax(model(patched), dim=1)
            conf, pred = probs.max(dim=1)
            p_target.append(probs[:, index])
            predictions.append(pred)
            confidences.append(conf)
            if len(shown) < examples:
                shown.extend(patched[: examples - len(shown)])
    pred_all = torch.cat(predictions) if predictions else torch.zeros(0, dtype=torch.long)
    conf_all = torch.cat(confidences) if confidences else torch.zeros(0)
    total = len(kept)
    label_name = getattr(model, "label_name", str)
    return PatchEvaluation(
        target=index, target_name=name, placement=placement if isinstance(placement, str) else f"{placement}",
        scale=scale, area_fraction=small.shape[-1] * small.shape[-2] / (height * width), images=total,
        excluded=int((~keep).sum()),
        targeted_success=float((pred_all == index).float().mean()) if total else 0.0,
        fooling_rate=float((pred_all != kept_labels).float().mean()) if total else 0.0,
        mean_p_target=float(torch.cat(p_target).mean()) if total else 0.0,
        examples=tuple(t.detach() for t in shown),
        example_labels=tuple(str(label_name(int(v))) for v in kept_labels[: len(shown)]),
        example_predictions=tuple(str(label_name(int(v))) for v in pred_all[: len(shown)]),
        example_confidences=tuple(float(v) for v in conf_all[: len(shown)]),
    )


@dataclass(frozen=True)
class PatchReport:
    """Evaluations of one patch at several scales and placements (``camo patch eval``)."""

    evaluations: tuple[PatchEvaluation, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"evaluations": [e.to_dict() for e in self.evaluations]}


def patch_report(
    model: Model,
    patch: torch.Tensor,
    images: torch.Tensor,
    target: int | str,
    *,
    labels: torch.Tensor | None = None,
    scales: Sequence[float] = (0.5, 0.75, 1.0, 1.25, 1.5),
    placements: Sequence[Placement] = ("random", "center", "corner"),
    seed: int = 0,
    callback: PatchCallback | None = None,
) -> PatchReport:
    """:func:`evaluate_patch` for every scale × placement (same random positions per scale, from ``seed``).

    Scales whose patch would not fit the images are skipped.
    """
    height, width = images.shape[-2:]
    side = as_patch(patch).shape[-1]
    grid = [(s, p) for s in scales for p in placements if round(side * s) <= min(height, width)]
    if not grid:
        raise InputError(f"no scale in {list(scales)} fits a {side}-pixel patch into {width}×{height} images")
    if labels is None:
        labels = predicted_labels(model, images)  # once, rather than once per cell of the grid
    results = []
    for k, (s, p) in enumerate(grid):
        results.append(evaluate_patch(model, patch, images, target, labels=labels, placement=p, scale=s,
                                      generator=torch.Generator().manual_seed(seed)))
        if callback is not None:
            callback(k + 1, len(grid), results[-1].targeted_success)
    return PatchReport(tuple(results))
