"""camo.face.cloak: the shared attack step on face crops, verified by dlib's own pipeline."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from camo.errors import InputError, NoFaceError
from camo.face.cloak import PRESETS, CloakConfig, image_similarity, stronger
from camo.face.cloak_report import perturbation_image
from tests.support import shared


def _photo() -> Path:
    return shared("faces", "face_recognition_examples", "examples", "obama-240p.jpg")


def test_whole_photo_ssim_from_the_changed_region_equals_scikit_image() -> None:
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(0)
    original = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
    changed = original.copy()
    patch = changed[20:50, 30:70].astype(np.int16) + rng.integers(-6, 7, (30, 40, 3))
    changed[20:50, 30:70] = np.clip(patch, 0, 255).astype(np.uint8)
    got = image_similarity(original, changed)
    expected = structural_similarity(original, changed, channel_axis=2, data_range=255)
    assert got["ssim"] == pytest.approx(expected, abs=1e-5)
    assert got["face_ssim"] < got["ssim"] < 1.0
    mse = np.mean((original.astype(float) - changed.astype(float)) ** 2)
    assert got["psnr"] == pytest.approx(10 * np.log10(255**2 / mse), abs=1e-3)
    assert image_similarity(original, original) == {"psnr": None, "ssim": 1.0, "face_psnr": None, "face_ssim": 1.0}


def test_config_rejects_bad_values_and_presets_grow() -> None:
    with pytest.raises(InputError, match="eps"):
        CloakConfig(eps=-1 / 255)
    with pytest.raises(InputError, match="eps"):
        CloakConfig(eps=8)  # grey levels instead of pixel units
    with pytest.raises(InputError, match="steps"):
        CloakConfig(steps=0)
    low, mid, high = PRESETS["low"], PRESETS["mid"], PRESETS["high"]
    assert low.eps < mid.eps < high.eps and low.steps <= mid.steps <= high.steps
    assert stronger(low) == mid and stronger(mid) == high and stronger(high) is None
    assert stronger(replace(low, mode="decoy")).mode == "decoy"  # type: ignore[union-attr]
    assert CloakConfig(steps=1, eps=4 / 255).effective_step_size == 4 / 255  # one-step FGSM of size ε


def test_perturbation_is_amplified_around_grey_not_wrapped() -> None:
    original = np.full((2, 2, 3), 100, dtype=np.uint8)
    cloaked = original.copy()
    cloaked[0, 0] = 97
    cloaked[1, 1] = 104
    shown = perturbation_image(original, cloaked, gain=20)
    assert shown[0, 0, 0] == 128 - 60 and shown[1, 1, 0] == 208 and shown[0, 1, 0] == 128


@pytest.fixture(scope="module")
def cloaked(dlib_module: Any) -> Any:
    import importlib

    from camo.face import Recognizer
    from camo.images import to_rgb_uint8

    cloak_module: Any = importlib.import_module("camo.face.cloak")  # the module; camo.face.cloak is the function
    pixels = to_rgb_uint8(_photo())
    before = pixels.copy()
    calls = []
    original_run = cloak_module.run

    def counting_run(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["targeted"])
        return original_run(*args, **kwargs)

    cloak_module.run = counting_run
    try:
        result = cloak_module.cloak(pixels, recognizer=Recognizer())
    finally:
        cloak_module.run = original_run
    assert np.array_equal(pixels, before), "the input array was modified"
    return result, calls


def test_dodge_cloak_is_not_matched_by_dlib_and_stays_in_budget(cloaked: Any) -> None:
    from camo.face import Recognizer

    result, calls = cloaked
    assert calls == [False], "the cloak must go through camo.attacks.core.run once per face, untargeted"
    network = Recognizer().network  # shared: the cloak must leave it as it found it
    assert not network.training and not any(p.requires_grad for p in network.parameters())
    assert result.pixels.shape == result.original.shape and result.pixels.dtype == np.uint8
    assert 0 < result.linf <= round(PRESETS["mid"].eps * 255)
    # Pixels outside the face's crop are untouched: the work stays around the face.
    left, top, right, bottom = result.faces[0].crop
    outside = np.ones(result.pixels.shape[:2], dtype=bool)
    outside[top:bottom, left:right] = False
    assert np.array_equal(result.pixels[outside], result.original[outside])
    # An independent check with dlib's whole pipeline, not the cloak's own verification.
    found = Recognizer().dlib_descriptors(result.pixels)
    assert found, "the cloaked face should still be a face"
    assert min(np.linalg.norm(d - result.faces[0].descriptor) for d in found) > 0.6
    verification = result.verification
    assert verification.protected and verification.min_distance > 0.6
    assert verification.ssim > 0.95 and verification.psnr > 35


def test_no_face_raises(dlib_module: Any) -> None:
    from camo.face import cloak

    with pytest.raises(NoFaceError, match="no face"):
        cloak(np.full((120, 160, 3), 255, dtype=np.uint8), verify_result=False)


def test_grey_and_rgba_photos_come_out_rgb(dlib_module: Any) -> None:
    from PIL import Image

    from camo.face import cloak

    with Image.open(_photo()) as img:
        grey = np.asarray(img.convert("L"))
        rgba = img.convert("RGBA")
    fast = replace(PRESETS["low"], steps=2, samples=1)
    for image in (grey, rgba):
        result = cloak(image, config=fast, verify_result=False)
        assert result.pixels.shape == (*grey.shape, 3) and len(result.faces) == 1


def test_decoy_pulls_the_descriptor_towards_the_decoy(dlib_module: Any) -> None:
    from camo.face import Recognizer, cloak
    from camo.face.cloak import builtin_decoy

    _, decoy = builtin_decoy()
    result = cloak(_photo(), config=replace(PRESETS["mid"], mode="decoy", decoy=tuple(decoy)))
    before = np.linalg.norm(result.faces[0].descriptor - decoy)
    after = min(np.linalg.norm(d - decoy) for d in Recognizer().dlib_descriptors(result.pixels))
    assert after < before - 0.2
    assert result.verification is not None and result.verification.protected
