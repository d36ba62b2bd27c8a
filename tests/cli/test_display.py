"""Small things in output (issue 20, part 8): whole names in tables when stderr is a log, one ε convention."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from camo.cli import main
from camo.commands.display import format_eps, stderr_console

pytestmark = pytest.mark.usefixtures("one_thread")


def test_tables_keep_whole_names_in_a_log(seven: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")  # what a log on an 80-column default would cut to
    long_name = tmp_path / ("a_digit_photographed_on_a_long_afternoon_" * 3 + "seven.png")
    shutil.copy(seven, long_name)
    assert main(["classify", str(long_name), str(seven), "--model", "mnist"]) == 0
    err = capsys.readouterr().err
    assert str(long_name) in err and "…" not in err
    assert max(len(line) for line in err.splitlines()) > 80


def test_console_width_follows_the_terminal_only() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert stderr_console(io.StringIO()).width == 10_000
    assert stderr_console(Terminal()).width < 10_000


def test_one_eps_convention(seven: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert format_eps(8 / 255) == "8/255" and format_eps(0.3, decimal=True) == "76.5/255 (0.3)"
    assert main(["grid", str(seven), "--eps", "0.3", "--out", str(tmp_path)]) == 0
    assert "ε = 76.5/255" in capsys.readouterr().err
    assert main(["best-eps", str(seven), "--target", "3", "--max-eps", "0.5", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "ε ≤ 128/255" in err and "/255 (0." in err and "ε = 0." not in err
