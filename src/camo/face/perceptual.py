"""A differentiable SSIM, so that a cloak can be told how much of the look it may spend.

:func:`ssim` is the measure camo reports (scikit-image's ``structural_similarity`` with its defaults: uniform 7×7
windows, sample covariance, K₁ = 0.01, K₂ = 0.03, the mean over every window wholly inside the image and over the
channels; Wang et al. 2004), written in PyTorch so that its gradient can join the shared step's loss. It agrees
with scikit-image to float precision (``tests/face/test_perceptual.py``). :class:`SimilarityTo` is the same measure
against one fixed image, whose window statistics it computes once: a cloak's look target compares every step's
pixels with the same original.

The window means are sums of shifted slices (:func:`window_mean`, with its adjoint as the backward pass) rather than
``avg_pool2d``, which on CPU costs ten times as much per window and was the most expensive single piece of a cloak
with a look target (bench/ENSEMBLE_FINDINGS.md, round 7).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["SSIM_WINDOW", "SimilarityTo", "hold_look", "ssim", "window_mean"]

#: Side of the uniform SSIM window (scikit-image's default, and what camo's reports use).
SSIM_WINDOW = 7


def _window_sum(x: torch.Tensor, k: int) -> torch.Tensor:
    """Sum over every k×k window wholly inside the last two dimensions: (…, H, W) -> (…, H − k + 1, W − k + 1)."""
    rows = x.shape[-2] - k + 1
    down = x[..., :rows, :]
    for shift in range(1, k):
        down = down + x[..., shift:shift + rows, :]
    cols = x.shape[-1] - k + 1
    out = down[..., :cols]
    for shift in range(1, k):
        out = out + down[..., shift:shift + cols]
    return out


class _WindowMean(torch.autograd.Function):
    """The k×k window mean and, as its backward pass, its adjoint: the window sum of the gradient padded by k − 1
    on every side (each input pixel receives the gradient of every window it lies in), divided by k²."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, k: int) -> torch.Tensor:
        ctx.k = k
        return _window_sum(x, k) / (k * k)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        k = ctx.k
        return _window_sum(F.pad(grad, (k - 1, k - 1, k - 1, k - 1)), k) / (k * k), None


def window_mean(x: torch.Tensor, k: int = SSIM_WINDOW) -> torch.Tensor:
    """Mean over every k×k window wholly inside the image (``avg_pool2d(x, k, stride=1)``), differentiable.

    Shape: (N, C, H, W) with H, W ≥ k -> (N, C, H − k + 1, W − k + 1).
    """
    out: torch.Tensor = _WindowMean.apply(x, k)
    return out


class SimilarityTo:
    """SSIM of images against one fixed reference ``b`` (differentiable in the image, and in ``b`` where it
    requires a gradient; ``b``'s window means and variances are computed once).

    Shape: (N, C, H, W) of ``b``'s shape -> (N,).
    """

    def __init__(self, b: torch.Tensor, data_range: float = 1.0) -> None:
        _check(b, b)
        n = SSIM_WINDOW * SSIM_WINDOW
        self.cov_norm = n / (n - 1)
        self.b = b
        self.uy = window_mean(b)
        self.vy = self.cov_norm * (window_mean(b * b) - self.uy * self.uy)
        self.c1, self.c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def __call__(self, a: torch.Tensor) -> torch.Tensor:
        _check(a, self.b)
        ux = window_mean(a)
        vx = self.cov_norm * (window_mean(a * a) - ux * ux)
        vxy = self.cov_norm * (window_mean(a * self.b) - ux * self.uy)
        index = (((2 * ux * self.uy + self.c1) * (2 * vxy + self.c2))
                 / ((ux * ux + self.uy * self.uy + self.c1) * (vx + self.vy + self.c2)))
        return index.flatten(1).mean(dim=1)


def hold_look(start: torch.Tensor, moved: torch.Tensor, target: float, halvings: int = 10) -> torch.Tensor:
    """``moved`` drawn back towards ``start`` just enough that its SSIM against ``start``, in 8-bit values, is at least
    ``target``: start + α (moved − start) with the largest α in [0, 1] found by ``halvings`` bisections (α = 1,
    ``moved`` itself, when it already is). A look target followed by sign steps ends anywhere within a step of
    it; this makes it hold on the saved file. Values in [0, 1]; ``start`` on the 8-bit grid.

    Shape: (1, C, H, W), (1, C, H, W) with H, W ≥ 7 -> (1, C, H, W).
    """
    similarity = SimilarityTo(start)

    def at(alpha: float) -> tuple[torch.Tensor, float]:
        pixels = start + alpha * (moved - start)
        return pixels, float(similarity(torch.round(pixels * 255) / 255)[0])

    with torch.no_grad():
        if at(1.0)[1] >= target:
            return moved
        low, high = 0.0, 1.0  # SSIM(low) ≥ target > SSIM(high)
        for _ in range(halvings):
            middle = (low + high) / 2
            if at(middle)[1] >= target:
                low = middle
            else:
                high = middle
        return at(low)[0]


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Mean structural similarity of two images (per channel, then averaged), differentiable in both.

    Shape: (N, C, H, W), (N, C, H, W) with H, W ≥ 7 -> (N,).
    """
    return SimilarityTo(b, data_range)(a)


def _check(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape or a.dim() != 4:
        raise ValueError(f"ssim needs two (N, C, H, W) tensors of one shape; got {tuple(a.shape)}, {tuple(b.shape)}")
    if min(a.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"ssim needs images of at least {SSIM_WINDOW}×{SSIM_WINDOW} pixels; got {tuple(a.shape)}")
