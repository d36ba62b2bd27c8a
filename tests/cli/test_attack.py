"""``camo attack`` and ``camo models`` through the entry point: outputs, JSON, and every kind of bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from camo.cli import main
from tests.support import shared


@pytest.fixture(scope="module")
def digit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from camo.models.zoo import mnist_digits

    _, _, x, y = mnist_digits()
    index = int((y == 7).nonzero()[0, 0])
    path = tmp_path_factory.mktemp("in") / "seven.png"
    Image.fromarray(np.round(x[index, 0].numpy() * 255).astype(np.uint8)).save(path)
    return path


def test_attack_writes_image_figure_and_json(digit: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    before = digit.read_bytes()
    out = tmp_path / "out"
    assert main(["attack", str(digit), "--model", "mnist", "--eps", "0.3", "--method", "bim", "--out", str(out),
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    (record,) = result["results"]
    assert record["original"]["label"] == "7" and record["method"] == "bim"
    assert record["success"] and record["in_memory_success"] and record["lost_by"] is None
    assert record["saved"]["label"] != "7"
    assert record["linf"] <= 0.3 + 0.5 / 255 + 1e-6  # 8-bit rounding adds at most half a grey level
    for name in ("seven.adv.png", "seven.figure.png", "results.json"):
        assert (out / name).is_file()
    with Image.open(out / "seven.adv.png") as img:
        assert img.size == (28, 28) and img.mode == "L"
    with Image.open(out / "seven.figure.png") as fig:
        assert fig.size[0] > 500
    assert digit.read_bytes() == before, "the input file was modified"


def test_targeted_attack_hits_the_target_and_prints_a_table(digit: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["attack", str(digit), "--eps", "0.25", "--method", "pgd", "--target", "3", "--steps", "20",
                 "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "target 3" in err and "seven.png" in err
    record = json.loads((tmp_path / "results.json").read_text())["results"][0]
    assert record["saved"]["label"] == "3" and record["target"] == "3"


def test_imagenet_hen_to_hog_survives_8_bit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hen = shared("imagenet_samples", "n01514859_hen.JPEG")
    assert main(["attack", str(hen), "--model", "imagenet", "--target", "hog", "--eps", "4/255", "--method", "pgd",
                 "--out", str(tmp_path), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)["results"][0]
    assert record["original"]["label"] == "hen"
    assert record["saved"]["label"] == "hog", record
    # The photo at its own resolution, not the model's 224×224 crop; camo classify agrees on the file as saved.
    with Image.open(hen) as photo, Image.open(record["output"]) as adversarial:
        assert adversarial.size == photo.size
    assert main(["classify", record["output"], "--model", "imagenet", "--top-k", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["top"][0]["label"] == "hog"
    assert record["linf"] <= 4 / 255 + 1e-6 and not record["saved_change_exceeds_eps"]  # an 8-bit photo: no resize


def _bad_files(tmp: Path) -> dict[str, Path]:
    good = tmp / "good.jpg"
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(good, quality=90)
    files = {"missing": tmp / "nope.png", "empty": tmp / "empty.png", "text": tmp / "text.png",
             "truncated": tmp / "cut.jpg", "huge": tmp / "huge.png", "tiny": tmp / "tiny.png",
             "sliver": tmp / "sliver.png"}
    files["empty"].write_bytes(b"")
    files["text"].write_text("this is not an image")
    files["truncated"].write_bytes(good.read_bytes()[:400])
    Image.new("L", (12_000, 9_000)).save(files["huge"])  # 108 megapixels, over the guard
    Image.new("L", (1, 1), 128).save(files["tiny"])
    Image.new("RGB", (640, 7), "white").save(files["sliver"])
    return files


@pytest.mark.parametrize(("kind", "message"), [
    ("missing", "no such file"), ("empty", "empty"), ("text", "not an image"),
    ("truncated", "corrupt or truncated"), ("huge", "megapixels"),
    ("tiny", "1×1 pixels is too small"), ("sliver", "640×7 pixels is too small"),
])
def test_bad_files_fail_cleanly_with_no_output(digit: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               kind: str, message: str) -> None:
    bad = _bad_files(tmp_path)[kind]
    out = tmp_path / "out"
    # The good image comes first: nothing may be written for it either when a later input is bad.
    assert main(["attack", str(digit), str(bad), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not out.exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--eps", "-8/255"], "--target"),
    (["--eps", "-0.03"], "--target"),
    (["--eps", "2"], "larger than the pixel range"),
    (["--target", "giraffe"], "unknown label 'giraffe'"),
    (["--model", "no-such-model"], "unknown model"),
    (["--format", "jpeg", "--quality", "0"], "JPEG quality must be in 1..100"),
])
def test_bad_settings_fail_cleanly_with_no_output(digit: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  args: list[str], message: str) -> None:
    out = tmp_path / "out"
    assert main(["attack", str(digit), "--out", str(out), *args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists()


def test_fgm_gets_an_l2_default_budget(digit: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["attack", str(digit), "--method", "fgm", "--out", str(tmp_path / "l2"), "--json"])
    (record,) = json.loads(capsys.readouterr().out)["results"]
    assert code == (0 if record["success"] else 3)  # 3: the saved file misses its goal
    assert record["method"] == "fgm" and record["eps"] == 1.0
    saved = np.asarray(Image.open(tmp_path / "l2" / "seven.adv.png"), dtype=np.float64) / 255
    clean = np.asarray(Image.open(digit), dtype=np.float64) / 255
    assert 0.5 < np.linalg.norm(saved - clean) <= 1.0 + 28 * 0.5 / 255  # an L2 step of 1, 8-bit rounding aside
    assert record["l2"] == pytest.approx(np.linalg.norm(saved - clean), abs=1e-4)
    assert record["saved_change_exceeds_eps"] is False  # PNG: rounding only, within ε + 0.5/255·√784
    code = main(["attack", str(digit), "--out", str(tmp_path / "linf"), "--quality", "0", "--json"])  # PNG
    (record,) = json.loads(capsys.readouterr().out)["results"]
    assert code == (0 if record["success"] else 3) and record["eps"] == pytest.approx(8 / 255)


def test_an_output_folder_that_is_a_file_is_a_one_line_error(digit: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("a file, not a folder")
    assert main(["attack", str(digit), "--out", str(blocker), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and str(blocker) in err[-1] and "Traceback" not in "".join(err), err
    assert blocker.read_text() == "a file, not a folder"


def test_models_lists_builtins_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--json"]) == 0
    names = [row["name"] for row in json.loads(capsys.readouterr().out)]
    assert names[:2] == ["mnist", "imagenet"]


def test_console_script_help_has_an_example() -> None:
    done = subprocess.run([sys.executable, "-m", "camo.cli", "attack", "--help"], capture_output=True, text=True,
                          check=True)
    assert "examples:" in done.stdout and "--target hog" in done.stdout
