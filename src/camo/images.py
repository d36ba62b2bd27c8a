"""Reading and writing images safely.

Everything camo reads goes through :func:`load` (or :func:`to_rgb_uint8` for the face side): EXIF orientation is
applied, grey / RGBA / 16-bit / palette images are converted (with a logged note saying so), and a size guard stops
decompression bombs before any pixel is decoded. Everything camo writes goes through :func:`save`: 8-bit, no metadata
at all (EXIF, GPS, ICC, text chunks), written to a temporary file and renamed into place, and never onto an input.

Shape: tensors are (1, C, H, W) float32 in [0, 1]; arrays are (H, W, 3) uint8.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from camo.errors import ImageError, InputError

log = logging.getLogger("camo")

#: Largest image, in pixels, that camo will decode (about 100 megapixels; a 24 MP photo is far below it).
MAX_PIXELS = 100_000_000

#: Smallest side, in pixels, of an image that :func:`load` will resize for a model: below it there is nothing to
#: attack (a 1×1 image blown up to 28×28 is one flat grey level, not a picture).
MIN_SIDE = 8

#: Formats :func:`save` writes, by file suffix.
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}

_EXIF_ORIENTATION = 0x0112

ImageSource = str | os.PathLike[str] | Image.Image | np.ndarray


def open_image(path: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open and fully decode an image file, upright (EXIF orientation applied), with all checks done first.

    Args:
        path: the file to read.
        max_pixels: refuse images with more pixels than this (decompression-bomb guard).

    Returns:
        A decoded PIL image in the file's own mode.

    Raises:
        ImageError: the file is missing, empty, not an image, truncated or corrupt, or larger than ``max_pixels``.
    """
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a directory, not an image file")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            # PIL's own bomb check would warn or raise with its own limit; ours runs on the header below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise ImageError(
                        f"{path}: {width}×{height} = {width * height / 1e6:.1f} megapixels is over the limit of "
                        f"{max_pixels / 1e6:.0f} megapixels (a guard against decompression bombs); "
                        "shrink the image first"
                    )
                img.load()  # decoded pixels stay usable after the file is closed
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file camo can read (PNG, JPEG, WebP, TIFF, BMP, PGM...)") from None
    except Image.DecompressionBombError as err:
        raise ImageError(f"{path}: refused as a possible decompression bomb ({err})") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"{path}: the image is corrupt or truncated ({err})") from None
    return _upright(img, path.name)


def _upright(img: Image.Image, name: str) -> Image.Image:
    """Apply the EXIF orientation (cameras store portrait shots sideways plus a tag), with a note when it turns."""
    orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
    if orientation in (1, None):
        return img
    upright = ImageOps.exif_transpose(img)
    log.info("%s: turned upright according to its EXIF orientation (%s)", name, orientation)
    return upright


def _to_mode(img: Image.Image, channels: int, name: str) -> np.ndarray:
    """Convert a decoded image to float32 (H, W, channels) in [0, 1], keeping 16-bit precision, noting conversions."""
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        log.info("%s: palette image converted to %s", name, img.mode)
        mode = img.mode
    if mode in ("RGBA", "LA", "PA"):
        # Transparent pixels carry arbitrary colours; composite on white, as a viewer shows them.
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img.convert("RGBA")).convert("RGB")
        log.info("%s: alpha channel dropped (composited on white)", name)
        mode = "RGB"
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        grey = np.clip(arr / top, 0.0, 1.0).astype(np.float32)
        log.info("%s: %s image scaled to [0, 1] from 0..%d", name, mode, int(top))
        arr3 = grey[..., None]
    elif mode == "F":
        arr3 = np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)[..., None]
    elif mode in ("L", "1"):
        arr3 = (np.asarray(img.convert("L"), dtype=np.float32) / 255.0)[..., None]
    else:
        if mode != "RGB":
            log.info("%s: %s image converted to RGB", name, mode)
        arr3 = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    if arr3.shape[2] == channels:
        return arr3
    if channels == 3:
        log.info("%s: grey image repeated into 3 channels", name)
        return np.repeat(arr3, 3, axis=2)
    if channels == 1:
        log.info("%s: colour image converted to grey (ITU-R 601 luma)", name)
        weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return (arr3 @ weights)[..., None]
    raise ImageError(f"{name}: cannot convert a {arr3.shape[2]}-channel image to {channels} channels")


def fit(x: torch.Tensor, size: tuple[int, int], *, name: str = "image") -> torch.Tensor:
    """Resize (shorter side to fit, area-averaged when shrinking) and centre-crop a batch to exactly ``size``,
    with a logged note (:func:`model_view` does the same silently, for every forward pass of an attack).

    Shape: (N, C, H, W) -> (N, C, size[0], size[1]).
    """
    height, width = x.shape[-2:]
    if (height, width) == tuple(size):
        return x
    resized = model_view(x, size)
    new_h, new_w = fitted_size(height, width, size)
    log.info("%s: resized from %d×%d to %d×%d and centre-cropped to %d×%d for the model",
             name, width, height, new_w, new_h, size[1], size[0])
    return resized


def fitted_size(height: int, width: int, size: tuple[int, int]) -> tuple[int, int]:
    """The (height, width) a ``height``×``width`` image is resized to before the centre crop to ``size``: the
    shorter side fits, the other is at least as long (what :func:`model_view` and :func:`fit` do)."""
    scale = max(size[0] / height, size[1] / width)
    return max(size[0], round(height * scale)), max(size[1], round(width * scale))


def model_view(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """What a model with input ``size`` sees of images of any size: resized so that the shorter side fits
    (area-averaged when shrinking, bilinear when growing) and centre-cropped; differentiable, so an attack can work
    on the full-resolution pixels through it. The same arithmetic as :func:`fit`, without its note.

    Shape: (N, C, H, W) -> (N, C, size[0], size[1]).
    """
    height, width = x.shape[-2:]
    if (height, width) == tuple(size):
        return x
    new_h, new_w = fitted_size(height, width, size)
    mode = "area" if max(size[0] / height, size[1] / width) < 1 else "bilinear"
    resized = torch.nn.functional.interpolate(x, size=(new_h, new_w), mode=mode)
    top, left = (new_h - size[0]) // 2, (new_w - size[1]) // 2
    return resized[..., top : top + size[0], left : left + size[1]].clamp(0.0, 1.0)


def load(
    path: str | os.PathLike[str],
    *,
    channels: int | None = 3,
    size: tuple[int, int] | None = None,
    max_pixels: int = MAX_PIXELS,
    keep_size: bool = False,
) -> torch.Tensor:
    """Load an image file as a float tensor in [0, 1], ready for a model.

    Args:
        path: PNG, JPEG, WebP, TIFF, BMP, PGM/PPM, GIF (first frame)...
        channels: 3 for RGB, 1 for grey, None to keep what the file has (grey stays 1, the rest becomes RGB).
        size: (height, width) to resize and centre-crop to, or None to keep the file's size.
        max_pixels: decompression-bomb guard, see :func:`open_image`.
        keep_size: keep the file's size even with ``size``, which then only checks that the image is large enough
            to be resized for that model (see :func:`model_view` for what the model sees of it).

    Returns:
        The image, with notes about any conversion logged on the ``camo`` logger.

    Shape: (1, C, H, W), float32, values in [0, 1].

    Raises:
        ImageError: unreadable, corrupt, truncated, empty or oversized file; with ``size``, an image whose shorter
            side is below :data:`MIN_SIDE` pixels (or below the model's own input, if that is smaller).
    """
    img = open_image(path, max_pixels=max_pixels)
    name = Path(path).name
    if size is not None and min(img.size) < (smallest := min(MIN_SIDE, *size)):
        raise ImageError(f"{name}: {img.size[0]}×{img.size[1]} pixels is too small to be a model's input; camo needs "
                         f"at least {smallest}×{smallest} (it would only be blown up to {size[1]}×{size[0]})")
    if channels is None:
        channels = 1 if img.mode in ("L", "1", "I;16", "I;16B", "I;16L", "I", "F", "LA") else 3
    arr = _to_mode(img, channels, name)
    x = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).unsqueeze(0)
    if size is not None and not keep_size:
        x = fit(x, size, name=name)
    return x


def to_rgb_uint8(source: ImageSource, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Any image source — a path, a PIL image or an RGB/grey uint8 array — as an upright RGB uint8 array.

    Shape: (H, W, 3) uint8.

    Raises:
        ImageError: unreadable file, or an array of the wrong dtype or shape.
    """
    if isinstance(source, np.ndarray):
        if source.dtype != np.uint8:
            raise ImageError(f"image arrays must be uint8; got {source.dtype}")
        if source.ndim == 2:
            return np.repeat(source[..., None], 3, axis=2)
        if source.ndim != 3 or source.shape[2] not in (3, 4):
            raise ImageError(f"image arrays must be (H, W), (H, W, 3) or (H, W, 4); got shape {source.shape}")
        return np.ascontiguousarray(source[..., :3])
    if isinstance(source, Image.Image):
        img, name = _upright(source, "image"), "image"
    else:
        img, name = open_image(source, max_pixels=max_pixels), Path(source).name
    arr = _to_mode(img, 3, name)
    return np.round(arr * 255.0).astype(np.uint8)


def is_grey(pixels: np.ndarray) -> bool:
    """Whether an RGB uint8 photo is black and white: red, green and blue equal at every pixel (a grey file read
    by :func:`to_rgb_uint8`, or a colour file holding a black-and-white picture). Shape: (H, W, 3)."""
    return bool(np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 1], pixels[..., 2]))


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Quantise one image tensor in [0, 1] to 8 bits per channel the way :func:`save` does (round to nearest).

    Shape: (C, H, W) or (1, C, H, W) -> (H, W, C) uint8.

    Raises:
        ImageError: more than one image, or values outside [0, 1].
    """
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise ImageError(f"save one image at a time; got a batch of {x.shape[0]}")
        x = x[0]
    if x.dim() != 3 or x.shape[0] not in (1, 3):
        raise ImageError(f"an image tensor must be (C, H, W) with C = 1 or 3; got shape {tuple(x.shape)}")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise ImageError(f"image values must lie in [0, 1] to be saved; got min={lo:.3g}, max={hi:.3g}")
    arr = x.detach().to("cpu", torch.float32).clamp(0, 1).permute(1, 2, 0).numpy()
    return np.round(arr * 255.0).astype(np.uint8)


def quantize(x: torch.Tensor) -> torch.Tensor:
    """What a tensor in [0, 1] becomes once saved as an 8-bit file and read back, without touching the disk."""
    return (x.clamp(0, 1) * 255.0).round() / 255.0


def save(
    image: torch.Tensor | np.ndarray,
    path: str | os.PathLike[str],
    *,
    quality: int = 95,
    protect: Iterable[str | os.PathLike[str]] = (),
    overwrite: bool = True,
    png_level: int = 6,
) -> Path:
    """Write an image as an 8-bit PNG or JPEG with no metadata, atomically.

    Args:
        image: a tensor in [0, 1] (see :func:`to_uint8`) or an (H, W[, C]) uint8 array.
        path: the output file; its suffix (.png, .jpg, .jpeg) picks the format.
        quality: JPEG quality (1–100); ignored for PNG.
        protect: files that must never be written to (the inputs of the job).
        overwrite: replace an existing file that is not protected.
        png_level: zlib level of a PNG, 0–9 (1 writes a megapixel about 0.4 s faster than 6 for a file about 13%
            larger; both lossless); ignored for JPEG.

    Returns:
        The path written.

    Raises:
        ImageError: unknown suffix, the path is a protected input or exists with ``overwrite=False``, bad values.
    """
    path = Path(path)
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(f"{path}: cannot save as {path.suffix or '(no suffix)'}; use .png, .jpg or .jpeg")
    refuse_inputs(path, protect)
    if path.exists() and not overwrite:
        raise ImageError(f"{path}: already exists")
    if fmt == "JPEG" and not 1 <= quality <= 100:
        raise ImageError(f"JPEG quality must be in 1..100; got {quality}")
    if not 0 <= png_level <= 9:
        raise ImageError(f"PNG compression level must be in 0..9; got {png_level}")
    arr = to_uint8(image) if isinstance(image, torch.Tensor) else np.asarray(image)
    if arr.dtype != np.uint8:
        raise ImageError(f"image arrays must be uint8; got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    # A fresh image from bare pixels carries no EXIF, GPS, ICC profile or text chunks.
    img = Image.fromarray(arr)
    buffer = io.BytesIO()
    if fmt == "JPEG":
        img.save(buffer, format="JPEG", quality=quality)
    else:
        img.save(buffer, format="PNG", compress_level=png_level)
    write_bytes_atomic(buffer.getvalue(), path)
    return path


#: File suffixes camo looks for in folders of images (what :func:`load` reads; GIF: its first frame).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".pgm", ".ppm"})


def image_files(folder: str | os.PathLike[str], *, recursive: bool = False) -> list[Path]:
    """The image files of a folder (of its sub-folders too when ``recursive``), sorted, by suffix; hidden files
    (macOS ``._photo.jpg`` companions, which are not images) are skipped."""
    root = Path(folder)
    found = root.rglob("*") if recursive else root.iterdir()
    return sorted(p for p in found if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


def check_unique_stems(paths: Iterable[str | os.PathLike[str]]) -> None:
    """Raise :class:`InputError` when two inputs share a file name stem (``a.png``, ``a.jpg``, ``x/a.png``):
    outputs named ``<stem>.<something>`` in one folder would overwrite each other."""
    seen: dict[str, Path] = {}
    for path in map(Path, paths):
        if path.stem in seen:
            raise InputError(f"{seen[path.stem]} and {path} share the name {path.stem!r}: their outputs would "
                             "collide. Run them separately or rename one")
        seen[path.stem] = path


def refuse_inputs(path: str | os.PathLike[str], protect: Iterable[str | os.PathLike[str]]) -> None:
    """Raise :class:`ImageError` if ``path`` is one of the ``protect`` files (the inputs of the job)."""
    target = Path(path).resolve()
    if any(Path(other).resolve() == target for other in protect):
        raise ImageError(f"{path}: refusing to overwrite an input file; choose another output folder")


def _umask() -> int:
    """The process's umask (reading it means setting it; it is put back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes_atomic(data: bytes, path: str | os.PathLike[str]) -> Path:
    """Write a non-image output (JSON, HTML, CSV) atomically: a temporary file renamed into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())  # the bytes are on disk before the name points at them
        # mkstemp makes files private; outputs get the permissions any new file would (the user's umask decides,
        # so a cloaked photo stays private under umask 077)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
