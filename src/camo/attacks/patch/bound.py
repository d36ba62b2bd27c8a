"""How well *any* universal patch of a size could do: patches made for each image alone, as an upper bound.

A universal patch is one patch for all images, so it can at best match what patches made per image reach at the
same size and positions; their success estimates that bound (an estimate: the optimiser may miss).
"""

from __future__ import annotations

import torch

from camo.attacks.core import Model, cross_entropy, frozen, input_gradient, model_bounds, step
from camo.attacks.patch.common import predicted_labels, target_index
from camo.attacks.patch.geometry import apply_patch, check_images, random_positions
from camo.errors import InputError
from camo.images import quantize


def per_image_patches(
    model: Model,
    x: torch.Tensor,
    target: int | str,
    *,
    side: int,
    at: torch.Tensor,
    steps: int = 200,
    step_size: float = 0.25,
    final_step_size: float = 1 / 255,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One patch per image, each optimised for its own image at its own position. A universal patch is one patch
    for all images, so it can at best match what patches made per image reach: their success estimates an upper
    bound on any universal patch's at the same size and positions (an estimate, as the optimiser may miss).

    Every step is the shared targeted FGSM step (:func:`camo.attacks.core.step`) on all patches at once, the step
    size decaying geometrically from ``step_size`` to ``final_step_size``; patches start uniform random.

    Args:
        model: a classifier taking pixel-space input.
        x: images (N, C, H, W) in the model's bounds.
        target: label name or index.
        side: the patches' side in pixels.
        at: (N, 2) integer (x, y) top-left positions, e.g. from :func:`random_positions`.
        steps, step_size, final_step_size: the schedule.
        generator: for the random start.

    Returns:
        The patches, (N, C, side, side); paste them with ``apply_patch(x, patches, at=at)``.
    """
    check_images(x)
    if steps < 1 or not 0 < final_step_size <= step_size:
        raise InputError(f"need steps ≥ 1 and 0 < final_step_size ≤ step_size; got {steps}, {final_step_size:g}, "
                         f"{step_size:g}")
    index, _ = target_index(model, target)
    lo, hi = model_bounds(model)
    n, channels = x.shape[:2]
    patches = lo + (hi - lo) * torch.rand((n, channels, side, side), generator=generator)
    labels = torch.full((n,), index)
    decay = (final_step_size / step_size) ** (1 / max(steps - 1, 1))
    with frozen(model):
        for k in range(steps):
            grad = input_gradient(lambda p: model(apply_patch(x, p, at=at)), patches, labels, cross_entropy)
            patches = step(patches, grad, step_size * decay**k, norm="linf", targeted=True).clamp(lo, hi)
    return patches.detach()


def patch_bound(
    model: Model,
    images: torch.Tensor,
    target: int | str,
    *,
    side: int,
    labels: torch.Tensor | None = None,
    count: int = 200,
    steps: int = 200,
    seed: int = 0,
) -> tuple[float, int]:
    """How often a patch of this side *made for each image alone*, at a random position, reaches the target.

    Runs :func:`per_image_patches` on the first ``count`` images not of the target (by ``labels``, else the model's
    predictions), quantises the patches to 8 bits when the bounds are [0, 1], and classifies. A universal patch
    of the same side at random positions can at best match per-image patches, so this estimates whether a
    success rate is reachable at that size at all.

    Returns:
        (targeted success, number of images used).
    """
    check_images(images)
    index, _ = target_index(model, target)
    if labels is None:
        labels = predicted_labels(model, images)
    x = images[labels != index][:count]
    if len(x) == 0:
        raise InputError("patch_bound needs at least one image not of the target class")
    generator = torch.Generator().manual_seed(seed)
    at = random_positions(len(x), (side, side), (int(x.shape[-2]), int(x.shape[-1])), generator=generator)
    patches = per_image_patches(model, x, index, side=side, at=at, steps=steps, generator=generator)
    if model_bounds(model) == (0.0, 1.0):
        patches = quantize(patches)
    with torch.no_grad(), frozen(model):
        return float((model(apply_patch(x, patches, at=at)).argmax(1) == index).float().mean()), len(x)
