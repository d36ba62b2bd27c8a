"""The differentiable model the shared step sees when it cloaks a face, and the losses it follows.

The model maps a crop around the face to every member's descriptors (dlib, FaceNet, SFace by default; any
:class:`~camo.face.recognizers.FaceRecognizer`, an ONNX file included), each through its own differentiable
alignment, of a few randomly degraded copies (expectation over transformations, EOT — Athalye et al. 2018): a mild
down-and-up resize and uniform noise of a few grey levels, which stand in for 8-bit rounding and JPEG re-compression,
and a small random shift of each chip, which stands in for the verifier's own re-detection and re-alignment.
:class:`Budgeted` puts the perceptual budget, ``grey`` and the low-frequency cloak in front of it;
:class:`LookGuarded` adds the SSIM of what the members see, for the look target's :func:`look_loss`.

* ``dodge`` (:func:`dodge_loss`) increases Σ_m d_m(x, x₀) / t_m over the members m (d_m its distance, t_m its
  threshold, so every member counts 1 at its own match boundary and none dominates by its units; the EOT noise moves
  the first gradient off x₀, where a distance has none).
* ``decoy`` (:func:`decoy_loss`) is targeted: it decreases Σ_m [(d_m(x, decoy)/t_m)² − λ (d_m(x, x₀)/t_m)²]
  (λ = ``push``, 2 by default), pulling the face towards another identity while pushing it off its own: the threat
  model of Fawkes (Shan et al. 2020), a recognizer *trained* on cloaked photos learns the wrong face. With λ > 1 the
  push away from oneself counts; in the 1-nearest-neighbour experiment of bench/CLOAK_RESULTS.md it kept far more
  clean photos of a person from being identified.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from camo.face.align import ChipGeometry
from camo.face.cloak_config import CloakConfig
from camo.face.perceptual import SimilarityTo
from camo.face.recognizers.base import FaceRecognizer, crop_tensor
from camo.face.surrogate import dropout_rate

__all__ = ["Budgeted", "DegradedDescriptors", "LookGuarded", "crop_tensor", "decoy_loss", "dodge_loss", "feature_loss",
           "gaussian_blur", "look_loss", "member_slices", "texture_budget"]


class DegradedDescriptors(nn.Module):
    """crop → every member's descriptors of ``samples`` randomly degraded copies, side by side: what the shared
    step differentiates. The copies are made once per step and shared by all members (each warps them to its own
    chip through its own differentiable alignment).

    Shape: (1, 3, H, W) -> (samples, ΣD) with the members' descriptors concatenated in order; with
    ``config.features``, (samples, ΣD + M): each member's relative change of its middle-layer activations against
    the clean crop's (see :meth:`clean`) follows, one column per member, for :func:`feature_loss`.
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
        self._features: list[torch.Tensor] | None = None

    def _uniform(self, low: float, high: float) -> float:
        return low + (high - low) * float(torch.rand((), generator=self.generator))

    def clean(self, x: torch.Tensor) -> torch.Tensor:
        """Every member's descriptor of the undegraded crop. Shape: (1, 3, H, W) -> (1, ΣD).

        With ``config.features``, the first call also keeps each member's middle-layer activations of this crop:
        the reference the feature-level columns of :meth:`forward` measure against.
        """
        with torch.no_grad():
            if self.config.features is None or self._features is not None:
                return torch.cat([m.descriptor(x, g) for m, g in zip(self.members, self.geometries, strict=True)],
                                 dim=1)
            pairs = [m.descriptor_and_features(x, g) for m, g in zip(self.members, self.geometries, strict=True)]
            self._features = [middle for _, middle in pairs]
            return torch.cat([descriptor for descriptor, _ in pairs], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.features is not None and self._features is None:
            raise RuntimeError("DegradedDescriptors.clean() must run before forward() when features are on")
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
        outputs, changes = [], []
        for index, (member, geometry) in enumerate(zip(self.members, self.geometries, strict=True)):
            reach = self.config.jitter * geometry.scale
            moved = [geometry.translated(dx * reach, dy * reach) for dx, dy in shifts]
            with dropout_rate(self.config.dropout_for(member.name)):
                if self._features is None:
                    outputs.append(member.descriptor(batch, moved))
                    continue
                descriptors, middle = member.descriptor_and_features(batch, moved)
            outputs.append(descriptors)
            reference = self._features[index]
            changes.append((middle - reference).flatten(1).norm(dim=1) / reference.flatten(1).norm(dim=1))
        return torch.cat([*outputs, torch.stack(changes, dim=1)] if changes else outputs, dim=1)


def texture_budget(pixels: np.ndarray, texture: float, floor: float) -> torch.Tensor:
    """The perceptual budget's per-pixel fraction of ε: clip(σ / texture, floor, 1), σ the local standard deviation
    of luminance (5×5 window, values in [0, 1]). Flat skin gets ``floor``, texture and edges get 1.

    Shape: (H, W, 3) uint8 -> (1, 1, H, W) float in [floor, 1].
    """
    x = crop_tensor(pixels)
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


class Budgeted(nn.Module):
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


class LookGuarded(nn.Module):
    """A budgeted model whose output also carries the SSIM of the pixels the members see against the crop it
    started from, as one more column (the same value in every row), for :func:`look_loss` to read; ``target`` is
    the look target it serves.

    Shape: (1, 3, H, W) with H, W ≥ 7 -> (samples, ΣD + 1).
    """

    def __init__(self, budgeted: Budgeted, target: float) -> None:
        super().__init__()
        self.budgeted, self.target = budgeted, target
        self.similarity = SimilarityTo(budgeted.start)
        self.eval()

    def pixels(self, x: torch.Tensor) -> torch.Tensor:
        """The pixels the members see for x′ (the budgeted model's)."""
        return self.budgeted.pixels(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seen = self.budgeted.pixels(x)
        out: torch.Tensor = self.budgeted.model(seen)
        similarity = self.similarity(seen)
        return torch.cat((out, similarity.view(1, 1).expand(out.shape[0], 1)), dim=1)


def look_loss(base: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], target: float, weight: float,
              targeted: bool) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``base`` on the descriptors (every column of a :class:`LookGuarded` output but the last), plus ``weight`` ×
    the SSIM shortfall below ``target`` (the last column), counted against the step's direction: subtracted when
    the step climbs the loss (dodge), added when it descends it (decoy)."""

    def loss(output: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        shortfall = (target - output[0, -1]).clamp_min(0.0)
        return base(output[:, :-1], label) + (1.0 if targeted else -1.0) * weight * shortfall

    return loss


def feature_loss(base: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], members: int, weight: float,
                 targeted: bool) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``base`` on the descriptors (every column of a feature-level :class:`DegradedDescriptors` output but the last
    ``members``), plus ``weight`` × the sum over members of the mean relative change of their middle-layer
    activations (those last columns), in the step's direction: added when the step climbs the loss (dodge),
    subtracted when it descends it (decoy: away from one's own features too)."""

    def loss(output: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        change = output[:, -members:].mean(dim=0).sum()
        return base(output[:, :-members], label) + (-1.0 if targeted else 1.0) * weight * change

    return loss


def member_slices(members: Sequence[FaceRecognizer]) -> list[tuple[int, int, FaceRecognizer]]:
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
    for start, end, member in member_slices(members):
        a, b = output[:, start:end], reference[:, start:end].expand(output.shape[0], -1)
        if member.metric == "euclidean":
            # sqrt(·+tiny): the plain norm has no gradient at zero distance (FACTS.md); EOT noise moves off it.
            distance = ((a - b) ** 2).sum(dim=1).add(1e-12).sqrt()
        else:
            distance = member.torch_distance(a, b)
        found.append(distance / member.threshold)
    return found


def dodge_loss(members: Sequence[FaceRecognizer],
                cap: float | None = None) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Σ over members of the mean (distance ÷ threshold) from the face's own descriptors, each clipped at ``cap``
    when given: the step increases it."""

    def loss(output: torch.Tensor, own: torch.Tensor) -> torch.Tensor:
        relative = _relative_distances(members, output, own)
        if cap is not None:
            relative = [d.clamp(max=cap) for d in relative]
        return torch.stack([d.mean() for d in relative]).sum()

    return loss


def decoy_loss(members: Sequence[FaceRecognizer],
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
