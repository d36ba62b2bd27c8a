"""``camo cloak`` through the entry point: folders mirrored, metadata dropped, originals untouched, verdicts."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from camo.cli import main
from tests.support import shared

GPS_IFD = 0x8825


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    """A folder: a face photo in a subfolder (with GPS and a sideways EXIF orientation) and a photo without a face."""
    pytest.importorskip("dlib", reason="camo cloak needs dlib (dlib-bin)")
    source = shared("faces", "face_recognition_examples", "examples", "obama-240p.jpg")
    folder = tmp_path / "in"
    (folder / "trip").mkdir(parents=True)
    with Image.open(source) as img:
        sideways = img.transpose(Image.Transpose.ROTATE_90)  # stored turned; orientation 6 turns it back upright
        exif = Image.Exif()
        exif[0x0112] = 6
        exif[0x010F] = "CameraMaker"
        exif.get_ifd(GPS_IFD)[2] = (48.0, 51.0, 24.0)
        sideways.save(folder / "trip" / "me.jpg", exif=exif.tobytes(), quality=95)
    Image.new("RGB", (200, 150), "white").save(folder / "wall.png")
    return folder


def test_cloak_folder_mirrors_strips_metadata_and_verifies(photos: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    before = {p: _digest(p) for p in photos.rglob("*") if p.is_file()}
    out = tmp_path / "out"
    report = out / "report.html"
    # The one test of the default ensemble (dlib + FaceNet + SFace) through the CLI, on one small face.
    status = main(["cloak", str(photos), "--out", str(out), "--json", "--report", str(report)])
    data = json.loads(capsys.readouterr().out)
    assert status == 0, data
    assert {p: _digest(p) for p in photos.rglob("*") if p.is_file()} == before, "an input was modified"
    by_name = {Path(p["source"]).name: p for p in data["photos"]}
    face = by_name["me.jpg"]
    assert face["output"] == str(out / "trip" / "me.jpg")  # JPEG in, JPEG out, verified after its own encoding
    assert face["protected"] and face["verification"]["min_distance"] > 0.6
    assert face["verdict"].startswith("protected")
    # A verdict per recognizer, each beyond its own threshold; the photo counts only when all agree.
    verdicts = face["verification"]["recognizers"]
    assert [v["recognizer"] for v in verdicts] == ["dlib", "facenet", "sface"] == data["recognizers"]
    assert all(v["protected"] and v["min_distance"] > v["threshold"] for v in verdicts)
    assert by_name["wall.png"]["status"] == "no face" and by_name["wall.png"]["output"] is None
    assert not (out / "wall.png").exists()
    with Image.open(out / "trip" / "me.jpg") as img, Image.open(photos / "trip" / "me.jpg") as stored:
        assert img.format == "JPEG"
        assert img.size == (stored.size[1], stored.size[0])  # turned upright
        assert not img.getexif() and not img.info.get("exif") and "icc_profile" not in img.info
    text = report.read_text()
    # Three shrunk panels and the face at 1:1 before and after.
    assert text.count("data:image/png;base64,") == 5 and "perturbation ×" in text and "Not guaranteed" in text
    assert "original, 1:1 pixels" in text and "cloaked, 1:1 pixels" in text
    assert all(f"<td>{name}</td>" in text for name in ("dlib", "facenet", "sface"))
    assert json.loads((out / "cloak.json").read_text())["protected"] == 1


def test_copy_unprotected_and_table(photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    status = main(["cloak", str(photos / "wall.png"), "--out", str(out), "--copy-unprotected",
                   "--recognizers", "dlib"])
    err = capsys.readouterr().err
    assert status == 0 and "no face" in err
    with Image.open(out / "wall.png") as img:
        assert img.size == (200, 150)


def test_refuses_a_decoy_without_decoy_mode(photos: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["cloak", str(photos), "--out", str(tmp_path / "o"), "--decoy", str(photos / "wall.png")])
    assert status == 1 and "--decoy is for --mode decoy" in capsys.readouterr().err


def test_ensure_retries_a_weak_setting_and_says_so(photos: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    status = main(["cloak", str(photos / "trip"), "--out", str(out), "--eps", "1/255", "--steps", "1",
                   "--ensure", "--json", "--recognizers", "dlib"])
    record = json.loads(capsys.readouterr().out)["photos"][0]
    assert record["attempts"] >= 2 and "retried with" in record["notes"][0] and "matched by dlib" in record["notes"][0]
    assert status == (0 if record["protected"] else 3)


def test_a_margin_retries_a_protected_photo_until_the_members_are_far_enough(
        photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    # 3 × dlib's threshold is beyond what any preset reaches: every stronger preset is tried, and the notes say why.
    status = main(["cloak", str(photos / "trip"), "--out", str(out), "--preset", "mid", "--steps", "2", "--margin", "3",
                   "--json",
                   "--recognizers", "dlib"])
    record = json.loads(capsys.readouterr().out)["photos"][0]
    assert record["cloak"]["config"]["margin"] == 3.0
    assert record["attempts"] == 3 and record["preset"] == "high"
    assert record["notes"][0].startswith("margin ") and "< 3 at custom; retried with mid" in record["notes"][0]
    assert "retried with high" in record["notes"][1] and "at the strongest preset (high)" in record["notes"][2]
    assert status == (0 if record["protected"] else 3)


def test_no_ensure_keeps_the_first_result_apart_when_still_matched(photos: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    # One step of 1/255 (a quarter of it on flat skin) moves dlib's descriptor by a few hundredths: still matched.
    status = main(["cloak", str(photos / "trip"), "--out", str(out), "--eps", "1/255", "--steps", "1",
                   "--no-ensure", "--json", "--recognizers", "dlib", "--texture", "8/255", "--format", "png"])
    record = json.loads(capsys.readouterr().out)["photos"][0]
    assert record["attempts"] == 1 and not record["protected"] and status == 3
    assert record["cloak"]["config"]["texture"] == pytest.approx(8 / 255)
    # Never beside protected photos: moved under not-protected/, and the summary says so.
    assert record["output"] == str(out / "not-protected" / "me.png")
    assert (out / "not-protected" / "me.png").is_file() and not (out / "me.png").exists()
    # The manifest follows the move: the same command again finds the photo done where it went.
    again = main(["cloak", str(photos / "trip"), "--out", str(out), "--eps", "1/255", "--steps", "1",
                  "--no-ensure", "--json", "--recognizers", "dlib", "--texture", "8/255", "--format", "png"])
    run = json.loads(capsys.readouterr().out)["run"]
    assert again == 3 and run["skipped"] == 1 and run["done"] == 0


def test_collect_skips_earlier_outputs_and_refuses_to_replace_inputs(tmp_path: Path) -> None:
    from camo.commands.cloak import collect
    from camo.errors import InputError

    photos = tmp_path / "photos"
    (photos / "cloaked").mkdir(parents=True)
    for name in ("a.png", "b.jpg", "cloaked/a.png"):  # cloaked/ holds an earlier run's output
        (photos / name).write_bytes(b"x")
    pairs = collect([photos], photos / "cloaked", "png")
    assert [(s.relative_to(photos).as_posix(), t.relative_to(photos).as_posix()) for s, t in pairs] == \
        [("a.png", "cloaked/a.png"), ("b.jpg", "cloaked/b.png")]
    with pytest.raises(InputError, match="would replace an input photo"):
        collect([photos / "a.png"], photos, "png")  # photos/a.png → photos/a.png


def test_a_report_path_on_an_input_is_refused_before_any_work(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    photo = tmp_path / "me.png"
    Image.new("RGB", (40, 40), "white").save(photo)
    before = photo.read_bytes()
    assert main(["cloak", str(photo), "--out", str(tmp_path / "out"), "--report", str(photo)]) == 1
    assert "refusing to overwrite an input file" in capsys.readouterr().err
    assert photo.read_bytes() == before and not (tmp_path / "out").exists()


def test_unknown_or_repeated_recognizers_are_one_clear_error(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    photo = tmp_path / "me.png"
    Image.new("RGB", (40, 40), "white").save(photo)
    assert main(["cloak", str(photo), "--out", str(tmp_path / "out"), "--recognizers", "dlib,arcface"]) == 1
    assert "unknown recognizer 'arcface'" in capsys.readouterr().err
    assert main(["cloak", str(photo), "--out", str(tmp_path / "out"), "--recognizers", "dlib,dlib"]) == 1
    assert "named twice" in capsys.readouterr().err
    assert main(["cloak", str(photo), "--out", str(tmp_path / "out"), "--recognizer", str(tmp_path / "x.onnx")]) == 1
    assert "x.onnx" in capsys.readouterr().err
    # A per-recognizer dropout rate for one not in the ensemble is a typo or a mix-up: said before any work.
    assert main(["cloak", str(photo), "--out", str(tmp_path / "out"), "--recognizers", "dlib",
                 "--dropout", "facnet=0.05"]) == 1
    assert "--dropout names facnet, not in the ensemble (dlib)" in capsys.readouterr().err
    assert main(["cloak", str(photo), "--out", str(tmp_path / "out"), "--dropout", "much"]) == 1
    assert "--dropout takes P or NAME=P" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_feature_loss_dropout_and_look_options_reach_the_config_and_a_grey_photo_stays_grey(
        photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    grey = tmp_path / "grey"
    grey.mkdir()
    with Image.open(photos / "trip" / "me.jpg") as img:
        ImageOps.exif_transpose(img).convert("L").save(grey / "me.png")  # upright: the file is stored turned
    common = ["--steps", "2", "--no-ensure", "--json", "--recognizers", "dlib", "--format", "png"]
    main(["cloak", str(grey), "--out", str(tmp_path / "a"), "--preset", "low", "--features", "2", *common])
    record = json.loads(capsys.readouterr().out)["photos"][0]
    config = record["cloak"]["config"]
    assert config["features"] == 2.0 and config["min_ssim"] == 0.93 and config["grey"] is True
    assert config["dropout"] == 0.02  # low's own
    with Image.open(record["output"]) as saved:  # protected or not (then under not-protected/)
        pixels = np.asarray(saved.convert("RGB"))
    with Image.open(grey / "me.png") as original:
        assert pixels.shape[:2] == (original.height, original.width)
        changed = (pixels[..., 0] != np.asarray(original)).any()
    assert changed and (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()
    # 0 switches a preset's option off; the colour photo is cloaked in colour.
    main(["cloak", str(photos / "trip"), "--out", str(tmp_path / "b"), "--preset", "low", "--features", "0",
          "--min-ssim", "0", "--dropout", "0.01,dlib=0.03", *common])
    config = json.loads(capsys.readouterr().out)["photos"][0]["cloak"]["config"]
    assert config["features"] is None and config["min_ssim"] is None and config["grey"] is False
    assert config["dropout"] == 0.01 and config["member_dropout"] == [["dlib", 0.03]]
