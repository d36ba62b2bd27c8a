"""Training backgrounds for patches: photos bundled with installed packages, random crops, flips and jitter."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from camo.errors import InputError


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
    """Random horizontal flips and brightness/contrast/saturation jitter of ± ``strength``.

    An :data:`~camo.attacks.patch.train.Augment` for :func:`~camo.attacks.patch.train.train_patch`.
    """
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
