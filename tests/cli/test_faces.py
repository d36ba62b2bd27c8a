"""``camo faces`` through the entry point, on real photos of two people."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from camo.cli import main
from tests.support import shared


def test_faces_matches_the_same_person_and_outlines_faces(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("dlib", reason="camo faces needs dlib (dlib-bin)")
    folder = shared("faces", "face_recognition_examples", "examples")
    photos = [folder / "obama.jpg", folder / "obama2.jpg", folder / "biden.jpg"]
    out = tmp_path / "out"
    assert main(["faces", *map(str, photos), "--out", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["labels"] == ["obama.jpg#1", "obama2.jpg#1", "biden.jpg#1"]
    assert [(p["a"], p["b"]) for p in data["same_person"]] == [("obama.jpg#1", "obama2.jpg#1")]
    distances = data["distances"]
    assert distances[0][1] <= 0.6 < distances[0][2] and distances[1][2] > 0.6
    for photo in photos:
        with Image.open(out / f"{photo.stem}.faces.png") as img, Image.open(photo) as original:
            assert img.size == original.size
    assert json.loads((out / "faces.json").read_text())["labels"] == data["labels"]


def test_faces_reports_a_photo_without_a_face(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("dlib", reason="camo faces needs dlib (dlib-bin)")
    blank = tmp_path / "blank.png"
    Image.new("RGB", (200, 150), "white").save(blank)
    assert main(["faces", str(blank), "--out", str(tmp_path / "out")]) == 0
    assert "blank.png: no face found" in capsys.readouterr().err
