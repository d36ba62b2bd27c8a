"""Who matches whom across photos, by one recognizer or several: the library behind ``camo faces``, plus a picture
with the faces outlined. Faces are detected once per photo and shared by every recognizer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from camo.errors import InputError
from camo.face.recognizers.base import Face, FaceRecognizer, LocatedFace, distance_matrix, locate_faces
from camo.face.recognizers.dlib_resnet import DlibRecognizer
from camo.file_names import distinct_names
from camo.images import ImageSource, to_rgb_uint8

__all__ = ["FaceComparison", "compare_photos", "compare_with", "draw_faces"]


@dataclass(frozen=True, eq=False)
class FaceComparison:
    """Faces found in several photos, their pairwise distances and which pairs are the same person.

    Faces are numbered photo by photo, largest first within a photo; ``labels[i]`` names face ``i`` as
    ``"<photo name>#<k>"`` (k from 1), the photo's file name lengthened with its folders where two photos share it
    (``obama.jpg#1``, ``cloaked/obama.jpg#1``; :func:`camo.file_names.distinct_names`).

    Attributes:
        photos: the photo paths, as given.
        faces: the faces of each photo (possibly none).
        labels: one label per face, in order.
        distances: the recognizer's descriptor distances, shape (F, F), F = number of faces.
        tolerance: the same-person threshold used.
        same_person: face index pairs (i < j) with distance <= tolerance.
        recognizer: the recognizer's name.
        metric: "euclidean" or "cosine" (1 − cosine similarity).
    """

    photos: tuple[str, ...]
    faces: tuple[tuple[Face, ...], ...]
    labels: tuple[str, ...]
    distances: np.ndarray
    tolerance: float
    same_person: tuple[tuple[int, int], ...]
    recognizer: str = "dlib"
    metric: str = "euclidean"

    @property
    def all_faces(self) -> tuple[Face, ...]:
        """Every face, in label order."""
        return tuple(face for photo in self.faces for face in photo)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: photos with their faces, the distance matrix and the same-person pairs."""
        labels = iter(self.labels)
        return {
            "recognizer": self.recognizer,
            "metric": self.metric,
            "tolerance": self.tolerance,
            "photos": [
                {
                    "path": path,
                    "faces": [
                        {"label": next(labels), "box": list(face.box), "landmarks": face.landmarks.tolist()}
                        for face in faces
                    ],
                }
                for path, faces in zip(self.photos, self.faces, strict=True)
            ],
            "labels": list(self.labels),
            "distances": np.round(self.distances, 6).tolist(),
            "same_person": [
                {"a": self.labels[i], "b": self.labels[j], "distance": round(float(self.distances[i, j]), 6)}
                for i, j in self.same_person
            ],
        }


def compare_photos(
    paths: Sequence[str | Path],
    *,
    tolerance: float | None = None,
    recognizer: FaceRecognizer | None = None,
    located: Sequence[Sequence[LocatedFace]] | None = None,
) -> FaceComparison:
    """Detects and encodes every face in every photo and compares all faces with each other.

    Args:
        paths: photo files.
        tolerance: same-person threshold on the recognizer's distance; default: the recognizer's own (dlib: 0.6).
        recognizer: the recognizer to use; default: dlib's.
        located: the faces of each photo, already found (shared between recognizers); default: detect here.

    Returns:
        The comparison. Photos without a face appear with no faces; they are not an error.

    Raises:
        InputError: no paths, the same photo twice, ``tolerance`` not positive, or ``located`` not one list per
            photo.
        ImageError: a photo cannot be read.
        ModelError: the recognizer's model files are missing.

    Shape: ``distances`` is (F, F) for F faces in all photos together.
    """
    if not paths:
        raise InputError("compare_photos needs at least one photo; got none")
    if tolerance is not None and not tolerance > 0:
        raise InputError(f"tolerance must be > 0; got {tolerance}")
    if located is not None and len(located) != len(paths):
        raise InputError(f"got faces for {len(located)} photos and {len(paths)} photos")
    names = _photo_names(paths)
    recognizer = recognizer or DlibRecognizer()
    threshold = recognizer.threshold if tolerance is None else tolerance
    per_photo = tuple(
        tuple(recognizer.faces(path, None if located is None else located[k])) for k, path in enumerate(paths)
    )
    labels = tuple(f"{name}#{k + 1}" for name, faces in zip(names, per_photo, strict=True) for k in range(len(faces)))
    all_faces = [face for faces in per_photo for face in faces]
    if all_faces:
        descriptors = np.array([face.descriptor for face in all_faces])
        distances = distance_matrix(descriptors, descriptors, recognizer.metric)
        np.fill_diagonal(distances, 0.0)  # 1 − cos(a, a) is 0 only up to rounding
    else:
        distances = np.zeros((0, 0))
    count = len(labels)
    same = tuple((i, j) for i in range(count) for j in range(i + 1, count) if distances[i, j] <= threshold)
    return FaceComparison(
        photos=tuple(str(path) for path in paths),
        faces=per_photo,
        labels=labels,
        distances=distances,
        tolerance=threshold,
        same_person=same,
        recognizer=recognizer.name,
        metric=recognizer.metric,
    )


def compare_with(
    paths: Sequence[str | Path],
    recognizers: Sequence[FaceRecognizer],
    *,
    upsample: int = 1,
    tolerance: float | None = None,
) -> list[FaceComparison]:
    """:func:`compare_photos` under several recognizers, detecting each photo's faces only once.

    Args:
        paths: photo files.
        recognizers: the recognizers, each with its own threshold.
        upsample: the shared detector's upsampling.
        tolerance: a threshold for every recognizer instead of each one's own (sensible for one recognizer).

    Returns:
        One comparison per recognizer, in order; their faces and labels are the same detections.

    Raises:
        InputError: no paths or no recognizers, the same photo twice, or ``tolerance`` not positive.
        ImageError: a photo cannot be read.
        ModelError: a recognizer's model files are missing.
    """
    if not recognizers:
        raise InputError("compare_with needs at least one recognizer; got none")
    if not paths:
        raise InputError("compare_photos needs at least one photo; got none")
    if tolerance is not None and not tolerance > 0:
        raise InputError(f"tolerance must be > 0; got {tolerance}")
    _photo_names(paths)  # before any detection: the same photo twice is refused at once
    needs68 = any(r.needs_landmarks68 for r in recognizers)
    located = [locate_faces(path, upsample=upsample, landmarks68=needs68) for path in paths]
    return [compare_photos(paths, tolerance=tolerance, recognizer=r, located=located) for r in recognizers]


def _photo_names(paths: Sequence[str | Path]) -> list[str]:
    """Each photo's name in its faces' labels: the file name, with folders only where two photos share it."""
    return distinct_names([Path(path) for path in paths], suffix=True, sep="/")


def draw_faces(image: ImageSource, faces: Sequence[Face], labels: Sequence[str] | None = None) -> Image.Image:
    """Returns a copy of the image with each face boxed, its landmarks dotted and its label written above it.

    Args:
        image: a path, a PIL image or an RGB uint8 array.
        faces: faces found in that image.
        labels: one text per face; default: "1", "2", ...

    Returns:
        A new RGB image; the input is not modified.

    Raises:
        InputError: the number of labels differs from the number of faces.
    """
    if labels is None:
        labels = [str(k + 1) for k in range(len(faces))]
    if len(labels) != len(faces):
        raise InputError(f"got {len(labels)} labels for {len(faces)} faces")
    canvas = Image.fromarray(to_rgb_uint8(image).copy())
    draw = ImageDraw.Draw(canvas)
    # Lines stay visible on big photos without swamping small ones.
    width = max(2, round(max(canvas.size) / 400))
    colours = ["#ff3b30", "#34c759", "#0a84ff", "#ffcc00", "#af52de", "#ff9500"]
    for k, (face, label) in enumerate(zip(faces, labels, strict=True)):
        colour = colours[k % len(colours)]
        left, top, right, bottom = face.box
        draw.rectangle((left, top, right, bottom), outline=colour, width=width)
        for x, y in face.landmarks:
            draw.ellipse((x - width, y - width, x + width, y + width), fill=colour)
        text_top = max(0, top - 12 * width)
        draw.text((left, text_top), label, fill=colour, font_size=10 * width)
    return canvas
