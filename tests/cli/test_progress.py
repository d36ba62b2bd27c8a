"""Progress of long commands when stderr is a log, not a terminal (issue 20, part 3): a start line, periodic plain
lines, a closing line, through the same helper for every command."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from camo.cli import main
from camo.commands.progress import PlainProgress, format_duration, interval_from_environment, progress_bar

pytestmark = pytest.mark.usefixtures("one_thread")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_start_every_interval_and_end() -> None:
    stream, clock = io.StringIO(), FakeClock()
    plain = PlainProgress("evaluate fgsm on 10000 images", stream=stream, interval=15, unit="images", clock=clock)
    plain.start()
    plain.update(10, 1000)  # within the interval: no line
    assert stream.getvalue().splitlines() == ["evaluate fgsm on 10000 images: started"]
    clock.now += 16
    plain.update(250, 1000)
    clock.now += 5
    plain.tick(clock())  # a beat 5 s after the last line: nothing
    clock.now += 15
    plain.tick(clock())  # a beat with no new count still prints: the work is alive
    clock.now += 3600
    plain.finish()
    lines = stream.getvalue().splitlines()
    assert lines[1] == "evaluate fgsm on 10000 images: 250/1000 images (25%), 16 s elapsed, about 48 s left"
    assert lines[2].startswith("evaluate fgsm on 10000 images: 250/1000 images (25%), 36 s elapsed")
    assert lines[3] == "evaluate fgsm on 10000 images: done in 1 h 00 min"
    assert len(lines) == 4


def test_plain_lines_without_a_count_or_total() -> None:
    stream, clock = io.StringIO(), FakeClock()
    plain = PlainProgress("faces: 3 photos", stream=stream, interval=10, clock=clock)
    plain.start()
    plain.start()  # once only
    clock.now += 12
    plain.tick(clock())
    plain.update(4, None, "p 0.50")
    assert stream.getvalue().splitlines() == ["faces: 3 photos: started", "faces: 3 photos: working, 12 s elapsed"]
    clock.now += 10
    plain.describe("faces: encoding")  # a new stage is shown at once
    assert stream.getvalue().splitlines()[-1] == "faces: encoding: 4 done, p 0.50, 22 s elapsed"


def test_durations_and_interval_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert [format_duration(s) for s in (0.4, 59, 61, 3599, 3661)] == \
        ["0 s", "59 s", "1 min 01 s", "59 min 59 s", "1 h 01 min"]
    for text, expected in (("2.5", 2.5), ("0", 0.0), ("-1", 15.0), ("soon", 15.0), ("nan", 15.0)):
        monkeypatch.setenv("CAMO_PROGRESS_SECONDS", text)
        assert interval_from_environment() == expected


def test_the_helper_prints_plain_lines_into_a_file_and_nothing_when_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMO_PROGRESS_SECONDS", "0")
    log = io.StringIO()  # not a terminal
    with progress_bar("work", disable=False, unit="steps", stream=log) as update:
        update(1, 2)
        update(2, 2)
    lines = log.getvalue().splitlines()
    assert lines[0] == "work: started" and lines[1].startswith("work: 1/2 steps (50%)")
    assert lines[2].startswith("work: 2/2 steps (100%)") and lines[-1].startswith("work: done in")
    quiet = io.StringIO()
    with progress_bar("work", disable=True, stream=quiet) as update:
        update(1, 2)
    assert quiet.getvalue() == ""
    failed = io.StringIO()
    with pytest.raises(RuntimeError), progress_bar("work", disable=False, stream=failed):
        raise RuntimeError("stopped")
    assert failed.getvalue() == ""  # a setting refused at once stays one error line; no claim of success


def test_the_start_line_waits_for_a_count() -> None:
    stream, clock = io.StringIO(), FakeClock()
    plain = PlainProgress("work", stream=stream, interval=15, clock=clock)
    plain.finish()  # work with no count and no beat still gets its start and closing lines
    assert stream.getvalue().splitlines() == ["work: started", "work: done in 0 s"]


@pytest.fixture
def every_update(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMO_PROGRESS_SECONDS", "0")  # a line per update, no timer: deterministic


@pytest.mark.usefixtures("every_update")
def test_grid_shows_progress_in_a_log(seven: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grid", str(seven), "--eps", "0.2", "--method", "pgd", "--steps", "2",
                 "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "grid: seven.png towards every class, pgd ε = 51/255: started" in err
    assert "2/2 attack steps (100%)" in err and "grid: seven.png towards every class, pgd ε = 51/255: done in" in err


@pytest.mark.usefixtures("every_update")
def test_best_eps_shows_progress_in_a_log(seven: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["best-eps", str(seven), "--target", "3", "--method", "bim", "--steps", "2", "--max-eps", "0.3",
                 "--step", "0.05", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "best-eps: seven.png towards 3, bim up to ε = 76.5/255: started" in err
    assert "1 ε tried" in err and ": done in" in err


@pytest.mark.usefixtures("every_update")
def test_json_output_has_no_progress_lines(seven: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grid", str(seven), "--eps", "0.2", "--out", str(tmp_path), "--json"]) == 0
    assert "started" not in capsys.readouterr().err


@pytest.mark.usefixtures("every_update")
def test_evaluate_shows_progress_in_a_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--model", "mnist", "--data", "mnist", "--eps", "0,0.1", "--limit", "8",
                 "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "fgsm on 8 images: started" in err and "(100%)" in err and "fgsm on 8 images: done in" in err


@pytest.mark.usefixtures("every_update")
def test_patch_eval_and_its_bound_show_progress_in_a_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    Image.new("L", (6, 6), 255).save(tmp_path / "p.png")
    assert main(["patch", "eval", str(tmp_path / "p.png"), "--model", "mnist", "--target", "3", "--images", "mnist",
                 "--scales", "1", "--bound", "2", "--out", str(tmp_path / "e")]) == 0
    err = capsys.readouterr().err
    assert "patch eval: p.png on mnist held-out split: started" in err and "sizes and placements (100%)" in err
    assert "per-image bound: a patch for each of 2 images alone: started" in err
    assert "per-image bound: a patch for each of 2 images alone: done in" in err
