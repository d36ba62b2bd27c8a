"""camo.attacks.patch: exact and differentiable pasting, placement geometry, growing, training and evaluating."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import camo
from camo.attacks.core import cross_entropy
from camo.attacks.patch import (
    TrainSettings,
    apply_patch,
    evaluate_patch,
    grow_patch,
    patch_in_view,
    patch_side,
    per_image_patches,
    place_patch,
    random_positions,
    resize_patch,
    side_for_view,
    train_patch,
    universal_patch,
    view_region,
)
from camo.errors import InputError, LabelError
from camo.images import load, quantize, save
from tests.support import small_cnn

Digits = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


@pytest.fixture(scope="module")
def digits() -> Digits:
    from camo.models.zoo import mnist_digits

    return mnist_digits()


def test_apply_patch_copies_pixels_exactly_and_leaves_the_rest() -> None:
    x = torch.rand(3, 1, 10, 12)
    before = x.clone()
    patch = torch.rand(1, 3, 4)
    out = apply_patch(x, patch, at=(2, 5))
    assert torch.equal(x, before), "the input was modified"
    assert torch.equal(out[:, :, 5:8, 2:6], patch.expand(3, 1, 3, 4))
    outside = torch.ones_like(x, dtype=torch.bool)
    outside[:, :, 5:8, 2:6] = False
    assert torch.equal(out[outside], x[outside])


def test_apply_patch_takes_one_position_per_image() -> None:
    x = torch.zeros(3, 3, 10, 12)
    patch = torch.rand(3, 3, 4)
    at = torch.tensor([[0, 0], [8, 7], [3, 2]])
    out = apply_patch(x, patch, at=at)
    for i, (left, top) in enumerate(at.tolist()):
        assert torch.equal(out[i, :, top : top + 3, left : left + 4], patch)
        assert float(out[i].sum()) == pytest.approx(float(patch.sum()), rel=1e-6)


def test_apply_patch_is_differentiable_in_the_patch() -> None:
    x = torch.rand(2, 1, 8, 8)
    weights = torch.randn(2, 1, 8, 8)
    patch = torch.rand(1, 3, 3, requires_grad=True)
    (apply_patch(x, patch, at=(4, 1)) * weights).sum().backward()
    assert patch.grad is not None
    torch.testing.assert_close(patch.grad, weights[:, :, 1:4, 4:7].sum(0))


def test_grey_patch_on_colour_images_and_mask_form() -> None:
    x = torch.rand(2, 3, 6, 6)
    out = apply_patch(x, torch.ones(1, 2, 2), at=(0, 0))
    assert torch.equal(out[:, :, :2, :2], torch.ones(2, 3, 2, 2))
    mask = torch.zeros(6, 6)
    mask[1:3, 1:3] = 0.5
    canvas = torch.ones(3, 6, 6)
    blended = apply_patch(x, canvas, mask=mask)
    torch.testing.assert_close(blended, x * (1 - mask) + canvas * mask)


@pytest.mark.parametrize("at", [(-1, 0), (9, 0), (0, 8)])
def test_a_patch_that_does_not_fit_is_refused_with_the_position(at: tuple[int, int]) -> None:
    with pytest.raises(InputError, match=rf"\({at[0]}, {at[1]}\) does not fit"):
        apply_patch(torch.zeros(1, 1, 10, 12), torch.zeros(1, 3, 4), at=at)


def test_apply_patch_needs_exactly_one_of_at_and_mask() -> None:
    x, patch = torch.zeros(1, 1, 4, 4), torch.zeros(1, 2, 2)
    with pytest.raises(InputError, match="exactly one"):
        apply_patch(x, patch)
    with pytest.raises(InputError, match="exactly one"):
        apply_patch(x, patch, at=(0, 0), mask=torch.ones(4, 4))
    with pytest.raises(InputError, match="3 channels but the images have 1"):
        apply_patch(x, torch.zeros(3, 2, 2), at=(0, 0))


def test_place_patch_without_rotation_or_scaling_is_the_exact_paste() -> None:
    x = torch.rand(1, 3, 10, 12)
    patch = torch.rand(3, 3, 4)
    # The patch's centre in continuous pixel coordinates: left + w/2, top + h/2.
    canvas, mask = place_patch(patch, (10, 12), center=torch.tensor([[2 + 2.0, 5 + 1.5]]), scale=torch.ones(1),
                               angle=torch.zeros(1))
    torch.testing.assert_close(apply_patch(x, canvas, mask=mask), apply_patch(x, patch, at=(2, 5)),
                               atol=1e-5, rtol=0)


def test_place_patch_rotation_and_scale_move_the_covered_area() -> None:
    patch = torch.ones(1, 2, 6)  # wide and flat
    _, turned = place_patch(patch, (16, 16), center=torch.tensor([[8.0, 8.0]]), scale=torch.ones(1),
                            angle=torch.tensor([90.0]))
    rows, cols = (turned[0, 0] > 0.99).nonzero().unbind(1)
    assert int(rows.max() - rows.min()) + 1 == 6 and int(cols.max() - cols.min()) + 1 == 2  # now tall and thin
    _, doubled = place_patch(patch, (16, 16), center=torch.tensor([[8.0, 8.0]]), scale=torch.tensor([2.0]),
                             angle=torch.zeros(1))
    assert float(doubled.sum()) == pytest.approx(4 * 12, rel=1e-4)


def test_patch_side_covers_at_most_the_fraction() -> None:
    assert patch_side(0.1, (28, 28)) == 8 and 8 * 8 / 784 <= 0.1
    assert patch_side(0.1, (224, 224)) == 70
    assert patch_side(12, (28, 28)) == 12
    with pytest.raises(InputError, match="does not fit"):
        patch_side(40, (28, 28))
    with pytest.raises(InputError, match=r"got -0\.1"):
        patch_side(-0.1, (28, 28))


def test_random_positions_keep_the_patch_inside_and_follow_the_generator() -> None:
    first = random_positions(500, (8, 8), (28, 30), generator=torch.Generator().manual_seed(3))
    again = random_positions(500, (8, 8), (28, 30), generator=torch.Generator().manual_seed(3))
    assert torch.equal(first, again)
    assert int(first[:, 0].min()) == 0 and int(first[:, 0].max()) == 22
    assert int(first[:, 1].min()) == 0 and int(first[:, 1].max()) == 20


def test_resize_patch() -> None:
    patch = torch.rand(3, 8, 8)
    assert resize_patch(patch, 1.0) is patch
    assert tuple(resize_patch(patch, 1.5).shape) == (3, 12, 12)
    with pytest.raises(InputError, match="got 0"):
        resize_patch(patch, 0)


def test_resize_patch_to_a_size_keeps_a_flat_patch_flat() -> None:
    patch = torch.full((3, 4, 4), 0.5)
    assert torch.equal(resize_patch(patch, size=(4, 4)), patch)
    grown, shrunk = resize_patch(patch, size=(12, 9)), resize_patch(patch, size=(2, 3))
    assert grown.shape == (3, 12, 9) and shrunk.shape == (3, 2, 3)
    assert torch.allclose(grown, torch.full_like(grown, 0.5)) and torch.allclose(shrunk, torch.full_like(shrunk, 0.5))
    with pytest.raises(InputError, match="at least one pixel"):
        resize_patch(patch, size=(0, 3))


@pytest.mark.parametrize("image_size", [(224, 224), (335, 500), (500, 335), (100, 60), (4000, 3000)])
def test_a_patch_sized_for_the_view_covers_its_share_of_the_view(image_size: tuple[int, int]) -> None:
    view = (224, 224)
    side = side_for_view((50, 50), image_size, view)
    if image_size == view:
        assert side == (50, 50)
    region = view_region(image_size, view)
    # centred in what the model sees, it lands 50 px wide there (within the rounding of one image pixel), all in view
    at = (region[1] + (region[3] - side[1]) // 2, region[0] + (region[2] - side[0]) // 2)
    fit = patch_in_view(side, at, image_size, view)
    per_pixel = max(224 / min(image_size), 1.0)
    assert all(abs(s - 50) <= per_pixel / 2 + 1e-6 for s in fit.size) and fit.visible == pytest.approx(1.0)
    assert patch_in_view(side, (0, 0), image_size, view).visible < 1.0 or region[:2] == (0, 0)
    # the region is every image pixel the crop keeps whole: one more pixel each way falls outside it
    top, left, height, width = region
    assert patch_in_view((height, width), (left, top), image_size, view).visible == pytest.approx(1.0)
    assert patch_in_view((height + 2, width + 2), (left - 1, top - 1), image_size, view).visible < 1.0 \
        or (height, width) == image_size


def test_one_grow_step_is_the_shared_targeted_fgsm_step() -> None:
    model = camo.Classifier(small_cnn(), labels=[str(i) for i in range(10)], input_size=(12, 12), channels=1)
    result = grow_patch(model, 4, steps=1, step_size=0.2, final_step_size=0.2)
    black = torch.zeros(1, 1, 12, 12, requires_grad=True)
    grad = torch.autograd.grad(cross_entropy(model(black), torch.tensor([4])), black)[0]
    torch.testing.assert_close(result.image, (-0.2 * grad.sign()).clamp(0, 1)[0])


def test_grow_changes_only_the_square_and_reaches_the_target(mnist_model: camo.Classifier) -> None:
    result = grow_patch(mnist_model, "5", size=16, steps=25)
    assert result.target == 5 and result.at == (6, 6)
    outside = torch.ones(28, 28, dtype=torch.bool)
    outside[6:22, 6:22] = False
    assert float(result.image[0][outside].abs().max()) == 0.0
    assert result.probability >= 0.9, result.probabilities
    assert len(result.frames) == len(result.probabilities) == 25
    assert result.to_dict()["p_target"] == result.probability


def test_grow_stops_early_and_rejects_bad_settings(mnist_model: camo.Classifier) -> None:
    result = grow_patch(mnist_model, 1, steps=40, stop_at=0.5)
    assert len(result.probabilities) < 40
    with pytest.raises(LabelError, match="out of range"):
        grow_patch(mnist_model, 12)
    with pytest.raises(InputError, match="got 40"):
        grow_patch(mnist_model, 1, size=40)


def test_training_optimises_only_the_patch_and_is_reproducible() -> None:
    net = small_cnn()
    net.train()
    model = camo.Classifier(net, labels=[str(i) for i in range(10)], input_size=(16, 16), channels=1)
    params = [p.detach().clone() for p in net.parameters()]
    images = torch.rand(20, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    settings = TrainSettings(size=0.25, steps=4, batch_size=5, lr=0.1)
    first = train_patch(model, images, 2, settings=settings)
    second = train_patch(model, images, 2, settings=settings)
    assert torch.equal(first.patch, second.patch)
    assert tuple(first.patch.shape) == (1, 8, 8) and first.area_fraction == 0.25
    assert float(first.patch.min()) >= 0 and float(first.patch.max()) <= 1
    assert all(torch.equal(a, b) for a, b in zip(params, net.parameters(), strict=True))
    assert net.training and all(p.requires_grad for p in net.parameters())
    assert len(first.losses) == 4 and first.to_dict()["settings"]["steps"] == 4
    with pytest.raises(InputError, match="MIN:MAX"):
        train_patch(model, images, 2, settings=TrainSettings(scale=(1.2, 0.8)))


@pytest.mark.slow
def test_training_lowers_the_target_loss(mnist_model: camo.Classifier, digits: Digits) -> None:
    x, y, held, held_y = digits
    others = held[held_y != 3][:200]
    at = random_positions(len(others), (12, 12), (28, 28), generator=torch.Generator().manual_seed(1))

    def target_loss(patch: torch.Tensor) -> float:
        with torch.no_grad():
            return float(cross_entropy(mnist_model(apply_patch(others, patch, at=at)), torch.full((200,), 3)))

    start = torch.rand(1, 12, 12, generator=torch.Generator().manual_seed(0))
    settings = TrainSettings(size=12, steps=30, batch_size=32, lr=0.1, rotate=0, scale=(1, 1))
    result = train_patch(mnist_model, x[y != 3][:1000], 3, settings=settings, init=start)
    assert target_loss(result.patch) < 0.8 * target_loss(start)


def test_a_patch_reapplied_from_its_png_gives_the_same_success(mnist_model: camo.Classifier, digits: Digits,
                                                               tmp_path: Path) -> None:
    x_train, y_train, x_test, y_test = digits
    settings = TrainSettings(size=0.16, steps=8, batch_size=16, lr=0.1)
    trained = universal_patch(mnist_model, x_train[y_train != 7][:800], 7, test_images=x_test, test_labels=y_test,
                              settings=settings)
    assert not torch.equal(trained.quantized, trained.result.patch), "quantisation should change a float patch"
    assert torch.equal(trained.quantized, quantize(trained.result.patch))
    path = save(trained.result.patch, tmp_path / "patch.png")
    reloaded = load(path, channels=1)[0]
    assert torch.equal(reloaded, trained.quantized)
    again = evaluate_patch(mnist_model, reloaded, x_test, 7, labels=y_test,
                           generator=torch.Generator().manual_seed(settings.seed))
    assert again.to_dict() == trained.evaluation.to_dict()
    assert again.excluded == int((y_test == 7).sum()) and again.images == len(y_test) - again.excluded
    assert again.fooling_rate > 0  # the measurement can tell a patch that does something from one that does not


def test_evaluate_counts_success_against_an_oracle() -> None:
    class Bright(nn.Module):
        """Class 1 when the image holds a saturated white 2×2 block anywhere, else class 0."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            white = nn.functional.avg_pool2d((x >= 1).float(), 2, stride=1).amax(dim=(1, 2, 3))
            return torch.stack([1 - white, white], dim=1) * 10

    model = camo.Classifier(Bright(), labels=["dark", "white"], input_size=(8, 8), channels=1)
    images = torch.full((6, 1, 8, 8), 0.2)
    labels = torch.tensor([0, 0, 0, 0, 1, 1])
    white = evaluate_patch(model, torch.ones(1, 2, 2), images, "white", labels=labels, placement="corner")
    assert (white.images, white.excluded, white.targeted_success, white.fooling_rate) == (4, 2, 1.0, 1.0)
    grey = evaluate_patch(model, torch.full((1, 2, 2), 0.5), images, "white", labels=labels)
    assert (grey.targeted_success, grey.fooling_rate) == (0.0, 0.0)


def test_apply_patch_takes_one_patch_per_image() -> None:
    x = torch.rand(3, 3, 10, 12)
    patches = torch.rand(3, 1, 2, 4)
    at = torch.tensor([[0, 0], [8, 7], [3, 2]])
    out = apply_patch(x, patches, at=at)
    for i, (left, top) in enumerate(at.tolist()):
        assert torch.equal(out[i], apply_patch(x[i : i + 1], patches[i], at=(left, top))[0])
    with pytest.raises(InputError, match="2 channels but the images have 3"):
        apply_patch(x, torch.rand(3, 2, 2, 4), at=at)


def test_per_image_patches_are_at_least_as_strong_as_one_shared_patch() -> None:
    torch.manual_seed(0)
    model = camo.Classifier(small_cnn(), labels=[str(i) for i in range(10)], input_size=(12, 12), channels=1)
    x = torch.rand(16, 1, 12, 12)
    at = random_positions(16, (5, 5), (12, 12), generator=torch.Generator().manual_seed(1))
    own = per_image_patches(model, x, 2, side=5, at=at, steps=30, generator=torch.Generator().manual_seed(2))
    assert own.shape == (16, 1, 5, 5) and float(own.min()) >= 0 and float(own.max()) <= 1

    def loss(patched: torch.Tensor) -> float:
        with torch.no_grad():
            return float(cross_entropy(model(patched), torch.full((16,), 2)))

    shared = train_patch(model, x, 2, settings=TrainSettings(size=5, steps=30, batch_size=16, rotate=0.0,
                                                             scale=(1.0, 1.0))).patch
    assert loss(apply_patch(x, own, at=at)) < loss(apply_patch(x, shared, at=at))
    assert loss(apply_patch(x, own, at=at)) < loss(x)
