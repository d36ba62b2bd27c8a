"""``camo sweep`` through the entry point: files, JSON on stdout alone, the table, errors on one line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

from camo.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")



def test_sweep_writes_figure_csv_json(seven: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = seven.read_bytes()
    assert main(["sweep", str(seven), "--model", "mnist", "--label", "3", "--eps", "-0.5:0.5:0.01",
                 "--out", str(tmp_path), "--report", str(tmp_path / "r.html"), "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)  # stdout holds the JSON and nothing else
    assert len(data["eps"]) == 101 and data["label_name"] == "3"
    p3 = data["probabilities"]["3"]
    towards = max(p for e, p in zip(data["eps"], p3, strict=True) if e < 0)
    away = max(p for e, p in zip(data["eps"], p3, strict=True) if e > 0)
    assert towards > 0.1 and towards > 2 * away  # the seeds' shape, with margins any trained mnist model keeps
    with Image.open(tmp_path / "seven.sweep.png") as img:
        assert img.format == "PNG"
    rows = list(csv.DictReader((tmp_path / "seven.sweep.csv").read_text().splitlines()))
    assert len(rows) == 101 and float(rows[0]["p_3"]) == pytest.approx(p3[0], rel=1e-5)
    assert json.loads((tmp_path / "seven.sweep.json").read_text()) == data
    assert "data:image/png;base64," in (tmp_path / "r.html").read_text()
    assert seven.read_bytes() == before


def test_default_eps_and_table(seven: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", str(seven), "--label", "3", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    err = " ".join(captured.err.split())  # rich wraps lines at the terminal width
    assert captured.out == "" and "3 (L)" in err and "towards L" in err
    data = json.loads((tmp_path / "seven.sweep.json").read_text())
    assert len(data["eps"]) == 51 and data["eps"][0] == pytest.approx(-25 / 255)


@pytest.mark.parametrize(("args", "message"), [
    (["--label", "giraffe"], "unknown label 'giraffe'"),
    (["--label", "3", "--eps", "-2:2:0.5"], "larger than the whole pixel range"),
    (["--label", "3", "--eps", "0.1:0:0.01"], "must go up"),
])
def test_bad_settings_fail_on_one_line(seven: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      args: list[str], message: str) -> None:
    try:
        status = main(["sweep", str(seven), "--out", str(tmp_path / "o"), *args])
    except SystemExit as exit_:  # argparse type errors: usage error, status 2
        status = int(exit_.code or 0)
    assert status in (1, 2)
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1], err
    assert not (tmp_path / "o").exists()


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["sweep", "--help"])
    assert done.value.code == 0
    stdout = capsys.readouterr().out
    assert "examples:" in stdout and "--label" in stdout and "towards the label" in stdout
