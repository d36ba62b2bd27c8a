"""Cloaking face photos against an ensemble of face recognizers: :func:`cloak` on pixels, :func:`cloak_photo` from a
file to a saved file that each recognizer's own runtime has checked.

Every face is attacked with the shared iterative FGSM step of :mod:`camo.attacks.core` (the seed's one-step FGSM is
``steps=1``), computed only on one crop around the face that serves every recognizer's chip
(:func:`~camo.face.align.union_crop_box`), so that 24 MP photos cost what their faces cost. The step sees the
differentiable model and the ``dodge``/``decoy`` losses of :mod:`camo.face.cloak_model`; the settings and presets
live in :mod:`camo.face.cloak_config`, the decoy identities in :mod:`camo.face.decoys`, and :func:`verify` in
:mod:`camo.face.verification`. The public names of those modules listed in ``__all__`` are re-exported here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from camo.attacks.core import Schedule, run
from camo.errors import InputError, NoFaceError
from camo.face.align import union_crop_box
from camo.face.cloak_config import (
    DEFAULT_ENSEMBLE,
    DEFAULT_PRESET,
    PRESETS,
    CloakConfig,
    StepCallback,
    preset,
    preset_name,
    stronger,
)
from camo.face.cloak_model import (
    Budgeted,
    DegradedDescriptors,
    LookGuarded,
    crop_tensor,
    decoy_loss,
    dodge_loss,
    feature_loss,
    gaussian_blur,
    look_loss,
    member_slices,
    texture_budget,
)
from camo.face.decoys import DecoyChooser, builtin_decoy, dlib_encode, member_decoy
from camo.face.perceptual import SSIM_WINDOW, hold_look
from camo.face.recognizers.base import FaceRecognizer, locate_faces
from camo.face.surrogate import surrogate
from camo.face.verification import (
    CloakedFace,
    FaceVerdict,
    RecognizerVerdict,
    Verification,
    ensemble_members,
    image_similarity,
    verify,
)
from camo.images import ImageSource, is_grey, save, to_rgb_uint8

__all__ = [
    "DEFAULT_ENSEMBLE",
    "PRESETS",
    "CloakConfig",
    "CloakResult",
    "CloakedFace",
    "DecoyChooser",
    "FaceVerdict",
    "RecognizerVerdict",
    "Verification",
    "builtin_decoy",
    "cloak",
    "cloak_ensured",
    "cloak_photo",
    "dlib_encode",
    "gaussian_blur",
    "image_similarity",
    "preset",
    "shortfall",
    "stronger",
    "texture_budget",
    "verify",
]


@dataclass(frozen=True, eq=False)
class CloakResult:
    """A cloaked image and what the cloak did.

    Attributes:
        pixels: the cloaked photo, RGB uint8 (H, W, 3): exactly what an 8-bit PNG holds.
        original: the photo it came from, upright RGB uint8.
        faces: the faces cloaked, largest first.
        config: the settings used.
        seconds: wall time of detection plus optimisation.
        verification: dlib's verdict on ``pixels`` (None when ``cloak(..., verify=False)``).
    """

    pixels: np.ndarray
    original: np.ndarray
    faces: tuple[CloakedFace, ...]
    config: CloakConfig
    seconds: float
    verification: Verification | None = None

    @property
    def linf(self) -> int:
        """Largest change of any pixel, in grey levels."""
        return int(np.abs(self.pixels.astype(np.int16) - self.original.astype(np.int16)).max(initial=0))

    def to_dict(self) -> dict[str, Any]:
        return {"faces": len(self.faces), "twin_distances": [round(f.twin_distance, 4) for f in self.faces],
                "decoys": [f.decoy for f in self.faces],
                "linf_255": self.linf, "seconds": round(self.seconds, 3), "config": self.config.to_dict(),
                "verification": None if self.verification is None else self.verification.to_dict()}


def cloak(
    image: ImageSource,
    *,
    recognizer: FaceRecognizer | None = None,
    recognizers: Sequence[FaceRecognizer] | None = None,
    config: CloakConfig = PRESETS[DEFAULT_PRESET],
    verify_result: bool = True,
    callback: StepCallback | None = None,
    decoys: DecoyChooser | None = None,
    upsample: int | None = None,
) -> CloakResult:
    """Cloak every face in a photo so that no recognizer of the ensemble matches it to the person any more.

    Each face is attacked once, on one crop that serves every member's chip (:func:`~camo.face.align.union_crop_box`);
    each member sees it through its own differentiable alignment, and the loss sums each member's distance divided by
    its own threshold, so no member dominates.

    Args:
        image: a path, PIL image or RGB/grey uint8 array (EXIF orientation applied, alpha composited on white).
        recognizer: a single recognizer to attack (when ``recognizers`` is not given; default: dlib).
        recognizers: the ensemble (e.g. :data:`DEFAULT_ENSEMBLE` through
            :func:`~camo.face.recognizers.get_recognizers`); the first member's ``upsample`` drives detection.
        config: budget and mode; see :data:`PRESETS`.
        verify_result: run :func:`verify` on the 8-bit result (each member's own runtime) and attach it.
        callback: progress after each step of each face.
        decoys: decoy mode without ``config.decoy``: picks each face's decoy (share one across a person's photos);
            default: the built-in face farthest from the face. Decoy mode needs dlib in the ensemble (the decoy is
            chosen by dlib's descriptor); a given ``config.decoy`` (a dlib descriptor) needs dlib alone.
        upsample: detector upsampling used to find the faces to cloak (default: the first member's). 0 is four
            times faster on large photos but misses faces under about 80 px; :func:`cloak_photo` uses it on large
            photos and falls back to the full detector when the verification finds a face that was not cloaked.

    Returns:
        The cloaked pixels, the faces and, unless disabled, the verification of the 8-bit pixels.

    Raises:
        NoFaceError: the shared detector finds no face in the photo.
        ImageError, InputError: unreadable image or bad settings.
        ModelError: a recognizer's model files are missing.

    Shape: any (H, W[, C]) photo -> pixels (H, W, 3) uint8.
    """
    start = time.perf_counter()
    members = ensemble_members(recognizer, recognizers)
    names = [m.name for m in members]
    if config.mode == "decoy":
        if "dlib" not in names:
            raise InputError("decoy mode chooses the decoy with dlib: include dlib in the recognizers")
        if config.decoy is not None and names != ["dlib"]:
            raise InputError("a given decoy descriptor is dlib's: use it with the dlib recognizer alone")
    original = to_rgb_uint8(image)
    if not config.grey and is_grey(original):
        # A black-and-white photo stays black and white: a colour cloak would tint it.
        config = replace(config, grey=True)
    located = locate_faces(original, upsample=members[0].upsample if upsample is None else upsample,
                           landmarks68=any(m.needs_landmarks68 for m in members))
    if not located:
        raise NoFaceError("no face found (dlib's HOG detector sees frontal faces of about 40 px and more)")
    output = original.copy()
    generator = torch.Generator().manual_seed(config.seed)
    schedule = Schedule(steps=config.steps, step_size=config.effective_step_size, momentum=config.momentum)
    slices = member_slices(members)
    faces = []
    placed = [(face, [m.geometry(face) for m in members]) for face in located]
    boxes = [union_crop_box(geometries, original.shape[:2]) for _, geometries in placed]
    # The look target each crop is held to (the face's, or what the photo's needs where the faces fill it).
    target = config.crop_target(original.shape[:2], [(b - t, r - left) for left, t, r, b in boxes])
    for (face, geometries), (left, top, right, bottom) in zip(placed, boxes, strict=True):
        if right - left < 8 or bottom - top < 8:
            continue  # the chips lie (almost) wholly outside the photo: nothing of this face can be changed
        local = [g.translated(-left, -top) for g in geometries]
        model = DegradedDescriptors(members, local, config, generator)
        # The identity to move away from, by each twin; verify() measures against each reference runtime.
        own = model.clean(crop_tensor(original[top:bottom, left:right]))
        # Read from the running output so that a neighbouring face's cloak is kept where crops overlap.
        x = crop_tensor(output[top:bottom, left:right])
        attacked: nn.Module = model
        if config.texture is not None or config.smooth is not None or config.grey or target is not None:
            fraction = None if config.texture is None else texture_budget(original[top:bottom, left:right],
                                                                          config.texture, config.floor)
            # σ in chip pixels: the same smoothness relative to the face at every photo size. (A floor of σ photo
            # pixels for small faces was measured and dropped: on 92×112 ORL photos it raised SSIM 0.88 → 0.92 but
            # lost most of the protection, bench/ENSEMBLE_FINDINGS.md.)
            smooth = None if config.smooth is None else config.smooth * geometries[0].scale
            attacked = Budgeted(model, x, fraction, smooth, config.grey)
            if target is not None and min(x.shape[-2:]) >= SSIM_WINDOW:
                attacked = LookGuarded(attacked, target)
        decoy_name = None
        dlib_own = own[0, slices[names.index("dlib")][0]:slices[names.index("dlib")][1]].double().numpy() \
            if "dlib" in names else own[0, :members[0].descriptor_size].double().numpy()
        eps = config.eps * (min(1.0, max(2 / 3, geometries[0].scale)) if config.size_aware else 1.0)
        if config.mode == "dodge":
            label, targeted, loss = own, False, dodge_loss(members, config.cap)
        else:
            if config.decoy is not None:
                decoy_name, targets = "given", [np.asarray(config.decoy)]
            else:
                decoy_name, _ = (decoys or builtin_decoy)(dlib_own)
                targets = [member_decoy(decoy_name, m) for m in members]
            decoy = torch.from_numpy(np.concatenate(targets)).float().unsqueeze(0)
            # The "label" holds both: the targeted step descends towards the decoy and away from self.
            label, targeted, loss = torch.cat((decoy, own), dim=1), True, decoy_loss(members, config.push)
        if config.features is not None:
            loss = feature_loss(loss, len(members), config.features, targeted=targeted)
        if isinstance(attacked, LookGuarded):
            loss = look_loss(loss, attacked.target, config.ssim_weight, targeted=targeted)
        # With ghosts, each member's rate is set by DegradedDescriptors (dropout_rate) inside this block.
        with surrogate(skip_gradient=config.skip_gradient, dropout=0.0 if config.ghosts else None, seed=config.seed):
            x_adv = run(attacked, x, label, eps, schedule, targeted=targeted, loss=loss, callback=callback)
        if isinstance(attacked, Budgeted | LookGuarded):
            x_adv = attacked.pixels(x_adv)
        if isinstance(attacked, LookGuarded) and attacked.target != config.min_ssim:
            # The photo-wide target binds (the face fills the photo): it holds on the saved file, not only on
            # average over the steps. (The face region's own target stays what the steps make of it.)
            x_adv = hold_look(x, x_adv, attacked.target)
        output[top:bottom, left:right] = np.round(x_adv[0].permute(1, 2, 0).numpy() * 255.0).astype(np.uint8)
        after = model.clean(crop_tensor(output[top:bottom, left:right]))
        first = slices[0]
        twin = float(np.linalg.norm(after[0, first[0]:first[1]].double().numpy()
                                    - own[0, first[0]:first[1]].double().numpy())) \
            if members[0].metric == "euclidean" else float(members[0].torch_distance(
                after[:, first[0]:first[1]], own[:, first[0]:first[1]])[0])
        faces.append(CloakedFace(box=face.box, descriptor=own[0, first[0]:first[1]].double().numpy(),
                                 crop=(left, top, right, bottom), twin_distance=twin, decoy=decoy_name))
    # Overlapping crops were each projected around their own start; keep the whole photo inside the ε-ball.
    # Only the crops changed, so only they are checked: a 24 MP photo never gets whole-image int16 copies.
    budget = math.floor(config.eps * 255 + 1e-6)
    for cloaked_face in faces:
        left, top, right, bottom = cloaked_face.crop
        before = original[top:bottom, left:right].astype(np.int16)
        delta = np.clip(output[top:bottom, left:right].astype(np.int16) - before, -budget, budget)
        output[top:bottom, left:right] = (before + delta).astype(np.uint8)
    seconds = time.perf_counter() - start
    result = CloakResult(pixels=output, original=original, faces=tuple(faces), config=config, seconds=seconds)
    if verify_result:
        result = replace(result, verification=verify(original, output, result.faces, recognizers=members,
                                                     tolerance=config.tolerance))
    return result


def shortfall(verification: Verification, config: CloakConfig) -> str | None:
    """Why ``--ensure`` should retry a cloak at a stronger preset (None = done): a member still matches, a face was
    left uncloaked, or (with ``config.margin``) a member's distance is inside the margin."""
    if not verification.protected:
        return "matched by " + (", ".join(r.recognizer for r in verification.recognizers if not r.protected)
                                or "an uncloaked face")
    margin = verification.margin
    if config.margin is not None and margin is not None and margin < config.margin:
        return f"margin {margin:.2f} < {config.margin:g}"
    return None


def cloak_ensured(image: ImageSource, *, recognizers: Sequence[FaceRecognizer], config: CloakConfig,
                  ) -> list[CloakResult]:
    """What ``--ensure`` does, on pixels: :func:`cloak`, then again at each stronger preset while :func:`shortfall`
    finds a reason (a member still matches, or one is inside ``config.margin``). :func:`cloak_photo` does the same
    with the saved file.

    Returns:
        Every attempt's result, verified, in order: the last is what ``--ensure`` keeps.
    """
    attempts = [cloak(image, recognizers=recognizers, config=config)]
    while (verification := attempts[-1].verification) is not None and shortfall(verification, attempts[-1].config):
        following = stronger(attempts[-1].config)
        if following is None:
            break
        attempts.append(cloak(image, recognizers=recognizers, config=following))
    return attempts


@dataclass(frozen=True)
class CloakedPhoto:
    """One photo through :func:`cloak_photo`: where it went and dlib's verdict on the saved file.

    Attributes:
        source: the input file; ``output``: the saved file (None when nothing was written).
        status: ``protected``, ``not protected`` or ``no face``.
        preset: the setting that produced the output ("custom" for explicit eps/steps); ``attempts``: how many
            settings were tried (more than one with ``ensure``).
        result: the last cloak's result (None when there was no face).
        verification: dlib's verdict on the saved file, read back.
        jpeg_verification: the same after re-encoding the saved file as JPEG (when asked).
    """

    source: Path
    output: Path | None
    status: str
    preset: str
    attempts: int
    seconds: float
    result: CloakResult | None = None
    verification: Verification | None = None
    jpeg_verification: Verification | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def protected(self) -> bool:
        return self.verification is not None and self.verification.protected

    def verdict(self) -> str:
        if self.verification is None:
            return self.status
        return self.verification.verdict()

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": str(self.source), "output": None if self.output is None else str(self.output),
            "status": self.status, "verdict": self.verdict(), "protected": self.protected, "preset": self.preset,
            "attempts": self.attempts, "seconds": round(self.seconds, 3), "notes": list(self.notes),
            "cloak": None if self.result is None else self.result.to_dict(),
            "verification": None if self.verification is None else self.verification.to_dict(),
            "jpeg_verification": None if self.jpeg_verification is None else self.jpeg_verification.to_dict(),
        }


#: Photos with at least this many pixels find their faces without upsampling first (see :func:`cloak_photo`).
QUICK_DETECT_PIXELS = 500_000


def cloak_photo(
    source: ImageSource,
    destination: str | Path,
    *,
    recognizer: FaceRecognizer | None = None,
    recognizers: Sequence[FaceRecognizer] | None = None,
    config: CloakConfig = PRESETS[DEFAULT_PRESET],
    ensure: bool = False,
    quality: int = 90,
    jpeg_check: int | None = None,
    protect: Sequence[str | Path] = (),
    callback: StepCallback | None = None,
    decoys: DecoyChooser | None = None,
) -> CloakedPhoto:
    """Cloak one photo, save it (8-bit, no metadata, atomically) and verify the *saved file* with each recognizer.

    On photos of :data:`QUICK_DETECT_PIXELS` or more, the faces to cloak are found without upsampling the photo
    (four times faster; faces of 80 px and more). The verification always runs dlib's full pipeline on the saved
    file, upsampling included; when it finds a face that was not cloaked, the photo is cloaked again with the full
    detector and says so in its notes.

    Args:
        source: the photo (never modified).
        destination: output file; .png or .jpg/.jpeg picks the format.
        recognizer, recognizers: the recognizer or the ensemble (see :func:`cloak`; default: dlib alone).
        config: the first setting to try.
        ensure: when a recognizer still matches the saved file, retry with each stronger preset (see :func:`stronger`).
        quality: JPEG quality when saving as JPEG.
        jpeg_check: also verify a JPEG re-encode of the saved file at this quality (an upload's re-compression).
        protect: files never to overwrite (the job's inputs; ``source`` is always protected when it is a path).
        callback: progress after each step.
        decoys: decoy mode: shares each person's decoy across photos (see :class:`DecoyChooser`).

    Returns:
        The record; no file is written when the photo has no face (``status == "no face"``).

    Raises:
        ImageError: unreadable input or unwritable output.
        ModelError: dlib or its model files are missing.
    """
    import io

    from PIL import Image

    start = time.perf_counter()
    members = ensemble_members(recognizer, recognizers)
    original = to_rgb_uint8(source)
    source_path = Path(source) if isinstance(source, str | Path) else Path("<image>")
    guarded = [*protect, *([source] if isinstance(source, str | Path) else [])]
    destination = Path(destination)
    notes: list[str] = []
    attempts = 0
    used = config
    current: CloakConfig | None = config
    quick = members[0].upsample > 0 and original.shape[0] * original.shape[1] >= QUICK_DETECT_PIXELS
    while current is not None:
        attempts, used = attempts + 1, current
        try:
            result = cloak(original, recognizers=members, config=current, verify_result=False, callback=callback,
                           decoys=decoys, upsample=0 if quick else None)
        except NoFaceError:
            if not quick:
                return CloakedPhoto(source=source_path, output=None, status="no face", preset=preset_name(config),
                                    attempts=attempts, seconds=time.perf_counter() - start)
            quick, attempts = False, attempts - 1  # small faces only: look again with the full detector
            continue
        # zlib level 1: ~0.4 s per megapixel faster to write than level 6, files ~13% larger, still lossless.
        save(result.pixels, destination, quality=quality, protect=guarded, png_level=1)
        verification = verify(original, destination, result.faces, recognizers=members,
                              tolerance=current.tolerance)
        if quick and verification.uncloaked:
            notes.append(f"the quick detector missed {verification.uncloaked} face(s); cloaked again with the full "
                         "detector")
            quick, attempts = False, attempts - 1
            continue
        reason = shortfall(verification, current)
        if reason is None or not ensure:
            break
        following = stronger(current)
        if following is None:
            notes.append(f"{reason} at the strongest preset ({preset_name(current)})")
            break
        notes.append(f"{reason} at {preset_name(current)}; retried with {preset_name(following)}")
        current = following
    jpeg_verification = None
    if jpeg_check is not None:
        buffer = io.BytesIO()
        Image.fromarray(to_rgb_uint8(destination)).save(buffer, format="JPEG", quality=jpeg_check)
        buffer.seek(0)
        with Image.open(buffer) as reencoded:
            jpeg_verification = verify(original, reencoded.convert("RGB"), result.faces, recognizers=members,
                                       tolerance=used.tolerance)
    status = "protected" if verification.protected else "not protected"
    return CloakedPhoto(source=source_path, output=destination, status=status, preset=preset_name(used),
                        attempts=attempts, seconds=time.perf_counter() - start, result=result,
                        verification=verification, jpeg_verification=jpeg_verification, notes=tuple(notes))
