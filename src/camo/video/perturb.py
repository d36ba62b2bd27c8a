"""Video-only ways to attack frames: one perturbation shared by a window of frames (on the shared step), and a
patch pasted on every frame, fixed or following the scene's motion. Per-frame attacks are the image attacks'
(:func:`camo.attack_files.attack_one`)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from camo import images
from camo.attacks import apply_patch
from camo.attacks.core import check_inputs, cross_entropy, frozen, input_gradient, resolve_labels, step
from camo.choices import LINF_METHODS
from camo.errors import InputError
from camo.models import Classifier
from camo.video.records import VideoSettings
from camo.video.view import Geometry

#: The attacks a video takes: the L∞ ones (ε is an L∞ budget in pixel units of the frame).
METHODS = LINF_METHODS


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


class PatchPlacer:
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


def load_patch(patch_file: str, target: str | None) -> tuple[torch.Tensor, str | None]:
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
