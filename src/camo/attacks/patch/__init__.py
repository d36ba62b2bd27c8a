"""Adversarial patches: grown from a black image with targeted FGSM, or trained to work anywhere in any image.

Two ways to make a patch:

* :func:`grow_patch` is the seed's "adversarial block": start from a black image and repeat the *targeted* FGSM step
  (the seeds' negative ε) on the patch pixels only, until the classifier sees the target.
* :func:`train_patch` is a universal patch (Brown, Mané, Roy, Abadi, Gilmer 2017, "Adversarial Patch"): the expected
  target loss over many images and random placements, scales and rotations ("expectation over transformations") is
  descended by a sign-gradient or Adam update of the patch, the only optimised tensor.

Geometry, optimisation and evaluation live apart, one module each:

* :mod:`~camo.attacks.patch.geometry`: :func:`apply_patch` and :func:`place_patch`, pure and differentiable; sizes
  and random positions. No model.
* :mod:`~camo.attacks.patch.grow` and :mod:`~camo.attacks.patch.train`: the optimisers, both on the shared step of
  :mod:`camo.attacks.core` (the only step in camo).
* :mod:`~camo.attacks.patch.evaluate`: how often a patch wins, by scale and placement;
  :mod:`~camo.attacks.patch.bound`: what patches made per image reach, an upper bound for a universal one.
* :mod:`~camo.attacks.patch.data`: training backgrounds (bundled photos, crops, flips and jitter).

Figures live in :mod:`camo.analysis.patch_figures`. Every public name is importable from this package.

Shape conventions: images (N, C, H, W) in the model's bounds; a patch (C, h, w) (a leading batch axis of 1 is
accepted); positions (x, y) = (column, row) of the patch's top-left pixel, as the CLI's ``--at X,Y``.
"""

from camo.attacks.patch.bound import patch_bound, per_image_patches
from camo.attacks.patch.common import PatchCallback
from camo.attacks.patch.data import bundled_photos, flip_and_jitter, photo_crops
from camo.attacks.patch.evaluate import PatchEvaluation, PatchReport, Placement, evaluate_patch, patch_report
from camo.attacks.patch.geometry import (
    Position,
    ViewFit,
    apply_patch,
    patch_in_view,
    patch_side,
    place_patch,
    random_placement,
    random_positions,
    resize_patch,
    side_for_view,
    view_region,
)
from camo.attacks.patch.grow import GrowResult, grow_patch
from camo.attacks.patch.train import (
    Augment,
    PatchResult,
    TrainSettings,
    UniversalPatch,
    train_patch,
    universal_patch,
)

__all__ = [
    "Augment",
    "GrowResult",
    "PatchCallback",
    "PatchEvaluation",
    "PatchReport",
    "PatchResult",
    "Placement",
    "Position",
    "TrainSettings",
    "UniversalPatch",
    "ViewFit",
    "apply_patch",
    "bundled_photos",
    "evaluate_patch",
    "flip_and_jitter",
    "grow_patch",
    "patch_bound",
    "patch_in_view",
    "patch_report",
    "patch_side",
    "per_image_patches",
    "photo_crops",
    "place_patch",
    "random_placement",
    "random_positions",
    "resize_patch",
    "side_for_view",
    "train_patch",
    "universal_patch",
    "view_region",
]
