"""``camo grid`` through the entry point."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from camo.cli import main
from tests.support import read_mnist_test

pytestmark = pytest.mark.usefixtures("one_thread")


def test_grid_writes_figure_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x, _ = read_mnist_test()
    seven = tmp_path / "seven.png"
    Image.fromarray(np.round(x[0, 0].numpy() * 255).astype(np.uint8)).save(seven)
    assert main(["grid", str(seven), "--eps", "0.3", "--out", str(tmp_path / "o"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["original_name"] == "7" and len(data["cells"]) == 9
    with Image.open(tmp_path / "o" / "seven.grid.png") as img:
        assert img.format == "PNG" and img.size[0] > 1000
    assert json.loads((tmp_path / "o" / "seven.grid.json").read_text()) == data


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["grid", "--help"])
    assert done.value.code == 0
    stdout = capsys.readouterr().out
    assert "examples:" in stdout and "--top-k" in stdout
