"""``camo best-eps`` through the entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

import camo
from camo.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")



def test_bisection_and_scan_agree_and_the_answer_works(seven: Path, tmp_path: Path, mnist_model: camo.Classifier,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    answers = []
    for extra in ([], ["--scan"]):
        assert main(["best-eps", str(seven), "--target", "3", "--max-eps", "0.5", "--json",
                     "--out", str(tmp_path), *extra]) == 0
        answers.append(json.loads(capsys.readouterr().out))
    bisection, scan = answers
    assert bisection["smallest_eps"] is not None and scan["smallest_eps"] is not None, "7 → 3 unreachable at ε ≤ 0.5"
    assert bisection["search"] == "bisection" and scan["search"] == "scan"
    assert abs(bisection["smallest_eps"] - scan["smallest_eps"]) <= 1 / 255  # fgsm: one grid bracket, both ways
    x = camo.images.load(seven, channels=1)
    for answer in (bisection, scan):  # each answer reaches 3 on the 8-bit file
        x_adv = camo.fgsm(mnist_model, x, torch.tensor([3]), answer["smallest_eps"], targeted=True)
        with torch.no_grad():
            assert int(mnist_model(camo.images.quantize(x_adv)).argmax()) == 3
    with Image.open(tmp_path / "seven.best-eps.png") as img:
        assert img.format == "PNG"
    assert json.loads((tmp_path / "seven.best-eps.json").read_text())["search"] == "scan"


def test_table_and_unreachable(seven: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["best-eps", str(seven), "--target", "3", "--max-eps", "2/255", "--step", "1/255",
                 "--out", str(tmp_path)]) == 0
    err = " ".join(capsys.readouterr().err.split())  # rich wraps lines at the terminal width
    assert "never predicts 3" in err and "clean prediction 7" in err


def test_unknown_target_fails_on_one_line(seven: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["best-eps", str(seven), "--target", "giraffe"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown label 'giraffe'" in err[0]


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["best-eps", "--help"])
    assert done.value.code == 0
    stdout = capsys.readouterr().out
    assert "examples:" in stdout and "--scan" in stdout
