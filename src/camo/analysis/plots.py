"""Figures of analysis results: sweeps, best-ε searches, robustness curves, confusion matrices, class grids.

Every function takes a result object (a frozen dataclass) and returns PNG bytes; none runs a model. Axes carry
units: ε is shown in grey levels (ε × 255) because images are 8-bit, probabilities and accuracies in [0, 1] or %.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # files only; never open a window
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from camo.analysis.render import png_bytes, signed_to_display

if TYPE_CHECKING:
    from camo.analysis.best_eps import BestEpsResult
    from camo.analysis.evaluate import EvaluationResult
    from camo.analysis.grid import GridResult
    from camo.analysis.sweep import SweepResult


def _grey_levels(values: tuple[float, ...] | list[float]) -> np.ndarray:
    return np.asarray(values, dtype=np.float64) * 255.0


def sweep_figure(result: SweepResult) -> bytes:
    """Probability of each kept class against signed ε (left) and the logits with fitted lines and R² (right)."""
    eps = _grey_levels(result.eps)
    unit = "ε × 255 (grey levels)" if result.norm == "linf" else "ε × 255 (L2 radius, pixel units × 255)"
    fig, (ax_p, ax_l) = plt.subplots(1, 2, figsize=(13, 5.2))
    colours = plt.get_cmap("tab10" if len(result.curves) <= 10 else "tab20")
    for i, curve in enumerate(result.curves):
        colour = colours(i % colours.N)
        is_label = curve.index == result.label
        width = 2.6 if is_label else 1.3
        suffix = " (L)" if is_label else ""
        ax_p.plot(eps, curve.probabilities, color=colour, linewidth=width, label=f"{curve.name}{suffix}")
        fit = curve.fit
        r2 = f", R² = {fit.r2:.3f}" if fit is not None else ""
        ax_l.plot(eps, curve.logits, color=colour, linewidth=width, label=f"{curve.name}{suffix}{r2}")
        if fit is not None:
            ax_l.plot(eps, fit.slope * np.asarray(result.eps) + fit.intercept, color=colour, linewidth=0.8,
                      linestyle=":")
    for ax in (ax_p, ax_l):
        ax.axvline(0.0, color="0.5", linewidth=0.8)
        ax.set_xlabel(f"signed {unit}\n← towards {result.label_name}     |     away from {result.label_name} →")
        ax.grid(alpha=0.3)
    ax_p.set_ylabel("class probability (softmax)")
    ax_p.set_ylim(-0.02, 1.02)
    ax_p.set_title(f"probabilities; L = {result.label_name}, clean prediction {result.original_name}", fontsize=10)
    ax_l.set_ylabel("logit (model output before softmax)")
    ax_l.set_title("logits, dotted: least-squares line over all ε", fontsize=10)
    ax_p.legend(title="class", fontsize=8, loc="best")
    ax_l.legend(title="class, line fit", fontsize=8, loc="best")
    fig.suptitle(f"{result.model}: one-step sweep of {result.source or 'the image'} — {result.convention}",
                 fontsize=10)
    fig.tight_layout()
    return png_bytes(fig)


def best_eps_figure(result: BestEpsResult) -> bytes:
    """p(target) at every ε the search evaluated, the smallest ε that reaches the target and the ε maximising p."""
    points = sorted(result.points, key=lambda p: p.eps)
    eps = _grey_levels([p.eps for p in points])
    fig, ax = plt.subplots(figsize=(8, 4.6))
    hit = np.asarray([p.predicted == result.target for p in points])
    prob = np.asarray([p.probability for p in points])
    ax.plot(eps, prob, color="0.6", linewidth=1, label=f"p({result.target_name}) at evaluated ε")
    ax.scatter(eps[hit], prob[hit], color="tab:green", s=18, zorder=3, label=f"predicted {result.target_name}")
    ax.scatter(eps[~hit], prob[~hit], color="tab:red", s=18, zorder=3, label="predicted another class")
    if result.smallest_eps is not None:
        ax.axvline(result.smallest_eps * 255, color="tab:green", linestyle="--",
                   label=f"smallest ε = {result.smallest_eps * 255:.3g}/255")
    ax.axvline(result.best_eps * 255, color="tab:blue", linestyle=":",
               label=f"max p at ε = {result.best_eps * 255:.3g}/255 (p = {result.best_probability:.2f})")
    ax.set_xlabel("ε × 255 (grey levels, L∞)")
    ax.set_ylabel(f"probability of target {result.target_name}")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(f"{result.model}, {result.method} towards {result.target_name} ({result.search}); "
                 f"clean: {result.original_name}", fontsize=10)
    fig.tight_layout()
    return png_bytes(fig)


def accuracy_figure(result: EvaluationResult) -> bytes:
    """Accuracy (left) and attack success rate (right) against ε for every method, clean accuracy dashed."""
    fig, (ax_a, ax_s) = plt.subplots(1, 2, figsize=(12, 4.6))
    for method in result.methods:
        rows = sorted(result.rows_for(method), key=lambda r: r.eps)
        eps = _grey_levels([r.eps for r in rows])
        ax_a.plot(eps, [100 * r.accuracy for r in rows], marker="o", label=method)
        ax_s.plot(eps, [100 * (r.success_rate or 0.0) for r in rows], marker="o", label=method)
    ax_a.axhline(100 * result.clean_accuracy, color="0.4", linestyle="--",
                 label=f"clean {100 * result.clean_accuracy:.1f}%")
    ax_a.set_ylabel("accuracy on adversarial images (%)")
    ax_s.set_ylabel("attack success rate (% of correctly classified images)")
    for ax in (ax_a, ax_s):
        ax.set_xlabel("ε × 255 (grey levels, L∞ budget)")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
        ax.legend(title="attack", fontsize=8, loc="best")
    fig.suptitle(f"{result.model} on {result.data} ({result.count} images): robustness against ε", fontsize=10)
    fig.tight_layout()
    return png_bytes(fig)


def confusion_figure(result: EvaluationResult, method: str) -> bytes:
    """The confusion matrix (true class × predicted class) of one method at the result's confusion ε."""
    matrix = np.asarray(result.confusion_for(method), dtype=np.float64)
    names = list(result.class_names)
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    shown = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(shown, ax=ax, label="number of images")
    ticks = np.arange(len(names))
    ax.set_xticks(ticks, names, fontsize=7, rotation=90 if len(names) > 12 else 0)
    ax.set_yticks(ticks, names, fontsize=7)
    if len(names) <= 12:
        top = matrix.max() if matrix.size else 0
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, f"{int(value)}", ha="center", va="center", fontsize=7,
                    color="white" if value > top / 2 else "black")
    ax.set_xlabel("predicted class (after the attack)")
    ax.set_ylabel("true class")
    at = "" if result.confusion_eps is None else f" at ε = {result.confusion_eps * 255:.3g}/255"
    ax.set_title(f"{method}{at}: true class against predicted class", fontsize=10)
    fig.tight_layout()
    return png_bytes(fig)


def grid_figure(result: GridResult) -> bytes:
    """The image pushed towards every class: perturbation (top row) and adversarial (bottom) per target."""
    columns = len(result.cells)
    fig, axes = plt.subplots(2, columns + 1, figsize=(1.9 * (columns + 1), 4.6), squeeze=False)
    original = result.original_image()
    axes[0][0].axis("off")
    axes[0][0].text(0.5, 0.5, "perturbations\n(grey = unchanged)\n→", ha="center", va="center", fontsize=9,
                    transform=axes[0][0].transAxes)
    _panel(axes[1][0], original, "original", f"{result.original_name} ({result.original_probability:.0%})")
    scale = result.eps
    for j, cell in enumerate(result.cells, start=1):
        adversarial = cell.image()
        delta = adversarial - original
        _panel(axes[0][j], _signed_display(delta, scale), f"→ {cell.target_name}", "")
        mark = "✓" if cell.predicted == cell.target else "✗"
        _panel(axes[1][j], adversarial, f"target {cell.target_name}",
               f"{mark} {cell.predicted_name} ({cell.probability:.0%})")
    fig.suptitle(f"{result.model}: {result.method}, ε = {result.eps * 255:.3g}/255 towards every class. "
                 f"Perturbation grey = 0, white = +{result.eps * 255:.3g}/255, black = −{result.eps * 255:.3g}/255; "
                 "under each adversarial: the model's label and its probability", fontsize=9)
    fig.tight_layout()
    return png_bytes(fig)


def _signed_display(delta: np.ndarray, scale: float) -> np.ndarray:
    """:func:`camo.analysis.render.signed_to_display` for an (H, W, C) array: grey = unchanged."""
    import torch

    tensor = torch.from_numpy(np.ascontiguousarray(delta.transpose(2, 0, 1)))
    return signed_to_display(tensor, scale)


def _panel(ax: Axes, arr: np.ndarray, title: str, caption: str) -> None:
    if arr.shape[2] == 1:
        ax.imshow(arr[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(np.clip(arr, 0, 1), interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(caption, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
