"""Attacked video, before and after: frames in → attacked frames → a before|after video out, streaming.

The seed's headline was two animations, a classifier labelling frames ("before") and the same frames attacked with
FGSM ("after"). :func:`attack_video` does that for real on any video PyAV decodes (MP4/H.264, WebM, MOV, animated
GIF) or a folder of frames, a batch of frames at a time so memory stays bounded on a long clip:

    decode a batch → attack it (the same attack functions as images; or one perturbation shared by a window of
    frames; or a patch pasted on every frame) → quantise to 8 bits → re-classify what will be written → caption
    before | after → encode (H.264 at the input's frame rate) → next batch

and then measures what a person sharing the video would get: the attacked video is written as a normal H.264 MP4,
decoded again and every frame re-classified, at several encoder qualities (CRF). Outputs are written under temporary
names and renamed at the end, so an error or Ctrl-C leaves nothing half-written at an output name.

The attack runs on the *full-resolution* frame: the model's resize (area-averaged) and centre crop are part of the
differentiated function, so the perturbation is made for exactly the pixels that are written.

Shape: frames are (H, W, 3) uint8 arrays; batches are (N, 3, H, W) float32 in [0, 1].
"""

from __future__ import annotations

import csv
import functools
import io
import json
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont
from torch import nn

from camo import images
from camo.attack_files import AttackSettings, attack_one, predict, validate
from camo.attack_record import Prediction
from camo.attacks import apply_patch
from camo.attacks.core import check_inputs, cross_entropy, frozen, input_gradient, resolve_labels, step
from camo.choices import LINF_METHODS, PATCH_PLACES, SURVIVAL_CRFS
from camo.errors import InputError
from camo.models import Classifier

log = logging.getLogger("camo")

#: Largest frame camo decodes, in pixels: 8K UHD (7680×4320) fits; beyond is refused before any frame is decoded.
MAX_FRAME_PIXELS = 36_000_000

#: Frame rate given to a folder of frames when none is asked for.
FOLDER_FPS = 25.0

#: Pixels of full-resolution frames attacked at once; batches shrink for large frames so memory stays bounded.
BATCH_PIXELS = 8_000_000

#: The GIF is a preview: at most this many frames per second, this many frames and this width.
GIF_FPS, GIF_MAX_FRAMES, GIF_WIDTH = 10.0, 200, 480

#: Each half of the before|after video is enlarged (pixel-exact) to at least this height, or shrunk to this width.
DISPLAY_MIN_HEIGHT, DISPLAY_MAX_WIDTH = 240, 1280

METHODS = LINF_METHODS
PLACES = PATCH_PLACES

#: progress(stage, done, total): stage "attack" (total None when the container does not say) or "crf N".
Progress = Callable[[str, int, int | None], None]


# ---------------------------------------------------------------------------------------------------------- input


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


# ------------------------------------------------------------------------------------------- the model's view


@dataclass(frozen=True)
class Geometry:
    """How a full frame becomes the model's input: resized (shorter side to fit) then centre-cropped.

    ``scale`` is model pixels per frame pixel; (top, left) is the crop's corner in the resized frame.
    """

    frame: tuple[int, int]      # (height, width)
    resized: tuple[int, int]
    crop: tuple[int, int, int, int]  # top, left, height, width in the resized frame
    scale: float

    @staticmethod
    def of(frame: tuple[int, int], size: tuple[int, int] | None) -> Geometry:
        height, width = frame
        if size is None or (height, width) == tuple(size):
            return Geometry(frame, frame, (0, 0, height, width), 1.0)
        scale = max(size[0] / height, size[1] / width)
        new_h, new_w = max(size[0], round(height * scale)), max(size[1], round(width * scale))
        top, left = (new_h - size[0]) // 2, (new_w - size[1]) // 2
        return Geometry(frame, (new_h, new_w), (top, left, size[0], size[1]), scale)

    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable resize (area when shrinking, bilinear when enlarging) and crop. Shape: (N, C, h, w)."""
        if self.resized != self.frame:
            mode = "area" if self.scale < 1 else "bilinear"
            x = F.interpolate(x, size=self.resized, mode=mode)
        top, left, height, width = self.crop
        return x[..., top : top + height, left : left + width]

    def frame_box(self) -> tuple[int, int, int, int]:
        """The part of the frame the model sees: (left, top, width, height) in frame pixels."""
        top, left, height, width = self.crop
        return (round(left / self.scale), round(top / self.scale), round(width / self.scale),
                round(height / self.scale))


class _FrameView(nn.Module):
    """Full RGB frames in [0, 1] → the classifier's input (grey if it wants grey, its bounds, its size) → logits."""

    def __init__(self, model: Classifier, geometry: Geometry) -> None:
        super().__init__()
        self.model = model
        self.geometry = geometry
        self.grey = model.channels == 1
        self.luma: torch.Tensor
        self.register_buffer("luma", torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.grey:
            x = (x * self.luma).sum(dim=1, keepdim=True)
        x = self.geometry.to_model(x)
        lo, hi = self.model.bounds
        if (lo, hi) != (0.0, 1.0):
            x = lo + x * (hi - lo)
        out: torch.Tensor = self.model(x)
        return out


def frame_classifier(model: Classifier, frame: tuple[int, int]) -> Classifier:
    """The classifier seen from full-resolution RGB frames in [0, 1] of size ``frame`` (height, width).

    Attacks on it perturb frame pixels; ε stays in 8-bit pixel units of the frame.
    """
    geometry = Geometry.of(frame, model.input_size)
    if geometry.resized != frame:
        log.info("frames of %d×%d are resized to %d×%d and centre-cropped to %d×%d for %s (the attack goes "
                 "through the resize, on full-resolution pixels)", frame[1], frame[0], geometry.resized[1],
                 geometry.resized[0], geometry.crop[3], geometry.crop[2], model.name)
    view = Classifier(_FrameView(model, geometry), labels=model.labels, name=model.name)
    view.train(False)
    return view


# ---------------------------------------------------------------------------------------------------- attacks


@dataclass(frozen=True)
class VideoSettings:
    """What ``camo video`` runs. ε is an L∞ budget in pixel units of the frame."""

    method: str = "fgsm"
    eps: float = 2 / 255
    target: str | None = None          # label name or number; None = untargeted
    steps: int = 10                    # iterative methods
    seed: int = 0                      # PGD's random start
    batch_size: int = 8                # frames attacked at once (smaller for large frames)
    window: int = 1                    # frames sharing one perturbation (1 = per frame); a window is one batch
    window_fit: int | None = None      # frames of each window the shared perturbation is made on (None = all)
    patch: str | None = None           # a patch PNG pasted on every frame instead of an ε attack
    place: str = "fixed"               # patch placement: fixed, or track (follows the scene's motion)
    at: tuple[int, int] | None = None  # patch's top-left (x, y) in frame pixels; default centre of the model's view
    crf: int = 18                      # quality of the attacked MP4 written
    survival_crfs: tuple[int, ...] = SURVIVAL_CRFS
    fps: float | None = None           # frame rate of a frame folder (or override a file's)
    gif: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def shared_perturbation(
    model: Classifier,
    x: torch.Tensor,
    y: torch.Tensor | None,
    eps: float,
    *,
    targeted: bool = False,
    method: str = "fgsm",
    steps: int = 10,
    fit_frames: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One perturbation for a window of frames: universal over the window, made with the shared step.

    The gradient is summed over the frames it is fitted on (all, or ``fit_frames`` evenly spaced ones: one frame's
    gradient pays for a whole window), then the usual signed step and L∞ projection apply to the single δ.

    Args:
        model: the classifier (seen from frames, see :func:`frame_classifier`).
        x: the window's frames.
        y: labels per frame (targets when targeted) or None for the model's own predictions.
        eps: L∞ budget in pixel units.
        method: fgsm (one step of ε), bim, pgd (random start) or mifgsm (momentum).
        steps: steps of the iterative methods.
        fit_frames: how many frames of the window the gradient is taken on (None = all).

    Returns:
        δ with ‖δ‖∞ ≤ ε, to be added to every frame of the window (then clipped to the bounds).

    Shape: x (N, C, H, W) -> δ (1, C, H, W).

    Raises:
        InputError: as the attacks (bad ε, x outside the bounds, targeted without y), unknown method.
    """
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    lo, hi = check_inputs(model, x, eps)
    count = x.shape[0] if fit_frames is None else max(1, min(fit_frames, x.shape[0]))
    picked = torch.linspace(0, x.shape[0] - 1, count).round().long()
    x_fit = x[picked].detach()
    delta = torch.zeros_like(x_fit[:1])
    if eps == 0:
        return delta
    with frozen(model):
        labels = resolve_labels(model, x_fit, None if y is None else y[picked], targeted=targeted)
        iterations = 1 if method == "fgsm" else steps
        size = eps if method == "fgsm" else (eps / steps if method == "mifgsm" else 2.5 * eps / steps)
        if method == "pgd":
            delta = (torch.rand(delta.shape, generator=generator) * 2 - 1).to(x.dtype) * eps
        velocity: torch.Tensor | None = None
        for _ in range(iterations):
            grad = input_gradient(model, (x_fit + delta).clamp(lo, hi), labels, cross_entropy).sum(0, keepdim=True)
            if method == "mifgsm":
                grad = grad / grad.abs().mean().clamp_min(1e-12)
                velocity = grad if velocity is None else velocity + grad
                grad = velocity
            delta = step(delta, grad, size, norm="linf", targeted=targeted).clamp(-eps, eps)
    return delta.detach()


#: Two frames are taken for a cut (a new scene, where a tracked patch stays put) when their phase-correlation peak is
#: below CUT_PEAK / √(pixels). Unrelated frames peak at noise level, about 4.5/√(pixels); a pure shift gives 1. On
#: the bench's 320×240 clips: cuts 0.019–0.029, consecutive frames 0.09–0.9, this threshold 0.043.
CUT_PEAK = 12.0


def track_shift(previous: np.ndarray, current: np.ndarray) -> tuple[int, int]:
    """How far the scene moved between two frames, (dx, dy) in pixels, by phase correlation of their grey images;
    (0, 0) across a cut (no clear correlation peak, see :data:`CUT_PEAK`).

    Translation only: a pan moves a tracked patch with the scene; a zoom or rotation is not followed.
    """
    def grey(arr: np.ndarray) -> np.ndarray:
        g = arr.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        g -= g.mean()
        rows, cols = np.hanning(g.shape[0]).astype(np.float32), np.hanning(g.shape[1]).astype(np.float32)
        out: np.ndarray = g * rows[:, None] * cols[None, :]
        return out

    a, b = np.fft.rfft2(grey(previous)), np.fft.rfft2(grey(current))
    cross = b * np.conj(a)
    cross /= np.maximum(np.abs(cross), 1e-9)
    corr = np.fft.irfft2(cross, s=previous.shape[:2])
    peak = int(np.argmax(corr))
    if corr.flat[peak] < CUT_PEAK / math.sqrt(corr.size):
        return 0, 0
    dy, dx = np.unravel_index(peak, corr.shape)
    height, width = corr.shape
    return (int(dx) - width if dx > width // 2 else int(dx), int(dy) - height if dy > height // 2 else int(dy))


class _PatchPlacer:
    """Pastes a patch (made at the model's resolution) on full frames, enlarged to frame pixels, fixed or tracked."""

    def __init__(self, patch: torch.Tensor, geometry: Geometry, settings: VideoSettings) -> None:
        h, w = patch.shape[-2:]
        side_h, side_w = max(1, round(h / geometry.scale)), max(1, round(w / geometry.scale))
        self.patch = F.interpolate(patch, size=(side_h, side_w), mode="nearest")[0] if (side_h, side_w) != (h, w) \
            else patch[0]
        height, width = geometry.frame
        if side_h > height or side_w > width:
            raise InputError(f"the patch ({side_w}×{side_h} frame pixels) does not fit {width}×{height} frames")
        left, top, box_w, box_h = geometry.frame_box()
        x0, y0 = settings.at if settings.at is not None else (left + (box_w - side_w) // 2,
                                                               top + (box_h - side_h) // 2)
        if not (0 <= x0 <= width - side_w and 0 <= y0 <= height - side_h):
            raise InputError(f"a {side_w}×{side_h} patch at (x, y) = ({x0}, {y0}) does not fit {width}×{height} "
                             f"frames (x in 0..{width - side_w}, y in 0..{height - side_h})")
        # A tracked patch stays inside what the model sees (a patch carried out of the crop would do nothing).
        inside = side_w <= box_w and side_h <= box_h
        self.lower = (float(left), float(top)) if inside else (0.0, 0.0)
        self.upper = (float(left + box_w - side_w), float(top + box_h - side_h)) if inside else \
            (float(width - side_w), float(height - side_h))
        self.position = (float(x0), float(y0))
        self.track = settings.place == "track"
        self.previous: np.ndarray | None = None

    def paste(self, x: torch.Tensor, frames: Sequence[np.ndarray]) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        positions: list[tuple[int, int]] = []
        for arr in frames:
            if self.track and self.previous is not None:
                dx, dy = track_shift(self.previous, arr)
                self.position = (min(max(self.position[0] + dx, self.lower[0]), self.upper[0]),
                                 min(max(self.position[1] + dy, self.lower[1]), self.upper[1]))
            self.previous = arr
            positions.append((round(self.position[0]), round(self.position[1])))
        at = torch.tensor(positions, dtype=torch.long)
        return apply_patch(x, self.patch, at=at), positions


def _load_patch(patch_file: str, target: str | None) -> tuple[torch.Tensor, str | None]:
    """The patch image (1, C, h, w) and its target: ``target`` if given, else the one its sidecar JSON names."""
    path = Path(patch_file)
    patch = images.load(path, channels=None)
    sidecar = path.with_suffix(".json")
    if target is None and sidecar.is_file():
        try:
            data = json.loads(sidecar.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InputError(f"{sidecar}: cannot read the patch's target from it ({err}); give --target") from None
        if isinstance(data, dict) and data.get("target_index") is not None:
            target = str(data["target_index"])
    return patch, target


# ---------------------------------------------------------------------------------------------------- outputs


def _even(arr: np.ndarray) -> np.ndarray:
    """H.264 4:2:0 needs even sides: repeat the last row / column when a side is odd."""
    pad_h, pad_w = arr.shape[0] % 2, arr.shape[1] % 2
    return np.pad(arr, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge") if pad_h or pad_w else arr


_START_CODE = re.compile(b"\x00\x00\x01")


def _without_sei(packet: Any) -> Any:
    """The packet without SEI units (H.264 NAL type 6): x264 writes its version and every setting into one.

    Packets from libx264 are Annex B (units after 00 00 01 start codes; the payload never holds that sequence).
    """
    import av

    data = bytes(packet)
    starts = [m.end() for m in _START_CODE.finditer(data)]
    units = [data[begin : (starts[i + 1] - 3 if i + 1 < len(starts) else len(data))].rstrip(b"\x00")
             for i, begin in enumerate(starts)]
    if not any(unit and unit[0] & 0x1F == 6 for unit in units):
        return packet
    kept = b"".join(b"\x00\x00\x00\x01" + unit for unit in units if unit and unit[0] & 0x1F != 6)
    clean = av.Packet(kept)
    clean.pts, clean.dts, clean.time_base, clean.stream = packet.pts, packet.dts, packet.time_base, packet.stream
    clean.is_keyframe = packet.is_keyframe
    return clean


class Mp4Writer:
    """H.264 MP4 written under a temporary name, renamed into place by :meth:`finish`, deleted by :meth:`abort`.

    No metadata: no encoder tags in the container (bitexact) and x264's settings SEI removed from the stream; the
    input's tags (title, location, creation time) are never copied.
    """

    def __init__(self, path: Path, *, width: int, height: int, fps: Fraction, crf: int, preset: str = "medium") \
            -> None:
        import av

        self.path = path
        self.temporary = path.with_name(f".{path.name}.partial.mp4")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.container = av.open(str(self.temporary), "w", format="mp4",
                                 options={"fflags": "+bitexact", "movflags": "+faststart"})
        try:
            stream = self.container.add_stream("libx264", rate=fps, options={"crf": str(crf), "preset": preset})
            stream.width, stream.height, stream.pix_fmt = width + width % 2, height + height % 2, "yuv420p"
            stream.codec_context.time_base = Fraction(1) / fps
            self.stream = stream
        except BaseException:
            self.abort()
            raise

    def _mux(self, packets: Sequence[Any]) -> None:
        for packet in packets:
            self.container.mux(_without_sei(packet))

    def write(self, arr: np.ndarray) -> None:
        import av

        frame = av.VideoFrame.from_ndarray(_even(arr), format="rgb24")
        frame.pts = self.count
        frame.time_base = self.stream.codec_context.time_base
        self.count += 1
        self._mux(self.stream.encode(frame))

    def close(self) -> None:
        """Flush the encoder and close the temporary file (still under its temporary name)."""
        self._mux(self.stream.encode(None))
        self.container.close()

    def finish(self) -> Path:
        os.chmod(self.temporary, 0o666 & ~images._umask())
        os.replace(self.temporary, self.path)
        return self.path

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:  # already closed or broken: the file is being thrown away either way
            log.debug("closing %s while aborting failed", self.temporary, exc_info=True)
        self.temporary.unlink(missing_ok=True)


def decode_file(path: Path, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Frames of a video camo wrote, cropped back to ``size`` (height, width) where it padded odd sides."""
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")[: size[0], : size[1]]


@functools.lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def caption(pred: Prediction, *, title: str, fooled: bool | None) -> str:
    """'before: hen 93%' or 'after: goose 71% · fooled'."""
    verdict = "" if fooled is None else (" · fooled" if fooled else " · not fooled")
    return f"{title}: {pred.label} {pred.confidence:.0%}{verdict}"


def side_by_side(before: np.ndarray, after: np.ndarray, before_text: str, after_text: str, *,
                 fooled: bool) -> np.ndarray:
    """The seed's look: before | after, each half captioned underneath, enlarged (pixel-exact) if tiny.

    Shape: (H, W, 3) uint8 twice -> (H', 2·W' + gap, 3) uint8 with even sides.
    """
    height, width = before.shape[:2]
    if height < DISPLAY_MIN_HEIGHT:
        factor = math.ceil(DISPLAY_MIN_HEIGHT / height)
        shown_w, shown_h, resample = width * factor, height * factor, Image.Resampling.NEAREST
    elif width > DISPLAY_MAX_WIDTH:
        shown_w, shown_h, resample = DISPLAY_MAX_WIDTH, round(height * DISPLAY_MAX_WIDTH / width), \
            Image.Resampling.BOX
    else:
        shown_w, shown_h, resample = width, height, Image.Resampling.NEAREST
    band = max(22, shown_h // 9)
    gap = 4
    canvas = Image.new("RGB", (2 * shown_w + gap, shown_h + band), (20, 20, 20))
    for i, arr in enumerate((before, after)):
        img = Image.fromarray(arr)
        if (shown_w, shown_h) != (width, height):
            img = img.resize((shown_w, shown_h), resample)
        canvas.paste(img, (i * (shown_w + gap), 0))
    draw = ImageDraw.Draw(canvas)
    colour_after = (255, 110, 90) if fooled else (140, 230, 140)
    for i, (text, colour) in enumerate(((before_text, (235, 235, 235)), (after_text, colour_after))):
        size = max(8, int(band * 0.6))
        while size > 8 and draw.textlength(text, font=_font(size)) > shown_w - 8:  # fit the half it captions
            size -= 1
        draw.text((i * (shown_w + gap) + 4, shown_h + band // 2), text, fill=colour, font=_font(size), anchor="lm")
    return _even(np.asarray(canvas))


# ---------------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class FrameRecord:
    """One frame: what the model said before, on the attacked float frame, on the 8-bit frame written, and after
    the MP4 round trip at each CRF."""

    index: int
    time: float                       # seconds from the start
    clean: Prediction
    adversarial: Prediction           # the float frame the attack returned
    saved: Prediction                 # the 8-bit frame, as written into the video (before lossy coding)
    fooled_in_memory: bool
    fooled: bool                      # the 8-bit frame fools the model (or hits the target)
    linf: float                       # ‖8-bit frame − input frame‖∞, pixel units
    patch_at: tuple[int, int] | None = None
    encoded: dict[int, Prediction] = field(default_factory=dict)   # by CRF, after decoding the MP4
    fooled_encoded: dict[int, bool] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def row(self, crfs: Sequence[int]) -> dict[str, Any]:
        row: dict[str, Any] = {
            "frame": self.index, "time_s": round(self.time, 4),
            "clean_label": self.clean.label, "clean_confidence": round(self.clean.confidence, 4),
            "adversarial_label": self.adversarial.label,
            "adversarial_confidence": round(self.adversarial.confidence, 4),
            "saved_label": self.saved.label, "saved_confidence": round(self.saved.confidence, 4),
            "fooled_in_memory": self.fooled_in_memory, "fooled": self.fooled, "linf_255": round(self.linf * 255, 3),
        }
        for crf in crfs:
            pred = self.encoded.get(crf)
            row[f"crf{crf}_label"] = pred.label if pred else ""
            row[f"crf{crf}_confidence"] = round(pred.confidence, 4) if pred else ""
            row[f"crf{crf}_fooled"] = self.fooled_encoded.get(crf, "")
        return row


@dataclass(frozen=True)
class VideoResult:
    """The whole run: per-frame records and the summary (fooled counts, survival by CRF, speed, outputs)."""

    model: str
    source: dict[str, Any]
    settings: dict[str, Any]
    target: str | None
    frames: list[FrameRecord]
    fooled_in_memory: int
    fooled: int
    survival: dict[int, int]          # CRF -> frames still fooled after decoding the MP4 at that quality
    seconds: float                    # wall time of the attack pass (decode, attack, compose, encode)
    attack_seconds: float             # of which in the attack itself
    survival_seconds: float
    outputs: dict[str, str]

    @property
    def count(self) -> int:
        return len(self.frames)

    def summary(self) -> dict[str, Any]:
        n = max(self.count, 1)
        return {
            "model": self.model, "source": self.source, "settings": self.settings, "target": self.target,
            "frames": self.count, "fooled_in_memory": self.fooled_in_memory, "fooled": self.fooled,
            "fooled_rate": self.fooled / n,
            "survival": {str(crf): {"fooled": k, "rate": k / n} for crf, k in sorted(self.survival.items())},
            "seconds": round(self.seconds, 3), "frames_per_second": round(self.count / max(self.seconds, 1e-9), 3),
            "attack_frames_per_second": round(self.count / max(self.attack_seconds, 1e-9), 3),
            "survival_seconds": round(self.survival_seconds, 3), "outputs": self.outputs,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "per_frame": [f.to_dict() for f in self.frames]}


def _fooled(pred: Prediction, clean: Prediction, target: int | None) -> bool:
    return pred.index == target if target is not None else pred.index != clean.index


def _csv(records: Sequence[FrameRecord], crfs: Sequence[int]) -> bytes:
    buffer = io.StringIO()
    rows = [r.row(crfs) for r in records]
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["frame"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _to_tensor(frames: Sequence[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().div_(255.0)


def _to_arrays(x: torch.Tensor) -> list[np.ndarray]:
    arr = (x.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return [np.ascontiguousarray(a) for a in arr]


def output_names(source: VideoSource, out_dir: Path) -> dict[str, Path]:
    stem = source.path.name if source.kind == "frames" else source.path.stem
    return {
        "before_after_mp4": out_dir / f"{stem}.before_after.mp4",
        "before_after_gif": out_dir / f"{stem}.before_after.gif",
        "attacked_mp4": out_dir / f"{stem}.attacked.mp4",
        "frames_json": out_dir / f"{stem}.frames.json",
        "frames_csv": out_dir / f"{stem}.frames.csv",
        "summary_json": out_dir / f"{stem}.summary.json",
    }


def _check_settings(model: Classifier, settings: VideoSettings) -> int | None:
    if settings.method not in METHODS:
        raise InputError(f"unknown method {settings.method!r} for video; choose one of {', '.join(METHODS)}")
    target = validate(model, AttackSettings(method=settings.method, eps=settings.eps, target=settings.target,
                                            steps=settings.steps, seed=settings.seed))
    if settings.batch_size < 1:
        raise InputError(f"batch size must be ≥ 1; got {settings.batch_size}")
    if settings.window < 1:
        raise InputError(f"window must be ≥ 1 frame; got {settings.window}")
    if settings.window_fit is not None and not 1 <= settings.window_fit <= settings.window:
        raise InputError(f"window-fit must be in 1..{settings.window} (the window); got {settings.window_fit}")
    for crf in (settings.crf, *settings.survival_crfs):
        if not 0 <= crf <= 51:
            raise InputError(f"CRF must be in 0..51 (libx264; 18 ≈ visually lossless, 23 default); got {crf}")
    if settings.place not in PLACES:
        raise InputError(f"place must be one of {', '.join(PLACES)}; got {settings.place!r}")
    if settings.patch is not None and settings.window > 1:
        raise InputError("a patch is the same on every frame already; give --patch or --window, not both")
    return target


def attack_video(
    model: Classifier,
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    settings: VideoSettings = VideoSettings(),
    *,
    progress: Progress | None = None,
    max_pixels: int = MAX_FRAME_PIXELS,
) -> VideoResult:
    """Attack every frame of a video and write the before|after MP4 and GIF, the attacked MP4, per-frame JSON and
    CSV and a summary with survival through H.264 at each CRF of ``settings.survival_crfs``.

    Args:
        model: the classifier; frames are resized and centre-cropped to its input size inside the attack.
        source: a video file or a folder of frames (never modified).
        out_dir: output folder; outputs are named ``<stem>.before_after.mp4``, ``.before_after.gif``,
            ``.attacked.mp4`` (the attacked frames alone, full resolution, CRF ``settings.crf``), ``.frames.json``,
            ``.frames.csv`` and ``.summary.json``.
        settings: method, ε, target, temporal window or patch, CRFs.
        progress: ``progress(stage, done, total)`` after each batch ("attack") and each re-classified batch
            ("crf N").

    Returns:
        The per-frame records and the summary.

    Raises:
        InputError: bad settings, a file that is not a video, audio only, no frames, frames too large, a corrupt
            or truncated stream (then nothing is left at any output name), an output that would replace the input.
    """
    target = _check_settings(model, settings)
    patch, patch_target = _load_patch(settings.patch, settings.target) if settings.patch is not None else (None, None)
    if patch is not None and target is None and patch_target is not None:
        target = model.label_index(patch_target)
    video = open_video(source, fps=settings.fps, max_pixels=max_pixels)
    out = Path(out_dir)
    names = output_names(video, out)
    protect = images.image_files(video.path) if video.kind == "frames" else [video.path]
    if settings.patch is not None:
        protect = [*protect, Path(settings.patch)]
    for path in names.values():
        images.refuse_inputs(path, protect)
    if video.kind == "frames" and out.resolve().is_relative_to(video.path.resolve()):
        raise InputError(f"{out}: the output folder is inside the folder of frames {video.path}; the outputs would "
                         "become frames of the next run. Choose another folder")

    frame_size = (video.height, video.width)
    view = frame_classifier(model, frame_size)
    placer = _PatchPlacer(patch, Geometry.of(frame_size, model.input_size), settings) if patch is not None else None
    batch = settings.window if settings.window > 1 else \
        max(1, min(settings.batch_size, BATCH_PIXELS // (video.width * video.height)))
    crfs = tuple(dict.fromkeys((settings.crf, *settings.survival_crfs)))

    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    writers: list[Mp4Writer] = []
    written: list[Path] = []
    try:
        encoded = {crf: Mp4Writer(names["attacked_mp4"] if crf == settings.crf else
                                  out / f".{names['attacked_mp4'].stem}.crf{crf}.mp4",
                                  width=video.width, height=video.height, fps=video.fps, crf=crf) for crf in crfs}
        writers.extend(encoded.values())
        display: Mp4Writer | None = None
        gif_every = max(1, math.ceil(float(video.fps) / GIF_FPS))
        gif_frames: list[Image.Image] = []
        records: list[FrameRecord] = []
        generator = torch.Generator().manual_seed(settings.seed)
        start, attack_time = time.perf_counter(), 0.0
        for chunk in _batches(iter_frames(video, max_pixels=max_pixels), batch):
            x = _to_tensor(chunk)
            clean = predict(view, x)
            tick = time.perf_counter()
            x_adv, positions = _perturb(view, x, chunk, clean, settings, target, placer, generator)
            attack_time += time.perf_counter() - tick
            adversarial = predict(view, x_adv)
            after = _to_arrays(x_adv)
            saved = predict(view, _to_tensor(after))
            for i, arr in enumerate(after):
                index = len(records)
                fooled = _fooled(saved[i], clean[i], target)
                records.append(FrameRecord(
                    index=index, time=index / float(video.fps), clean=clean[i], adversarial=adversarial[i],
                    saved=saved[i], fooled_in_memory=_fooled(adversarial[i], clean[i], target), fooled=fooled,
                    linf=float(np.abs(arr.astype(np.int16) - chunk[i].astype(np.int16)).max()) / 255.0,
                    patch_at=positions[i]))
                composed = side_by_side(chunk[i], arr, caption(clean[i], title="before", fooled=None),
                                        caption(saved[i], title="after", fooled=fooled), fooled=fooled)
                if display is None:
                    display = Mp4Writer(names["before_after_mp4"], width=composed.shape[1],
                                        height=composed.shape[0], fps=video.fps, crf=20, preset="veryfast")
                    writers.append(display)
                display.write(composed)
                for writer in encoded.values():
                    writer.write(arr)
                if settings.gif and index % gif_every == 0 and len(gif_frames) < GIF_MAX_FRAMES:
                    gif_frames.append(_gif_frame(composed))
            if progress is not None:
                progress("attack", len(records), video.frames)
        seconds = time.perf_counter() - start
        for writer in writers:
            writer.close()

        survival_start = time.perf_counter()
        survival: dict[int, int] = {}
        for crf, writer in encoded.items():
            predictions = _reclassify(view, writer.temporary, frame_size, batch, len(records),
                                      _stage(progress, f"crf {crf}", len(records)))
            for i, pred in enumerate(predictions):
                r = records[i]
                records[i] = replace(r, encoded={**r.encoded, crf: pred},
                                     fooled_encoded={**r.fooled_encoded, crf: _fooled(pred, r.clean, target)})
            survival[crf] = sum(r.fooled_encoded[crf] for r in records)
        survival_seconds = time.perf_counter() - survival_start

        keys = ["before_after_mp4", "attacked_mp4", "frames_json", "frames_csv", "summary_json"]
        result = VideoResult(
            model=model.name, source=video.to_dict(), settings=settings.to_dict(),
            target=model.label_name(target) if target is not None else None, frames=records,
            fooled_in_memory=sum(r.fooled_in_memory for r in records), fooled=sum(r.fooled for r in records),
            survival=survival, seconds=seconds, attack_seconds=attack_time, survival_seconds=survival_seconds,
            outputs={key: str(names[key]) for key in [*keys, *(["before_after_gif"] if gif_frames else [])]})
        # Everything is computed; only now do files appear at output names.
        files = {names["frames_csv"]: _csv(records, crfs),
                 names["frames_json"]: json.dumps([r.to_dict() for r in records], indent=1).encode(),
                 names["summary_json"]: json.dumps(result.summary(), indent=2).encode()}
        if gif_frames:
            files[names["before_after_gif"]] = _gif_bytes(gif_frames, 1000.0 * gif_every / float(video.fps))
        for path, data in files.items():
            written.append(images.write_bytes_atomic(data, path))
        for writer in writers:
            if writer is encoded[settings.crf] or writer is display:
                written.append(writer.finish())
            else:
                writer.temporary.unlink(missing_ok=True)
        return result
    except BaseException:
        # Nothing this run put at an output name stays; MP4s not yet renamed are deleted under their temporary names.
        for writer in writers:
            writer.abort()
        for path in written:
            path.unlink(missing_ok=True)
        if created:
            _remove_empty(out)
        raise


def _perturb(
    view: Classifier, x: torch.Tensor, chunk: Sequence[np.ndarray], clean: Sequence[Prediction],
    settings: VideoSettings, target: int | None, placer: _PatchPlacer | None, generator: torch.Generator,
) -> tuple[torch.Tensor, list[tuple[int, int]] | list[None]]:
    """The attacked frames of one batch (a window when ``settings.window`` > 1) and the patch's positions."""
    if placer is not None:
        return placer.paste(x, chunk)
    # Untargeted: away from the labels the model already gave (no second forward pass to find them).
    labels = torch.tensor([p.index for p in clean], dtype=torch.long) if target is None else \
        torch.full((x.shape[0],), target, dtype=torch.long)
    nowhere: list[None] = [None] * len(chunk)
    if settings.window > 1:
        delta = shared_perturbation(view, x, labels, settings.eps, targeted=target is not None,
                                    method=settings.method, steps=settings.steps, fit_frames=settings.window_fit,
                                    generator=generator)
        return (x + delta).clamp(0.0, 1.0), nowhere
    return attack_one(view, x, _attack_settings(settings), target, labels=labels), nowhere


def _stage(progress: Progress | None, stage: str, total: int) -> Callable[[int], None] | None:
    if progress is None:
        return None
    report = progress
    return lambda done: report(stage, done, total)


def _reclassify(view: Classifier, path: Path, frame_size: tuple[int, int], batch: int, expected: int,
                progress: Callable[[int], None] | None) -> list[Prediction]:
    """The model's answer on every frame of an MP4 camo wrote, decoded again."""
    predictions: list[Prediction] = []
    for decoded in _batches(decode_file(path, frame_size), batch):
        predictions.extend(predict(view, _to_tensor(decoded)))
        if progress is not None:
            progress(len(predictions))
    if len(predictions) != expected:
        raise InputError(f"{path}: decoded {len(predictions)} frames, not the {expected} written")
    return predictions


def _attack_settings(settings: VideoSettings) -> AttackSettings:
    """The image attack's settings for a video's per-frame attack."""
    return AttackSettings(method=settings.method, eps=settings.eps, target=settings.target, steps=settings.steps,
                          seed=settings.seed)


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        log.debug("left %s in place (not empty)", folder)


def _batches(frames: Iterator[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    chunk: list[np.ndarray] = []
    for frame in frames:
        chunk.append(frame)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _gif_frame(composed: np.ndarray) -> Image.Image:
    img = Image.fromarray(composed)
    if img.width > GIF_WIDTH:
        img = img.resize((GIF_WIDTH, max(2, round(img.height * GIF_WIDTH / img.width))), Image.Resampling.BOX)
    return img.quantize(colors=256, method=Image.Quantize.FASTOCTREE)  # median cut: 50× slower per frame


def _gif_bytes(frames: Sequence[Image.Image], duration_ms: float) -> bytes:
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=list(frames[1:]), loop=0,
                   duration=max(20, round(duration_ms)), disposal=1)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------- synthetic clips


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
