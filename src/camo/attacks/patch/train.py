"""Training a universal patch by expectation over transformations, and measuring its saved 8-bit version.

The patch works anywhere in any image (Brown, Mané, Roy, Abadi, Gilmer 2017, "Adversarial Patch"): the expected
target loss over many images and random placements, scales and rotations is descended by Adam or by the shared
targeted FGSM step (:func:`camo.attacks.core.step`), the patch being the only optimised tensor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from camo.attacks.core import Model, cross_entropy, frozen, input_gradient, model_bounds, step
from camo.attacks.patch.common import PatchCallback, target_index
from camo.attacks.patch.evaluate import PatchEvaluation, evaluate_patch
from camo.attacks.patch.geometry import (
    apply_patch,
    as_patch,
    check_images,
    patch_side,
    place_patch,
    random_placement,
    random_positions,
)
from camo.errors import InputError
from camo.images import quantize

#: Maps a batch of background images to an augmented batch (crops, flips, colour jitter), drawing from the generator.
Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class TrainSettings:
    """How a universal patch is trained (all recorded in its JSON sidecar)."""

    size: float = 0.1                  # fraction of the image area (< 1) or side in pixels (≥ 1)
    steps: int = 300                   # optimisation steps, one batch each
    batch_size: int = 32
    method: Literal["adam", "sign"] = "adam"
    lr: float = 0.05                   # Adam learning rate, or the sign step in pixel units
    rotate: float = 20.0               # random rotation up to ± this many degrees
    scale: tuple[float, float] = (0.9, 1.1)  # random side multiplier range
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["scale"] = list(self.scale)
        return out


@dataclass(frozen=True)
class PatchResult:
    """A trained universal patch and how it was made (evaluate it with :func:`evaluate_patch`)."""

    model: str
    target: int
    target_name: str
    patch: torch.Tensor                # (C, s, s) in the model's bounds
    image_size: tuple[int, int]        # (H, W) it was trained on
    settings: TrainSettings
    losses: tuple[float, ...]          # mean target cross-entropy of each step's batch
    batch_success: tuple[float, ...]   # fraction of each step's batch classified as the target

    @property
    def area_fraction(self) -> float:
        return self.patch.shape[-1] * self.patch.shape[-2] / (self.image_size[0] * self.image_size[1])

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "universal", "model": self.model, "target": self.target_name, "target_index": self.target,
            "size": self.patch.shape[-1], "area_fraction": self.area_fraction, "image_size": list(self.image_size),
            "settings": self.settings.to_dict(), "final_loss": self.losses[-1] if self.losses else None,
        }


def _eot_paste(batch: torch.Tensor, side: int, settings: TrainSettings, *, exact: bool,
               generator: torch.Generator) -> Callable[[torch.Tensor], torch.Tensor]:
    """One random draw of placements for a batch, as a function patch -> patched batch."""
    n, height, width = batch.shape[0], batch.shape[-2], batch.shape[-1]
    if exact:
        at = random_positions(n, (side, side), (height, width), generator=generator)
        return lambda p: apply_patch(batch, p, at=at)
    center, factor, angle = random_placement(n, side, (height, width), rotate=settings.rotate, scale=settings.scale,
                                             generator=generator)

    def paste(p: torch.Tensor) -> torch.Tensor:
        canvas, mask = place_patch(p, (height, width), center=center, scale=factor, angle=angle)
        return apply_patch(batch, canvas, mask=mask)

    return paste


def train_patch(
    model: Model,
    images: torch.Tensor,
    target: int | str,
    *,
    settings: TrainSettings = TrainSettings(),
    init: torch.Tensor | None = None,
    augment: Augment | None = None,
    generator: torch.Generator | None = None,
    callback: PatchCallback | None = None,
) -> PatchResult:
    """Train a universal patch towards ``target`` by expectation over transformations (optimisation only).

    Each step draws a batch of ``images`` (then ``augment``), pastes the patch into each at a random position,
    scale and rotation (:func:`place_patch`), and moves the patch down the mean target cross-entropy: Adam, or the
    shared targeted FGSM step (``method="sign"``). The patch is clipped to the bounds after every step and is the
    only tensor optimised; the model is frozen.

    Args:
        model: a classifier taking pixel-space input.
        images: training backgrounds (N, C, H, W) in the model's bounds; leave out images of the target class.
        target: label name or index.
        settings: see :class:`TrainSettings`.
        init: a starting patch (C, s, s); default uniform random.
        augment: ``augment(batch, generator)`` applied to each batch before pasting.
        generator: all randomness (batches, placements, init); default seeded with ``settings.seed``.
        callback: ``callback(step, steps, batch_success)`` after each step.

    Returns:
        A :class:`PatchResult`.

    Shape: images (N, C, H, W) -> patch (C, s, s).
    """
    check_images(images)
    if images.shape[0] == 0:
        raise InputError("train_patch needs at least one training image")
    if settings.steps < 1 or settings.batch_size < 1:
        raise InputError(f"steps and batch_size must be ≥ 1; got {settings.steps} and {settings.batch_size}")
    if settings.method not in ("adam", "sign"):
        raise InputError(f"method must be 'adam' or 'sign'; got {settings.method!r}")
    low, high = settings.scale
    if not 0 < low <= high:
        raise InputError(f"scale must be MIN:MAX with 0 < MIN ≤ MAX; got {low:g}:{high:g}")
    index, name = target_index(model, target)
    lo, hi = model_bounds(model)
    n, channels, height, width = images.shape
    side = patch_side(settings.size, (height, width))
    gen = generator if generator is not None else torch.Generator().manual_seed(settings.seed)
    if init is None:
        patch = lo + (hi - lo) * torch.rand((channels, side, side), generator=gen)
    else:
        patch = as_patch(init).detach().clone()
        if tuple(patch.shape) != (channels, side, side):
            raise InputError(f"init must be shaped {(channels, side, side)}; got {tuple(patch.shape)}")
    labels = torch.full((settings.batch_size,), index)
    # Without rotation or scaling, paste at whole-pixel positions exactly as evaluation and `patch apply` do:
    # bilinear placement at fractional positions would blur a small patch's pixel pattern during training.
    exact = settings.rotate == 0 and tuple(settings.scale) == (1.0, 1.0)
    optimiser = torch.optim.Adam([patch], lr=settings.lr) if settings.method == "adam" else None
    losses: list[float] = []
    success: list[float] = []
    with frozen(model):
        for k in range(settings.steps):
            batch = images[torch.randint(0, n, (settings.batch_size,), generator=gen)]
            if augment is not None:
                batch = augment(batch, gen)
            paste = _eot_paste(batch, side, settings, exact=exact, generator=gen)
            outputs: list[torch.Tensor] = []

            def patched_logits(p: torch.Tensor, paste: Callable[[torch.Tensor], torch.Tensor] = paste,
                               outputs: list[torch.Tensor] = outputs) -> torch.Tensor:
                logits = model(paste(p))
                outputs.append(logits.detach())  # the batch's verdicts come free with the gradient
                return logits

            grad = input_gradient(patched_logits, patch, labels, cross_entropy)
            if optimiser is not None:
                patch.grad = grad
                optimiser.step()
                with torch.no_grad():
                    patch.clamp_(lo, hi)
            else:
                patch = step(patch, grad, settings.lr, norm="linf", targeted=True).clamp(lo, hi)
            logits = outputs[-1]
            losses.append(float(F.cross_entropy(logits, labels)))
            success.append(float((logits.argmax(1) == index).float().mean()))
            if callback is not None:
                callback(k + 1, settings.steps, success[-1])
    return PatchResult(
        model=str(getattr(model, "name", "model")), target=index, target_name=name, patch=patch.detach().clone(),
        image_size=(height, width), settings=settings, losses=tuple(losses), batch_success=tuple(success),
    )


@dataclass(frozen=True)
class UniversalPatch:
    """A trained patch and its measurement on held-out images, made with its 8-bit (saved) version."""

    result: PatchResult
    evaluation: PatchEvaluation
    quantized: torch.Tensor            # what the saved PNG holds, (C, s, s)

    def to_dict(self) -> dict[str, Any]:
        return {**self.result.to_dict(), "evaluation": self.evaluation.to_dict()}


def universal_patch(
    model: Model,
    images: torch.Tensor,
    target: int | str,
    *,
    test_images: torch.Tensor,
    test_labels: torch.Tensor | None = None,
    settings: TrainSettings = TrainSettings(),
    augment: Augment | None = None,
    callback: PatchCallback | None = None,
) -> UniversalPatch:
    """:func:`train_patch`, then :func:`evaluate_patch` of the 8-bit patch at random positions on ``test_images``
    (both seeded with ``settings.seed``): what ``camo patch train`` runs.
    """
    result = train_patch(model, images, target, settings=settings, augment=augment, callback=callback,
                         generator=torch.Generator().manual_seed(settings.seed))
    lo, hi = model_bounds(model)
    saved = quantize(result.patch) if (lo, hi) == (0.0, 1.0) else result.patch
    # Positions from a fresh generator seeded like ``camo patch eval --seed``: the two commands give the same number.
    evaluation = evaluate_patch(model, saved, test_images, result.target, labels=test_labels, placement="random",
                                generator=torch.Generator().manual_seed(settings.seed))
    return UniversalPatch(result=result, evaluation=evaluation, quantized=saved)
