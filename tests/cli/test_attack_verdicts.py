"""``camo attack``'s verdicts are about the saved file: success, in_memory_success, lost_by / gained_by, exit 3
with a hint, saved_change_exceeds_eps; and it fails early (before torch) and takes folders.

The verdict tests use tiny TorchScript models whose decision is a threshold on pixel values, so that 8-bit rounding
or JPEG decides the outcome by construction, not by luck of a trained network.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from camo.cli import main

SIZE = 16


class Threshold(nn.Module):
    """Two classes: "plain" (0) unless the mean of ``weights · x`` exceeds ``threshold``, then "shifted" (1)."""

    def __init__(self, weights: torch.Tensor, threshold: float) -> None:
        super().__init__()
        self.register_buffer("weights", weights)
        self.threshold = threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = (x * self.weights).mean(dim=(1, 2, 3)) - self.threshold
        return torch.stack([torch.zeros_like(score), 2000.0 * score], dim=1)


def _model(folder: Path, name: str, weights: torch.Tensor, threshold: float) -> Path:
    path = folder / f"{name}.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # deprecated in torch 2.13, still what users have
        torch.jit.script(Threshold(weights, threshold)).save(str(path))
    path.with_suffix(".json").write_text(json.dumps({"labels": ["plain", "shifted"], "channels": 1,
                                                     "input_size": [SIZE, SIZE], "name": name}))
    return path


def _grey(folder: Path, level: int) -> Path:
    path = folder / "grey.png"
    Image.fromarray(np.full((SIZE, SIZE), level, np.uint8)).save(path)
    return path


def _attack(image: Path, model: Path, out: Path, *extra: str) -> tuple[int, dict[str, object]]:
    code = main(["attack", str(image), "--model", str(model), "--out", str(out), "--json", *extra])
    return code, json.loads((out / "results.json").read_text())["results"][0]


def test_rounding_undoes_the_attack_so_the_file_misses_and_exit_is_3(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Grey 100; "shifted" above 100.3/255. FGSM at 0.4/255 reaches 100.4 in memory; the 8-bit file rounds to 100.
    model = _model(tmp_path, "flat", torch.ones(1, SIZE, SIZE), 100.3 / 255)
    code, record = _attack(_grey(tmp_path, 100), model, tmp_path / "out", "--eps", "0.4/255")
    captured = capsys.readouterr()
    assert code == 3
    assert record["in_memory_success"] is True and record["success"] is False, record
    assert record["lost_by"] == "8-bit rounding" and record["gained_by"] is None
    assert record["saved"]["label"] == "plain" and record["adversarial"]["label"] == "shifted"
    assert json.loads(captured.out)["results"][0]["success"] is False
    assert "--method pgd" in captured.err and "exit status 3" in captured.err
    assert (tmp_path / "out" / "grey.adv.png").is_file(), "the file is written even when it misses"
    assert main(["report", str(tmp_path / "out" / "results.json"), "--out", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text()
    assert "0 of 1 saved PNG files meet the goal" in page and "NO, lost by 8-bit rounding" in page


def test_rounding_can_also_complete_the_attack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Threshold 100.8/255: 100.6 in memory misses it, the file's 101 meets it.
    model = _model(tmp_path, "flat", torch.ones(1, SIZE, SIZE), 100.8 / 255)
    code, record = _attack(_grey(tmp_path, 100), model, tmp_path / "out", "--eps", "0.6/255")
    assert code == 0
    assert record["success"] is True and record["in_memory_success"] is False, record
    assert record["gained_by"] == "8-bit rounding" and record["lost_by"] is None
    assert record["saved_change_exceeds_eps"] is False  # 1/255 ≤ 0.6/255 + half a grey level


def test_jpeg_named_as_the_cause_and_the_change_beyond_eps_flagged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A one-pixel checkerboard of weights: FGSM adds ±2/255 in that pattern (exact in 8 bits, so the 8-bit image
    # still meets the goal); JPEG at quality 5 smooths the highest frequency away, so the file misses.
    checker = torch.tensor([[1.0 if (i + j) % 2 else -1.0 for j in range(SIZE)] for i in range(SIZE)])[None]
    model = _model(tmp_path, "checker", checker, 1 / 255)
    code, record = _attack(_grey(tmp_path, 128), model, tmp_path / "out", "--eps", "2/255", "--format", "jpeg",
                           "--quality", "5")
    err = capsys.readouterr().err
    assert code == 3
    assert record["in_memory_success"] is True and record["success"] is False, record
    assert record["lost_by"] == "JPEG q5"
    assert "--format png" in err
    saved = np.asarray(Image.open(tmp_path / "out" / "grey.adv.jpg"), dtype=np.float64) / 255
    linf = float(np.abs(saved - 128 / 255).max())
    assert record["linf"] == pytest.approx(linf, abs=1e-5)
    assert record["saved_change_exceeds_eps"] is (linf > 2.5 / 255 + 1e-6)
    # The same attack saved as PNG: the file meets the goal, exit 0, and the change is within ε.
    code, record = _attack(_grey(tmp_path, 128), model, tmp_path / "png", "--eps", "2/255")
    assert code == 0 and record["success"] and record["lost_by"] is None
    assert record["saved_change_exceeds_eps"] is False and record["linf"] == pytest.approx(2 / 255, abs=1e-6)


def test_a_missed_target_prints_a_table_the_hint_and_best_eps(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = _model(tmp_path, "flat", torch.ones(1, SIZE, SIZE), 150 / 255)
    image = _grey(tmp_path, 100)
    assert main(["attack", str(image), "--model", str(model), "--target", "shifted", "--eps", "1/255",
                 "--out", str(tmp_path / "out")]) == 3
    err = capsys.readouterr().err
    assert "goal met (saved file)" in err and "0 of 1 saved files meet the goal" in err
    assert f"camo best-eps {image} --model {model} --target shifted" in err
    assert "--method pgd" in err
    assert main(["attack", str(image), "--model", str(model), "--target", "shifted", "--eps", "1/255",
                 "--out", str(tmp_path / "quiet"), "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "0 of 1 saved files" in err and "hint" not in err  # --quiet keeps the answer, drops the advice


def test_folders_are_attacked_with_names_that_never_collide(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = _model(tmp_path, "flat", torch.ones(1, SIZE, SIZE), 100.3 / 255)
    for sub, level in (("a", 90), ("b", 110)):
        (tmp_path / sub).mkdir()
        Image.fromarray(np.full((SIZE, SIZE), level, np.uint8)).save(tmp_path / sub / "x.png")
    out = tmp_path / "out"
    main(["attack", str(tmp_path / "a"), str(tmp_path / "b"), "--model", str(model), "--eps", "20/255",
          "--out", str(out), "--quiet"])
    assert sorted(p.name for p in out.iterdir()) == ["a_x.adv.png", "a_x.figure.png", "b_x.adv.png",
                                                     "b_x.figure.png", "results.json"]
    records = json.loads((out / "results.json").read_text())["results"]
    assert [Path(r["source"]).parent.name for r in records] == ["a", "b"]


def test_an_image_keeps_its_resolution_unless_crop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A 40×24 image for a model of 16×16 inputs: the model sees the middle, resized; the file keeps 40×24.
    model = _model(tmp_path, "flat", torch.ones(1, SIZE, SIZE), 100.3 / 255)
    image = tmp_path / "wide.png"
    pixels = np.full((24, 40), 100, np.uint8)
    Image.fromarray(pixels).save(image)
    code, record = _attack(image, model, tmp_path / "full", "--eps", "3/255")
    assert code == 0 and record["success"] and record["saved"]["label"] == "shifted"
    with Image.open(tmp_path / "full" / "wide.adv.png") as saved:
        assert saved.size == (40, 24)
        changed = np.asarray(saved).astype(int) - pixels
    assert changed.max() == 3 and changed[:, :2].max() == 0  # the edges outside the model's centre crop are kept
    capsys.readouterr()
    assert main(["classify", str(tmp_path / "full" / "wide.adv.png"), "--model", str(model), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["top"][0]["label"] == "shifted"  # the same verdict
    code, record = _attack(image, model, tmp_path / "crop", "--eps", "3/255", "--crop")
    assert code == 0 and record["success"]
    with Image.open(tmp_path / "crop" / "wide.adv.png") as saved:
        assert saved.size == (SIZE, SIZE)


@pytest.mark.parametrize("blocker", ["results.json", "grey.adv.png"])
def test_an_output_file_that_is_a_folder_fails_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               blocker: str) -> None:
    image = _grey(tmp_path, 100)
    out = tmp_path / "out"
    (out / blocker).mkdir(parents=True)
    assert main(["attack", str(image), "--model", "no-such-model", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and blocker in err[0] and "folder of that name" in err[0], err  # not "unknown model"
    assert sorted(p.name for p in out.iterdir()) == [blocker]


def test_bad_eps_and_bad_out_answer_without_importing_torch(tmp_path: Path) -> None:
    afile = tmp_path / "afile.txt"
    afile.write_text("x")
    probe = ("import sys\nfrom camo.cli import main\ncode = main(sys.argv[1:])\n"
             "print(code, 'torch' in sys.modules)\n")
    for args, message in ((["attack", "digit.png", "--eps", "-1", "--out", str(tmp_path / "o")], "--target"),
                          (["attack", str(afile), "--out", str(afile)], "must name a folder"),
                          (["demo", "--out", str(afile)], "must name a folder"),
                          (["cloak", str(afile), "--out", str(afile)], "must name a folder")):
        done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True,
                              cwd=tmp_path, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")})
        assert done.stdout.split() == ["1", "False"], (args, done.stdout, done.stderr)
        assert message in done.stderr, (args, done.stderr)
    assert afile.read_text() == "x"
