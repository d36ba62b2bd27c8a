"""compare_photos and draw_faces: the library behind `camo faces`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from camo.errors import InputError


@pytest.fixture(scope="module")
def comparison(recognizer: Any, faces_dir: Path) -> Any:
    from camo.face import compare_photos

    examples = faces_dir / "face_recognition_examples" / "examples"
    paths = [examples / n for n in ("obama.jpg", "obama2.jpg", "biden.jpg", "two_people.jpg")]
    return compare_photos(paths, recognizer=recognizer)


def test_same_person_pairs_follow_identity(comparison: Any) -> None:
    labels = comparison.labels
    assert labels[:3] == ("obama.jpg#1", "obama2.jpg#1", "biden.jpg#1")
    assert len(labels) == 5  # two_people.jpg has two faces
    pairs = {(labels[i], labels[j]) for i, j in comparison.same_person}
    assert ("obama.jpg#1", "obama2.jpg#1") in pairs
    assert not any("biden.jpg#1" in pair and "obama" in "".join(pair) for pair in pairs)


def test_distance_matrix_is_a_metric_table(comparison: Any) -> None:
    d = comparison.distances
    assert d.shape == (5, 5)
    np.testing.assert_allclose(d, d.T)
    np.testing.assert_allclose(np.diag(d), 0.0)
    i, j = comparison.same_person[0]
    assert d[i, j] <= comparison.tolerance


def test_to_dict_is_json(comparison: Any) -> None:
    data = json.loads(json.dumps(comparison.to_dict()))
    assert [len(p["faces"]) for p in data["photos"]] == [1, 1, 1, 2]
    assert len(data["distances"]) == 5
    assert data["same_person"][0]["distance"] <= 0.6


def test_draw_faces_outlines_without_touching_input(comparison: Any) -> None:
    from camo.face import draw_faces
    from camo.images import to_rgb_uint8

    path = comparison.photos[3]
    original = to_rgb_uint8(path)
    before = original.copy()
    drawn = np.asarray(draw_faces(original, comparison.faces[3], ["a", "b"]))
    np.testing.assert_array_equal(original, before)
    assert drawn.shape == original.shape
    left, top, right, _ = comparison.faces[3][0].box
    assert (drawn[top, left:right] != original[top, left:right]).any()
    with pytest.raises(InputError, match="1 labels for 2 faces"):
        draw_faces(original, comparison.faces[3], ["only one"])


def test_bad_arguments_are_refused(recognizer: Any) -> None:
    from camo.face import compare_photos

    with pytest.raises(InputError, match="none"):
        compare_photos([], recognizer=recognizer)
    with pytest.raises(InputError, match="0"):
        compare_photos(["x.jpg"], tolerance=0, recognizer=recognizer)


def test_photos_of_the_same_name_get_labels_apart(recognizer: Any, faces_dir: Path, tmp_path: Path) -> None:
    """Two obama.jpg from different folders: each label names its folder, so the table and figure are unambiguous;
    a photo whose name is unique keeps its short label."""
    import shutil

    from camo.face import compare_photos

    examples = faces_dir / "face_recognition_examples" / "examples"
    for folder, source in (("before", "obama.jpg"), ("after", "obama2.jpg")):
        (tmp_path / folder).mkdir()
        shutil.copyfile(examples / source, tmp_path / folder / "obama.jpg")
    paths = [tmp_path / "before" / "obama.jpg", tmp_path / "after" / "obama.jpg", examples / "biden.jpg"]
    result = compare_photos(paths, recognizer=recognizer)
    assert result.labels == ("before/obama.jpg#1", "after/obama.jpg#1", "biden.jpg#1")
    assert [(result.labels[i], result.labels[j]) for i, j in result.same_person] == \
        [("before/obama.jpg#1", "after/obama.jpg#1")]
    assert [face["label"] for photo in result.to_dict()["photos"] for face in photo["faces"]] == list(result.labels)


def test_the_same_photo_twice_is_refused_before_any_detection(tmp_path: Path) -> None:
    from camo.face import compare_photos, compare_with

    photo = tmp_path / "a.jpg"  # never read: the names are checked first
    with pytest.raises(InputError, match="given twice"):
        compare_photos([photo, tmp_path / "." / "a.jpg"])
    with pytest.raises(InputError, match="given twice"):
        compare_with([photo, photo], [object()])  # type: ignore[list-item]
