"""Cloaking face photos against an ensemble of face recognizers, and checking the result with each one's own runtime.

Every face is attacked with the shared iterative FGSM step of :mod:`camo.attacks.core` (the seed's one-step FGSM is
``steps=1``), computed only on one crop around the face that serves every recognizer's chip
(:func:`~camo.face.align.union_crop_box`), so that 24 MP photos cost what their faces cost. The model the step sees
maps that crop to every member's descriptors (dlib, FaceNet, SFace by default; any
:class:`~camo.face.recognizers.FaceRecognizer`, an ONNX file included), each through its own differentiable alignment,
of a few randomly degraded copies (expectation over transformations, EOT — Athalye et al. 2018): a mild down-and-up
resize and uniform noise of a few grey levels, which stand in for 8-bit rounding and JPEG re-compression, and a small
random shift of each chip, which stands in for the verifier's own re-detection and re-alignment.

* ``dodge`` increases Σ_m d_m(x, x₀) / t_m over the members m (d_m its distance, t_m its threshold, so every member
  counts 1 at its own match boundary and none dominates by its units; the EOT noise moves the first gradient off
  x₀, where a distance has none).
* ``decoy`` is targeted: it decreases Σ_m [(d_m(x, decoy)/t_m)² − λ (d_m(x, x₀)/t_m)²] (λ = ``push``, 2 by default),
  pulling the face towards another identity while pushing it off its own: the threat model of Fawkes (Shan et al.
  2020), a recognizer *trained* on cloaked photos learns the wrong face. With λ > 1 the push away from oneself
  counts; in the 1-nearest-neighbour experiment of bench/CLOAK_RESULTS.md it kept far more clean photos of a person
  from being identified.
* The presets are **low-frequency cloaks** (``smooth``: the change is Gaussian-blurred at the scale of facial
  features before the members see it, which transfers to recognizers outside the ensemble far better per unit of
  visible change), with a budget that shrinks on faces smaller than the chips (``size_aware``).
* ``momentum`` (MI-FGSM), a **perceptual budget** (``texture``: each pixel's ε scaled by its local contrast, so
  flat skin moves less than hair and edges), ``grey`` (brightness only) and ``blur`` (EOT) are options of
  :class:`CloakConfig`, measured in bench/ENSEMBLE_FINDINGS.md.

:func:`verify` then re-detects and asks each member's own runtime (dlib; OpenCV for FaceNet and SFace; onnxruntime
for an ONNX file) on the saved pixels: a verdict per recognizer and face (distance to the original face's descriptor
against the recognizer's threshold), PSNR/SSIM; a photo is protected only when every recognizer agrees.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from camo.attacks.core import Schedule, run
from camo.errors import InputError, NoFaceError
from camo.face.align import (
    Box,
    ChipGeometry,
    _dlib,
    _shape_predictor,
    detect_faces,
    face_landmarks,
    face_landmarks68,
    union_crop_box,
)
from camo.face.recognizers.base import FaceRecognizer, LocatedFace, descriptor_distance, locate_faces
from camo.face.recognizers.dlib_resnet import DEFAULT_TOLERANCE, DlibRecognizer, _dlib_encoder
from camo.images import ImageSource, save, to_rgb_uint8

__all__ = [
    "DEFAULT_ENSEMBLE",
    "PRESETS",
    "CloakConfig",
    "CloakResult",
    "CloakedFace",
    "DecoyChooser",
    "FaceVerdict",
    "RecognizerVerdict",
    "Verification",
    "builtin_decoy",
    "cloak",
    "cloak_photo",
    "dlib_encode",
    "gaussian_blur",
    "image_similarity",
    "preset",
    "stronger",
    "texture_budget",
    "verify",
]

CloakMode = Literal["dodge", "decoy"]

#: The recognizers ``camo cloak`` optimises against and verifies with by default (``--recognizers``).
DEFAULT_ENSEMBLE: tuple[str, ...] = ("dlib", "facenet", "sface")

#: Called after each attack step with (step number from 1, steps); faces run one after the other.
StepCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class CloakConfig:
    """How hard to cloak. Budgets are in pixel units of an image in [0, 1] (``6/255`` = six grey levels).

    Attributes:
        eps: L∞ budget: no pixel moves by more than this (less on small faces with ``size_aware``).
        steps: iterations of the shared FGSM step (1 = one-step FGSM of size ``eps``).
        step_size: per-step move; None = ``eps`` for one step, else ``2.5 · eps / steps`` (the PGD convention).
        mode: ``dodge`` (away from the person's own descriptor) or ``decoy`` (towards ``decoy``).
        decoy: the 128-D descriptor to pull towards in decoy mode; None = :func:`builtin_decoy`.
        samples: degraded copies per step (EOT); more is steadier and proportionally slower.
        noise: amplitude of the uniform noise added to each copy (models 8-bit rounding and JPEG error).
        resize: range of the random down-and-up resize factor of each copy (1 = none).
        jitter: largest random shift of each copy's face chip, in chip pixels: the verifier re-detects the cloaked
            face and its landmarks move a little, so the cloak must not depend on the exact alignment.
        tolerance: the match threshold verification uses (dlib / face_recognition: 0.6).
        push: decoy only: weight λ of the push away from the person's own descriptor (1 = only the decoy direction).
        seed: seed of the EOT randomness, so results are reproducible.
        momentum: MI-FGSM's decay μ of the shared step (None = plain gradient sign), for transfer to recognizers
            outside the ensemble (Dong et al. 2018).
        texture: perceptual budget: None = the uniform ε everywhere; a number t (in [0, 1] pixel units, e.g.
            8/255) = each pixel's budget is ε · clip(σ / t, ``floor``, 1), σ the local standard deviation of the
            original's luminance over a 5×5 window: full ε on texture, edges and hair, less on flat skin.
        floor: perceptual budget only: the smallest fraction of ε any pixel gets.
        cap: dodge only: a member's distance ÷ threshold stops counting above this (None = never), so that the
            step's effort goes to the members that still match instead of pushing one already far beyond.
        smooth: low-frequency cloak: None = the step's pattern as it is; a number s = the change is Gaussian-blurred
            with σ = s chip pixels (of the first member's chip, about a face wide) before the members see it, so
            the cloak is smooth at the scale of facial features (translation-invariant gradients, Dong et al.
            2019, as a change of variables: the step's gradient is the blurred gradient).
        blur: EOT: each degraded copy is also Gaussian-blurred with σ drawn uniformly from [0, ``blur``] chip
            pixels (0 = never), so the cloak does not live in the finest detail a recognizer may not see.
        grey: the change is the same in red, green and blue (brightness only, no colour cast on skin).
        size_aware: a face smaller than the recognizers' chips (each photo pixel stretched over several chip
            pixels) gets a budget scaled down with it, to two thirds of ``eps`` at most: on such faces the same ε
            moves more of the chip and shows more (measured on 92×112 ORL photos, bench/ENSEMBLE_FINDINGS.md).
    """

    eps: float = 24 / 255
    steps: int = 10
    step_size: float | None = None
    mode: CloakMode = "dodge"
    decoy: tuple[float, ...] | None = None
    samples: int = 2
    noise: float = 3 / 255
    resize: tuple[float, float] = (0.7, 1.0)
    jitter: float = 1.5
    tolerance: float = DEFAULT_TOLERANCE
    push: float = 2.0
    seed: int = 0
    momentum: float | None = None
    texture: float | None = None
    floor: float = 0.25
    cap: float | None = None
    smooth: float | None = 2.0
    blur: float = 0.0
    size_aware: bool = True
    grey: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.eps) and 0 < self.eps <= 64 / 255):
            raise InputError(f"eps must be in (0, 64/255]; got {self.eps:g} (give pixel units like 6/255)")
        if self.steps < 1:
            raise InputError(f"steps must be >= 1; got {self.steps}")
        if self.step_size is not None and not self.step_size > 0:
            raise InputError(f"step_size must be > 0; got {self.step_size}")
        if self.mode not in ("dodge", "decoy"):
            raise InputError(f"mode must be 'dodge' or 'decoy'; got {self.mode!r}")
        if self.decoy is not None and len(self.decoy) != 128:
            raise InputError(f"a decoy descriptor has 128 numbers; got {len(self.decoy)}")
        if self.samples < 1 or self.noise < 0 or self.jitter < 0 or not 0 < self.resize[0] <= self.resize[1] <= 1:
            raise InputError(f"need samples >= 1, noise >= 0, jitter >= 0, 0 < resize[0] <= resize[1] <= 1; got "
                             f"samples={self.samples}, noise={self.noise:g}, jitter={self.jitter:g}, "
                             f"resize={self.resize}")
        if not self.tolerance > 0:
            raise InputError(f"tolerance must be > 0; got {self.tolerance}")
        if not (math.isfinite(self.push) and self.push >= 0):
            raise InputError(f"push must be a finite number >= 0; got {self.push}")
        if self.texture is not None and not (math.isfinite(self.texture) and self.texture > 0):
            raise InputError(f"texture must be a finite number > 0; got {self.texture}")
        if self.cap is not None and not (math.isfinite(self.cap) and self.cap > 0):
            raise InputError(f"cap must be a finite number > 0; got {self.cap}")
        if not 0 <= self.floor <= 1:
            raise InputError(f"floor must be in [0, 1]; got {self.floor}")
        if self.momentum is not None and not (math.isfinite(self.momentum) and self.momentum >= 0):
            raise InputError(f"momentum must be a finite number >= 0; got {self.momentum}")
        if self.smooth is not None and not (math.isfinite(self.smooth) and 0 < self.smooth <= 20):
            raise InputError(f"smooth must be a number in (0, 20] (chip pixels); got {self.smooth}")
        if not (math.isfinite(self.blur) and 0 <= self.blur <= 20):
            raise InputError(f"blur must be a number in [0, 20] (chip pixels); got {self.blur}")

    @property
    def effective_step_size(self) -> float:
        if self.step_size is not None:
            return self.step_size
        return self.eps if self.steps == 1 else 2.5 * self.eps / self.steps

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["decoy"] = None if self.decoy is None else "descriptor"
        data["eps_255"] = round(self.eps * 255, 3)
        return data


#: Presets (dodge and decoy), weakest to strongest; "mid" is the default. All three are low-frequency cloaks (the
#: change blurred at σ = 2 chip pixels), which buy far more transfer to recognizers outside the ensemble per unit of
#: visible change than a uniform ε and so can afford larger budgets (bench/ENSEMBLE_FINDINGS.md); faces smaller than
#: the chips get up to a third less (``size_aware``). The former uniform presets (4/255 ×6, 6/255 ×7, 10/255 ×20)
#: left a left-out FaceNet matching 75 % of photos at mid.
PRESETS: dict[str, CloakConfig] = {
    "low": CloakConfig(eps=16 / 255, steps=10),
    "mid": CloakConfig(eps=24 / 255, steps=10),
    "high": CloakConfig(eps=32 / 255, steps=10),
}


def preset(name: str, mode: CloakMode = "dodge") -> CloakConfig:
    """The preset ``name`` (low, mid, high) for a mode: :data:`PRESETS` with that mode.

    Raises:
        InputError: an unknown preset name.
    """
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return replace(PRESETS[name], mode=mode)


def stronger(config: CloakConfig) -> CloakConfig | None:
    """The next preset's strength (ε, steps) with every other setting of ``config`` kept (texture, momentum, EOT
    samples, decoy, seed...), or None when no preset is stronger. Presets differ only in ε and steps."""
    for name in PRESETS:
        candidate = preset(name, config.mode)
        if candidate.eps > config.eps or (candidate.eps == config.eps and candidate.steps > config.steps):
            return replace(config, eps=candidate.eps, steps=candidate.steps, step_size=candidate.step_size)
    return None


@dataclass(frozen=True, eq=False)
class CloakedFace:
    """One face as the cloak saw it.

    Attributes:
        box: dlib's detection box in the original photo.
        descriptor: our twin's descriptor of the original face (the identity the cloak moved away from; within
            about 0.01 of dlib's own encoding, which :func:`verify` computes), shape (128,).
        crop: (left, top, right, bottom) of the region that was changed (right/bottom exclusive).
        twin_distance: our PyTorch twin's distance between the original and cloaked face (no degradation).
        decoy: decoy mode: the decoy's name ("given" for a descriptor in the config); None in dodge mode.
    """

    box: Box
    descriptor: np.ndarray
    crop: tuple[int, int, int, int]
    twin_distance: float
    decoy: str | None = None


@dataclass(frozen=True)
class FaceVerdict:
    """One recognizer's verdict on one cloaked face: distance from the original face to the nearest face in the
    cloaked file, by that recognizer's reference runtime.

    ``distance`` is None when no face at all is found in the cloaked file (then nothing can be matched).
    """

    box: Box
    distance: float | None
    protected: bool

    def to_dict(self) -> dict[str, Any]:
        return {"box": list(self.box), "distance": self.distance, "protected": self.protected}


@dataclass(frozen=True)
class RecognizerVerdict:
    """What one recognizer's own runtime says about every face of a cloaked file.

    Attributes:
        recognizer: its name (``dlib``, ``facenet``, ``sface``, an ONNX file's name).
        metric: ``euclidean`` or ``cosine``; ``threshold``: same person when distance ≤ threshold.
        faces: one verdict per original face.
    """

    recognizer: str
    metric: str
    threshold: float
    faces: tuple[FaceVerdict, ...]

    @property
    def protected(self) -> bool:
        """True when this recognizer matches none of the original faces any more."""
        return bool(self.faces) and all(face.protected for face in self.faces)

    @property
    def min_distance(self) -> float | None:
        """The smallest distance over the faces (None when no face is found at all)."""
        known = [f.distance for f in self.faces if f.distance is not None]
        return min(known) if known else None

    def verdict(self) -> str:
        """One sentence for people."""
        worst = self.min_distance
        if worst is None:
            return f"protected: {self.recognizer} finds no face"
        if self.protected:
            return f"protected: {self.recognizer} no longer matches (distance {worst:.2f} > {self.threshold:g})"
        failed = sum(not f.protected for f in self.faces)
        return (f"NOT protected: {self.recognizer} still matches {failed} of {len(self.faces)} faces "
                f"(distance {worst:.2f} ≤ {self.threshold:g})")

    def to_dict(self) -> dict[str, Any]:
        return {"recognizer": self.recognizer, "protected": self.protected, "min_distance": self.min_distance,
                "threshold": self.threshold, "metric": self.metric, "verdict": self.verdict(),
                "faces": [f.to_dict() for f in self.faces]}


@dataclass(frozen=True)
class Verification:
    """What each recognizer's own runtime says about a cloaked image, and how much the image changed.

    A photo is protected only when **every** recognizer agrees that none of its faces matches any more.

    Attributes:
        recognizers: one verdict per recognizer, in the cloak's order (dlib first by default).
        faces_found: faces the shared detector finds in the cloaked image.
        psnr, ssim: against the original, over the whole photo (dB; SSIM in [−1, 1]); psnr is None if identical.
        face_psnr, face_ssim: the same over the changed region only (stricter: the background is untouched).
        uncloaked: faces found in the cloaked image that lie on none of the cloaked faces (a face the cloak's
            detector missed): such a photo is not protected.
    """

    recognizers: tuple[RecognizerVerdict, ...]
    faces_found: int
    psnr: float | None
    ssim: float
    face_psnr: float | None
    face_ssim: float
    uncloaked: int = 0

    @property
    def faces(self) -> tuple[FaceVerdict, ...]:
        """The first recognizer's per-face verdicts (dlib's by default)."""
        return self.recognizers[0].faces if self.recognizers else ()

    @property
    def tolerance(self) -> float:
        """The first recognizer's threshold."""
        return self.recognizers[0].threshold if self.recognizers else 0.0

    @property
    def protected(self) -> bool:
        """True when no recognizer matches any original face and no face was left uncloaked."""
        return (bool(self.recognizers) and all(r.protected for r in self.recognizers) and self.uncloaked == 0)

    @property
    def min_distance(self) -> float | None:
        """The first recognizer's smallest distance over the faces (None when no face is found)."""
        return self.recognizers[0].min_distance if self.recognizers else None

    @property
    def margin(self) -> float | None:
        """The smallest distance ÷ threshold over recognizers and faces (> 1: no recognizer matches)."""
        ratios = [r.min_distance / r.threshold for r in self.recognizers if r.min_distance is not None]
        return min(ratios) if ratios else None

    def verdict(self) -> str:
        """One line for people: what the recognizers now say."""
        if not self.faces:
            return "no face"
        if self.faces_found == 0:
            return "protected: no face is found in the cloaked photo"
        if len(self.recognizers) == 1 and self.uncloaked == 0:
            return self.recognizers[0].verdict()
        names = ", ".join(r.recognizer for r in self.recognizers)
        if self.protected:
            return f"protected: none of {names} matches"
        matching = [r.recognizer for r in self.recognizers if not r.protected]
        if not matching:
            return f"NOT protected: {self.uncloaked} face(s) were not cloaked"
        return f"NOT protected: {', '.join(matching)} still match{'es' if len(matching) == 1 else ''}"

    def to_dict(self) -> dict[str, Any]:
        return {"protected": self.protected, "verdict": self.verdict(), "tolerance": self.tolerance,
                "faces_found": self.faces_found, "uncloaked": self.uncloaked, "min_distance": self.min_distance,
                "margin": self.margin, "psnr": self.psnr, "ssim": self.ssim, "face_psnr": self.face_psnr,
                "face_ssim": self.face_ssim, "faces": [f.to_dict() for f in self.faces],
                "recognizers": [r.to_dict() for r in self.recognizers]}


@dataclass(frozen=True, eq=False)
class CloakResult:
    """A cloaked image and what the cloak did.

    Attributes:
        pixels: the cloaked photo, RGB uint8 (H, W, 3): exactly what an 8-bit PNG holds.
        original: the photo it came from, upright RGB uint8.
        faces: the faces cloaked, largest first.
        config: the settings used.
        seconds: wall time of detection plus optimisation.
        verification: dlib's verdict on ``pixels`` (None when ``cloak(..., verify=False)``).
    """

    pixels: np.ndarray
    original: np.ndarray
    faces: tuple[CloakedFace, ...]
    config: CloakConfig
    seconds: float
    verification: Verification | None = None

    @property
    def linf(self) -> int:
        """Largest change of any pixel, in grey levels."""
        return int(np.abs(self.pixels.astype(np.int16) - self.original.astype(np.int16)).max(initial=0))

    def to_dict(self) -> dict[str, Any]:
        return {"faces": len(self.faces), "twin_distances": [round(f.twin_distance, 4) for f in self.faces],
                "decoys": [f.decoy for f in self.faces],
                "linf_255": self.linf, "seconds": round(self.seconds, 3), "config": self.config.to_dict(),
                "verification": None if self.verification is None else self.verification.to_dict()}


def dlib_encode(pixels: np.ndarray, boxes: Sequence[Box]) -> list[np.ndarray]:
    """dlib's own landmarks and descriptor for given face boxes (``compute_face_descriptor(image, shape)``).

    Shape: (H, W, 3) uint8 -> one (128,) float64 per box.
    """
    dlib = _dlib()
    predictor, encoder = _shape_predictor(), _dlib_encoder()
    return [np.array(encoder.compute_face_descriptor(pixels, predictor(pixels, dlib.rectangle(*box))),
                     dtype=np.float64) for box in boxes]


class _DegradedDescriptors(nn.Module):
    """crop → every member's descriptors of ``samples`` randomly degraded copies, side by side: what the shared
    step differentiates. The copies are made once per step and shared by all members (each warps them to its own
    chip through its own differentiable alignment).

    Shape: (1, 3, H, W) -> (samples, ΣD) with the members' descriptors concatenated in order.
    """

    def __init__(self, members: Sequence[FaceRecognizer], geometries: Sequence[ChipGeometry], config: CloakConfig,
                 generator: torch.Generator) -> None:
        super().__init__()
        self.members, self.geometries = list(members), list(geometries)
        self.config, self.generator = config, generator
        # Registered, so frozen() switches their gradients off for the attack.
        self.nets = nn.ModuleList([member.network for member in self.members])
        # A new Module is in training mode, and frozen() restores that mode on exit, which would put the shared
        # networks into training mode for everyone else: this wrapper is an inference-only view.
        self.eval()

    def _uniform(self, low: float, high: float) -> float:
        return low + (high - low) * float(torch.rand((), generator=self.generator))

    def clean(self, x: torch.Tensor) -> torch.Tensor:
        """Every member's descriptor of the undegraded crop. Shape: (1, 3, H, W) -> (1, ΣD)."""
        with torch.no_grad():
            return torch.cat([m.descriptor(x, g) for m, g in zip(self.members, self.geometries, strict=True)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        copies, shifts = [], []
        height, width = x.shape[-2:]
        for _ in range(self.config.samples):
            # One shift in photo pixels per copy, scaled per member below (chips have different pixel sizes).
            shifts.append((self._uniform(-1, 1), self._uniform(-1, 1)))
            copy = x
            factor = self._uniform(*self.config.resize)
            if factor < 0.999 and min(height, width) * factor >= 8:
                # Down-and-up resizing is the low-pass part of JPEG and of platforms' re-scaling.
                small = F.interpolate(copy, scale_factor=factor, mode="bilinear", antialias=True,
                                      align_corners=False)
                copy = F.interpolate(small, size=(height, width), mode="bilinear", align_corners=False)
            if self.config.blur > 0:
                sigma = self._uniform(0, self.config.blur) * self.geometries[0].scale
                if sigma >= 0.3:
                    copy = gaussian_blur(copy, sigma)
            if self.config.noise > 0:
                noise = torch.rand(copy.shape, generator=self.generator, dtype=copy.dtype)
                copy = copy + (noise * 2 - 1) * self.config.noise
            copies.append(copy)
        batch = torch.cat(copies)
        outputs = []
        for member, geometry in zip(self.members, self.geometries, strict=True):
            reach = self.config.jitter * geometry.scale
            moved = [geometry.translated(dx * reach, dy * reach) for dx, dy in shifts]
            outputs.append(member.descriptor(batch, moved))
        return torch.cat(outputs, dim=1)


def texture_budget(pixels: np.ndarray, texture: float, floor: float) -> torch.Tensor:
    """The perceptual budget's per-pixel fraction of ε: clip(σ / texture, floor, 1), σ the local standard deviation
    of luminance (5×5 window, values in [0, 1]). Flat skin gets ``floor``, texture and edges get 1.

    Shape: (H, W, 3) uint8 -> (1, 1, H, W) float in [floor, 1].
    """
    x = _crop_tensor(pixels)
    luma = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
    mean = F.avg_pool2d(luma, 5, stride=1, padding=2, count_include_pad=False)
    square = F.avg_pool2d(luma**2, 5, stride=1, padding=2, count_include_pad=False)
    sigma = (square - mean**2).clamp_min(0).sqrt()
    return (sigma / texture).clamp(floor, 1.0)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of each channel (σ in pixels, kernel radius ⌈3σ⌉, edges reflected); differentiable.
    A normalised positive kernel: every output pixel is a weighted mean of inputs, so a change bounded by ε stays
    bounded by ε. Shape: (N, C, H, W) -> (N, C, H, W).
    """
    radius = max(1, math.ceil(3 * sigma))
    radius = min(radius, x.shape[-1] - 1, x.shape[-2] - 1)
    if radius < 1:
        return x
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = x.shape[1]
    padded = F.pad(x, (radius, radius, 0, 0), mode="reflect")
    x = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    padded = F.pad(x, (0, 0, radius, radius), mode="reflect")
    return F.conv2d(padded, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


class _Budgeted(nn.Module):
    """The perceptual budget and the low-frequency cloak as a change of variables: the step moves x′ in the
    uniform ε-ball, the members see x₀ + m ⊙ G(P(x′ − x₀)) (P: the mean over red, green and blue when ``grey``; G:
    a Gaussian blur of σ ``smooth`` pixels; each or both may be absent), so pixel i moves at most m_i · ε (P and G
    are weighted means; the result is clipped to [0, 1]).

    Shape: (1, 3, H, W) -> the wrapped model's output.
    """

    def __init__(self, model: nn.Module, start: torch.Tensor, fraction: torch.Tensor | None,
                 smooth: float | None = None, grey: bool = False) -> None:
        super().__init__()
        self.model, self.start, self.fraction, self.smooth, self.grey = model, start, fraction, smooth, grey
        self.eval()

    def pixels(self, x: torch.Tensor) -> torch.Tensor:
        """The pixels the members see for x′."""
        change = x - self.start
        if self.grey:
            change = change.mean(dim=1, keepdim=True).expand_as(change)
        if self.smooth is not None:
            change = gaussian_blur(change, self.smooth)
        if self.fraction is not None:
            change = self.fraction * change
        moved = self.start + change
        return moved if self.smooth is None and not self.grey else moved.clamp(0.0, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(self.pixels(x))
        return out


def _member_slices(members: Sequence[FaceRecognizer]) -> list[tuple[int, int, FaceRecognizer]]:
    """(start, end, member) of each member's columns in the concatenated descriptors."""
    slices, start = [], 0
    for member in members:
        slices.append((start, start + member.descriptor_size, member))
        start += member.descriptor_size
    return slices


def _relative_distances(members: Sequence[FaceRecognizer], output: torch.Tensor,
                        reference: torch.Tensor) -> list[torch.Tensor]:
    """Each member's distance between output rows and the reference, divided by that member's threshold (1 = the
    match boundary), so that no member dominates the sum. Shape: (N, ΣD), (1, ΣD) -> [(N,)] per member."""
    found = []
    for start, end, member in _member_slices(members):
        a, b = output[:, start:end], reference[:, start:end].expand(output.shape[0], -1)
        if member.metric == "euclidean":
            # sqrt(·+tiny): the plain norm has no gradient at zero distance (FACTS.md); EOT noise moves off it.
            distance = ((a - b) ** 2).sum(dim=1).add(1e-12).sqrt()
        else:
            distance = member.torch_distance(a, b)
        found.append(distance / member.threshold)
    return found


def _dodge_loss(members: Sequence[FaceRecognizer],
                cap: float | None = None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Σ over members of the mean (distance ÷ threshold) from the face's own descriptors, each clipped at ``cap``
    when given: the step increases it."""

    def loss(output: torch.Tensor, own: torch.Tensor) -> torch.Tensor:
        relative = _relative_distances(members, output, own)
        if cap is not None:
            relative = [d.clamp(max=cap) for d in relative]
        return torch.stack([d.mean() for d in relative]).sum()

    return loss


def _decoy_loss(members: Sequence[FaceRecognizer],
                push: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Σ over members of (d_decoy/t)² − push·(d_own/t)², for a *targeted* step to decrease: towards the decoy,
    away from oneself (t: each member's threshold).

    The "label" holds both descriptor sets side by side, shape (1, 2·ΣD): decoy, then own.
    """
    total = sum(member.descriptor_size for member in members)

    def loss(output: torch.Tensor, decoy_and_own: torch.Tensor) -> torch.Tensor:
        decoy, own = decoy_and_own[:, :total], decoy_and_own[:, total:]
        pull = _relative_distances(members, output, decoy)
        away = _relative_distances(members, output, own)
        return torch.stack([(p**2).mean() - push * (a**2).mean() for p, a in zip(pull, away, strict=True)]).sum()

    return loss


def _crop_tensor(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


@functools.lru_cache(maxsize=1)
def _builtin_decoys() -> tuple[tuple[str, np.ndarray], ...]:
    """dlib descriptors of faces bundled with installed packages: matplotlib's Grace Hopper, skimage's astronaut."""
    import matplotlib.cbook
    from skimage import data

    found = []
    hopper = to_rgb_uint8(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    for name, pixels in (("grace_hopper", hopper), ("astronaut", data.astronaut())):
        boxes = detect_faces(pixels)
        if boxes:
            found.append((name, dlib_encode(pixels, boxes[:1])[0]))
    if not found:
        raise NoFaceError("no built-in decoy face could be detected; give a decoy photo")
    return tuple(found)


def builtin_decoy(avoid: np.ndarray | None = None) -> tuple[str, np.ndarray]:
    """A decoy identity from bundled public-domain photos: the one farthest from ``avoid`` (the person to hide).

    Returns:
        (name, descriptor) with the descriptor shape (128,).
    """
    decoys = _builtin_decoys()
    if avoid is None:
        return decoys[0]
    return max(decoys, key=lambda item: float(np.linalg.norm(item[1] - avoid)))


class DecoyChooser:
    """One decoy identity per person, the same for all their photos (Fawkes-style), chosen without being told who is
    who: a face within ``tolerance`` of a face seen before (dlib's "same person") gets that face's decoy; a new
    person gets the candidate farthest from them.

    Args:
        candidates: (name, descriptor) pairs to choose from; default: the built-in faces (:func:`builtin_decoy`).
        tolerance: dlib's same-person threshold.
    """

    def __init__(self, candidates: Sequence[tuple[str, np.ndarray]] | None = None,
                 tolerance: float = DEFAULT_TOLERANCE) -> None:
        self._candidates = tuple(candidates) if candidates is not None else None
        if self._candidates is not None and not self._candidates:
            raise InputError("a DecoyChooser needs at least one candidate decoy")
        self.tolerance = tolerance
        self._people: list[tuple[np.ndarray, tuple[str, np.ndarray]]] = []

    def __call__(self, descriptor: np.ndarray) -> tuple[str, np.ndarray]:
        """The decoy (name, descriptor) for a face's own descriptor, shape (128,)."""
        for seen, decoy in self._people:
            if float(np.linalg.norm(seen - descriptor)) <= self.tolerance:
                return decoy
        candidates = self._candidates if self._candidates is not None else _builtin_decoys()
        decoy = max(candidates, key=lambda item: float(np.linalg.norm(item[1] - descriptor)))
        self._people.append((np.asarray(descriptor, dtype=np.float64).copy(), decoy))
        return decoy


@functools.lru_cache(maxsize=16)
def _builtin_decoy_pixels(name: str) -> np.ndarray:
    import matplotlib.cbook
    from skimage import data

    if name == "grace_hopper":
        return to_rgb_uint8(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    return np.asarray(data.astronaut())


_DECOY_DESCRIPTORS: dict[tuple[str, str], np.ndarray] = {}


def _member_decoy(name: str, member: FaceRecognizer) -> np.ndarray:
    """A member's twin descriptor of a built-in decoy face (cached per process). Shape: -> (D,)."""
    key = (name, member.name)
    if key not in _DECOY_DESCRIPTORS:
        found = member.faces(_builtin_decoy_pixels(name))
        if not found:
            raise NoFaceError(f"no face found in the built-in decoy {name}")
        _DECOY_DESCRIPTORS[key] = found[0].descriptor
    return _DECOY_DESCRIPTORS[key]


def _members(recognizer: FaceRecognizer | None, recognizers: Sequence[FaceRecognizer] | None) -> list[FaceRecognizer]:
    if recognizers is not None:
        members = list(recognizers)
        if not members:
            raise InputError("the cloak needs at least one recognizer")
        if len({m.name for m in members}) != len(members):
            raise InputError("a recognizer is named twice in the ensemble")
        return members
    return [recognizer if recognizer is not None else DlibRecognizer()]


def cloak(
    image: ImageSource,
    *,
    recognizer: FaceRecognizer | None = None,
    recognizers: Sequence[FaceRecognizer] | None = None,
    config: CloakConfig = PRESETS["mid"],
    verify_result: bool = True,
    callback: StepCallback | None = None,
    decoys: DecoyChooser | None = None,
    upsample: int | None = None,
) -> CloakResult:
    """Cloak every face in a photo so that no recognizer of the ensemble matches it to the person any more.

    Each face is attacked once, on one crop that serves every member's chip (:func:`~camo.face.align.union_crop_box`);
    each member sees it through its own differentiable alignment, and the loss sums each member's distance divided by
    its own threshold, so no member dominates.

    Args:
        image: a path, PIL image or RGB/grey uint8 array (EXIF orientation applied, alpha composited on white).
        recognizer: a single recognizer to attack (when ``recognizers`` is not given; default: dlib).
        recognizers: the ensemble (e.g. :data:`DEFAULT_ENSEMBLE` through
            :func:`~camo.face.recognizers.get_recognizers`); the first member's ``upsample`` drives detection.
        config: budget and mode; see :data:`PRESETS`.
        verify_result: run :func:`verify` on the 8-bit result (each member's own runtime) and attach it.
        callback: progress after each step of each face.
        decoys: decoy mode without ``config.decoy``: picks each face's decoy (share one across a person's photos);
            default: the built-in face farthest from the face. Decoy mode needs dlib in the ensemble (the decoy is
            chosen by dlib's descriptor); a given ``config.decoy`` (a dlib descriptor) needs dlib alone.
        upsample: detector upsampling used to find the faces to cloak (default: the first member's). 0 is four
            times faster on large photos but misses faces under about 80 px; :func:`cloak_photo` uses it on large
            photos and falls back to the full detector when the verification finds a face that was not cloaked.

    Returns:
        The cloaked pixels, the faces and, unless disabled, the verification of the 8-bit pixels.

    Raises:
        NoFaceError: the shared detector finds no face in the photo.
        ImageError, InputError: unreadable image or bad settings.
        ModelError: a recognizer's model files are missing.

    Shape: any (H, W[, C]) photo -> pixels (H, W, 3) uint8.
    """
    start = time.perf_counter()
    members = _members(recognizer, recognizers)
    names = [m.name for m in members]
    if config.mode == "decoy":
        if "dlib" not in names:
            raise InputError("decoy mode chooses the decoy with dlib: include dlib in the recognizers")
        if config.decoy is not None and names != ["dlib"]:
            raise InputError("a given decoy descriptor is dlib's: use it with the dlib recognizer alone")
    original = to_rgb_uint8(image)
    located = locate_faces(original, upsample=members[0].upsample if upsample is None else upsample,
                           landmarks68=any(m.needs_landmarks68 for m in members))
    if not located:
        raise NoFaceError("no face found (dlib's HOG detector sees frontal faces of about 40 px and more)")
    output = original.copy()
    generator = torch.Generator().manual_seed(config.seed)
    schedule = Schedule(steps=config.steps, step_size=config.effective_step_size, momentum=config.momentum)
    slices = _member_slices(members)
    faces = []
    for face in located:
        geometries = [m.geometry(face) for m in members]
        left, top, right, bottom = union_crop_box(geometries, original.shape[:2])
        if right - left < 8 or bottom - top < 8:
            continue  # the chips lie (almost) wholly outside the photo: nothing of this face can be changed
        local = [g.translated(-left, -top) for g in geometries]
        model = _DegradedDescriptors(members, local, config, generator)
        # The identity to move away from, by each twin; verify() measures against each reference runtime.
        own = model.clean(_crop_tensor(original[top:bottom, left:right]))
        # Read from the running output so that a neighbouring face's cloak is kept where crops overlap.
        x = _crop_tensor(output[top:bottom, left:right])
        attacked: nn.Module = model
        if config.texture is not None or config.smooth is not None or config.grey:
            fraction = None if config.texture is None else texture_budget(original[top:bottom, left:right],
                                                                          config.texture, config.floor)
            # σ in chip pixels: the same smoothness relative to the face at every photo size. (A floor of σ photo
            # pixels for small faces was measured and dropped: on 92×112 ORL photos it raised SSIM 0.88 → 0.92 but
            # lost most of the protection, bench/ENSEMBLE_FINDINGS.md.)
            smooth = None if config.smooth is None else config.smooth * geometries[0].scale
            attacked = _Budgeted(model, x, fraction, smooth, config.grey)
        decoy_name = None
        dlib_own = own[0, slices[names.index("dlib")][0]:slices[names.index("dlib")][1]].double().numpy() \
            if "dlib" in names else own[0, :members[0].descriptor_size].double().numpy()
        eps = config.eps * (min(1.0, max(2 / 3, geometries[0].scale)) if config.size_aware else 1.0)
        if config.mode == "dodge":
            x_adv = run(attacked, x, own, eps, schedule, targeted=False, loss=_dodge_loss(members, config.cap),
                        callback=callback)
        else:
            if config.decoy is not None:
                decoy_name, targets = "given", [np.asarray(config.decoy)]
            else:
                decoy_name, _ = (decoys or builtin_decoy)(dlib_own)
                targets = [_member_decoy(decoy_name, m) for m in members]
            decoy = torch.from_numpy(np.concatenate(targets)).float().unsqueeze(0)
            # The "label" holds both: the targeted step descends towards the decoy and away from self.
            x_adv = run(attacked, x, torch.cat((decoy, own), dim=1), eps, schedule, targeted=True,
                        loss=_decoy_loss(members, config.push), callback=callback)
        if isinstance(attacked, _Budgeted):
            x_adv = attacked.pixels(x_adv)
        output[top:bottom, left:right] = np.round(x_adv[0].permute(1, 2, 0).numpy() * 255.0).astype(np.uint8)
        after = model.clean(_crop_tensor(output[top:bottom, left:right]))
        first = slices[0]
        twin = float(np.linalg.norm(after[0, first[0]:first[1]].double().numpy()
                                    - own[0, first[0]:first[1]].double().numpy())) \
            if members[0].metric == "euclidean" else float(members[0].torch_distance(
                after[:, first[0]:first[1]], own[:, first[0]:first[1]])[0])
        faces.append(CloakedFace(box=face.box, descriptor=own[0, first[0]:first[1]].double().numpy(),
                                 crop=(left, top, right, bottom), twin_distance=twin, decoy=decoy_name))
    # Overlapping crops were each projected around their own start; keep the whole photo inside the ε-ball.
    # Only the crops changed, so only they are checked: a 24 MP photo never gets whole-image int16 copies.
    budget = math.floor(config.eps * 255 + 1e-6)
    for cloaked_face in faces:
        left, top, right, bottom = cloaked_face.crop
        before = original[top:bottom, left:right].astype(np.int16)
        delta = np.clip(output[top:bottom, left:right].astype(np.int16) - before, -budget, budget)
        output[top:bottom, left:right] = (before + delta).astype(np.uint8)
    seconds = time.perf_counter() - start
    result = CloakResult(pixels=output, original=original, faces=tuple(faces), config=config, seconds=seconds)
    if verify_result:
        result = replace(result, verification=verify(original, output, result.faces, recognizers=members,
                                                     tolerance=config.tolerance))
    return result


def verify(
    original: np.ndarray,
    cloaked: ImageSource,
    faces: Sequence[CloakedFace],
    *,
    recognizer: FaceRecognizer | None = None,
    recognizers: Sequence[FaceRecognizer] | None = None,
    tolerance: float | None = None,
) -> Verification:
    """Each recognizer's own runtime on the cloaked image: does any face in it still match each original face?

    For each recognizer, a face counts as protected when every face found in the cloaked image lies farther than
    the recognizer's threshold from the reference runtime's descriptor of the original face (or when no face is
    found at all). That descriptor is computed here, on the original, from the box the shared detector finds at the
    face in the cloaked image (from every such box, when there are several: none may match). Detection runs once
    on each image and serves every recognizer.

    Args:
        original: the original photo, RGB uint8.
        cloaked: the cloaked image: pixels, or the saved file's path (then it is read back, as a user would).
        faces: the faces of the original (from :func:`cloak`).
        recognizer: a single recognizer (when ``recognizers`` is not given; default dlib).
        recognizers: the recognizers to ask; the first one's ``upsample`` drives detection.
        tolerance: overrides dlib's threshold (default: each recognizer's own).

    Returns:
        The verdict per recognizer and face, and PSNR/SSIM against the original.

    Raises:
        InputError: the cloaked image has another size than the original.
    """
    members = _members(recognizer, recognizers)
    pixels = to_rgb_uint8(cloaked)
    if pixels.shape != original.shape:
        raise InputError(f"the cloaked image is {pixels.shape[1]}×{pixels.shape[0]}, the original "
                         f"{original.shape[1]}×{original.shape[0]}: they must have the same size")
    need68 = any(m.needs_landmarks68 for m in members)
    # The shared detector as face_recognition runs it: HOG (upsampled once), then each recognizer's own pipeline.
    found = locate_faces(pixels, upsample=members[0].upsample, landmarks68=need68)
    boxes = [f.box for f in found]
    # The original face from the box the verifier finds at it in the cloaked image (the box face_recognition would
    # find in the original, unless the cloak moved it), or from the cloak's own box when none is found there.
    here = [[box for box in boxes if _centre_inside(box, face.box)] or [face.box] for face in faces]
    wanted = sorted({box for boxes_here in here for box in boxes_here})
    on_original = {box: LocatedFace(box, face_landmarks(original, box),
                                    face_landmarks68(original, box) if need68 else None) for box in wanted}
    verdicts = []
    for member in members:
        threshold = tolerance if tolerance is not None and member.name == "dlib" else member.threshold
        after = member.reference_descriptors(pixels, found) if found else []
        before = dict(zip(wanted, member.reference_descriptors(original, [on_original[b] for b in wanted]),
                          strict=True))
        per_face = []
        for face, boxes_here in zip(faces, here, strict=True):
            distance = min((descriptor_distance(d, before[b], member.metric) for d in after for b in boxes_here),
                           default=None)
            per_face.append(FaceVerdict(box=face.box, distance=distance,
                                        protected=distance is None or distance > threshold))
        verdicts.append(RecognizerVerdict(recognizer=member.name, metric=member.metric, threshold=threshold,
                                          faces=tuple(per_face)))
    uncloaked = sum(not any(_centre_inside(box, face.box) for face in faces) for box in boxes)
    similarity = image_similarity(original, pixels)
    return Verification(recognizers=tuple(verdicts), faces_found=len(found), uncloaked=uncloaked, **similarity)


def _centre_inside(box: Box, other: Box) -> bool:
    """Whether ``box``'s centre lies in ``other`` (inclusive): the same face, detected twice."""
    x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return other[0] <= x <= other[2] and other[1] <= y <= other[3]


_SSIM_WINDOW = 7  # scikit-image's default: uniform 7×7 windows


def image_similarity(original: np.ndarray, changed: np.ndarray) -> dict[str, Any]:
    """PSNR and SSIM (scikit-image, 7×7 uniform windows, per channel) of the whole photo and of its changed region.

    The whole-photo SSIM is computed only around the changed pixels: every window that holds no changed pixel has
    SSIM exactly 1, so the mean over the photo follows from the changed region alone (equal to
    ``structural_similarity(original, changed, channel_axis=2)`` up to float rounding, at a fraction of the cost on
    large photos).

    Returns:
        ``psnr``, ``ssim``, ``face_psnr``, ``face_ssim``; PSNRs are None for identical images.

    Shape: (H, W, 3) uint8, (H, W, 3) uint8.
    """
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    differs = np.any(original != changed, axis=2)
    if not differs.any():
        return {"psnr": None, "ssim": 1.0, "face_psnr": None, "face_ssim": 1.0}
    rows, cols = np.nonzero(differs)
    height, width = differs.shape
    pad = _SSIM_WINDOW // 2
    r0, r1, c0, c1 = int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1
    # Windows centred in [r0 - pad, r1 + pad) touch changed pixels; computing on a region 2·pad larger makes
    # those windows lie wholly inside it, so their values equal the whole-photo ones.
    R0, R1 = max(0, r0 - 2 * pad), min(height, r1 + 2 * pad)
    C0, C1 = max(0, c0 - 2 * pad), min(width, c1 + 2 * pad)
    a, b = original[R0:R1, C0:C1], changed[R0:R1, C0:C1]
    region_ssim, ssim_map = structural_similarity(a, b, channel_axis=2, data_range=255, full=True)
    # Centres whose window is inside the photo (skimage averages only those) and near a changed pixel.
    y0, y1 = max(pad, r0 - pad), min(height - pad, r1 + pad)
    x0, x1 = max(pad, c0 - pad), min(width - pad, c1 + pad)
    loss = float((1.0 - ssim_map[y0 - R0 : y1 - R0, x0 - C0 : x1 - C0]).sum())
    interior = 3 * max(1, height - 2 * pad) * max(1, width - 2 * pad)
    # Pixels outside the changed box add nothing to the squared error; average over the whole photo all the same.
    box_error = (original[r0:r1, c0:c1].astype(np.float64) - changed[r0:r1, c0:c1].astype(np.float64)) ** 2
    mse_full = float(box_error.sum()) / original.size
    return {
        "psnr": round(10 * math.log10(255.0**2 / mse_full), 3),
        "ssim": round(1.0 - loss / interior, 5),
        "face_psnr": round(float(peak_signal_noise_ratio(original[r0:r1, c0:c1], changed[r0:r1, c0:c1],
                                                         data_range=255)), 3),
        "face_ssim": round(float(region_ssim), 5),
    }


@dataclass(frozen=True)
class CloakedPhoto:
    """One photo through :func:`cloak_photo`: where it went and dlib's verdict on the saved file.

    Attributes:
        source: the input file; ``output``: the saved file (None when nothing was written).
        status: ``protected``, ``not protected`` or ``no face``.
        preset: the setting that produced the output ("custom" for explicit eps/steps); ``attempts``: how many
            settings were tried (more than one with ``ensure``).
        result: the last cloak's result (None when there was no face).
        verification: dlib's verdict on the saved file, read back.
        jpeg_verification: the same after re-encoding the saved file as JPEG (when asked).
    """

    source: Path
    output: Path | None
    status: str
    preset: str
    attempts: int
    seconds: float
    result: CloakResult | None = None
    verification: Verification | None = None
    jpeg_verification: Verification | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def protected(self) -> bool:
        return self.verification is not None and self.verification.protected

    def verdict(self) -> str:
        if self.verification is None:
            return self.status
        return self.verification.verdict()

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": str(self.source), "output": None if self.output is None else str(self.output),
            "status": self.status, "verdict": self.verdict(), "protected": self.protected, "preset": self.preset,
            "attempts": self.attempts, "seconds": round(self.seconds, 3), "notes": list(self.notes),
            "cloak": None if self.result is None else self.result.to_dict(),
            "verification": None if self.verification is None else self.verification.to_dict(),
            "jpeg_verification": None if self.jpeg_verification is None else self.jpeg_verification.to_dict(),
        }


#: Photos with at least this many pixels find their faces without upsampling first (see :func:`cloak_photo`).
QUICK_DETECT_PIXELS = 500_000


def _preset_name(config: CloakConfig) -> str:
    for name in PRESETS:
        candidate = preset(name, config.mode)
        if (candidate.eps, candidate.steps) == (config.eps, config.steps):
            return name
    return "custom"


def cloak_photo(
    source: ImageSource,
    destination: str | Path,
    *,
    recognizer: FaceRecognizer | None = None,
    recognizers: Sequence[FaceRecognizer] | None = None,
    config: CloakConfig = PRESETS["mid"],
    ensure: bool = False,
    quality: int = 90,
    jpeg_check: int | None = None,
    protect: Sequence[str | Path] = (),
    callback: StepCallback | None = None,
    decoys: DecoyChooser | None = None,
) -> CloakedPhoto:
    """Cloak one photo, save it (8-bit, no metadata, atomically) and verify the *saved file* with each recognizer.

    On photos of :data:`QUICK_DETECT_PIXELS` or more, the faces to cloak are found without upsampling the photo
    (four times faster; faces of 80 px and more). The verification always runs dlib's full pipeline on the saved
    file, upsampling included; when it finds a face that was not cloaked, the photo is cloaked again with the full
    detector and says so in its notes.

    Args:
        source: the photo (never modified).
        destination: output file; .png or .jpg/.jpeg picks the format.
        recognizer, recognizers: the recognizer or the ensemble (see :func:`cloak`; default: dlib alone).
        config: the first setting to try.
        ensure: when a recognizer still matches the saved file, retry with each stronger preset (see :func:`stronger`).
        quality: JPEG quality when saving as JPEG.
        jpeg_check: also verify a JPEG re-encode of the saved file at this quality (an upload's re-compression).
        protect: files never to overwrite (the job's inputs; ``source`` is always protected when it is a path).
        callback: progress after each step.
        decoys: decoy mode: shares each person's decoy across photos (see :class:`DecoyChooser`).

    Returns:
        The record; no file is written when the photo has no face (``status == "no face"``).

    Raises:
        ImageError: unreadable input or unwritable output.
        ModelError: dlib or its model files are missing.
    """
    import io

    from PIL import Image

    start = time.perf_counter()
    members = _members(recognizer, recognizers)
    original = to_rgb_uint8(source)
    source_path = Path(source) if isinstance(source, str | Path) else Path("<image>")
    guarded = [*protect, *([source] if isinstance(source, str | Path) else [])]
    destination = Path(destination)
    notes: list[str] = []
    attempts = 0
    used = config
    current: CloakConfig | None = config
    quick = members[0].upsample > 0 and original.shape[0] * original.shape[1] >= QUICK_DETECT_PIXELS
    while current is not None:
        attempts, used = attempts + 1, current
        try:
            result = cloak(original, recognizers=members, config=current, verify_result=False, callback=callback,
                           decoys=decoys, upsample=0 if quick else None)
        except NoFaceError:
            if not quick:
                return CloakedPhoto(source=source_path, output=None, status="no face", preset=_preset_name(config),
                                    attempts=attempts, seconds=time.perf_counter() - start)
            quick, attempts = False, attempts - 1  # small faces only: look again with the full detector
            continue
        # zlib level 1: ~0.4 s per megapixel faster to write than level 6, files ~13% larger, still lossless.
        save(result.pixels, destination, quality=quality, protect=guarded, png_level=1)
        verification = verify(original, destination, result.faces, recognizers=members,
                              tolerance=current.tolerance)
        if quick and verification.uncloaked:
            notes.append(f"the quick detector missed {verification.uncloaked} face(s); cloaked again with the full "
                         "detector")
            quick, attempts = False, attempts - 1
            continue
        if verification.protected or not ensure:
            break
        following = stronger(current)
        if following is None:
            notes.append(f"still matched at the strongest preset ({_preset_name(current)})")
            break
        matching = ", ".join(r.recognizer for r in verification.recognizers if not r.protected) or "uncloaked face"
        notes.append(f"matched by {matching} at {_preset_name(current)}; retried with {_preset_name(following)}")
        current = following
    jpeg_verification = None
    if jpeg_check is not None:
        buffer = io.BytesIO()
        Image.fromarray(to_rgb_uint8(destination)).save(buffer, format="JPEG", quality=jpeg_check)
        buffer.seek(0)
        with Image.open(buffer) as reencoded:
            jpeg_verification = verify(original, reencoded.convert("RGB"), result.faces, recognizers=members,
                                       tolerance=used.tolerance)
    status = "protected" if verification.protected else "not protected"
    return CloakedPhoto(source=source_path, output=destination, status=status, preset=_preset_name(used),
                        attempts=attempts, seconds=time.perf_counter() - start, result=result,
                        verification=verification, jpeg_verification=jpeg_verification, notes=tuple(notes))
