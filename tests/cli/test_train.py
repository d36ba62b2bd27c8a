"""``camo train`` through the entry point: a folder-per-class data set trains, saves, reloads and is attacked."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import camo
from camo.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")

CLASSES = ("bars", "columns", "dots")


def _pattern(kind: str, rng: np.random.Generator) -> np.ndarray:
    """A 16×16 RGB image of a class that a small CNN tells apart in a few epochs: stripes one way or the other,
    or a checkerboard, with a random phase, colour and noise."""
    grid = np.indices((16, 16))
    phase = rng.integers(0, 4)
    if kind == "bars":
        mask = (grid[0] + phase) % 4 < 2
    elif kind == "columns":
        mask = (grid[1] + phase) % 4 < 2
    else:
        mask = ((grid[0] // 2 + grid[1] // 2 + phase) % 2) == 0
    colour = rng.uniform(0.5, 1.0, 3)
    image = mask[..., None] * colour + rng.normal(0, 0.08, (16, 16, 3))
    return np.clip(image * 255, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data") / "patterns"
    rng = np.random.default_rng(0)
    for kind in CLASSES:
        (root / kind).mkdir(parents=True)
        for i in range(24):
            Image.fromarray(_pattern(kind, rng)).save(root / kind / f"{kind}{i:02d}.png")
    return root


def _digest(root: Path) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(root.rglob("*.png")))).hexdigest()


def test_a_folder_trains_saves_reloads_and_is_attacked(folder: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    before = _digest(folder)
    weights = tmp_path / "model" / "patterns.pt"
    assert main(["train", "--data", str(folder), "--out", str(weights), "--epochs", "6", "--eps", "4/255",
                 "--batch-size", "16", "--lr", "0.01", "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert run["kind"] == "training" and run["config"]["method"] == "fgsm-rs"
    assert len(run["epochs"]) == 6 and run["kept_epoch"] == 6
    assert run["epochs"][-1]["clean_accuracy"] >= 0.8  # held-out images: the patterns are easy
    sidecar = json.loads(weights.with_suffix(".json").read_text())
    assert sidecar["labels"] == list(CLASSES) and sidecar["input_size"] == [16, 16] and sidecar["channels"] == 3
    assert sidecar["training"]["method"] == "fgsm-rs"
    assert (tmp_path / "model" / "patterns.training.json").exists()

    model = camo.load_model(weights)
    assert model.labels == CLASSES and model.channels == 3

    out = tmp_path / "eval"
    assert main(["evaluate", "--model", str(weights), "--data", str(folder), "--eps", "0,8/255",
                 "--method", "fgsm,pgd", "--steps", "3", "--restarts", "2", "--out", str(out), "--json"]) == 0
    evaluation = json.loads(capsys.readouterr().out)
    assert evaluation["restarts"] == 2 and evaluation["count"] == 72
    assert evaluation["clean_accuracy"] >= 0.8
    rows = {(r["method"], round(r["eps"] * 255)): r["accuracy"] for r in evaluation["results"]}
    assert rows[("pgd", 8)] <= rows[("pgd", 0)]

    adv = tmp_path / "adv"
    code = main(["attack", str(folder / "dots" / "dots00.png"), "--model", str(weights), "--eps", "8/255",
                 "--out", str(adv), "--json"])
    attacked = json.loads(capsys.readouterr().out)
    assert attacked["results"][0]["original"]["label"] in CLASSES
    # A hardened model may resist: exit 3 says the saved file missed its goal, 0 that it met it.
    assert code == (0 if attacked["results"][0]["success"] else 3)
    assert _digest(folder) == before  # the training images were never touched


def test_progress_shows_every_epoch_and_the_result(folder: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--data", str(folder), "--out", str(tmp_path / "m.pt"), "--epochs", "2",
                 "--batch-size", "32", "--method", "pgd", "--pgd-steps", "2"]) == 0
    err = capsys.readouterr().err
    assert "epoch 1/2" in err and "epoch 2/2" in err and "held-out clean" in err and "PGD-10" in err
    assert "saved" in err and "--model" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["--out", "m.pth"], "must end in .pt"),
    (["--method", "fgsm-rs", "--eps", "2"], "eps"),
    (["--arch", "nope"], "--arch"),
    (["--size", "abc"], "--size"),
])
def test_bad_settings_fail_with_one_line_and_write_nothing(folder: Path, tmp_path: Path, argv: list[str],
                                                           message: str, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    base = ["train", "--data", str(folder), "--epochs", "1"]
    if "--out" not in argv:
        base += ["--out", "m.pt"]
    assert main(base + argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err
    assert list(tmp_path.iterdir()) == []


def test_an_output_inside_the_training_folder_is_refused(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--data", str(folder), "--out", str(folder / "bars" / "m.pt"), "--epochs", "1"]) == 1
    assert "inside the training folder" in capsys.readouterr().err
    assert not (folder / "bars" / "m.pt").exists()


def test_models_lists_mnist_robust(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--json"]) == 0
    names = [row["name"] for row in json.loads(capsys.readouterr().out)]
    assert "mnist-robust" in names and "mnist" in names


def test_training_on_the_mnist_digits_writes_a_model_every_command_reads(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    weights = tmp_path / "digits.pt"
    assert main(["train", "--data", "mnist", "--out", str(weights), "--method", "none", "--epochs", "1",
                 "--batch-size", "250", "--no-augment", "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert run["config"]["eps"] == pytest.approx(0.3) and run["data"].startswith("mnist")
    assert run["epochs"][0]["clean_accuracy"] > 0.5
    model = camo.load_model(weights)
    assert model.input_size == (28, 28) and model.channels == 1 and model.labels == tuple("0123456789")
