"""Checking a cloaked photo with each recognizer's own runtime: the verdicts, and how much the image changed.

:func:`verify` re-detects and asks each member's own runtime (dlib; OpenCV for FaceNet and SFace; onnxruntime for an
ONNX file) on the saved pixels: a verdict per recognizer and face (distance to the original face's descriptor against
the recognizer's threshold), PSNR/SSIM; a photo is protected only when every recognizer agrees.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from camo.errors import InputError
from camo.face.align import Box, face_landmarks, face_landmarks68
from camo.face.perceptual import SSIM_WINDOW
from camo.face.recognizers.base import FaceRecognizer, LocatedFace, descriptor_distance, locate_faces
from camo.face.recognizers.dlib_resnet import DlibRecognizer
from camo.images import ImageSource, to_rgb_uint8

__all__ = ["CloakedFace", "FaceVerdict", "RecognizerVerdict", "Verification", "changed_box", "ensemble_members",
           "image_similarity", "verify"]


@dataclass(frozen=True, eq=False)
class CloakedFace:
    """One face as the cloak saw it.

    Attributes:
        box: dlib's detection box in the original photo.
        descriptor: our twin's descriptor of the original face (the identity the cloak moved away from; within
            about 0.01 of dlib's own encoding, which :func:`verify` computes), shape (128,).
        crop: (left, top, right, bottom) of the region that was changed (right/bottom exclusive).
        twin_distance: our PyTorch twin's distance between the original and cloaked face (no degradation).
        decoy: decoy mode: the decoy's name ("given" for a descriptor in the config); None in dodge mode.
    """

    box: Box
    descriptor: np.ndarray
    crop: tuple[int, int, int, int]
    twin_distance: float
    decoy: str | None = None


@dataclass(frozen=True)
class FaceVerdict:
    """One recognizer's verdict on one cloaked face: distance from the original face to the nearest face in the
    cloaked file, by that recognizer's reference runtime.

    ``distance`` is None when no face at all is found in the cloaked file (then nothing can be matched).
    """

    box: Box
    distance: float | None
    protected: bool

    def to_dict(self) -> dict[str, Any]:
        return {"box": list(self.box), "distance": self.distance, "protected": self.protected}


@dataclass(frozen=True)
class RecognizerVerdict:
    """What one recognizer's own runtime says about every face of a cloaked file.

    Attributes:
        recognizer: its name (``dlib``, ``facenet``, ``sface``, an ONNX file's name).
        metric: ``euclidean`` or ``cosine``; ``threshold``: same person when distance ≤ threshold.
        faces: one verdict per original face.
    """

    recognizer: str
    metric: str
    threshold: float
    faces: tuple[FaceVerdict, ...]

    @property
    def protected(self) -> bool:
        """True when this recognizer matches none of the original faces any more."""
        return bool(self.faces) and all(face.protected for face in self.faces)

    @property
    def min_distance(self) -> float | None:
        """The smallest distance over the faces (None when no face is found at all)."""
        known = [f.distance for f in self.faces if f.distance is not None]
        return min(known) if known else None

    def verdict(self) -> str:
        """One sentence for people."""
        worst = self.min_distance
        if worst is None:
            return f"protected: {self.recognizer} finds no face"
        if self.protected:
            return f"protected: {self.recognizer} no longer matches (distance {worst:.2f} > {self.threshold:g})"
        failed = sum(not f.protected for f in self.faces)
        return (f"NOT protected: {self.recognizer} still matches {failed} of {len(self.faces)} faces "
                f"(distance {worst:.2f} ≤ {self.threshold:g})")

    def to_dict(self) -> dict[str, Any]:
        return {"recognizer": self.recognizer, "protected": self.protected, "min_distance": self.min_distance,
                "threshold": self.threshold, "metric": self.metric, "verdict": self.verdict(),
                "faces": [f.to_dict() for f in self.faces]}


@dataclass(frozen=True)
class Verification:
    """What each recognizer's own runtime says about a cloaked image, and how much the image changed.

    A photo is protected only when **every** recognizer agrees that none of its faces matches any more.

    Attributes:
        recognizers: one verdict per recognizer, in the cloak's order (dlib first by default).
        faces_found: faces the shared detector finds in the cloaked image.
        psnr, ssim: against the original, over the whole photo (dB; SSIM in [−1, 1]); psnr is None if identical.
        face_psnr, face_ssim: the same over the changed region only (stricter: the background is untouched).
        uncloaked: faces found in the cloaked image that lie on none of the cloaked faces (a face the cloak's
            detector missed): such a photo is not protected.
    """

    recognizers: tuple[RecognizerVerdict, ...]
    faces_found: int
    psnr: float | None
    ssim: float
    face_psnr: float | None
    face_ssim: float
    uncloaked: int = 0

    @property
    def faces(self) -> tuple[FaceVerdict, ...]:
        """The first recognizer's per-face verdicts (dlib's by default)."""
        return self.recognizers[0].faces if self.recognizers else ()

    @property
    def tolerance(self) -> float:
        """The first recognizer's threshold."""
        return self.recognizers[0].threshold if self.recognizers else 0.0

    @property
    def protected(self) -> bool:
        """True when no recognizer matches any original face and no face was left uncloaked."""
        return (bool(self.recognizers) and all(r.protected for r in self.recognizers) and self.uncloaked == 0)

    @property
    def min_distance(self) -> float | None:
        """The first recognizer's smallest distance over the faces (None when no face is found)."""
        return self.recognizers[0].min_distance if self.recognizers else None

    @property
    def margin(self) -> float | None:
        """The smallest distance ÷ threshold over recognizers and faces (> 1: no recognizer matches)."""
        ratios = [r.min_distance / r.threshold for r in self.recognizers if r.min_distance is not None]
        return min(ratios) if ratios else None

    def verdict(self) -> str:
        """One line for people: what the recognizers now say."""
        if not self.faces:
            return "no face"
        if self.faces_found == 0:
            return "protected: no face is found in the cloaked photo"
        if len(self.recognizers) == 1 and self.uncloaked == 0:
            return self.recognizers[0].verdict()
        names = ", ".join(r.recognizer for r in self.recognizers)
        if self.protected:
            return f"protected: none of {names} matches"
        matching = [r.recognizer for r in self.recognizers if not r.protected]
        if not matching:
            return f"NOT protected: {self.uncloaked} face(s) were not cloaked"
        return f"NOT protected: {', '.join(matching)} still match{'es' if len(matching) == 1 else ''}"

    def to_dict(self) -> dict[str, Any]:
        return {"protected": self.protected, "verdict": self.verdict(), "tolerance": self.tolerance,
                "faces_found": self.faces_found, "uncloaked": self.uncloaked, "min_distance": self.min_distance,
                "margin": self.margin, "psnr": self.psnr, "ssim": self.ssim, "face_psnr": self.face_psnr,
                "face_ssim": self.face_ssim, "faces": [f.to_dict() for f in self.faces],
                "recognizers": [r.to_dict() for r in self.recognizers]}


def ensemble_members(recognizer: FaceRecognizer | None,
                     recognizers: Sequence[FaceRecognizer] | None) -> list[FaceRecognizer]:
    """The recognizers a cloak or a verification uses: ``recognizers`` when given (at least one, names unique),
    else ``recognizer``, else dlib alone.

    Raises:
        InputError: an empty ensemble, or a name given twice.
    """
    if recognizers is not None:
        members = list(recognizers)
        if not members:
            raise InputError("the cloak needs at least one recognizer")
        if len({m.name for m in members}) != len(members):
            raise InputError("a recognizer is named twice in the ensemble")
        return members
    return [recognizer if recognizer is not None else DlibRecognizer()]


def verify(
    original: np.ndarray,
    cloaked: ImageSource,
    faces: Sequence[CloakedFace],
    *,
    recognizer: FaceRecognizer | None = None,
    recognizers: Sequence[FaceRecognizer] | None = None,
    tolerance: float | None = None,
) -> Verification:
    """Each recognizer's own runtime on the cloaked image: does any face in it still match each original face?

    For each recognizer, a face counts as protected when every face found in the cloaked image lies farther than
    the recognizer's threshold from the reference runtime's descriptor of the original face (or when no face is
    found at all). That descriptor is computed here, on the original, from the box the shared detector finds at the
    face in the cloaked image (from every such box, when there are several: none may match). Detection runs once
    on each image and serves every recognizer.

    Args:
        original: the original photo, RGB uint8.
        cloaked: the cloaked image: pixels, or the saved file's path (then it is read back, as a user would).
        faces: the faces of the original (from :func:`~camo.face.cloak.cloak`).
        recognizer: a single recognizer (when ``recognizers`` is not given; default dlib).
        recognizers: the recognizers to ask; the first one's ``upsample`` drives detection.
        tolerance: overrides dlib's threshold (default: each recognizer's own).

    Returns:
        The verdict per recognizer and face, and PSNR/SSIM against the original.

    Raises:
        InputError: the cloaked image has another size than the original.
    """
    members = ensemble_members(recognizer, recognizers)
    pixels = to_rgb_uint8(cloaked)
    if pixels.shape != original.shape:
        raise InputError(f"the cloaked image is {pixels.shape[1]}×{pixels.shape[0]}, the original "
                         f"{original.shape[1]}×{original.shape[0]}: they must have the same size")
    need68 = any(m.needs_landmarks68 for m in members)
    # The shared detector as face_recognition runs it: HOG (upsampled once), then each recognizer's own pipeline.
    found = locate_faces(pixels, upsample=members[0].upsample, landmarks68=need68)
    boxes = [f.box for f in found]
    # The original face from the box the verifier finds at it in the cloaked image (the box face_recognition would
    # find in the original, unless the cloak moved it), or from the cloak's own box when none is found there.
    here = [[box for box in boxes if _centre_inside(box, face.box)] or [face.box] for face in faces]
    wanted = sorted({box for boxes_here in here for box in boxes_here})
    on_original = {box: LocatedFace(box, face_landmarks(original, box),
                                    face_landmarks68(original, box) if need68 else None) for box in wanted}
    verdicts = []
    for member in members:
        threshold = tolerance if tolerance is not None and member.name == "dlib" else member.threshold
        after = member.reference_descriptors(pixels, found) if found else []
        before = dict(zip(wanted, member.reference_descriptors(original, [on_original[b] for b in wanted]),
                          strict=True))
        per_face = []
        for face, boxes_here in zip(faces, here, strict=True):
            distance = min((descriptor_distance(d, before[b], member.metric) for d in after for b in boxes_here),
                           default=None)
            per_face.append(FaceVerdict(box=face.box, distance=distance,
                                        protected=distance is None or distance > threshold))
        verdicts.append(RecognizerVerdict(recognizer=member.name, metric=member.metric, threshold=threshold,
                                          faces=tuple(per_face)))
    uncloaked = sum(not any(_centre_inside(box, face.box) for face in faces) for box in boxes)
    similarity = image_similarity(original, pixels)
    return Verification(recognizers=tuple(verdicts), faces_found=len(found), uncloaked=uncloaked, **similarity)


def _centre_inside(box: Box, other: Box) -> bool:
    """Whether ``box``'s centre lies in ``other`` (inclusive): the same face, detected twice."""
    x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return other[0] <= x <= other[2] and other[1] <= y <= other[3]


def changed_box(original: np.ndarray, changed: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the smallest box holding every pixel that differs (bottom/right exclusive), or
    None for identical images. Shape: (H, W, 3), (H, W, 3)."""
    differs = np.any(original != changed, axis=2)
    if not differs.any():
        return None
    rows, cols = np.nonzero(differs)
    return int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1


def image_similarity(original: np.ndarray, changed: np.ndarray) -> dict[str, Any]:
    """PSNR and SSIM (scikit-image, 7×7 uniform windows, per channel) of the whole photo and of its changed region.

    The whole-photo SSIM is computed only around the changed pixels: every window that holds no changed pixel has
    SSIM exactly 1, so the mean over the photo follows from the changed region alone (equal to
    ``structural_similarity(original, changed, channel_axis=2)`` up to float rounding, at a fraction of the cost on
    large photos).

    Returns:
        ``psnr``, ``ssim``, ``face_psnr``, ``face_ssim``; PSNRs are None for identical images.

    Shape: (H, W, 3) uint8, (H, W, 3) uint8.
    """
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    box = changed_box(original, changed)
    if box is None:
        return {"psnr": None, "ssim": 1.0, "face_psnr": None, "face_ssim": 1.0}
    height, width = original.shape[:2]
    pad = SSIM_WINDOW // 2
    r0, r1, c0, c1 = box
    # Windows centred in [r0 - pad, r1 + pad) touch changed pixels; computing on a region 2·pad larger makes
    # those windows lie wholly inside it, so their values equal the whole-photo ones.
    R0, R1 = max(0, r0 - 2 * pad), min(height, r1 + 2 * pad)
    C0, C1 = max(0, c0 - 2 * pad), min(width, c1 + 2 * pad)
    a, b = original[R0:R1, C0:C1], changed[R0:R1, C0:C1]
    region_ssim, ssim_map = structural_similarity(a, b, channel_axis=2, data_range=255, full=True)
    # Centres whose window is inside the photo (skimage averages only those) and near a changed pixel.
    y0, y1 = max(pad, r0 - pad), min(height - pad, r1 + pad)
    x0, x1 = max(pad, c0 - pad), min(width - pad, c1 + pad)
    loss = float((1.0 - ssim_map[y0 - R0 : y1 - R0, x0 - C0 : x1 - C0]).sum())
    interior = 3 * max(1, height - 2 * pad) * max(1, width - 2 * pad)
    # Pixels outside the changed box add nothing to the squared error; average over the whole photo all the same.
    box_error = (original[r0:r1, c0:c1].astype(np.float64) - changed[r0:r1, c0:c1].astype(np.float64)) ** 2
    mse_full = float(box_error.sum()) / original.size
    return {
        "psnr": round(10 * math.log10(255.0**2 / mse_full), 3),
        "ssim": round(1.0 - loss / interior, 5),
        "face_psnr": round(float(peak_signal_noise_ratio(original[r0:r1, c0:c1], changed[r0:r1, c0:c1],
                                                         data_range=255)), 3),
        "face_ssim": round(float(region_ssim), 5),
    }
