"""``camo evaluate`` through the entry point, on a slice of the MNIST test set."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

from camo.cli import main
from tests.support import SHARED_DATA, read_mnist_test

pytestmark = pytest.mark.usefixtures("one_thread")


def test_evaluate_mnist_test_slice(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    read_mnist_test()  # skips without the shared data
    monkeypatch.setenv("CAMO_DATA", str(SHARED_DATA / "classification" / "mnist_t10k"))
    out = tmp_path / "out"
    assert main(["evaluate", "--model", "mnist", "--data", "mnist-test", "--eps", "0:0.2:0.1",
                 "--method", "fgsm,bim", "--steps", "3", "--limit", "30", "--out", str(out), "--json",
                 "--report", str(tmp_path / "r.html")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["count"] == 30 and 0.9 <= data["clean_accuracy"] <= 1.0
    rows = {(r["method"], round(r["eps"], 6)): r for r in data["results"]}
    assert set(rows) == {(m, e) for m in ("fgsm", "bim") for e in (0.0, 0.1, 0.2)}
    assert rows[("fgsm", 0.0)]["accuracy"] == data["clean_accuracy"]
    assert rows[("fgsm", 0.2)]["success_rate"] > 0.2
    table = list(csv.DictReader((out / "evaluation.csv").read_text().splitlines()))
    assert [(r["method"], float(r["accuracy"])) for r in table] == \
        [(r["method"], pytest.approx(r["accuracy"], rel=1e-5)) for r in data["results"]]
    for name in ("accuracy.png", "confusion-fgsm.png", "confusion-bim.png"):
        with Image.open(out / name) as img:
            assert img.format == "PNG"
    assert (tmp_path / "r.html").read_text().count("data:image/png;base64,") == 3


@pytest.mark.parametrize(("args", "message"), [
    (["--data", "mnist-test"], "CAMO_DATA"),
    (["--data", "mnist", "--method", "fgsm,deepfool"], "unknown method"),
    (["--data", "mnist", "--eps", "-0.1,0.1"], "≥ 0"),
    (["--data", "/no/such/folder"], "not mnist, mnist-test or a folder"),
])
def test_bad_settings_fail_on_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch, args: list[str], message: str) -> None:
    monkeypatch.delenv("CAMO_DATA", raising=False)
    assert main(["evaluate", "--limit", "5", "--out", str(tmp_path / "o"), *args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "o").exists()


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["evaluate", "--help"])
    assert done.value.code == 0
    stdout = capsys.readouterr().out
    assert "examples:" in stdout and "mnist-test" in stdout and "CAMO_DATA" in stdout
