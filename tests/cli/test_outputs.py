"""Outputs checked before any work, the same way in every command (issue 20, part 4): an --out that names a file
fails at once with one clear line, before a model loads or an image is read, and nothing is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import camo.models
from camo.cli import main


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a model fails the test: the output check must come first."""
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the model was loaded before the outputs were checked")

    monkeypatch.setattr(camo.models, "load_model", refuse)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    image = tmp_path / "digit.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(image)
    blocker = tmp_path / "afile.txt"
    blocker.write_text("keep me\n")
    patch = tmp_path / "p.png"
    Image.fromarray(np.full((4, 4), 255, np.uint8)).save(patch)
    return {"image": image, "blocker": blocker, "patch": patch}


def commands(f: dict[str, Path], out: str) -> list[list[str]]:
    image, patch = str(f["image"]), str(f["patch"])
    return [
        ["grid", image, "--out", out],
        ["sweep", image, "--label", "3", "--out", out],
        ["best-eps", image, "--target", "3", "--out", out],
        ["evaluate", "--data", "mnist", "--out", out],
        ["faces", image, "--out", out],
        ["patch", "grow", "--target", "3", "--out", out],
        ["patch", "train", "--target", "3", "--images", "mnist", "--out", out],
        ["patch", "eval", patch, "--target", "3", "--images", "mnist", "--out", out],
        ["patch", "apply", patch, image, "--out", out],
        ["video", image, "--out", out],
    ]


@pytest.mark.usefixtures("no_model")
@pytest.mark.parametrize("index", range(10))
def test_an_out_that_is_a_file_fails_first(index: int, files: dict[str, Path],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    argv = commands(files, str(files["blocker"]))[index]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: --out {files['blocker']}: a file of that name exists; it must name a folder. "
                   "Choose another --out"], argv
    assert files["blocker"].read_text() == "keep me\n"


@pytest.mark.usefixtures("no_model")
@pytest.mark.parametrize("index", range(10))
def test_an_out_below_a_file_fails_first(index: int, files: dict[str, Path],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    below = files["blocker"] / "biden"
    argv = commands(files, str(below))[index]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{files['blocker']} is a file, so the folder cannot be made there" in err[0], argv


@pytest.mark.usefixtures("no_model")
def test_file_outputs_are_checked_first_too(files: dict[str, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    weights = tmp_path / "robust.pt"
    weights.mkdir()
    assert main(["train", "--data", "mnist", "--out", str(weights)]) == 1
    assert "robust.pt: a folder of that name exists where camo would write a file" in capsys.readouterr().err
    assert main(["train", "--data", "mnist", "--out", str(files["image"] / "x.pt")]) == 1
    assert capsys.readouterr().err == (f"error: --out {files['image'] / 'x.pt'}: {files['image']} is a file, so the "
                                       "folder cannot be made there. Choose another --out\n")
    report = tmp_path / "r.html"
    report.mkdir()
    assert main(["grid", str(files["image"]), "--out", str(tmp_path / "g"), "--report", str(report)]) == 1
    assert "r.html: a folder of that name exists" in capsys.readouterr().err
    assert not (tmp_path / "g").exists()
    # an output that would replace an input: refused before any work
    assert main(["report", str(files["image"]), "--out", str(files["image"])]) == 1
    assert "refusing to overwrite an input file" in capsys.readouterr().err


def test_the_rule_required_or_defaulted(capsys: pytest.CaptureFixture[str]) -> None:
    """--out is required where the files are the product, defaulted to camo-<command> where the answer is printed."""
    from camo.cli import build_parser

    parser = build_parser()
    for argv in (["attack", "x.png"], ["video", "x.mp4"], ["patch", "grow", "--target", "3"],
                 ["patch", "apply", "p.png", "x.png"], ["train", "--data", "mnist"]):
        with pytest.raises(SystemExit) as done:
            parser.parse_args(argv)
        assert done.value.code == 2 and "--out" in capsys.readouterr().err, argv
    defaults = {"sweep": ["sweep", "x.png", "--label", "3"], "grid": ["grid", "x.png"],
                "best-eps": ["best-eps", "x.png", "--target", "3"], "evaluate": ["evaluate", "--data", "mnist"],
                "faces": ["faces", "x.png"], "patch-eval": ["patch", "eval", "p.png", "--images", "mnist"]}
    for name, argv in defaults.items():
        assert parser.parse_args(argv).out == Path(f"camo-{name}"), argv
