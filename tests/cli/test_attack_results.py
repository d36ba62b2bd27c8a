"""Several ``camo attack`` runs into one ``--out``: results.json keeps every record whose files are still there, and
``camo report`` shows each run under its own settings.

The model is a tiny TorchScript threshold (see test_attack_verdicts.py), so each attack takes a fraction of a second.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from camo.cli import main
from tests.cli.test_attack_verdicts import SIZE, _model


@pytest.fixture()
def setup(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """The model, two grey images in different folders and the output folder."""
    model = _model(tmp_path, "flat", torch.ones(1, SIZE, SIZE), 100.3 / 255)
    images = []
    for folder, name in (("one", "a.png"), ("two", "b.png")):
        (tmp_path / folder).mkdir()
        Image.fromarray(np.full((SIZE, SIZE), 100, np.uint8)).save(tmp_path / folder / name)
        images.append(tmp_path / folder / name)
    return model, images[0], images[1], tmp_path / "out"


def _attack(image: Path, model: Path, out: Path, *extra: str) -> int:
    return main(["attack", str(image), "--model", str(model), "--out", str(out), "--eps", "3/255", *extra])


def _results(out: Path) -> list[dict[str, Any]]:
    return list(json.loads((out / "results.json").read_text())["results"])


def test_a_second_attack_keeps_the_first_runs_records_and_the_report_shows_both(
        setup: tuple[Path, Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, a, b, out = setup
    assert _attack(a, model, out) == 0
    data = json.loads((out / "results.json").read_text())
    for record in data["results"]:  # as results.json was written before records carried their run's settings
        record.pop("model", None), record.pop("settings", None)
    (out / "results.json").write_text(json.dumps(data))
    capsys.readouterr()
    assert _attack(b, model, out, "--method", "pgd", "--steps", "2") == 0
    assert "results.json: kept 1 record of earlier runs (files still there)" in capsys.readouterr().err
    records = _results(out)
    assert [(Path(r["output"]).name, r["method"], r["settings"]["method"], r["model"]) for r in records] == [
        ("a.adv.png", "fgsm", "fgsm", "flat"), ("b.adv.png", "pgd", "pgd", "flat")]
    assert records[1]["settings"]["steps"] == 2 and records[0]["settings"]["steps"] == 10
    assert main(["report", str(out / "results.json"), "--out", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text()
    assert "Attack: flat, fgsm, ε = 3/255" in page and "Attack: flat, pgd, ε = 3/255" in page
    assert page.count("1 of 1 saved PNG files meet the goal") == 2
    assert page.index("a.png") < page.index("pgd") < page.index("b.png")  # each image under its own run


def test_records_are_replaced_by_output_file_and_dropped_with_their_file(
        setup: tuple[Path, Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    model, a, b, out = setup
    assert main(["attack", str(a), str(b), "--model", str(model), "--out", str(out), "--eps", "3/255"]) == 0
    capsys.readouterr()
    assert _attack(a, model, out, "--method", "bim", "--steps", "2", "--json") == 0  # a again: its record replaced
    assert json.loads(capsys.readouterr().out)["earlier_records_kept"] == 1
    assert [(Path(r["output"]).name, r["method"]) for r in _results(out)] == [("b.adv.png", "fgsm"),
                                                                               ("a.adv.png", "bim")]
    (out / "b.adv.png").unlink()  # the user deleted b's file: its record describes nothing any more
    assert _attack(a, model, out) == 0
    err = capsys.readouterr().err
    assert "kept 0 records of earlier runs" in err and "replaced 1 (this run wrote over its files)" in err
    assert "dropped 1 (adversarial file no longer there)" in err
    assert [(Path(r["output"]).name, r["method"]) for r in _results(out)] == [("a.adv.png", "fgsm")]
    # a as JPEG: a.adv.png stays, but the shared figure a.figure.png is now the JPEG's, so the PNG record goes.
    assert _attack(a, model, out, "--format", "jpeg", "--quality", "100") in (0, 3)
    assert [Path(r["output"]).name for r in _results(out)] == ["a.adv.jpg"]


@pytest.mark.parametrize("content", ["not json at all", json.dumps({"kind": "sweep", "eps": [0.1]})])
def test_a_results_json_that_is_not_camo_attacks_is_refused_before_any_work(
        setup: tuple[Path, Path, Path, Path], capsys: pytest.CaptureFixture[str], content: str) -> None:
    model, a, _, out = setup
    out.mkdir()
    (out / "results.json").write_text(content)
    assert _attack(a, model, out) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not the results of camo attack" in err[0] and "--out" in err[0], err
    assert (out / "results.json").read_text() == content
    assert [p.name for p in out.iterdir()] == ["results.json"]


def test_the_library_refuses_a_foreign_results_json_before_writing(setup: tuple[Path, Path, Path, Path]) -> None:
    """attack_images (what the web lab and the demo call) checks the folder's results.json itself."""
    from camo.attack_files import attack_images
    from camo.errors import InputError
    from camo.models import load_model

    model, a, _, out = setup
    out.mkdir()
    (out / "results.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="not the results of camo attack"):
        attack_images(load_model(str(model)), [a], out)
    assert [p.name for p in out.iterdir()] == ["results.json"]
