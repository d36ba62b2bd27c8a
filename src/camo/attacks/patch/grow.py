"""Growing a patch from a black image with the shared targeted FGSM step: the seed's "adversarial block"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from camo.attacks.core import Model, cross_entropy, frozen, input_gradient, model_bounds, step
from camo.attacks.patch.common import PatchCallback, target_index
from camo.attacks.patch.geometry import apply_patch
from camo.errors import InputError
from camo.images import quantize


@dataclass(frozen=True)
class GrowResult:
    """A patch grown from black towards a target, with its history (for the GIF).

    ``image`` is what the model saw: the black input with the patch in it. ``probability`` is p(target) for the
    8-bit (quantised) image, the one a saved PNG gives.
    """

    model: str
    target: int
    target_name: str
    patch: torch.Tensor            # (C, s, s) in the model's bounds
    image: torch.Tensor            # (C, H, W): black with the patch at ``at``
    at: tuple[int, int]            # (x, y) of the patch's top-left pixel
    probability: float             # p(target) of the quantised image
    probabilities: tuple[float, ...]  # p(target) after each step (float image)
    frames: tuple[torch.Tensor, ...]  # the image after each step, (C, H, W)
    steps: int
    step_size: float               # first step, pixel units
    final_step_size: float         # last step, pixel units (geometric decay in between)

    def to_dict(self) -> dict[str, Any]:
        side = self.patch.shape[-1]
        return {
            "kind": "grown", "model": self.model, "target": self.target_name, "target_index": self.target,
            "size": side, "area_fraction": side * side / (self.image.shape[-1] * self.image.shape[-2]),
            "image_size": [self.image.shape[-2], self.image.shape[-1]],
            "at": list(self.at), "p_target": self.probability, "steps_run": len(self.probabilities),
            "settings": {"steps": self.steps, "step_size": self.step_size, "final_step_size": self.final_step_size},
            "p_target_history": list(self.probabilities),
        }


def _input_shape(model: Model, image_size: tuple[int, int] | None, channels: int | None) -> tuple[int, int, int]:
    size = image_size if image_size is not None else getattr(model, "input_size", None)
    if size is None:
        raise InputError("the model declares no input size; pass image_size=(H, W)")
    count = channels if channels is not None else int(getattr(model, "channels", 3))
    return count, int(size[0]), int(size[1])


def grow_patch(
    model: Model,
    target: int | str,
    *,
    size: int | None = None,
    at: tuple[int, int] | None = None,
    steps: int = 40,
    step_size: float = 16 / 255,
    final_step_size: float = 1 / 255,
    stop_at: float | None = None,
    image_size: tuple[int, int] | None = None,
    channels: int | None = None,
    callback: PatchCallback | None = None,
) -> GrowResult:
    """Grow a patch from a black image with repeated targeted FGSM steps, the seed's "adversarial block".

    Each step is the shared one (:func:`camo.attacks.core.step` with ``targeted=True``) applied to the patch
    pixels alone: x ← clip(x − α_k·sign(∇ J(x, target))). The step size decays geometrically from ``step_size``
    to ``final_step_size``: large steps to leave black quickly, small ones to settle.

    Args:
        model: a classifier (pixel-space input; its ``input_size`` and ``channels`` give the image shape).
        target: label name or index to grow towards.
        size: side in pixels of the square that may change (None: the largest centred square, the whole image
            when it is square).
        at: (x, y) of that square's top-left pixel; default centred.
        steps: number of FGSM steps (one GIF frame each).
        step_size, final_step_size: first and last step sizes in pixel units.
        stop_at: stop once p(target) of the 8-bit image reaches this (None: run every step).
        image_size, channels: the input shape, for models that do not declare it.
        callback: ``callback(step, steps, p_target)`` after each step.

    Returns:
        A :class:`GrowResult`.

    Shape: the patch is (C, size, size); the image (C, H, W).

    Raises:
        InputError: bad size, position or step settings. LabelError: unknown target.
    """
    index, name = target_index(model, target)
    channels, height, width = _input_shape(model, image_size, channels)
    side = min(height, width) if size is None else int(size)
    if not 1 <= side <= min(height, width):
        raise InputError(f"size must be a side in pixels in 1..{min(height, width)}; got {size}")
    if steps < 1:
        raise InputError(f"steps must be ≥ 1; got {steps}")
    if not 0 < final_step_size <= step_size:
        raise InputError(f"need 0 < final_step_size ≤ step_size; got {final_step_size:g} and {step_size:g}")
    where = at if at is not None else ((width - side) // 2, (height - side) // 2)
    lo, hi = model_bounds(model)
    background = torch.full((1, channels, height, width), lo)
    patch = torch.full((channels, side, side), lo)
    labels = torch.tensor([index])
    decay = (final_step_size / step_size) ** (1 / max(steps - 1, 1))
    probabilities: list[float] = []
    frames: list[torch.Tensor] = []

    def paste(p: torch.Tensor) -> torch.Tensor:
        return apply_patch(background, p.unsqueeze(0) if p.dim() == 3 else p, at=where)

    def target_probability(image: torch.Tensor) -> float:
        with torch.no_grad():
            return float(torch.softmax(model(image), dim=1)[0, index])

    with frozen(model):
        for k in range(steps):
            # The model sees the whole image; the gradient is taken with respect to the patch pixels only.
            grad = input_gradient(lambda p: model(paste(p)), patch.unsqueeze(0), labels, cross_entropy)[0]
            patch = step(patch, grad, step_size * decay**k, norm="linf", targeted=True).clamp(lo, hi)
            image = paste(patch)
            probabilities.append(target_probability(image))
            frames.append(image[0])
            if callback is not None:
                callback(k + 1, steps, probabilities[-1])
            if stop_at is not None and target_probability(quantize(image)) >= stop_at:
                break
        final = quantize(paste(patch)) if (lo, hi) == (0.0, 1.0) else paste(patch)
        probability = target_probability(final)
    return GrowResult(
        model=str(getattr(model, "name", "model")), target=index, target_name=name, patch=patch.detach(),
        image=paste(patch)[0].detach(), at=(int(where[0]), int(where[1])), probability=probability,
        probabilities=tuple(probabilities), frames=tuple(frames), steps=steps, step_size=step_size,
        final_step_size=final_step_size,
    )
