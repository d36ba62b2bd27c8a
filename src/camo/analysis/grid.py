"""One image pushed towards every class: the seeds' grid of targeted perturbations and adversarials.

Every target gets the same targeted attack and budget; the adversarials are quantised to 8 bits (what a saved file
holds) before they are classified and stored, so the figure shows exactly what was measured.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from camo import images
from camo.analysis.sweep import label_names
from camo.attacks import bim, fgsm, mifgsm, pgd
from camo.attacks.core import Model, StepCallback, check_inputs, frozen
from camo.choices import LINF_METHODS
from camo.errors import InputError

#: Methods the grid runs (targeted L∞ attacks).
GRID_METHODS = LINF_METHODS


def _png(arr: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).save(buffer, format="PNG")
    return buffer.getvalue()


def _from_png(data: bytes) -> np.ndarray:
    """PNG bytes as an (H, W, C) float array in [0, 1]."""
    with Image.open(io.BytesIO(data)) as img:
        arr = np.asarray(img, dtype=np.float32) / 255.0
    return arr[..., None] if arr.ndim == 2 else arr


@dataclass(frozen=True)
class GridCell:
    """The attack towards one target: what the model says about the 8-bit adversarial."""

    target: int
    target_name: str
    predicted: int
    predicted_name: str
    probability: float          # of the predicted class
    target_probability: float
    png: bytes                  # the 8-bit adversarial image

    def image(self) -> np.ndarray:
        """Shape: (H, W, C) float in [0, 1]."""
        return _from_png(self.png)


@dataclass(frozen=True)
class GridResult:
    """The image pushed towards every class (or the top-k classes of a large label set)."""

    model: str
    source: str
    method: str
    eps: float
    original: int
    original_name: str
    original_probability: float
    original_png: bytes
    cells: tuple[GridCell, ...]

    def original_image(self) -> np.ndarray:
        """Shape: (H, W, C) float in [0, 1]."""
        return _from_png(self.original_png)

    def to_dict(self) -> dict[str, Any]:
        def b64(data: bytes) -> str:
            return base64.b64encode(data).decode("ascii")

        return {
            "kind": "grid", "model": self.model, "source": self.source, "method": self.method, "eps": self.eps,
            "original": self.original, "original_name": self.original_name,
            "original_probability": self.original_probability, "original_png": b64(self.original_png),
            "cells": [{"target": c.target, "target_name": c.target_name, "predicted": c.predicted,
                       "predicted_name": c.predicted_name, "probability": c.probability,
                       "target_probability": c.target_probability, "png": b64(c.png)} for c in self.cells],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GridResult:
        cells = tuple(GridCell(**{**c, "png": base64.b64decode(c["png"])}) for c in data["cells"])
        fields = {k: v for k, v in data.items() if k not in ("kind", "cells", "original_png")}
        return cls(**fields, original_png=base64.b64decode(data["original_png"]), cells=cells)


def grid(
    model: Model,
    x: torch.Tensor,
    eps: float,
    *,
    method: str = "fgsm",
    top_k: int | None = None,
    steps: int = 10,
    seed: int = 0,
    source: str = "",
    callback: StepCallback | None = None,
) -> GridResult:
    """Attack one image towards every class other than its prediction (the top_k most likely for > 10 classes).

    Args:
        model: a :class:`~camo.Classifier` (or any module taking pixel-space input in [0, 1]).
        x: one clean image in [0, 1].
        eps: L∞ budget in pixel units.
        method: "fgsm", "bim", "pgd" or "mifgsm", run targeted.
        top_k: targets for large label sets (default 8; ignored for ≤ 10 classes unless given).
        steps, seed: iterative methods' steps and PGD's random start.
        source: where x came from, for reports.
        callback: progress, ``callback(step, steps)`` after each step of the attack (all targets at once).

    Returns:
        A :class:`GridResult` whose cells follow the targets' class order (≤ 10 classes) or their likelihood.

    Shape: x (1, C, H, W) with C = 1 or 3.

    Raises:
        InputError: unknown method, x not one 1- or 3-channel image in [0, 1], bad ε or top_k.
    """
    if method not in GRID_METHODS:
        raise InputError(f"unknown method {method!r} for grid; choose one of {', '.join(GRID_METHODS)}")
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[0] != 1 or x.shape[1] not in (1, 3):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise InputError(f"grid takes one image shaped (1, C, H, W) with C = 1 or 3; got {shape}")
    bounds = check_inputs(model, x, eps)
    if bounds != (0.0, 1.0):
        raise InputError(f"grid stores 8-bit images and needs a model with bounds [0, 1]; got {list(bounds)}")
    if top_k is not None and top_k < 1:
        raise InputError(f"top_k must be ≥ 1; got {top_k}")
    x = x.detach()
    with frozen(model), torch.no_grad():
        clean = model(x).float().softmax(dim=1)[0]
    num_classes = int(clean.shape[0])
    names = label_names(model, num_classes)
    original = int(clean.argmax())
    if num_classes <= 10 and top_k is None:
        targets = [k for k in range(num_classes) if k != original]
    else:
        targets = [int(k) for k in clean.argsort(descending=True).tolist() if int(k) != original][: top_k or 8]
    xs = x.expand(len(targets), -1, -1, -1).contiguous()
    ys = torch.tensor(targets, device=x.device)
    if method == "pgd":
        adversarial = pgd(model, xs, ys, eps, targeted=True, steps=steps, generator=torch.Generator().manual_seed(seed),
                          callback=callback)
    elif method == "bim":
        adversarial = bim(model, xs, ys, eps, targeted=True, steps=steps, callback=callback)
    elif method == "mifgsm":
        adversarial = mifgsm(model, xs, ys, eps, targeted=True, steps=steps, callback=callback)
    else:
        adversarial = fgsm(model, xs, ys, eps, targeted=True)
        if callback is not None:
            callback(1, 1)
    saved = images.quantize(adversarial)  # what an 8-bit file holds; classified and shown as such
    with frozen(model), torch.no_grad():
        probs = model(saved).float().softmax(dim=1)
    cells = []
    for i, target in enumerate(targets):
        predicted = int(probs[i].argmax())
        cells.append(GridCell(target=target, target_name=names[target], predicted=predicted,
                              predicted_name=names[predicted], probability=float(probs[i, predicted]),
                              target_probability=float(probs[i, target]), png=_png(images.to_uint8(saved[i]))))
    return GridResult(
        model=getattr(model, "name", type(model).__name__), source=source, method=method, eps=float(eps),
        original=original, original_name=names[original], original_probability=float(clean[original]),
        original_png=_png(images.to_uint8(images.quantize(x))), cells=tuple(cells),
    )
