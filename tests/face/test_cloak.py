"""camo.face.cloak: the shared attack step on face crops, verified by dlib's own pipeline."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from camo.choices import DEFAULT_PRESET
from camo.errors import InputError, NoFaceError
from camo.face.cloak import PRESETS, CloakConfig, image_similarity, stronger
from camo.face.cloak_config import RUNGS
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
    assert low.eps <= mid.eps < high.eps and mid.steps <= high.steps
    # low is mid's budget held back by a look target; mid and high spend their whole budget.
    assert low.min_ssim is not None and mid.min_ssim is None and high.min_ssim is None
    # low's margin goes with its retries: a photo low leaves too near a member is retried at low in 20 steps, then
    # mid, then high.
    assert low.margin is not None and mid.margin is None and high.margin is None
    assert stronger(low) == replace(low, steps=20) == RUNGS["low (20 steps)"]
    assert stronger(RUNGS["low (20 steps)"]) == replace(mid, margin=low.margin)
    assert stronger(mid) == high and stronger(high) is None
    # A stricter look target of the user's is weaker than low's: the next stronger step is low's target. Look
    # ranks before steps: low's smaller steps under its target are weaker than mid's 10 without one. (The margin
    # is how sure the user asked to be, not a strength: a config without one gets none.)
    assert stronger(replace(mid, min_ssim=0.97)) == replace(low, margin=None)
    assert stronger(replace(mid, steps=40, min_ssim=0.95)) == replace(low, margin=None)
    assert stronger(replace(low, mode="decoy")).mode == "decoy"  # type: ignore[union-attr]
    assert CloakConfig(steps=1, eps=4 / 255).effective_step_size == 4 / 255  # one-step FGSM of size ε
    assert CloakConfig() == mid  # the plain configuration is mid's budget (the default preset, low, adds to it)
    assert PRESETS[DEFAULT_PRESET] == low


def test_decoy_presets_are_the_dodge_presets_in_decoy_mode() -> None:
    from camo.face.cloak import preset
    from camo.face.cloak_config import preset_name

    for name, dodge in PRESETS.items():
        decoy = preset(name, "decoy")
        assert preset(name) == dodge and decoy == replace(dodge, mode="decoy") and preset_name(decoy) == name
    assert stronger(preset("mid", "decoy")) == preset("high", "decoy")
    with pytest.raises(InputError, match="unknown preset"):
        preset("max")


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

    from camo.face import Recognizer, cloak
    from camo.images import to_rgb_uint8

    core: Any = importlib.import_module("camo.attacks.core")
    pixels = to_rgb_uint8(_photo())
    before = pixels.copy()
    calls = []
    original_step = core.step

    def counting_step(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["targeted"])
        return original_step(*args, **kwargs)

    core.step = counting_step
    try:
        result = cloak(pixels, recognizer=Recognizer())
    finally:
        core.step = original_step
    assert np.array_equal(pixels, before), "the input array was modified"
    return result, calls


def test_dodge_cloak_is_not_matched_by_dlib_and_stays_in_budget(cloaked: Any) -> None:
    from camo.face import Recognizer

    result, calls = cloaked
    # Every step is the shared signed step of camo.attacks.core, untargeted, one per step taken.
    assert calls and not any(calls) and len(calls) == PRESETS[DEFAULT_PRESET].steps
    network = Recognizer().network  # shared: the cloak must leave it as it found it
    assert not network.training and not any(p.requires_grad for p in network.parameters())
    assert result.pixels.shape == result.original.shape and result.pixels.dtype == np.uint8
    assert 0 < result.linf <= round(PRESETS[DEFAULT_PRESET].eps * 255)
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
        # A black-and-white photo stays black and white (its cloak changes brightness only); a colour one is cloaked
        # in colour unless asked otherwise.
        changed = result.pixels != result.original
        assert changed.any()
        same = (result.pixels[..., 0] == result.pixels[..., 1]) & (result.pixels[..., 1] == result.pixels[..., 2])
        assert same.all() == (image is grey) and result.config.grey == (image is grey)


def test_decoy_pulls_the_descriptor_towards_the_decoy(dlib_module: Any) -> None:
    from camo.face import Recognizer, cloak
    from camo.face.cloak import builtin_decoy

    _, decoy = builtin_decoy()
    result = cloak(_photo(), config=replace(PRESETS["mid"], mode="decoy", decoy=tuple(decoy)))
    before = np.linalg.norm(result.faces[0].descriptor - decoy)
    after = min(np.linalg.norm(d - decoy) for d in Recognizer().dlib_descriptors(result.pixels))
    assert after < before - 0.2
    assert result.verification is not None and result.verification.protected


def test_decoy_loss_is_the_pull_minus_push_times_the_push_from_oneself() -> None:
    import torch

    from camo.face.cloak_model import decoy_loss
    from camo.face.recognizers import DlibRecognizer

    members = [DlibRecognizer()]  # only its metric, size and threshold are used: nothing loads
    t2 = members[0].threshold ** 2
    generator = torch.Generator().manual_seed(0)
    output = torch.randn(3, 128, generator=generator, requires_grad=True)
    decoy, own = torch.randn(1, 128, generator=generator), torch.randn(1, 128, generator=generator)
    both = torch.cat((decoy, own), dim=1)
    for push in (0.0, 1.0, 2.0):
        value = decoy_loss(members, push)(output, both)
        expected = (((output - decoy) ** 2).sum(1).mean() - push * ((output - own) ** 2).sum(1).mean()) / t2
        assert value.item() == pytest.approx(expected.item(), rel=1e-5)
        (grad,) = torch.autograd.grad(value, output)
        # d/dd of the loss: (2(d − decoy) − 2·push·(d − own)) / t², averaged over the copies.
        oracle = (2 * (output - decoy) - 2 * push * (output - own)) / output.shape[0] / t2
        assert torch.allclose(grad, oracle.detach(), atol=1e-5)
    # push = 1: linear in d, so only the direction decoy − own matters (the same gradient everywhere).
    (g1,) = torch.autograd.grad(decoy_loss(members, 1.0)(output, both), output)
    (g2,) = torch.autograd.grad(decoy_loss(members, 1.0)(output * 3, both), output)
    assert torch.allclose(g1 * 3, g2, atol=1e-5)


def test_dodge_loss_weighs_each_member_by_its_own_threshold() -> None:
    import torch

    from camo.face.cloak_model import dodge_loss
    from camo.face.recognizers import DlibRecognizer, SFaceRecognizer

    dlib, sface = DlibRecognizer(), SFaceRecognizer()  # nothing loads: sizes, metrics and thresholds only
    generator = torch.Generator().manual_seed(1)
    own = torch.randn(1, 128 + 128, generator=generator)
    output = own + 0.1 * torch.randn(4, 256, generator=generator)
    value = dodge_loss([dlib, sface])(output, own)
    euclid = (output[:, :128] - own[:, :128]).norm(dim=1).mean() / dlib.threshold
    cosine = (1 - torch.nn.functional.cosine_similarity(output[:, 128:], own[:, 128:], dim=1)).mean()
    assert value.item() == pytest.approx(euclid.item() + cosine.item() / sface.threshold, rel=1e-5)
    # Each member at its own threshold counts 1: no member dominates by its units.
    at_threshold = own.clone()
    at_threshold[0, 0] += dlib.threshold
    assert dodge_loss([dlib])(at_threshold, own).item() == pytest.approx(1.0, rel=1e-4)
    # With a cap, a member beyond it stops counting (and stops pulling the step): only the other one moves.
    far = own.clone()
    far[0, 0] += 3 * dlib.threshold
    capped = dodge_loss([dlib, sface], cap=1.5)(far.requires_grad_(), own)
    assert capped.item() == pytest.approx(1.5, rel=1e-4)
    (grad,) = torch.autograd.grad(capped, far)
    assert grad[0, :128].abs().max().item() == 0.0


def test_decoy_chooser_keeps_one_decoy_per_person_and_picks_the_farthest() -> None:
    from camo.face.cloak import DecoyChooser

    near, far = np.zeros(128), np.zeros(128)
    near[0], far[0] = 0.5, -1.5
    chooser = DecoyChooser([("near", near), ("far", far)])
    person = np.zeros(128)
    person[0] = -0.3
    assert chooser(person)[0] == "far"
    # Another photo of the same person (within 0.6) on its own would get "near" (now the farther one): keeps "far".
    again = person.copy()
    again[0] = -0.6
    assert np.linalg.norm(again - near) > np.linalg.norm(again - far)
    assert chooser(again)[0] == "far"
    # A different person (farther than 0.6 from the first): a fresh choice, the candidate farthest from them.
    other = np.zeros(128)
    other[0] = -1.3
    assert chooser(other)[0] == "near"
    with pytest.raises(InputError, match="candidate"):
        DecoyChooser([])


def test_config_checks_push() -> None:
    with pytest.raises(InputError, match="push"):
        CloakConfig(push=-1)
    assert stronger(replace(PRESETS["low"], push=3.0)).push == 3.0  # type: ignore[union-attr]
    # --ensure retries keep what the user asked for (the perceptual budget, momentum, EOT), only stronger
    custom = replace(PRESETS["mid"], texture=8 / 255, momentum=1.0, samples=4, jitter=3.0)
    retry = stronger(custom)
    assert retry == replace(custom, eps=PRESETS["high"].eps, steps=PRESETS["high"].steps)
    # ... the feature loss they asked for included; low's own feature loss is low's, and mid's retry has mid's.
    assert stronger(replace(PRESETS["mid"], features=2.0)) == replace(PRESETS["high"], features=2.0)
    low_margin, low20 = PRESETS["low"].margin, RUNGS["low (20 steps)"]
    assert stronger(low20) == replace(PRESETS["mid"], margin=low_margin)
    assert stronger(replace(low20, features=3.0)) == replace(PRESETS["mid"], features=3.0, margin=low_margin)
    assert stronger(replace(PRESETS["mid"], dropout=0.05)) == replace(PRESETS["high"], dropout=0.05)
    # None: not low's, but mid's own
    assert stronger(replace(PRESETS["low"], dropout=None, margin=None)) == replace(low20, dropout=None, margin=None)
    assert stronger(replace(low20, dropout=None, margin=None)) == PRESETS["mid"]


def test_verification_counts_a_face_that_was_not_cloaked(cloaked: Any) -> None:
    from camo.face.cloak import verify

    result, _ = cloaked
    elsewhere = [replace(face, box=(0, 0, 9, 9)) for face in result.faces]
    verification = verify(result.original, result.pixels, elsewhere)
    assert verification.uncloaked == 1 and not verification.protected
    assert "not cloaked" in verification.verdict()
    assert verify(result.original, result.pixels, result.faces).uncloaked == 0


def _canvas_with_a_small_face(big: bool) -> np.ndarray:
    """A 0.6 MP photo: a face of about 43 px (only the upsampled detector finds it), and optionally a 107 px one."""
    from PIL import Image

    examples = shared("faces", "face_recognition_examples", "examples")
    canvas = Image.new("RGB", (853, 720), "white")
    if big:
        with Image.open(examples / "obama-480p.jpg") as img:
            canvas.paste(img.convert("RGB"), (0, 0))
    with Image.open(examples / "obama-240p.jpg") as img:
        canvas.paste(img.convert("RGB").resize((299, 168), Image.Resampling.LANCZOS), (300, 480))
    return np.asarray(canvas)


@pytest.mark.parametrize("big", [False, True])
def test_quick_detection_falls_back_to_the_full_detector(dlib_module: Any, tmp_path: Path, big: bool) -> None:
    from camo.face import Recognizer, cloak_photo
    from camo.face.align import detect_faces
    from camo.face.cloak import QUICK_DETECT_PIXELS

    pixels = _canvas_with_a_small_face(big)
    assert pixels.shape[0] * pixels.shape[1] >= QUICK_DETECT_PIXELS
    assert len(detect_faces(pixels, upsample=0)) == int(big) and len(detect_faces(pixels, upsample=1)) == 1 + big
    record = cloak_photo(pixels, tmp_path / "out.png", recognizer=Recognizer(), config=replace(PRESETS["mid"]))
    assert record.result is not None and record.verification is not None
    assert len(record.result.faces) == 1 + big and record.attempts == 1
    assert record.verification.uncloaked == 0 and record.verification.faces_found == 1 + big
    assert any("missed" in note for note in record.notes) == big


def test_verification_is_protected_only_when_every_recognizer_agrees() -> None:
    from camo.face.cloak import FaceVerdict, RecognizerVerdict, Verification
    from camo.serve.cloak_job import recognizer_verdicts

    box = (0, 0, 9, 9)
    dlib = RecognizerVerdict("dlib", "euclidean", 0.6, (FaceVerdict(box, 0.8, True),))
    sface = RecognizerVerdict("sface", "cosine", 0.637, (FaceVerdict(box, 0.4, False),))
    both = Verification(recognizers=(dlib, sface), faces_found=1, psnr=40.0, ssim=0.99, face_psnr=35.0,
                        face_ssim=0.95)
    assert not both.protected and both.verdict() == "NOT protected: sface still matches"
    assert both.min_distance == 0.8 and both.margin == pytest.approx(0.4 / 0.637)
    alone = replace(both, recognizers=(dlib,))
    assert alone.protected and alone.verdict().startswith("protected: dlib no longer matches")
    assert not replace(both, recognizers=(dlib,), uncloaked=1).protected
    # What the web app reads: one verdict per recognizer, generically.
    shown = recognizer_verdicts(both.to_dict())
    assert [(v["recognizer"], v["protected"], v["threshold"]) for v in shown] == [("dlib", True, 0.6),
                                                                                 ("sface", False, 0.637)]
    assert shown[1]["distance"] == 0.4 and "sface" in shown[1]["verdict"]


def test_texture_budget_spares_flat_regions_and_spends_on_texture() -> None:
    from camo.face.cloak import texture_budget

    flat = np.full((20, 20, 3), 128, np.uint8)
    checker = np.indices((20, 20)).sum(axis=0) % 2 * 255
    textured = np.repeat(checker[:, :, None], 3, axis=2).astype(np.uint8)
    assert np.allclose(texture_budget(flat, 8 / 255, 0.25).numpy(), 0.25)
    assert np.allclose(texture_budget(textured, 8 / 255, 0.25).numpy(), 1.0)
    with pytest.raises(InputError, match="texture"):
        CloakConfig(texture=0)
    with pytest.raises(InputError, match="floor"):
        CloakConfig(floor=1.5)


def test_perceptual_budget_keeps_each_pixel_inside_its_own_budget(dlib_module: Any) -> None:
    from camo.face import Recognizer, cloak
    from camo.face.cloak import texture_budget
    from camo.images import to_rgb_uint8

    pixels = to_rgb_uint8(_photo())
    config = CloakConfig(eps=8 / 255, steps=3, texture=8 / 255, floor=0.25)
    result = cloak(pixels, recognizer=Recognizer(), config=config, verify_result=False)
    left, top, right, bottom = result.faces[0].crop
    allowed = texture_budget(pixels[top:bottom, left:right], 8 / 255, 0.25)[0, 0].numpy() * 8
    moved = np.abs(result.pixels.astype(np.int16) - pixels.astype(np.int16))[top:bottom, left:right].max(axis=2)
    assert (moved <= allowed + 0.5 + 1e-6).all()  # rounding to 8 bits adds at most half a grey level
    flat = allowed <= 0.25 * 8 + 1e-6
    assert flat.any() and (~flat).any()
    assert moved[flat].mean() < moved[~flat].mean()  # flat skin moves less than texture


def test_ensemble_decoy_pulls_every_member_towards_the_decoy(dlib_module: Any) -> None:
    from camo.face.cloak import cloak
    from camo.face.decoys import member_decoy
    from camo.face.recognizers import DlibRecognizer, SFaceRecognizer
    from camo.images import to_rgb_uint8

    members = [DlibRecognizer(), SFaceRecognizer()]
    pixels = to_rgb_uint8(_photo())
    result = cloak(pixels, recognizers=members, config=CloakConfig(mode="decoy", steps=4), verify_result=False)
    name = result.faces[0].decoy
    assert name in ("grace_hopper", "astronaut")
    for member in members:
        target = member_decoy(name, member)
        before = member.distance_between(member.faces(pixels)[0], target)
        after = member.distance_between(member.faces(result.pixels)[0], target)
        assert after < before, member.name
    with pytest.raises(InputError, match="include dlib"):
        cloak(pixels, recognizers=members[1:], config=CloakConfig(mode="decoy"))


def test_gaussian_blur_is_a_weighted_mean_of_the_given_width() -> None:
    import torch

    from camo.face.cloak import gaussian_blur

    impulse = torch.zeros(1, 1, 41, 41)
    impulse[0, 0, 20, 20] = 1.0
    blurred = gaussian_blur(impulse, 3.0)[0, 0]
    assert float(blurred.sum()) == pytest.approx(1.0, abs=1e-5) and float(blurred.min()) >= 0
    offsets = torch.arange(41, dtype=torch.float32) - 20
    variance = float((blurred.sum(dim=0) * offsets**2).sum())
    assert variance == pytest.approx(9.0, rel=0.05)  # σ² of the kernel (truncated at 3σ)
    # A change bounded by ε stays bounded by ε, and a flat image stays flat (edges are reflected, not zero).
    change = (torch.rand(1, 3, 30, 25, generator=torch.Generator().manual_seed(0)) * 2 - 1) * 0.1
    assert float(gaussian_blur(change, 2.0).abs().max()) <= 0.1 + 1e-6
    assert torch.allclose(gaussian_blur(torch.full((1, 3, 9, 9), 0.4), 5.0), torch.full((1, 3, 9, 9), 0.4))


def test_smooth_and_blur_settings_are_checked() -> None:
    for bad in ({"smooth": 0.0}, {"smooth": float("nan")}, {"smooth": 50.0}, {"blur": -1.0}, {"blur": float("inf")}):
        with pytest.raises(InputError, match=next(iter(bad))):
            CloakConfig(**bad)  # type: ignore[arg-type]


def test_the_low_frequency_cloak_changes_the_face_smoothly(dlib_module: Any) -> None:
    from camo.face import cloak

    def roughness(result: Any) -> float:
        """Mean |difference of neighbouring pixels' changes| ÷ mean |change|: high for pixel-level noise."""
        left, top, right, bottom = result.faces[0].crop
        delta = (result.pixels.astype(float) - result.original.astype(float))[top:bottom, left:right]
        return float(np.abs(np.diff(delta, axis=1)).mean() / max(np.abs(delta).mean(), 1e-9))

    fast = replace(PRESETS["low"], steps=2, samples=1, smooth=None, min_ssim=None)
    sharp = cloak(_photo(), config=fast, verify_result=False)
    # σ of 4 chip pixels: about 2.5 pixels of this 240p photo, whose face is smaller than the chip.
    smooth = cloak(_photo(), config=replace(fast, smooth=4.0, blur=1.0), verify_result=False)
    assert 0 < smooth.linf <= round(fast.eps * 255)
    assert roughness(smooth) < 0.5 * roughness(sharp), (roughness(smooth), roughness(sharp))  # measured 0.36


def test_a_grey_cloak_changes_red_green_and_blue_alike(dlib_module: Any) -> None:
    from camo.face import cloak

    result = cloak(_photo(), config=replace(PRESETS["low"], steps=2, samples=1, grey=True), verify_result=False)
    left, top, right, bottom = result.faces[0].crop
    delta = result.pixels.astype(int)[top:bottom, left:right] - result.original.astype(int)[top:bottom, left:right]
    assert np.abs(delta).max() > 0
    # The same change in every channel, up to 8-bit rounding, wherever no channel was clipped at 0 or 255.
    spread = delta.max(axis=2) - delta.min(axis=2)
    cloaked = result.pixels[top:bottom, left:right]
    unclipped = ((cloaked > 0) & (cloaked < 255)).all(axis=2)
    assert unclipped.mean() > 0.9
    assert np.mean(spread[unclipped] <= 1) > 0.99


def test_a_look_target_spends_less_of_the_face_ssim(dlib_module: Any) -> None:
    from camo.face import cloak
    from camo.face.cloak import image_similarity

    # The preset's 10 steps: with few large sign steps the penalty overshoots and buys nothing.
    fast = replace(PRESETS["mid"], samples=1)
    free = cloak(_photo(), config=fast, verify_result=False)
    guarded = cloak(_photo(), config=replace(fast, min_ssim=0.97), verify_result=False)
    before = image_similarity(free.original, free.pixels)["face_ssim"]
    after = image_similarity(guarded.original, guarded.pixels)["face_ssim"]
    assert guarded.linf > 0
    # The penalty only acts below the target: it cannot push SSIM above 0.97 by more than a step's worth, but it
    # must recover a clear part of what the unguarded cloak spends.
    assert after > before + 0.25 * (0.97 - before), (before, after)


def test_a_photo_look_target_binds_only_where_the_faces_fill_the_photo() -> None:
    config = CloakConfig(min_ssim=0.93, photo_ssim=0.95)
    # A face crop that is the whole photo (92×112 ORL) is held to the photo's target.
    assert config.crop_target((112, 92), [(112, 92)]) == pytest.approx(0.95)
    # A face in a corner of a large photo: the photo allows the crop far less than the face's own target.
    assert config.crop_target((1000, 1500), [(300, 250)]) == 0.93
    # Between: the crop may lose the photo's allowance spread over its windows; two faces share it.
    photo = CloakConfig(photo_ssim=0.95)
    assert photo.crop_target((206, 206), [(150, 150)]) == pytest.approx(1 - 0.05 * 200 * 200 / (144 * 144))
    assert photo.crop_target((206, 206), [(150, 150)] * 2) == pytest.approx(1 - 0.05 * 200 * 200 / (2 * 144 * 144))
    assert config.crop_target((206, 206), [(150, 150)]) == 0.93  # 0.904 from the photo: the face's is stricter
    assert CloakConfig(photo_ssim=0.95).crop_target((1000, 1500), [(300, 250)]) is None
    assert CloakConfig(min_ssim=0.9).crop_target((112, 92), [(112, 92)]) == 0.9
    assert CloakConfig().crop_target((112, 92), [(112, 92)]) is None


def test_a_photo_look_target_holds_on_the_saved_pixels(dlib_module: Any) -> None:
    from camo.face import cloak
    from camo.face.cloak import image_similarity

    fast = replace(PRESETS["mid"], steps=4, samples=1)
    free = cloak(_photo(), config=fast, verify_result=False)
    left, top, right, bottom = free.faces[0].crop
    height, width = free.original.shape[:2]
    share = (bottom - top - 6) * (right - left - 6) / ((height - 6) * (width - 6))
    spent = 1 - image_similarity(free.original, free.pixels)["ssim"]
    target = 1 - spent / 3  # a third of what the free cloak spends over the photo
    held = cloak(_photo(), config=replace(fast, photo_ssim=target), verify_result=False)
    assert held.faces[0].crop == free.faces[0].crop and share < 0.5
    # The photo keeps its target on the 8-bit pixels, up to the windows across the crop's edge.
    assert image_similarity(held.original, held.pixels)["ssim"] >= target - 0.1 * spent
    assert held.linf > 0


def test_look_target_settings_are_checked() -> None:
    for bad in ({"min_ssim": 1.0}, {"min_ssim": 0.0}, {"min_ssim": float("nan")}, {"ssim_weight": 0.0},
                {"ssim_weight": float("inf")}, {"photo_ssim": 1.0}, {"photo_ssim": -0.1}):
        with pytest.raises(InputError, match=next(iter(bad))):
            CloakConfig(**bad)  # type: ignore[arg-type]


def test_a_margin_asks_every_member_to_be_that_far_beyond_its_threshold() -> None:
    from camo.face.cloak import shortfall
    from camo.face.verification import FaceVerdict, RecognizerVerdict, Verification

    def verification(dlib: float | None, sface: float, uncloaked: int = 0) -> Verification:
        verdicts = (RecognizerVerdict("dlib", "euclidean", 0.6, (FaceVerdict((0, 0, 9, 9), dlib, dlib is None
                                                                             or dlib > 0.6),)),
                    RecognizerVerdict("sface", "cosine", 0.5, (FaceVerdict((0, 0, 9, 9), sface, sface > 0.5),)))
        return Verification(verdicts, 1, 30.0, 0.99, 25.0, 0.9, uncloaked)

    plain, sure = CloakConfig(), CloakConfig(margin=1.4)
    assert shortfall(verification(0.9, 0.8), plain) is None and shortfall(verification(0.9, 0.8), sure) is None
    # Protected by both (0.78 > 0.6), but dlib only 1.3 × its threshold away.
    assert shortfall(verification(0.78, 0.8), plain) is None
    assert shortfall(verification(0.78, 0.8), sure) == "margin 1.30 < 1.4"
    assert shortfall(verification(0.5, 0.8), sure) == "matched by dlib"
    assert shortfall(verification(0.9, 0.8, uncloaked=1), plain) == "matched by an uncloaked face"
    assert shortfall(verification(None, 0.8), sure) is None  # dlib finds no face: sface's 1.6 decides
    for bad in (0.5, 3.5, float("nan")):
        with pytest.raises(InputError, match="margin"):
            CloakConfig(margin=bad)
    # A retry keeps the margin: it is how sure the user wants to be, not a preset's strength.
    assert stronger(replace(PRESETS["low"], margin=1.4)) == replace(RUNGS["low (20 steps)"], margin=1.4)


def test_cloak_ensured_retries_on_pixels_as_ensure_does(dlib_module: Any) -> None:
    from camo.face.cloak import cloak_ensured
    from camo.face.cloak_config import preset_name
    from camo.face.recognizers import get_recognizers

    members = list(get_recognizers("dlib"))
    # 3 × the threshold is beyond every preset: each stronger one is tried, and the last is returned.
    config = replace(PRESETS["mid"], steps=2, samples=1, margin=3.0)
    attempts = cloak_ensured(_photo(), recognizers=members, config=config)
    assert [preset_name(a.config) for a in attempts] == ["custom", "mid", "high"]
    result = attempts[-1]
    assert result.config.eps == PRESETS["high"].eps and result.config.margin == 3.0
    assert all(a.verification is not None and a.verification.margin is not None and a.verification.margin < 3
               for a in attempts)
    # Without a margin, a protected first attempt is the only one.
    once = cloak_ensured(_photo(), recognizers=members, config=replace(PRESETS["mid"], samples=1))
    assert len(once) == 1 and (once[0].verification is not None and once[0].verification.protected)
