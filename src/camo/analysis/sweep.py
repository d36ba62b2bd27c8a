"""Signed-ε one-step sweeps: the seeds' "epsilon against class probability" curve, at the cost of one backward pass.

Convention (the seeds'): x(ε) = clip(x + ε·sign(∇x J(x, L))), J the cross-entropy of the label L. A negative ε
steps *down* the loss of L — towards L, exactly targeted FGSM with budget |ε| — and a positive ε steps up it, away
from L (untargeted FGSM against L). The API's ε stays ≥ 0 everywhere else; the signed axis is presentation.

Every ε reuses the one gradient at x, so a sweep costs one forward+backward pass and then only forward passes
(a loop over an FGSM function would pay a backward pass per ε). The step itself is the shared
:func:`camo.attacks.core.step`, so the sign is still decided in one place.

Paper: Goodfellow, Shlens, Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015 (§ "linear
explanation": the logits move almost linearly along the sign of the gradient).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from camo.attacks.core import Loss, Model, Norm, check_inputs, cross_entropy, frozen, input_gradient, step
from camo.eps_grid import MAX_POINTS
from camo.errors import InputError, LabelError

#: The convention written on every sweep figure and report.
SIGN_CONVENTION = "x(ε) = clip(x + ε·sign(∇x J(x, L))): ε < 0 moves towards L, ε > 0 away from L"

def signed_step(
    x: torch.Tensor, grad: torch.Tensor, eps: float, *, bounds: tuple[float, float], norm: Norm = "linf"
) -> torch.Tensor:
    """x moved by a *signed* ε along the gradient of the label's loss, clipped: the seeds' negative-ε picture.

    ``eps < 0`` is the targeted step of size |ε| (down the loss), ``eps > 0`` the untargeted one; both go through
    the one shared :func:`~camo.attacks.core.step`, so this equals ``fgsm`` (``fgm`` for L2) bit for bit.

    Shape: x and grad (N, C, H, W) -> (N, C, H, W).
    """
    return step(x, grad, abs(eps), norm=norm, targeted=eps < 0).clamp(*bounds)


@dataclass(frozen=True)
class LineFit:
    """A least-squares line y = slope·ε + intercept and its coefficient of determination R²."""

    slope: float
    intercept: float
    r2: float

    def to_dict(self) -> dict[str, float]:
        return {"slope": self.slope, "intercept": self.intercept, "r2": self.r2}


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> LineFit | None:
    """Fit a line through (xs, ys); None with fewer than 3 points. R² is 1 for a constant (a perfect flat fit)."""
    if len(xs) < 3:
        return None
    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)
    slope, intercept = np.polyfit(x, y, 1)
    residual = float(np.sum((y - (slope * x + intercept)) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 if total <= 1e-12 * max(1.0, float(np.sum(y**2))) else 1.0 - residual / total
    return LineFit(float(slope), float(intercept), r2)


@dataclass(frozen=True)
class ClassCurve:
    """One class along the sweep: its probability and logit at every ε, and lines fitted to the logit."""

    index: int
    name: str
    probabilities: tuple[float, ...]
    logits: tuple[float, ...]
    fit: LineFit | None            # over every ε
    fit_negative: LineFit | None   # over ε ≤ 0 (towards L)
    fit_positive: LineFit | None   # over ε ≥ 0 (away from L)


@dataclass(frozen=True)
class SweepResult:
    """A signed-ε one-step sweep of one image: plain data for figures, CSV, JSON and reports.

    ``curves`` holds every class for small label sets, else the label, the clean prediction and the top classes.
    """

    model: str
    source: str
    label: int
    label_name: str
    original: int          # the model's prediction on the clean image
    original_name: str
    num_classes: int
    norm: str
    eps: tuple[float, ...]
    predicted: tuple[int, ...]
    predicted_names: tuple[str, ...]
    curves: tuple[ClassCurve, ...]
    convention: str = SIGN_CONVENTION

    def curve(self, index: int) -> ClassCurve:
        """The curve of class ``index``.

        Raises:
            LabelError: the class is not among those the sweep kept.
        """
        for c in self.curves:
            if c.index == index:
                return c
        raise LabelError(f"class {index} is not among the sweep's classes {[c.index for c in self.curves]}")

    def to_dict(self) -> dict[str, Any]:
        keys = [c.name for c in self.curves]
        return {
            "kind": "sweep", "model": self.model, "source": self.source, "label": self.label,
            "label_name": self.label_name, "original": self.original, "original_name": self.original_name,
            "num_classes": self.num_classes, "norm": self.norm, "convention": self.convention,
            "eps": list(self.eps), "predicted": list(self.predicted), "predicted_names": list(self.predicted_names),
            "classes": [{"index": c.index, "name": c.name} for c in self.curves],
            "probabilities": {k: list(c.probabilities) for k, c in zip(keys, self.curves, strict=True)},
            "logits": {k: list(c.logits) for k, c in zip(keys, self.curves, strict=True)},
            "fits": {k: {side: (f.to_dict() if f is not None else None)
                         for side, f in (("all", c.fit), ("negative", c.fit_negative), ("positive", c.fit_positive))}
                     for k, c in zip(keys, self.curves, strict=True)},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepResult:
        def line(d: dict[str, float] | None) -> LineFit | None:
            return LineFit(d["slope"], d["intercept"], d["r2"]) if d is not None else None

        curves = []
        for entry in data["classes"]:
            name = entry["name"]
            fits = data["fits"][name]
            curves.append(ClassCurve(int(entry["index"]), name, tuple(data["probabilities"][name]),
                                     tuple(data["logits"][name]), line(fits["all"]), line(fits["negative"]),
                                     line(fits["positive"])))
        return cls(model=data["model"], source=data["source"], label=int(data["label"]),
                   label_name=data["label_name"], original=int(data["original"]), original_name=data["original_name"],
                   num_classes=int(data["num_classes"]), norm=data["norm"], eps=tuple(data["eps"]),
                   predicted=tuple(int(p) for p in data["predicted"]),
                   predicted_names=tuple(data["predicted_names"]), curves=tuple(curves),
                   convention=data.get("convention", SIGN_CONVENTION))

    def csv(self) -> str:
        """One row per ε: ε, ε in grey levels, the prediction, then every kept class's probability and logit."""
        names = [c.name for c in self.curves]
        header = ["eps", "eps_255", "predicted", *(f"p_{n}" for n in names), *(f"logit_{n}" for n in names)]
        rows = [",".join(_csv_field(h) for h in header)]
        for i, e in enumerate(self.eps):
            values = [f"{e:.8g}", f"{e * 255:.6g}", _csv_field(self.predicted_names[i])]
            values += [f"{c.probabilities[i]:.6g}" for c in self.curves]
            values += [f"{c.logits[i]:.6g}" for c in self.curves]
            rows.append(",".join(values))
        return "\n".join(rows) + "\n"


def _csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(ch in text for ch in ',"\n') else text


def label_names(model: Model, count: int) -> list[str]:
    """Short, unique names for the model's classes (ImageNet has two 'crane's: the second becomes 'crane#517')."""
    namer = getattr(model, "label_name", None)
    names = [namer(i) if callable(namer) else str(i) for i in range(count)]
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    return [f"{n}#{i}" if seen[n] > 1 else n for i, n in enumerate(names)]


def sweep(
    model: Model,
    x: torch.Tensor,
    label: int,
    eps: Sequence[float],
    *,
    top_k: int | None = None,
    norm: Norm = "linf",
    loss: Loss | None = None,
    batch_size: int = 64,
    source: str = "",
) -> SweepResult:
    """Push one image along the sign of its label's loss gradient by every signed ε and record every class.

    Args:
        model: a :class:`~camo.Classifier` (or any module taking pixel-space input; bounds default to [0, 1]).
        x: one clean image in the model's bounds.
        label: the class index L whose loss gradient defines the direction (negative ε = towards L).
        eps: signed ε values in pixel units, e.g. :func:`eps_range` (-25/255, 25/255, 1/255).
        top_k: keep this many classes besides L and the clean prediction (ranked by their highest probability
            along the sweep); None keeps every class when there are at most 10, else 5.
        norm: "linf" (FGSM's sign step) or "l2" (FGM's step along g/‖g‖₂; ε is then an L2 radius).
        loss: ``loss(logits, y)``; default cross-entropy.
        batch_size: images per forward pass.
        source: where x came from, for reports.

    Returns:
        A :class:`SweepResult`; ``eps`` sorted ascending.

    Shape: x (1, C, H, W).

    Raises:
        InputError: x not one image in bounds, no ε, an |ε| larger than the pixel range (L∞), bad top_k.
        LabelError: ``label`` is not a class of the model.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[0] != 1:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise InputError(f"sweep takes one image shaped (1, C, H, W); got {shape}")
    values = sorted(float(e) for e in eps)
    if not values:
        raise InputError("sweep needs at least one value of ε")
    if len(values) > MAX_POINTS:
        raise InputError(f"sweep got {len(values)} values of ε; at most {MAX_POINTS}")
    bounds = check_inputs(model, x, max(abs(v) for v in values), norm=norm)
    if top_k is not None and top_k < 0:
        raise InputError(f"top_k must be ≥ 0; got {top_k}")
    if batch_size < 1:
        raise InputError(f"batch_size must be ≥ 1; got {batch_size}")
    x = x.detach()
    with frozen(model), torch.no_grad():
        clean_logits: torch.Tensor = model(x)
        num_classes = int(clean_logits.shape[1])
        if not 0 <= label < num_classes:
            raise LabelError(f"label {label} is out of range for a model with {num_classes} classes")
        y = torch.tensor([label], device=x.device)
        grad = input_gradient(model, x, y, loss if loss is not None else cross_entropy)
        logits_parts = []
        for start in range(0, len(values), batch_size):
            batch = torch.cat([signed_step(x, grad, e, bounds=bounds, norm=norm)
                               for e in values[start : start + batch_size]])
            logits_parts.append(model(batch).float().cpu())
    logits = torch.cat(logits_parts)                       # (E, K)
    probs = logits.softmax(dim=1)
    original = int(clean_logits.argmax(dim=1))
    names = label_names(model, num_classes)
    keep = _kept_classes(probs, label, original, num_classes, top_k)
    negative = [i for i, v in enumerate(values) if v <= 0]
    positive = [i for i, v in enumerate(values) if v >= 0]
    curves = []
    for k in keep:
        lk = logits[:, k].tolist()
        curves.append(ClassCurve(
            index=k, name=names[k], probabilities=tuple(probs[:, k].tolist()), logits=tuple(lk),
            fit=fit_line(values, lk),
            fit_negative=fit_line([values[i] for i in negative], [lk[i] for i in negative]),
            fit_positive=fit_line([values[i] for i in positive], [lk[i] for i in positive]),
        ))
    predicted = [int(p) for p in logits.argmax(dim=1)]
    return SweepResult(
        model=getattr(model, "name", type(model).__name__), source=source, label=label, label_name=names[label],
        original=original, original_name=names[original], num_classes=num_classes, norm=norm, eps=tuple(values),
        predicted=tuple(predicted), predicted_names=tuple(names[p] for p in predicted), curves=tuple(curves),
    )


def _kept_classes(probs: torch.Tensor, label: int, original: int, num_classes: int, top_k: int | None) -> list[int]:
    """L first, then the clean prediction, then the classes that reach the highest probability anywhere."""
    if top_k is None and num_classes <= 10:
        return [label, *(k for k in range(num_classes) if k != label)]
    k = 5 if top_k is None else top_k
    keep = [label] + ([original] if original != label else [])
    ranked = [int(c) for c in probs.max(dim=0).values.argsort(descending=True).tolist() if int(c) not in keep]
    return keep + ranked[:k]
