"""Reading a video: a file PyAV decodes (MP4/H.264, WebM, MOV, animated GIF) or a folder of frames, checked
before any output and decoded one frame at a time.

Shape: frames are (H, W, 3) uint8 arrays.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from camo import images
from camo.errors import InputError

#: Largest frame camo decodes, in pixels: 8K UHD (7680×4320) fits; beyond is refused before any frame is decoded.
MAX_FRAME_PIXELS = 36_000_000

#: Frame rate given to a folder of frames when none is asked for.
FOLDER_FPS = 25.0


@dataclass(frozen=True)


class VideoSource:
    """A video to read: a file PyAV decodes or a folder of frames, checked and with its first frame decoded."""

    path: Path
    kind: str              # "file" or "frames"
    width: int
    height: int
    fps: Fraction
    frames: int | None     # as the container declares it (None: unknown); the decoded count is what counts
    codec: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "kind": self.kind, "width": self.width, "height": self.height,
                "fps": float(self.fps), "frames_declared": self.frames, "codec": self.codec}


def _av_error(path: Path, err: Exception) -> InputError:
    reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return InputError(f"{path}: not a video camo can read, or a damaged one ({reason}); give an MP4, WebM, MOV, "
                      "GIF or a folder of frames")


def _check_size(path: Path, width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise InputError(f"{path}: the video stream has no frame size ({width}×{height})")
    if width * height > max_pixels:
        fits = " (8K UHD fits)" if max_pixels == MAX_FRAME_PIXELS else ""
        raise InputError(f"{path}: frames of {width}×{height} ({width * height:,} pixels) are over the limit of "
                         f"{max_pixels:,} pixels{fits}; scale the video down first")


def _rate(value: Any) -> Fraction | None:
    if value is None:
        return None
    rate = Fraction(value).limit_denominator(1001)
    return rate if 0 < rate <= 1000 else None


def open_video(
    path: str | os.PathLike[str], *, fps: float | None = None, max_pixels: int = MAX_FRAME_PIXELS
) -> VideoSource:
    """Check a video (or a folder of frames) and decode its first frame, so a bad input fails before any output.

    Args:
        path: a video file or a folder of image files (sorted by name; all the same size).
        fps: frame rate of a folder of frames (default 25); for a file, overrides what the container says.
        max_pixels: refuse frames larger than this.

    Raises:
        InputError: missing, empty, not a video, audio only, no frames, frames too large, folder of mixed sizes.
    """
    import av

    path = Path(path)
    if fps is not None and not (math.isfinite(fps) and 0 < fps <= 1000):
        raise InputError(f"fps must be in (0, 1000]; got {fps:g}")
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        files = images.image_files(path)
        if not files:
            raise InputError(f"{path}: a folder with no image files (frames) in it")
        with Image.open(files[0]) as header:
            width, height = header.size
        _check_size(files[0], width, height, max_pixels)
        images.to_rgb_uint8(files[0], max_pixels=max_pixels)  # decodes: a corrupt first frame fails here
        rate = Fraction(fps if fps is not None else FOLDER_FPS).limit_denominator(1001)
        return VideoSource(path, "frames", width, height, rate, len(files), "images")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty (0 bytes)")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                what = "audio only" if container.streams.audio else "no streams"
                raise InputError(f"{path}: has no video stream ({what})")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            _check_size(path, width, height, max_pixels)
            rate = _rate(fps) or _rate(stream.average_rate) or _rate(stream.guessed_rate) or Fraction(25)
            declared = int(stream.frames) or None
            codec = stream.codec_context.name
            try:
                first = next(container.decode(stream), None)
            except av.EOFError:  # a stream header and no frame data
                first = None
    except InputError:
        raise
    except av.EOFError:
        raise InputError(f"{path}: the file ends before any frame (a video with no frames, or truncated)") from None
    except (av.FFmpegError, ValueError, IndexError, OSError) as err:
        raise _av_error(path, err) from None
    if first is None:
        raise InputError(f"{path}: the video has no frames")
    return VideoSource(path, "file", width, height, rate, declared, codec)


def iter_frames(source: VideoSource, *, max_pixels: int = MAX_FRAME_PIXELS) -> Iterator[np.ndarray]:
    """Decode frames one at a time as RGB (H, W, 3) uint8, never holding the video in memory.

    Raises:
        InputError: a frame cannot be decoded (a truncated or corrupt file) or changes size mid-stream.
    """
    import av

    expected = (source.height, source.width, 3)
    if source.kind == "frames":
        for file in images.image_files(source.path):
            arr = images.to_rgb_uint8(file, max_pixels=max_pixels)
            if arr.shape != expected:
                raise InputError(f"{file}: a {arr.shape[1]}×{arr.shape[0]} frame among {source.width}×"
                                 f"{source.height} frames; all frames of a folder must be the same size")
            yield arr
        return
    try:
        with av.open(str(source.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            count = 0
            for frame in container.decode(stream):
                arr = frame.to_ndarray(format="rgb24")
                if arr.shape != expected:
                    raise InputError(f"{source.path}: frame size changes mid-stream ({source.width}×"
                                     f"{source.height} to {arr.shape[1]}×{arr.shape[0]}); camo needs one size")
                count += 1
                yield arr
            if source.frames is not None and count < source.frames:
                raise InputError(f"{source.path}: the video is truncated ({count} of the {source.frames} frames "
                                 "its header declares could be decoded)")
    except InputError:
        raise
    except (av.FFmpegError, ValueError, OSError) as err:
        raise InputError(f"{source.path}: the video is corrupt or truncated ({err})") from None
