"""Figures for adversarial patches, drawn from result objects (they never run attacks): the growth GIF, the patch
pasted into sample images with the model's verdicts, and success against patch size and placement; and the files a
grown patch is saved as (:func:`save_grown`).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never open a window
import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from PIL import Image, ImageDraw, ImageFont

from camo.analysis.render import png_bytes
from camo.attacks.patch import GrowResult, PatchEvaluation, PatchReport
from camo.images import refuse_inputs, save, to_uint8, write_bytes_atomic


def _frame(image: torch.Tensor, side: int, caption: str) -> Image.Image:
    """One GIF frame: the image enlarged (nearest neighbour, pixels stay sharp) above a caption strip."""
    arr = to_uint8(image.clamp(0, 1))
    pil = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).convert("RGB")
    factor = max(1, side // max(pil.size))
    pil = pil.resize((pil.width * factor, pil.height * factor), Image.Resampling.NEAREST)
    strip = 28
    canvas = Image.new("RGB", (pil.width, pil.height + strip), (255, 255, 255))
    canvas.paste(pil, (0, 0))
    draw = ImageDraw.Draw(canvas)
    try:
        font: ImageFont.FreeTypeFont | ImageFont.ImageFont = ImageFont.load_default(size=14)
    except (TypeError, OSError):  # Pillow without FreeType
        font = ImageFont.load_default()
    draw.text((6, pil.height + 6), caption, fill=(0, 0, 0), font=font)
    return canvas


def growth_gif(result: GrowResult, *, side: int = 224, duration_ms: int = 120, hold_ms: int = 1500) -> bytes:
    """An animated GIF of a grown patch: one frame per step with p(target) written under it, looping forever.

    Args:
        result: from :func:`camo.attacks.patch.grow_patch`.
        side: frames are enlarged to about this many pixels.
        duration_ms: time per frame; the last frame is held for ``hold_ms``.
    """
    steps = len(result.frames)
    frames = [_frame(image, side, f"step {k + 1}/{steps}  p({result.target_name}) = {p:.2f}")
              for k, (image, p) in enumerate(zip(result.frames, result.probabilities, strict=True))]
    if not frames:
        frames = [_frame(result.image, side, f"p({result.target_name}) = {result.probability:.2f}")]
    durations = [duration_ms] * (len(frames) - 1) + [hold_ms]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0,
                   optimize=False)
    return buffer.getvalue()


def _show(ax: Axes, image: torch.Tensor, title: str, color: str = "black") -> None:
    arr = image.detach().cpu().float().clamp(0, 1).permute(1, 2, 0).numpy()
    if arr.shape[2] == 1:
        ax.imshow(arr[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(arr, interpolation="nearest")
    ax.set_title(title, fontsize=8, color=color)
    ax.set_xticks([])
    ax.set_yticks([])


def examples_figure(patch: torch.Tensor, evaluation: PatchEvaluation, *, title: str | None = None) -> bytes:
    """PNG bytes: the patch, then the evaluation's example images with the patch in them and what the model says
    (green where it says the target).

    Shape: patch (C, h, w).
    """
    shown = list(zip(evaluation.examples, evaluation.example_labels, evaluation.example_predictions,
                     evaluation.example_confidences, strict=True))
    columns = 1 + len(shown)
    fig, axes = plt.subplots(1, columns, figsize=(1.9 * columns, 2.8), squeeze=False)
    _show(axes[0, 0], patch, f"patch\n({evaluation.area_fraction:.1%} of the area)")
    for ax, (image, label, predicted, confidence) in zip(axes[0, 1:], shown, strict=True):
        hit = predicted == evaluation.target_name
        _show(ax, image, f"{label}\n→ {predicted} {confidence:.0%}", "green" if hit else "red")
    fig.suptitle(title or f"target {evaluation.target_name}: {evaluation.targeted_success:.1%} targeted success on "
                 f"{evaluation.images} images ({evaluation.placement} placement)", fontsize=10)
    fig.tight_layout()
    return png_bytes(fig)


def report_figure(report: PatchReport) -> bytes:
    """PNG bytes: targeted success and fooling rate against the patch's share of the image area, one line per
    placement.
    """
    evaluations = report.evaluations
    placements = list(dict.fromkeys(e.placement for e in evaluations))
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.8), sharey=True)
    for placement in placements:
        rows = sorted((e for e in evaluations if e.placement == placement), key=lambda e: e.area_fraction)
        area = [100 * e.area_fraction for e in rows]
        axes[0].plot(area, [100 * e.targeted_success for e in rows], marker="o", label=placement)
        axes[1].plot(area, [100 * e.fooling_rate for e in rows], marker="o", label=placement)
    target = evaluations[0].target_name if evaluations else "?"
    axes[0].set_title(f"targeted success (→ {target})", fontsize=10)
    axes[1].set_title("fooling rate (class changed)", fontsize=10)
    for ax in axes:
        ax.set_xlabel("patch area (% of image)")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("images (%)")
    axes[0].legend(title="placement", fontsize=8)
    n = evaluations[0].images if evaluations else 0
    fig.suptitle(f"patch success against size and placement ({n} images not of the target)", fontsize=10)
    fig.tight_layout()
    return png_bytes(fig)


def size_curve_figure(curves: Mapping[str, Sequence[PatchEvaluation]]) -> bytes:
    """PNG bytes: targeted success against patch area, one line per target (each point its own trained patch)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for target, rows in curves.items():
        ordered = sorted(rows, key=lambda e: e.area_fraction)
        ax.plot([100 * e.area_fraction for e in ordered], [100 * e.targeted_success for e in ordered], marker="o",
                label=f"→ {target}")
    ax.axhline(80, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("patch area (% of image)")
    ax.set_ylabel("targeted success (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("universal patch: success against size (random positions)", fontsize=10)
    fig.tight_layout()
    return png_bytes(fig)


def save_figure(data: bytes, path: str | os.PathLike[str], *, protect: Iterable[str | os.PathLike[str]] = ()) -> None:
    """Write figure or GIF bytes atomically, never onto a protected input."""
    refuse_inputs(path, protect)
    write_bytes_atomic(data, path)


def file_stem(label: str) -> str:
    """A file name from a class name: letters, digits, '-' and '_' kept, anything else '_' ("tabby, tabby cat" ->
    "tabby__tabby_cat")."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in label) or "patch"


def save_grown(result: GrowResult, folder: str | os.PathLike[str], *,
               protect: Iterable[str | os.PathLike[str]] = ()) -> dict[str, Any]:
    """Write a grown patch as ``NAME.png`` (8-bit, no metadata), ``NAME.gif`` (its growth, one frame per step) and
    ``NAME.json`` (:meth:`GrowResult.to_dict` plus the two file names), NAME from the target's name; each file is
    written atomically and never onto a protected path. Returns the JSON record."""
    folder = Path(folder)
    name = file_stem(result.target_name)
    png = save(result.patch, folder / f"{name}.png", protect=protect)
    save_figure(growth_gif(result), folder / f"{name}.gif", protect=protect)
    record = {"png": png.name, "gif": f"{name}.gif", **result.to_dict()}
    save_figure((json.dumps(record, indent=2) + "\n").encode(), folder / f"{name}.json", protect=protect)
    return record


def gif_frame_count(data: bytes) -> int:
    """How many frames a GIF holds (used to check that a written GIF plays)."""
    with Image.open(io.BytesIO(data)) as img:
        return int(getattr(img, "n_frames", 1))


__all__ = ["examples_figure", "file_stem", "gif_frame_count", "growth_gif", "report_figure", "save_figure",
           "save_grown", "size_curve_figure"]
