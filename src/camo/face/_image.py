"""Turns what users pass as an image (path, PIL image, array) into an RGB uint8 array for dlib and torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from camo.errors import ImageError, InputError

ImageLike = str | Path | Image.Image | np.ndarray


def _to_rgb_uint8(image: ImageLike) -> np.ndarray:
    """Returns the image as a C-contiguous RGB uint8 array; EXIF orientation applied for files and PIL images.

    Args:
        image: a file path, a PIL image (any mode), or an array (H, W, 3) uint8 (grey (H, W) and RGBA accepted).

    Returns:
        The pixels.

    Raises:
        ImageError: the file cannot be read as an image.
        InputError: the array has an unsupported dtype or shape.

    Shape: (H, W, 3), dtype uint8.
    """
    if isinstance(image, (str, Path)):
        path = Path(image)
        try:
            with Image.open(path) as opened:
                # Cameras store portrait shots sideways plus an orientation tag; dlib must see them upright.
                image = ImageOps.exif_transpose(opened).convert("RGB")
        except FileNotFoundError as exc:
            raise ImageError(f"no such image file: {str(path)!r}") from exc
        except (UnidentifiedImageError, OSError) as exc:
            raise ImageError(f"cannot read {str(path)!r} as an image: {exc}") from exc
    if isinstance(image, Image.Image):
        image = np.array(ImageOps.exif_transpose(image).convert("RGB"))
    if not isinstance(image, np.ndarray):
        raise InputError(f"expected a path, a PIL image or a numpy array; got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InputError(f"image arrays must be uint8 RGB (0..255); got dtype {image.dtype}. Scale floats by 255 first")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"image arrays must have shape (H, W, 3); got {image.shape}")
    return np.ascontiguousarray(image)
