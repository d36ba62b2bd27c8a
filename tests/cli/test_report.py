"""``camo report`` through the entry point: result files in, one self-contained page out."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from camo.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


def test_evaluate_table_then_report_from_its_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--data", "mnist", "--eps", "0,0.1", "--limit", "20", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    err = " ".join(captured.err.split())  # rich wraps lines at the terminal width
    assert captured.out == "" and "clean accuracy" in err and "fgsm │ 0.1" in err
    page = tmp_path / "page.html"
    assert main(["report", str(tmp_path / "evaluation.json"), "--out", str(page), "--title", "robust?",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"report": str(page), "sections": 1}
    text = page.read_text()
    assert "<title>robust?</title>" in text
    assert all(s.startswith("data:") for s in re.findall(r"src='([^']*)'", text))


def test_refuses_bad_files_and_its_own_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "poem"}')
    assert main(["report", str(bad), "--out", str(tmp_path / "p.html")]) == 1
    assert "'poem'" in capsys.readouterr().err
    assert main(["report", str(bad), "--out", str(bad)]) == 1
    assert "refusing to overwrite an input" in capsys.readouterr().err
    assert bad.read_text() == '{"kind": "poem"}'


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["report", "--help"])
    assert done.value.code == 0
    stdout = capsys.readouterr().out
    assert "examples:" in stdout
