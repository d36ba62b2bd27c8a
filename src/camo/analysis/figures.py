"""The seeds' figure "original + perturbation = adversarial", drawn honestly from an attack record.

The perturbation is shown around mid-grey (:func:`camo.analysis.render.signed_to_display`), never wrapped around
uint8 as the seeds did, with its scale written on the figure. Reads :class:`~camo.attack_record.AttackRecord`
(plain data) and the two tensors; runs no model and no attack.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import matplotlib

matplotlib.use("Agg")  # files only; never open a window
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes

from camo.analysis.render import png_bytes, signed_to_display
from camo.attack_record import AttackRecord
from camo.images import refuse_inputs, write_bytes_atomic


def _as_display(x: torch.Tensor) -> np.ndarray:
    img = x[0] if x.dim() == 4 else x
    return np.asarray(img.detach().cpu().float().clamp(0, 1).permute(1, 2, 0).numpy())


def _show(ax: Axes, arr: np.ndarray, title: str, caption: str) -> None:
    if arr.shape[2] == 1:
        ax.imshow(arr[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(arr, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(caption, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def attack_figure(x: torch.Tensor, x_adv: torch.Tensor, record: AttackRecord) -> bytes:
    """PNG bytes of "original + perturbation = adversarial" with prediction and confidence under each panel.

    Shape: x and x_adv (1, C, H, W) in [0, 1].
    """
    delta = x_adv - x
    eps = record.eps if record.eps > 0 else float(delta.abs().max())
    fig, axes = plt.subplots(1, 3, figsize=(9.6, 3.8))
    original, saved = record.original, record.saved
    _show(axes[0], _as_display(x), "original", f"{original.label} ({original.confidence:.0%})")
    how = "towards " + record.target if record.target else "away from " + original.label
    _show(axes[1], signed_to_display(delta, eps), f"+ perturbation ({record.method}, {how})",
          f"grey = 0, white = +{eps * 255:.3g}/255, black = −{eps * 255:.3g}/255")
    verdict = "fooled" if record.success else "not fooled"
    _show(axes[2], _as_display(x_adv), "= adversarial (saved 8-bit file)",
          f"{saved.label} ({saved.confidence:.0%}) — {verdict}")
    fig.suptitle(f"ε = {record.eps * 255:.3g}/255 (L∞ of saved change: {record.linf * 255:.3g}/255)", fontsize=10)
    fig.tight_layout()
    return png_bytes(fig)


def save_attack_figure(
    x: torch.Tensor,
    x_adv: torch.Tensor,
    record: AttackRecord,
    path: str | os.PathLike[str],
    *,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> None:
    """Write :func:`attack_figure` to ``path`` atomically (never onto a protected input)."""
    refuse_inputs(path, protect)
    write_bytes_atomic(attack_figure(x, x_adv, record), path)
