"""A differentiable SSIM, so that a cloak can be told how much of the look it may spend.

:func:`ssim` is the measure camo reports (scikit-image's ``structural_similarity`` with its defaults: uniform 7×7
windows, sample covariance, K₁ = 0.01, K₂ = 0.03, the mean over every window wholly inside the image and over the
channels; Wang et al. 2004), written in PyTorch so that its gradient can join the shared step's loss. It agrees
with scikit-image to float precision (``tests/face/test_perceptual.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["SSIM_WINDOW", "ssim"]

#: Side of the uniform SSIM window (scikit-image's default, and what camo's reports use).
SSIM_WINDOW = 7


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Mean structural similarity of two images (per channel, then averaged), differentiable in both.

    Shape: (N, C, H, W), (N, C, H, W) with H, W ≥ 7 -> (N,).
    """
    if a.shape != b.shape or a.dim() != 4:
        raise ValueError(f"ssim needs two (N, C, H, W) tensors of one shape; got {tuple(a.shape)}, {tuple(b.shape)}")
    if min(a.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"ssim needs images of at least {SSIM_WINDOW}×{SSIM_WINDOW} pixels; got {tuple(a.shape)}")
    n = SSIM_WINDOW * SSIM_WINDOW
    cov_norm = n / (n - 1)

    def mean(x: torch.Tensor) -> torch.Tensor:  # the windows wholly inside the image, as the reported figure
        return F.avg_pool2d(x, SSIM_WINDOW, stride=1)

    ux, uy = mean(a), mean(b)
    vx = cov_norm * (mean(a * a) - ux * ux)
    vy = cov_norm * (mean(b * b) - uy * uy)
    vxy = cov_norm * (mean(a * b) - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    index = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return index.flatten(1).mean(dim=1)
