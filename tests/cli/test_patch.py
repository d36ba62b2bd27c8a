"""``camo patch grow|train|apply|eval`` through the entry point: files written, JSON, re-application from the PNG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import camo
from camo.cli import main


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for action in ("grow", "train", "apply", "eval"):
        with pytest.raises(SystemExit) as exit_info:
            main(["patch", action, "--help"])
        assert exit_info.value.code == 0
        assert f"camo patch {action}" in capsys.readouterr().out.split("examples:")[1]


def test_grow_writes_png_sidecar_and_a_gif_that_plays(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     mnist_model: camo.Classifier) -> None:
    assert main(["patch", "grow", "--model", "mnist", "--target", "8", "--steps", "12", "--out", str(tmp_path),
                 "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record == json.loads((tmp_path / "8.json").read_text())
    assert record["model"] == "mnist" and record["target"] == "8" and record["size"] == 28
    assert record["settings"]["steps"] == 12
    history = record["p_target_history"]  # growing works for any trained model: p(8) rises to a majority
    assert record["p_target"] > 0.5 and history[-1] > history[0]
    with torch.no_grad():  # the p(target) it reports is that of the saved PNG
        saved = mnist_model(camo.images.load(tmp_path / "8.png", channels=1)).softmax(1)[0, 8]
    assert float(saved) == pytest.approx(record["p_target"], abs=1e-5)
    with Image.open(tmp_path / "8.png") as png:
        assert png.size == (28, 28) and png.mode == "L" and not png.info.get("exif")
    with Image.open(tmp_path / "8.gif") as gif:
        assert gif.n_frames == 12 and gif.info.get("loop") == 0
        gif.seek(11)
        assert gif.size[0] >= 200


def test_train_then_eval_from_the_png_gives_the_same_success(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["patch", "train", "--model", "mnist", "--target", "2", "--images", "mnist", "--size", "0.16",
                 "--steps", "6", "--batch-size", "16", "--out", str(tmp_path), "--json"]) == 0
    trained = json.loads(capsys.readouterr().out)
    assert trained["area_fraction"] <= 0.16 and trained["evaluated_on"] == "mnist held-out split"
    assert (tmp_path / "2.examples.png").stat().st_size > 1000
    assert main(["patch", "eval", str(tmp_path / "2.png"), "--model", "mnist", "--images", "mnist",
                 "--scales", "1,0.5", "--bound", "20", "--out", str(tmp_path), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    evaluations = record["evaluations"]
    nominal = next(e for e in evaluations if e["scale"] == 1 and e["placement"] == "random")
    assert nominal == trained["evaluation"]  # the saved PNG re-applied: identical numbers
    # Patches made for each digit alone beat a 6-step universal patch of the same size.
    bound = record["per_image_bound"]
    assert bound["images"] == 20 and bound["size"] == 11
    assert bound["targeted_success"] >= nominal["targeted_success"] and bound["targeted_success"] > 0.5
    assert {e["placement"] for e in evaluations} == {"random", "center", "corner"}
    assert (tmp_path / "2.eval.png").is_file() and (tmp_path / "2.eval.json").is_file()


def test_apply_needs_only_the_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    patch = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(patch).save(tmp_path / "p.png")
    photo = np.full((10, 16, 3), 200, np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    before = (tmp_path / "photo.png").read_bytes()
    out = tmp_path / "out"
    assert main(["patch", "apply", str(tmp_path / "p.png"), str(tmp_path / "photo.png"), "--at", "5,2",
                 "--out", str(out), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["results"]
    assert row["at"] == [5, 2]
    result = np.asarray(Image.open(out / "photo.patched.png"))
    expected = photo.copy()
    expected[2:5, 5:9] = patch[..., None]
    assert np.array_equal(result, expected)
    assert (tmp_path / "photo.png").read_bytes() == before
    assert main(["patch", "apply", str(tmp_path / "p.png"), str(tmp_path / "photo.png"), "--random", "--scale", "2",
                 "--out", str(out), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["results"]
    assert row["patch_size"] == [8, 6] and 0 <= row["at"][0] <= 8 and 0 <= row["at"][1] <= 4


def test_bad_inputs_give_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "p.png")
    Image.fromarray(np.zeros((6, 6), np.uint8)).save(tmp_path / "small.png")
    assert main(["patch", "apply", str(tmp_path / "p.png"), str(tmp_path / "small.png"), "--out",
                 str(tmp_path / "o")]) == 1
    assert "small.png: the 8×8 patch does not fit this 6×6 image" in capsys.readouterr().err
    assert main(["patch", "apply", str(tmp_path / "p.png"), str(tmp_path / "p.png"), "--at", "0,0", "--out",
                 str(tmp_path)]) == 0  # writes p.patched.png, never onto the input
    capsys.readouterr()
    assert main(["patch", "eval", str(tmp_path / "p.png"), "--images", "mnist"]) == 1
    assert "no --target given" in capsys.readouterr().err
    assert main(["patch", "grow", "--target", "eleven", "--out", str(tmp_path)]) == 1
    assert "unknown label 'eleven'" in capsys.readouterr().err
    assert main(["patch", "train", "--target", "3", "--images", "nowhere", "--out", str(tmp_path)]) == 1
    assert "'nowhere' is not mnist" in capsys.readouterr().err


def test_train_never_writes_over_its_training_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    digits = tmp_path / "digits"
    digits.mkdir()
    rng = np.random.default_rng(0)
    for d in range(4):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(digits / f"{d}.png")
    before = {p.name: p.read_bytes() for p in digits.iterdir()}
    # the patch towards 3 would be written as digits/3.png: refused up front, nothing written
    assert main(["patch", "train", "--model", "mnist", "--target", "3", "--images", str(digits), "--steps", "2",
                 "--out", str(digits)]) == 1
    assert "3.png: refusing to overwrite an input file" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in digits.iterdir()} == before


def test_a_built_in_set_the_model_cannot_take_is_a_clear_error(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "p.png")
    assert main(["patch", "eval", str(tmp_path / "p.png"), "--model", "imagenet", "--target", "hen",
                 "--images", "mnist"]) == 1
    err = capsys.readouterr().err
    assert "mnist digits are 1×28×28 images but imagenet takes 3×224×224" in err and "Traceback" not in err


def test_apply_checks_every_image_before_writing_any(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Image.fromarray(np.full((8, 8), 255, np.uint8)).save(tmp_path / "p.png")
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "a.jpg")
    Image.fromarray(np.zeros((6, 6), np.uint8)).save(tmp_path / "tiny.png")
    # a.png and a.jpg share a stem: each output says which it came from instead of one replacing the other
    named = tmp_path / "named"
    assert main(["patch", "apply", str(tmp_path / "p.png"), str(tmp_path / "a.png"), str(tmp_path / "a.jpg"),
                 "--out", str(named)]) == 0
    assert sorted(p.name for p in named.iterdir()) == ["a-jpg.patched.png", "a-png.patched.png"]
    out = tmp_path / "out"
    # the second image is too small: the error names it, and the first image's output is not written either
    assert main(["patch", "apply", str(tmp_path / "p.png"), str(tmp_path / "a.png"), str(tmp_path / "tiny.png"),
                 "--random", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "tiny.png: the 8×8 patch does not fit this 6×6 image" in err
    assert not out.exists() or not any(out.iterdir())
