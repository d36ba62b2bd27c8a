"""camo.face.perceptual: the differentiable SSIM agrees with the figure camo reports (scikit-image)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity

from camo.face.perceptual import SimilarityTo, hold_look, ssim, window_mean


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


@pytest.mark.parametrize(("height", "width", "k"), [(7, 7, 7), (19, 31, 7), (12, 9, 3)])
def test_window_mean_is_avg_pool_and_its_backward_is_the_adjoint(height: int, width: int, k: int) -> None:
    rng = np.random.default_rng(height + width)
    x = torch.from_numpy(rng.random((2, 3, height, width))).requires_grad_(True)
    expected = F.avg_pool2d(x, k, stride=1)
    found = window_mean(x, k)
    assert found.shape == expected.shape
    assert torch.allclose(found, expected, atol=1e-12)
    weights = torch.from_numpy(rng.standard_normal(expected.shape))
    (grad_expected,) = torch.autograd.grad((expected * weights).sum(), x)
    (grad_found,) = torch.autograd.grad((found * weights).sum(), x)
    assert torch.allclose(grad_found, grad_expected, atol=1e-12)
    assert torch.autograd.gradcheck(lambda t: window_mean(t, k), (x[:1, :1].detach().requires_grad_(True),))


def test_similarity_to_a_fixed_image_is_ssim_with_the_same_gradient() -> None:
    rng = np.random.default_rng(1)
    b = torch.from_numpy(rng.random((1, 3, 30, 24)))
    a = (b + 0.1 * torch.from_numpy(rng.standard_normal(b.shape))).clamp(0, 1).requires_grad_(True)
    similarity = SimilarityTo(b)
    found, expected = similarity(a), ssim(a, b)
    assert float(found.detach()[0]) == pytest.approx(float(expected.detach()[0]), abs=1e-12)
    (grad_found,) = torch.autograd.grad(found.sum(), a)
    (grad_expected,) = torch.autograd.grad(expected.sum(), a)
    assert torch.allclose(grad_found, grad_expected, atol=1e-12)
    with pytest.raises(ValueError, match="one shape"):
        similarity(torch.zeros(1, 3, 30, 25))


def test_hold_look_draws_a_change_back_just_enough_for_the_target_on_8_bit_values() -> None:
    rng = np.random.default_rng(2)
    start = torch.from_numpy(np.round(rng.random((1, 3, 40, 30)) * 255) / 255)
    moved = (start + 0.2 * torch.from_numpy(rng.standard_normal(start.shape))).clamp(0, 1)
    rounded = lambda x: torch.round(x * 255) / 255  # noqa: E731
    before = float(ssim(rounded(moved), start)[0])
    target = (before + 1) / 2
    held = hold_look(start, moved, target)
    after = float(ssim(rounded(held), start)[0])
    assert target <= after < target + 0.02, (before, target, after)
    # Along the line from start to moved, nothing else.
    alpha = float(((held - start) * (moved - start)).sum() / ((moved - start) ** 2).sum())
    assert 0 < alpha < 1 and torch.allclose(held, start + alpha * (moved - start), atol=1e-9)
    # A change already within the target is kept as it is.
    assert hold_look(start, moved, before - 0.01) is moved
