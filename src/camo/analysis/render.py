"""What every figure module shares: a matplotlib figure as PNG bytes, and a signed perturbation made visible.

The seeds showed the perturbation by casting signed values to uint8, which wraps −1/255 to 255 and shows noise
where there is structure. Here a signed perturbation is mapped around mid-grey: grey = unchanged, lighter = pixel
raised, darker = lowered, with the scale written on the figure by the caller.

This module draws nothing itself and knows no result type, so every figure module (attack figures, analysis plots,
patch figures, robustness comparisons) can use it without knowing the others.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # files only; never open a window
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

if TYPE_CHECKING:
    import torch


def png_bytes(fig: Figure, *, dpi: int = 100) -> bytes:
    """Render a figure to PNG bytes and close it (figures left open leak memory in long runs).

    No metadata: matplotlib's default "Software" text chunk is left out, like everything else camo writes.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def signed_to_display(delta: torch.Tensor, scale: float) -> np.ndarray:
    """Map a signed perturbation to [0, 1] around mid-grey: 0.5 + δ / (2·scale), clipped.

    Shape: (1, C, H, W) or (C, H, W) -> (H, W, C) float.
    """
    if delta.dim() == 4:
        delta = delta[0]
    scale = scale if scale > 0 else 1.0
    shown = (0.5 + delta.detach().cpu().float() / (2 * scale)).clamp(0, 1)
    return np.asarray(shown.permute(1, 2, 0).numpy())
