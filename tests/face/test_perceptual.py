"""camo.face.perceptual: the differentiable SSIM agrees with the figure camo reports (scikit-image)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from camo.face.perceptual import ssim


@pytest.mark.parametrize(("height", "width", "noise"), [(7, 7, 0.3), (40, 33, 0.05), (64, 64, 0.2)])
def test_ssim_matches_scikit_image(height: int, width: int, noise: float) -> None:
    rng = np.random.default_rng(height * width)
    a = rng.random((height, width, 3))
    b = np.clip(a + rng.normal(0, noise, a.shape), 0, 1)
    expected = structural_similarity(a, b, channel_axis=2, data_range=1.0)
    found = ssim(torch.from_numpy(a).permute(2, 0, 1)[None], torch.from_numpy(b).permute(2, 0, 1)[None])
    assert found.shape == (1,)
    assert float(found[0]) == pytest.approx(expected, abs=1e-9)


def test_ssim_is_one_for_identical_images_and_has_a_gradient_that_restores_them() -> None:
    rng = np.random.default_rng(0)
    a = torch.from_numpy(rng.random((1, 3, 20, 20)))
    assert float(ssim(a, a)[0]) == pytest.approx(1.0)
    b = (a + 0.1 * torch.from_numpy(rng.standard_normal(a.shape))).requires_grad_(True)
    ssim(b, a).sum().backward()
    assert b.grad is not None
    # A small step up the SSIM gradient moves b towards a.
    moved = b.detach() + 1e-3 * b.grad.sign()
    assert float(ssim(moved, a)[0]) > float(ssim(b.detach(), a)[0])


def test_ssim_refuses_mismatched_or_tiny_images() -> None:
    with pytest.raises(ValueError, match="one shape"):
        ssim(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))
    with pytest.raises(ValueError, match="at least 7"):
        ssim(torch.zeros(1, 3, 6, 8), torch.zeros(1, 3, 6, 8))
