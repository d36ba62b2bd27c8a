"""Where a patch goes: pasting exactly or differentiably, placements, sizes. Pure functions, no model.

:func:`apply_patch` copies pixels at whole-pixel positions (what evaluation and ``camo patch apply`` do) or blends an
image-sized canvas through a mask; :func:`place_patch` makes such a canvas for a moved, scaled and rotated patch
(bilinear, differentiable: what training by expectation over transformations needs). :func:`side_for_view`,
:func:`view_region` and :func:`patch_in_view` relate an image's own pixels to a model's resized, centre-cropped view
of it (:func:`camo.images.model_view`), so that a patch made in that view can go into a full-resolution photo.

Shape conventions: images (N, C, H, W) in the model's bounds; a patch (C, h, w) (a leading batch axis of 1 is
accepted); positions (x, y) = (column, row) of the patch's top-left pixel, as the CLI's ``--at X,Y``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from camo.errors import InputError
from camo.images import fitted_size

#: Where a patch's top-left pixel goes: one (x, y) for every image, or an (N, 2) integer tensor of one per image.
Position = tuple[int, int] | torch.Tensor


def as_patch(patch: torch.Tensor) -> torch.Tensor:
    """A patch as (C, h, w); accepts (1, C, h, w).

    Raises:
        InputError: not a tensor, or another shape.
    """
    if not isinstance(patch, torch.Tensor):
        raise InputError(f"patch must be a torch.Tensor; got {type(patch).__name__}")
    if patch.dim() == 4 and patch.shape[0] == 1:
        patch = patch[0]
    if patch.dim() != 3:
        raise InputError(f"a patch must be shaped (C, h, w) or (1, C, h, w); got {tuple(patch.shape)}")
    return patch


def check_images(x: torch.Tensor) -> None:
    """Raise :class:`InputError` unless ``x`` is a float batch of images (N, C, H, W)."""
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
    check_images(x)
    if at is not None and mask is not None:
        raise InputError("give exactly one of at=(x, y) or mask=... to apply_patch, not both")
    n, channels, height, width = x.shape
    if mask is not None:
        canvas = patch if patch.dim() == 4 else as_patch(patch).unsqueeze(0)
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
        small = _match_channels(as_patch(patch), channels)
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


def resize_patch(patch: torch.Tensor, scale: float = 1.0, *, size: tuple[int, int] | None = None) -> torch.Tensor:
    """A patch resized by ``scale``, or to exactly ``size`` = (h, w) (bilinear, antialiased when shrinking); the
    same size returns it unchanged.

    Shape: (C, h, w) -> (C, round(h·scale), round(w·scale)), or (C, *size).
    """
    patch = as_patch(patch)
    if not scale > 0 or not math.isfinite(scale):
        raise InputError(f"patch scale must be a positive number; got {scale}")
    h, w = patch.shape[-2:]
    if size is None:
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
    elif min(size) < 1:
        raise InputError(f"a patch needs at least one pixel each way; got size {size}")
    if tuple(size) == (h, w):
        return patch
    shrinking = size[0] < h or size[1] < w
    out = F.interpolate(patch.unsqueeze(0), size=size, mode="bilinear", align_corners=False, antialias=shrinking)
    return out[0]


def side_for_view(patch_size: tuple[int, int], image_size: tuple[int, int], view_size: tuple[int, int], *,
                  scale: float = 1.0) -> tuple[int, int]:
    """The (h, w) in an image's own pixels that a patch made at ``patch_size`` pixels of a model's view must have to
    cover the same share of that view (times ``scale``) once the image is resized and centre-cropped to
    ``view_size`` (:func:`camo.images.model_view`). Never below one pixel.

    Raises:
        InputError: a scale that is not a positive number.
    """
    if not scale > 0 or not math.isfinite(scale):
        raise InputError(f"patch scale must be a positive number; got {scale}")
    (h, w), (height, width) = patch_size, image_size
    resized_h, resized_w = fitted_size(height, width, view_size)
    return max(1, round(h * scale * height / resized_h)), max(1, round(w * scale * width / resized_w))


@dataclass(frozen=True)
class ViewFit:
    """How a patch pasted into an image lands in a model's resized, centre-cropped view of that image."""

    size: tuple[float, float]   # (h, w) of the patch in the view's pixels
    visible: float              # share of the patch's area inside the centre crop the model sees, in [0, 1]


def view_region(image_size: tuple[int, int], view_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The part of an image that a model's centre crop to ``view_size`` keeps, in the image's own whole pixels:
    (top, left, height, width), rounded inwards."""
    height, width = image_size
    resized_h, resized_w = fitted_size(height, width, view_size)
    ry, rx = resized_h / height, resized_w / width
    top, left = (resized_h - view_size[0]) // 2, (resized_w - view_size[1]) // 2
    y0, x0 = math.ceil(top / ry - 1e-9), math.ceil(left / rx - 1e-9)
    y1 = min(height, math.floor((top + view_size[0]) / ry + 1e-9))
    x1 = min(width, math.floor((left + view_size[1]) / rx + 1e-9))
    return y0, x0, y1 - y0, x1 - x0


def patch_in_view(patch_size: tuple[int, int], at: tuple[int, int], image_size: tuple[int, int],
                  view_size: tuple[int, int]) -> ViewFit:
    """Where a (h, w) patch with its top-left pixel at ``at`` = (x, y) of an image lands in the model's view of it:
    its size in view pixels and how much of it the centre crop keeps."""
    (h, w), (height, width) = patch_size, image_size
    resized_h, resized_w = fitted_size(height, width, view_size)
    ry, rx = resized_h / height, resized_w / width
    top, left = (resized_h - view_size[0]) // 2, (resized_w - view_size[1]) // 2

    def inside(start: float, length: float, limit: int) -> float:
        return max(0.0, min(start + length, limit) - max(start, 0.0))

    size_h, size_w = h * ry, w * rx
    shown = inside(at[1] * ry - top, size_h, view_size[0]) * inside(at[0] * rx - left, size_w, view_size[1])
    return ViewFit(size=(size_h, size_w), visible=shown / (size_h * size_w))


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
    patch = as_patch(patch)
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
