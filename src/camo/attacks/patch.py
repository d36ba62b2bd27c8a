"""Adversarial patches: grown from a black image with targeted FGSM, or trained to work anywhere in any image.

Two ways to make a patch:

* :func:`grow_patch` is the seed's "adversarial block": start from a black image and repeat the *targeted* FGSM step
  (the seeds' negative ε) on the patch pixels only, until the classifier sees the target.
* :func:`train_patch` is a universal patch (Brown, Mané, Roy, Abadi, Gilmer 2017, "Adversarial Patch"): the expected
  target loss over many images and random placements, scales and rotations ("expectation over transformations") is
  descended by a sign-gradient or Adam update of the patch, the only optimised tensor.

Geometry, optimisation and evaluation stay apart: :func:`apply_patch` and :func:`place_patch` are pure and
differentiable; :func:`evaluate_patch` measures; figures live in :mod:`camo.analysis.patch_figures`.

Shape conventions: images (N, C, H, W) in the model's bounds; a patch (C, h, w) (a leading batch axis of 1 is
accepted); positions (x, y) = (column, row) of the patch's top-left pixel, as the CLI's ``--at X,Y``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from camo.attacks.core import Model, cross_entropy, frozen, input_gradient, model_bounds, step
from camo.errors import InputError, LabelError
from camo.images import quantize

#: Called after each step with (step number from 1, steps, p(target) or batch success so far).
PatchCallback = Callable[[int, int, float], None]

#: Maps a batch of background images to an augmented batch (crops, flips, colour jitter), drawing from the generator.
Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]

Placement = Literal["random", "center", "corner"]
Position = tuple[int, int] | torch.Tensor


# --------------------------------------------------------------------------------------------------- geometry


def _as_patch(patch: torch.Tensor) -> torch.Tensor:
    """A patch as (C, h, w); accepts (1, C, h, w)."""
    if not isinstance(patch, torch.Tensor):
        raise InputError(f"patch must be a torch.Tensor; got {type(patch).__name__}")
    if patch.dim() == 4 and patch.shape[0] == 1:
        patch = patch[0]
    if patch.dim() != 3:
        raise InputError(f"a patch must be shaped (C, h, w) or (1, C, h, w); got {tuple(patch.shape)}")
    return patch


def _check_images(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor):
        raise InputError(f"x must be a torch.Tensor; got {type(x).__name__}")
    if x.dim() != 4 or not x.is_floating_point():
        raise InputError(f"x must be a float batch shaped (N, C, H, W); got {x.dtype} {tuple(x.shape)}")


def _match_channels(patch: torch.Tensor, channels: int) -> torch.Tensor:
    """A grey patch on colour images is repeated into every channel; anything else must match exactly."""
    if patch.shape[0] == channels:
        return patch
    if patch.shape[0] == 1:
        return patch.expand(channels, *patch.shape[1:])
    raise InputError(f"the patch has {patch.shape[0]} channels but the images have {channels}")


def apply_patch(
    x: torch.Tensor,
    patch: torch.Tensor,
    *,
    at: Position | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Paste a patch into images: pure (x is not changed) and differentiable with respect to x and the patch.

    Give exactly one of:

    * ``at``: the (x, y) pixel of the patch's top-left corner, the same for every image, or an (N, 2) integer tensor
      of one position per image. Pixels are copied exactly (no resampling), so a saved 8-bit patch pastes the same
      values as its quantised tensor. The patch is one (C, h, w) for every image, or (N, C, h, w): one per image.
    * ``mask``: the patch is already an image-sized canvas (C, H, W) or (N, C, H, W) and ``mask`` (H, W),
      (1, H, W) or (N, 1, H, W) in [0, 1] says where it covers: ``x·(1 − mask) + patch·mask`` (see
      :func:`place_patch` for rotated and scaled placements).

    Returns:
        The patched images. Shape: (N, C, H, W).

    Raises:
        InputError: neither or both of ``at`` and ``mask``, a patch that does not fit at the position, or shapes
            that do not match.
    """
    _check_images(x)
    if at is not None and mask is not None:
        raise InputError("give exactly one of at=(x, y) or mask=... to apply_patch, not both")
    n, channels, height, width = x.shape
    if mask is not None:
        canvas = patch if patch.dim() == 4 else _as_patch(patch).unsqueeze(0)
        if tuple(canvas.shape[-2:]) != (height, width):
            raise InputError(f"with mask=, the patch must be an image-sized canvas {height}×{width}; got "
                             f"{tuple(canvas.shape[-2:])} (use at=(x, y) to paste a small patch)")
        if canvas.shape[1] != channels:
            if canvas.shape[1] != 1:
                raise InputError(f"the patch has {canvas.shape[1]} channels but the images have {channels}")
            canvas = canvas.expand(-1, channels, -1, -1)
        weight = mask.reshape(-1, 1, height, width) if mask.dim() <= 3 else mask
        if weight.shape[0] not in (1, n) or weight.shape[1] != 1 or canvas.shape[0] not in (1, n):
            raise InputError(f"mask must be (H, W), (1, H, W) or (N, 1, H, W) and the canvas (C, H, W) or "
                             f"(N, C, H, W), N = {n}; got {tuple(mask.shape)} and {tuple(canvas.shape)}")
        return x * (1 - weight) + canvas * weight
    if at is None:
        raise InputError("give exactly one of at=(x, y) or mask=... to apply_patch")
    per_image = patch.dim() == 4 and patch.shape[0] == n and n > 1
    if per_image:
        if patch.shape[1] not in (1, channels):
            raise InputError(f"the patches have {patch.shape[1]} channels but the images have {channels}")
        small = patch.expand(-1, channels, -1, -1)
    else:
        small = _match_channels(_as_patch(patch), channels)
    h, w = small.shape[-2:]
    if h > height or w > width:
        raise InputError(f"a {w}×{h} patch does not fit a {width}×{height} image at any position; shrink it")
    positions = _positions(at, n)
    if n == 0:
        return x.clone()
    left, top = positions[:, 0], positions[:, 1]
    worst = torch.stack([left.min(), top.min(), (left + w).max() - width, (top + h).max() - height])
    if bool((worst[:2] < 0).any()) or bool((worst[2:] > 0).any()):
        bad = next(i for i in range(n) if not (0 <= left[i] <= width - w and 0 <= top[i] <= height - h))
        raise InputError(f"a {w}×{h} patch at (x, y) = ({int(left[bad])}, {int(top[bad])}) does not fit in a "
                         f"{width}×{height} image (x must be in 0..{width - w}, y in 0..{height - h})")
    # Index arithmetic instead of a Python loop: row r of image i reads patch row r − top_i where that is inside.
    rows = torch.arange(height, device=x.device).view(1, height) - top.view(n, 1).to(x.device)
    cols = torch.arange(width, device=x.device).view(1, width) - left.view(n, 1).to(x.device)
    inside_r, inside_c = (rows >= 0) & (rows < h), (cols >= 0) & (cols < w)
    row_index, col_index = rows.clamp(0, h - 1)[:, :, None], cols.clamp(0, w - 1)[:, None, :]
    if per_image:
        # Image i reads its own patch: (N, H, W, C) from the advanced indices, then channels first.
        image_index = torch.arange(n, device=x.device).view(n, 1, 1)
        canvas = small[image_index, :, row_index, col_index].permute(0, 3, 1, 2)
    else:
        canvas = small[:, row_index, col_index].transpose(0, 1)
    covered = (inside_r[:, :, None] & inside_c[:, None, :]).unsqueeze(1)
    return torch.where(covered, canvas.to(x.dtype), x)


def _positions(at: Position, n: int) -> torch.Tensor:
    if isinstance(at, torch.Tensor):
        if at.shape != (n, 2) or at.is_floating_point():
            raise InputError(f"at must be an integer (N, 2) tensor of (x, y) positions, N = {n}; got "
                             f"{at.dtype} {tuple(at.shape)}")
        return at.long().cpu()
    if len(at) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in at):
        raise InputError(f"at must be (x, y) in whole pixels; got {at!r}")
    return torch.tensor([at], dtype=torch.long).expand(n, 2)


def patch_side(size: float, image_size: tuple[int, int]) -> int:
    """The side in pixels of a square patch covering at most ``size`` of the image area (a fraction in (0, 1)),
    or exactly ``size`` pixels when ``size`` ≥ 1.

    Raises:
        InputError: a size that gives no pixel or does not fit.
    """
    height, width = image_size
    if not size > 0 or not math.isfinite(size):
        raise InputError(f"patch size must be a fraction of the image area in (0, 1) or a side in pixels; got {size}")
    side = int(size) if size >= 1 else math.floor(math.sqrt(size * height * width) + 1e-9)
    if side < 1 or side > min(height, width):
        raise InputError(f"patch size {size:g} gives a {side}-pixel side, which does not fit a {width}×{height} image")
    return side


def resize_patch(patch: torch.Tensor, scale: float) -> torch.Tensor:
    """A patch resized by ``scale`` (antialiased when shrinking); scale 1 returns it unchanged.

    Shape: (C, h, w) -> (C, round(h·scale), round(w·scale)).
    """
    patch = _as_patch(patch)
    if not scale > 0 or not math.isfinite(scale):
        raise InputError(f"patch scale must be a positive number; got {scale}")
    if scale == 1:
        return patch
    h, w = patch.shape[-2:]
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    out = F.interpolate(patch.unsqueeze(0), size=size, mode="bilinear", align_corners=False, antialias=scale < 1)
    return out[0]


def random_positions(
    n: int, patch_size: tuple[int, int], image_size: tuple[int, int], *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Uniformly random (x, y) top-left positions where a (h, w) patch lies wholly inside the image.

    Shape: (n, 2) int64.
    """
    (h, w), (height, width) = patch_size, image_size
    if h > height or w > width:
        raise InputError(f"a {w}×{h} patch does not fit a {width}×{height} image")
    xs = torch.randint(0, width - w + 1, (n,), generator=generator)
    ys = torch.randint(0, height - h + 1, (n,), generator=generator)
    return torch.stack([xs, ys], dim=1)


def place_patch(
    patch: torch.Tensor,
    image_size: tuple[int, int],
    *,
    center: torch.Tensor,
    scale: torch.Tensor,
    angle: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Image-sized canvases and masks of a patch moved, scaled and rotated, differentiably (bilinear resampling).

    Args:
        patch: (C, h, w).
        image_size: (H, W) of the images it will go on.
        center: (N, 2) float (x, y) pixel position of the patch centre in each image.
        scale: (N,) side multipliers (1 = the patch's own size in pixels).
        angle: (N,) rotations in degrees.

    Returns:
        (canvas, mask) for ``apply_patch(x, canvas, mask=mask)``. Shape: (N, C, H, W) and (N, 1, H, W).
    """
    patch = _as_patch(patch)
    height, width = image_size
    h, w = patch.shape[-2:]
    n = center.shape[0]
    radians = angle.to(patch.dtype) * (math.pi / 180)
    cos, sin = torch.cos(radians), torch.sin(radians)
    # Output pixel p (continuous coordinates) maps to patch pixel R(−angle)·(p − centre) / scale, measured from the
    # patch centre; both written in grid_sample's normalised coordinates (align_corners=False).
    ax = width / 2 - center[:, 0]
    ay = height / 2 - center[:, 1]
    half_w, half_h = scale * w / 2, scale * h / 2
    theta = torch.stack([
        torch.stack([cos * (width / 2) / half_w, sin * (height / 2) / half_w, (cos * ax + sin * ay) / half_w], 1),
        torch.stack([-sin * (width / 2) / half_h, cos * (height / 2) / half_h, (-sin * ax + cos * ay) / half_h], 1),
    ], dim=1).to(patch.dtype)
    grid = F.affine_grid(theta, [n, 1, height, width], align_corners=False)
    source = torch.cat([patch, torch.ones_like(patch[:1])], dim=0).unsqueeze(0).expand(n, -1, -1, -1)
    sampled = F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    mask = sampled[:, -1:]
    # Where the mask is fractional (edges) the colour was blended with zeros; divide it back out (the
    # colour is at most mask·max, so the ratio stays in range).
    canvas = sampled[:, :-1] / mask.clamp_min(1e-6)
    return canvas, mask


def random_placement(
    n: int,
    side: int,
    image_size: tuple[int, int],
    *,
    rotate: float,
    scale: tuple[float, float],
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random (center, scale, angle) for :func:`place_patch`: the scaled patch lies inside the image.

    Shape: (n, 2), (n,), (n,).
    """
    height, width = image_size
    low, high = scale
    factor = low + (high - low) * torch.rand(n, generator=generator)
    half = (factor * side / 2).clamp(max=min(height, width) / 2)
    cx = half + torch.rand(n, generator=generator) * (width - 2 * half)
    cy = half + torch.rand(n, generator=generator) * (height - 2 * half)
    angle = (torch.rand(n, generator=generator) * 2 - 1) * rotate
    return torch.stack([cx, cy], dim=1), factor, angle


# --------------------------------------------------------------------------------------------------- grow


@dataclass(frozen=True)
class GrowResult:
    """A patch grown from black towards a target, with its history (for the GIF).

    ``image`` is what the model saw: the black input with the patch in it. ``probability`` is p(target) for the
    8-bit (quantised) image, the one a saved PNG gives.
    """

    model: str
    target: int
    target_name: str
    patch: torch.Tensor            # (C, s, s) in the model's bounds
    image: torch.Tensor            # (C, H, W): black with the patch at ``at``
    at: tuple[int, int]            # (x, y) of the patch's top-left pixel
    probability: float             # p(target) of the quantised image
    probabilities: tuple[float, ...]  # p(target) after each step (float image)
    frames: tuple[torch.Tensor, ...]  # the image after each step, (C, H, W)
    steps: int
    step_size: float               # first step, pixel units
    final_step_size: float         # last step, pixel units (geometric decay in between)

    def to_dict(self) -> dict[str, Any]:
        side = self.patch.shape[-1]
        return {
            "kind": "grown", "model": self.model, "target": self.target_name, "target_index": self.target,
            "size": side, "area_fraction": side * side / (self.image.shape[-1] * self.image.shape[-2]),
            "at": list(self.at), "p_target": self.probability, "steps_run": len(self.probabilities),
            "settings": {"steps": self.steps, "step_size": self.step_size, "final_step_size": self.final_step_size},
            "p_target_history": list(self.probabilities),
        }


def _target_index(model: Model, target: int | str) -> tuple[int, str]:
    label_index = getattr(model, "label_index", None)
    if label_index is not None:
        index = int(label_index(target))
        return index, str(model.label_name(index))  # type: ignore[attr-defined]
    if isinstance(target, int) or (isinstance(target, str) and target.strip().isdigit()):
        return int(target), str(int(target))
    raise LabelError(f"this model has no class names; give the target as a class number, not {target!r}")


def _input_shape(model: Model, image_size: tuple[int, int] | None, channels: int | None) -> tuple[int, int, int]:
    size = image_size if image_size is not None else getattr(model, "input_size", None)
    if size is None:
        raise InputError("the model declares no input size; pass image_size=(H, W)")
    count = channels if channels is not None else int(getattr(model, "channels", 3))
    return count, int(size[0]), int(size[1])


def grow_patch(
    model: Model,
    target: int | str,
    *,
    size: int | None = None,
    at: tuple[int, int] | None = None,
    steps: int = 40,
    step_size: float = 16 / 255,
    final_step_size: float = 1 / 255,
    stop_at: float | None = None,
    image_size: tuple[int, int] | None = None,
    channels: int | None = None,
    callback: PatchCallback | None = None,
) -> GrowResult:
    """Grow a patch from a black image with repeated targeted FGSM steps, the seed's "adversarial block".

    Each step is the shared one (:func:`camo.attacks.core.step` with ``targeted=True``) applied to the patch
    pixels alone: x ← clip(x − α_k·sign(∇ J(x, target))). The step size decays geometrically from ``step_size``
    to ``final_step_size``: large steps to leave black quickly, small ones to settle.

    Args:
        model: a classifier (pixel-space input; its ``input_size`` and ``channels`` give the image shape).
        target: label name or index to grow towards.
        size: side in pixels of the square that may change (None: the largest centred square, the whole image
            when it is square).
        at: (x, y) of that square's top-left pixel; default centred.
        steps: number of FGSM steps (one GIF frame each).
        step_size, final_step_size: first and last step sizes in pixel units.
        stop_at: stop once p(target) of the 8-bit image reaches this (None: run every step).
        image_size, channels: the input shape, for models that do not declare it.
        callback: ``callback(step, steps, p_target)`` after each step.

    Returns:
        A :class:`GrowResult`.

    Shape: the patch is (C, size, size); the image (C, H, W).

    Raises:
        InputError: bad size, position or step settings. LabelError: unknown target.
    """
    index, name = _target_index(model, target)
    channels, height, width = _input_shape(model, image_size, channels)
    side = min(height, width) if size is None else int(size)
    if not 1 <= side <= min(height, width):
        raise InputError(f"size must be a side in pixels in 1..{min(height, width)}; got {size}")
    if steps < 1:
        raise InputError(f"steps must be ≥ 1; got {steps}")
    if not 0 < final_step_size <= step_size:
        raise InputError(f"need 0 < final_step_size ≤ step_size; got {final_step_size:g} and {step_size:g}")
    where = at if at is not None else ((width - side) // 2, (height - side) // 2)
    lo, hi = model_bounds(model)
    background = torch.full((1, channels, height, width), lo)
    patch = torch.full((channels, side, side), lo)
    labels = torch.tensor([index])
    decay = (final_step_size / step_size) ** (1 / max(steps - 1, 1))
    probabilities: list[float] = []
    frames: list[torch.Tensor] = []

    def paste(p: torch.Tensor) -> torch.Tensor:
        return apply_patch(background, p.unsqueeze(0) if p.dim() == 3 else p, at=where)

    def target_probability(image: torch.Tensor) -> float:
        with torch.no_grad():
            return float(torch.softmax(model(image), dim=1)[0, index])

    with frozen(model):
        for k in range(steps):
            # The model sees the whole image; the gradient is taken with respect to the patch pixels only.
            grad = input_gradient(lambda p: model(paste(p)), patch.unsqueeze(0), labels, cross_entropy)[0]
            patch = step(patch, grad, step_size * decay**k, norm="linf", targeted=True).clamp(lo, hi)
            image = paste(patch)
            probabilities.append(target_probability(image))
            frames.append(image[0])
            if callback is not None:
                callback(k + 1, steps, probabilities[-1])
            if stop_at is not None and target_probability(quantize(image)) >= stop_at:
                break
        final = quantize(paste(patch)) if (lo, hi) == (0.0, 1.0) else paste(patch)
        probability = target_probability(final)
    return GrowResult(
        model=str(getattr(model, "name", "model")), target=index, target_name=name, patch=patch.detach(),
        image=paste(patch)[0].detach(), at=(int(where[0]), int(where[1])), probability=probability,
        probabilities=tuple(probabilities), frames=tuple(frames), steps=steps, step_size=step_size,
        final_step_size=final_step_size,
    )


def _predicted_labels(model: Model, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """The model's class for every image, in batches. Shape: (N, C, H, W) -> (N,)."""
    with torch.no_grad(), frozen(model):
        return torch.cat([model(images[i : i + batch_size]).argmax(1) for i in range(0, len(images), batch_size)])


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
    _check_images(x)
    if steps < 1 or not 0 < final_step_size <= step_size:
        raise InputError(f"need steps ≥ 1 and 0 < final_step_size ≤ step_size; got {steps}, {final_step_size:g}, "
                         f"{step_size:g}")
    index, _ = _target_index(model, target)
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
    _check_images(images)
    index, _ = _target_index(model, target)
    if labels is None:
        labels = _predicted_labels(model, images)
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


# --------------------------------------------------------------------------------------------------- train


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
    _check_images(images)
    if images.shape[0] == 0:
        raise InputError("train_patch needs at least one training image")
    if settings.steps < 1 or settings.batch_size < 1:
        raise InputError(f"steps and batch_size must be ≥ 1; got {settings.steps} and {settings.batch_size}")
    if settings.method not in ("adam", "sign"):
        raise InputError(f"method must be 'adam' or 'sign'; got {settings.method!r}")
    low, high = settings.scale
    if not 0 < low <= high:
        raise InputError(f"scale must be MIN:MAX with 0 < MIN ≤ MAX; got {low:g}:{high:g}")
    index, name = _target_index(model, target)
    lo, hi = model_bounds(model)
    n, channels, height, width = images.shape
    side = patch_side(settings.size, (height, width))
    gen = generator if generator is not None else torch.Generator().manual_seed(settings.seed)
    if init is None:
        patch = lo + (hi - lo) * torch.rand((channels, side, side), generator=gen)
    else:
        patch = _as_patch(init).detach().clone()
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


# --------------------------------------------------------------------------------------------------- evaluate


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
    _check_images(images)
    index, name = _target_index(model, target)
    small = resize_patch(patch, scale)
    height, width = images.shape[-2:]
    if labels is None:
        labels = _predicted_labels(model, images, batch_size)
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
    side = _as_patch(patch).shape[-1]
    grid = [(s, p) for s in scales for p in placements if round(side * s) <= min(height, width)]
    if not grid:
        raise InputError(f"no scale in {list(scales)} fits a {side}-pixel patch into {width}×{height} images")
    if labels is None:
        labels = _predicted_labels(model, images)  # once, rather than once per cell of the grid
    results = []
    for k, (s, p) in enumerate(grid):
        results.append(evaluate_patch(model, patch, images, target, labels=labels, placement=p, scale=s,
                                      generator=torch.Generator().manual_seed(seed)))
        if callback is not None:
            callback(k + 1, len(grid), results[-1].targeted_success)
    return PatchReport(tuple(results))


# --------------------------------------------------------------------------------------------------- data


def photo_crops(
    photos: Sequence[torch.Tensor],
    count: int,
    size: tuple[int, int],
    *,
    generator: torch.Generator,
    min_area: float = 0.25,
) -> torch.Tensor:
    """Random resized crops (area ``min_area``..1 of each photo, aspect 3:4..4:3) resized to ``size``.

    Shape: photos are (1, C, H, W) or (C, H, W) each -> (count, C, size[0], size[1]).
    """
    if not photos:
        raise InputError("photo_crops needs at least one photo")
    out = []
    for k in range(count):
        photo = photos[k % len(photos)]
        photo = photo[0] if photo.dim() == 4 else photo
        height, width = photo.shape[-2:]
        area = height * width * (min_area + (1 - min_area) * float(torch.rand((), generator=generator)))
        aspect = math.exp(math.log(3 / 4) + math.log(16 / 9) * float(torch.rand((), generator=generator)))
        crop_w = min(width, max(8, round(math.sqrt(area * aspect))))
        crop_h = min(height, max(8, round(math.sqrt(area / aspect))))
        top = int(torch.randint(0, height - crop_h + 1, (), generator=generator))
        left = int(torch.randint(0, width - crop_w + 1, (), generator=generator))
        crop = photo[:, top : top + crop_h, left : left + crop_w].unsqueeze(0)
        out.append(F.interpolate(crop, size=size, mode="bilinear", align_corners=False, antialias=True)[0])
    return torch.stack(out).clamp(0, 1)


def flip_and_jitter(batch: torch.Tensor, generator: torch.Generator, *, strength: float = 0.2) -> torch.Tensor:
    """Random horizontal flips and brightness/contrast/saturation jitter of ± ``strength``: an :data:`Augment`."""
    n = batch.shape[0]
    flip = torch.rand(n, generator=generator) < 0.5
    out = torch.where(flip.view(n, 1, 1, 1), batch.flip(-1), batch)

    def factors() -> torch.Tensor:
        return (1 + (torch.rand(n, generator=generator) * 2 - 1) * strength).view(n, 1, 1, 1)

    out = out * factors()
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out - mean) * factors() + mean
    if out.shape[1] == 3:
        grey = out.mean(dim=1, keepdim=True)
        out = (out - grey) * factors() + grey
    return out.clamp(0, 1)


def bundled_photos() -> list[tuple[str, torch.Tensor]]:
    """Photos that ship inside installed packages (scikit-image, matplotlib), as (name, (1, 3, H, W) in [0, 1]).

    None of them is in ImageNet's validation samples; they make an offline training set for ImageNet patches.
    """
    import numpy as np
    from skimage import data

    names = ["astronaut", "chelsea", "coffee", "rocket", "camera", "immunohistochemistry", "hubble_deep_field",
             "retina", "colorwheel", "brick", "grass", "gravel", "coins", "moon", "clock", "page", "text", "cell"]
    photos = []
    for photo_name in names:
        arr = np.asarray(getattr(data, photo_name)())
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=2)
        photos.append((photo_name, torch.from_numpy(arr[..., :3].astype(np.float32) / 255).permute(2, 0, 1)[None]))
    from matplotlib import cbook

    from camo.images import load

    photos.append(("grace_hopper", load(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))))
    return photos


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
