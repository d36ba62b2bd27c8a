"""Making clips: a slow pan and zoom over a photo, and frames encoded as an MP4 (how bench and demo clips are made)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from camo.errors import InputError
from camo.video.encode import Mp4Writer


def pan_zoom_frames(
    photo: np.ndarray, *, frames: int, size: tuple[int, int] = (240, 320), zoom: float = 1.4, shake: float = 0.0,
    noise: float = 0.0, seed: int = 0,
) -> Iterator[np.ndarray]:
    """A slow pan and zoom over a photo: a real video once encoded. ``shake`` (pixels) and ``noise`` (grey levels,
    Gaussian σ) make it camera-like.

    Shape: photo (H, W, 3) uint8 -> frames (size[0], size[1], 3) uint8.
    """
    rng = np.random.default_rng(seed)
    img = Image.fromarray(photo)
    height, width = photo.shape[:2]
    aspect = size[1] / size[0]
    for i in range(frames):
        t = i / max(frames - 1, 1)
        crop_w = min(width, height * aspect) / (1 + (zoom - 1) * t)
        crop_h = crop_w / aspect
        cx = crop_w / 2 + (width - crop_w) * (0.2 + 0.6 * t) + rng.normal(0, shake)
        cy = crop_h / 2 + (height - crop_h) * 0.5 + rng.normal(0, shake)
        cx = min(max(cx, crop_w / 2), width - crop_w / 2)
        cy = min(max(cy, crop_h / 2), height - crop_h / 2)
        box = (cx - crop_w / 2, cy - crop_h / 2, cx + crop_w / 2, cy + crop_h / 2)
        frame = np.asarray(img.resize((size[1], size[0]), Image.Resampling.BILINEAR, box=box), dtype=np.float32)
        if noise > 0:
            frame = frame + rng.normal(0, noise, frame.shape).astype(np.float32)
        yield np.clip(np.round(frame), 0, 255).astype(np.uint8)


def write_frames(frames: Iterator[np.ndarray] | Sequence[np.ndarray], path: str | os.PathLike[str], *,
                 fps: float = 25.0, crf: int = 18) -> Path:
    """Encode frames as an H.264 MP4 (atomically, no metadata): how bench and demo clips are made."""
    writer: Mp4Writer | None = None
    try:
        for arr in frames:
            if writer is None:
                writer = Mp4Writer(Path(path), width=arr.shape[1], height=arr.shape[0],
                                   fps=Fraction(fps).limit_denominator(1001), crf=crf)
            writer.write(arr)
        if writer is None:
            raise InputError("no frames to write")
        writer.close()
        return writer.finish()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
