"""The whole pipeline (our chip + our network) against dlib's whole pipeline, and the Recognizer API."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from camo.errors import InputError

# A quick subset that still covers every case: the 1080p photo, one- and two-level pyramids, several faces,
# a face cut by the image border. The full set runs under -m slow.
SUBSET = (
    "obama-1080p.jpg",
    "obama2.jpg",
    "lennon-1.jpg",
    "two_people.jpg",
    "obama_and_biden.jpg",
    "obama_partial_face.jpg",
)


def _distances_and_disagreements(photos: list[Any], ours: list[list[Any]]) -> tuple[list[float], list[Any]]:
    """Our-vs-dlib descriptor distances per face, and face pairs where the 0.6 verdicts differ."""
    from camo.face import Recognizer

    distances = []
    for photo, faces in zip(photos, ours, strict=True):
        assert len(faces) == len(photo.descriptors), photo.path.name
        distances += [float(np.linalg.norm(f.descriptor - d)) for f, d in zip(faces, photo.descriptors, strict=True)]
    theirs = [d for photo in photos for d in photo.descriptors]
    mine = [f for faces in ours for f in faces]
    disagreements = [
        (i, j)
        for i, j in itertools.combinations(range(len(mine)), 2)
        if Recognizer.match(mine[i], mine[j]) != (np.linalg.norm(theirs[i] - theirs[j]) <= 0.6)
    ]
    return distances, disagreements


def test_pipeline_matches_dlib_pipeline_on_subset(recognizer: Any, dlib_photos: list[Any]) -> None:
    photos = [p for p in dlib_photos if p.path.name in SUBSET]
    photos = list({p.path.name: p for p in photos}.values())  # one copy of each name
    assert {p.path.name for p in photos} == set(SUBSET)
    distances, disagreements = _distances_and_disagreements(photos, [recognizer.faces(p.pixels) for p in photos])
    assert np.median(distances) <= 0.01, f"median {np.median(distances):.4f}"
    assert max(distances) <= 0.03, f"max {max(distances):.4f}"
    assert disagreements == []


@pytest.mark.slow
def test_pipeline_matches_dlib_pipeline_on_every_photo(recognizer: Any, dlib_photos: list[Any]) -> None:
    """Must show: distance to dlib's pipeline <= 0.01 median, <= 0.03 max (1080p photo included), and the same
    same/different-person verdict at 0.6 as dlib's on every pair of faces of both photo sets."""
    assert "obama-1080p.jpg" in [p.path.name for p in dlib_photos]
    ours = [recognizer.faces(photo.pixels) for photo in dlib_photos]
    distances, disagreements = _distances_and_disagreements(dlib_photos, ours)
    assert len(distances) >= 45
    assert np.median(distances) <= 0.01, f"median {np.median(distances):.4f}"
    assert max(distances) <= 0.03, f"max {max(distances):.4f}"
    assert len(distances) * (len(distances) - 1) // 2 > 1000
    assert disagreements == []


def test_descriptor_method_equals_faces(recognizer: Any, dlib_photos: list[Any]) -> None:
    photo = next(p for p in dlib_photos if p.path.name == "two_people.jpg")
    faces = recognizer.faces(photo.pixels)
    x = torch.from_numpy(photo.pixels.copy()).permute(2, 0, 1)[None].float() / 255.0
    with torch.no_grad():
        descriptors = recognizer.descriptor(x, [f.geometry for f in faces]).double().numpy()
    np.testing.assert_allclose(descriptors, np.stack([f.descriptor for f in faces]), atol=1e-4)


def test_dlib_descriptors_follow_faces_order(recognizer: Any, dlib_photos: list[Any]) -> None:
    photo = next(p for p in dlib_photos if p.path.name == "obama_and_biden.jpg")
    theirs = recognizer.dlib_descriptors(photo.pixels)
    np.testing.assert_allclose(theirs, photo.descriptors, atol=1e-6)


def test_path_pil_and_array_inputs_agree(recognizer: Any, faces_dir: Path) -> None:
    path = next(faces_dir.rglob("obama-240p.jpg"))
    from_path = recognizer.faces(path)
    from_pil = recognizer.faces(Image.open(path))
    from_array = recognizer.faces(np.array(Image.open(path).convert("RGB")))
    assert len(from_path) == len(from_pil) == len(from_array) == 1
    assert recognizer.distance(from_path[0], from_pil[0]) == 0.0
    assert recognizer.distance(from_path[0], from_array[0].descriptor) == 0.0
    assert from_path[0].landmarks.shape == (5, 2)
    assert from_path[0].descriptor.shape == (128,)


def test_no_face_gives_empty_list(recognizer: Any) -> None:
    assert recognizer.faces(np.zeros((120, 160, 3), np.uint8)) == []


def test_distance_and_match_check_their_inputs() -> None:
    from camo.face import Recognizer

    a, b = np.zeros(128), np.zeros(128)
    b[0] = 0.6
    assert Recognizer.distance(a, b) == pytest.approx(0.6)
    assert Recognizer.match(a, b, tolerance=0.61)
    assert not Recognizer.match(a, b, tolerance=0.59)
    with pytest.raises(InputError, match=r"\(127,\)"):
        Recognizer.distance(a, np.zeros(127))
    with pytest.raises(InputError, match="-1"):
        Recognizer.match(a, b, tolerance=-1)
    with pytest.raises(InputError, match="upsample"):
        Recognizer(upsample=-1)
