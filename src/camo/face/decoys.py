"""Decoy identities for decoy mode: dlib's descriptors of given faces, the built-in decoy faces (public-domain photos
bundled with installed packages), and :class:`DecoyChooser`, which keeps one decoy per person across their photos."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from camo.errors import InputError, NoFaceError
from camo.face.align import Box, _dlib, _shape_predictor, detect_faces
from camo.face.recognizers.base import FaceRecognizer
from camo.face.recognizers.dlib_resnet import DEFAULT_TOLERANCE, _dlib_encoder
from camo.images import to_rgb_uint8

__all__ = ["DecoyChooser", "builtin_decoy", "dlib_encode", "member_decoy"]


def dlib_encode(pixels: np.ndarray, boxes: Sequence[Box]) -> list[np.ndarray]:
    """dlib's own landmarks and descriptor for given face boxes (``compute_face_descriptor(image, shape)``).

    Shape: (H, W, 3) uint8 -> one (128,) float64 per box.
    """
    dlib = _dlib()
    predictor, encoder = _shape_predictor(), _dlib_encoder()
    return [np.array(encoder.compute_face_descriptor(pixels, predictor(pixels, dlib.rectangle(*box))),
                     dtype=np.float64) for box in boxes]


@functools.lru_cache(maxsize=1)
def _builtin_decoys() -> tuple[tuple[str, np.ndarray], ...]:
    """dlib descriptors of faces bundled with installed packages: matplotlib's Grace Hopper, skimage's astronaut."""
    import matplotlib.cbook
    from skimage import data

    found = []
    hopper = to_rgb_uint8(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    for name, pixels in (("grace_hopper", hopper), ("astronaut", data.astronaut())):
        boxes = detect_faces(pixels)
        if boxes:
            found.append((name, dlib_encode(pixels, boxes[:1])[0]))
    if not found:
        raise NoFaceError("no built-in decoy face could be detected; give a decoy photo")
    return tuple(found)


def builtin_decoy(avoid: np.ndarray | None = None) -> tuple[str, np.ndarray]:
    """A decoy identity from bundled public-domain photos: the one farthest from ``avoid`` (the person to hide).

    Returns:
        (name, descriptor) with the descriptor shape (128,).
    """
    decoys = _builtin_decoys()
    if avoid is None:
        return decoys[0]
    return max(decoys, key=lambda item: float(np.linalg.norm(item[1] - avoid)))


class DecoyChooser:
    """One decoy identity per person, the same for all their photos (Fawkes-style), chosen without being told who is
    who: a face within ``tolerance`` of a face seen before (dlib's "same person") gets that face's decoy; a new
    person gets the candidate farthest from them.

    Args:
        candidates: (name, descriptor) pairs to choose from; default: the built-in faces (:func:`builtin_decoy`).
        tolerance: dlib's same-person threshold.
    """

    def __init__(self, candidates: Sequence[tuple[str, np.ndarray]] | None = None,
                 tolerance: float = DEFAULT_TOLERANCE) -> None:
        self._candidates = tuple(candidates) if candidates is not None else None
        if self._candidates is not None and not self._candidates:
            raise InputError("a DecoyChooser needs at least one candidate decoy")
        self.tolerance = tolerance
        self._people: list[tuple[np.ndarray, tuple[str, np.ndarray]]] = []

    def __call__(self, descriptor: np.ndarray) -> tuple[str, np.ndarray]:
        """The decoy (name, descriptor) for a face's own descriptor, shape (128,)."""
        for seen, decoy in self._people:
            if float(np.linalg.norm(seen - descriptor)) <= self.tolerance:
                return decoy
        candidates = self._candidates if self._candidates is not None else _builtin_decoys()
        decoy = max(candidates, key=lambda item: float(np.linalg.norm(item[1] - descriptor)))
        self._people.append((np.asarray(descriptor, dtype=np.float64).copy(), decoy))
        return decoy


@functools.lru_cache(maxsize=16)
def _builtin_decoy_pixels(name: str) -> np.ndarray:
    import matplotlib.cbook
    from skimage import data

    if name == "grace_hopper":
        return to_rgb_uint8(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    return np.asarray(data.astronaut())


_DECOY_DESCRIPTORS: dict[tuple[str, str], np.ndarray] = {}


def member_decoy(name: str, member: FaceRecognizer) -> np.ndarray:
    """A member's twin descriptor of a built-in decoy face (cached per process). Shape: -> (D,)."""
    key = (name, member.name)
    if key not in _DECOY_DESCRIPTORS:
        found = member.faces(_builtin_decoy_pixels(name))
        if not found:
            raise NoFaceError(f"no face found in the built-in decoy {name}")
        _DECOY_DESCRIPTORS[key] = found[0].descriptor
    return _DECOY_DESCRIPTORS[key]
