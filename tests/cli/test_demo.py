"""``camo demo``: runs on built-in data only and writes a gallery whose figures exist and whose claims hold."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from camo.cli import main


def test_demo_writes_a_gallery(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--json"]) == 0
    index = Path(json.loads(capsys.readouterr().out)["index"])
    assert index == out / "index.html"
    page = index.read_text()
    figures = re.findall(r"<img src='([^']+)'", page)
    assert len(figures) >= 20
    for rel in figures:
        with Image.open(out / rel) as img:
            img.verify()
    # The headline claims: the targeted MNIST section hits 3 on every saved file, and the ImageNet hen section works.
    targeted = json.loads((out / "mnist-targeted" / "results.json").read_text())["results"]
    assert all(r["saved"]["label"] == "3" for r in targeted)
    hen = json.loads((out / "imagenet-hen" / "results.json").read_text())["results"]
    assert all(r["saved"]["label"] == "hen" for r in hen), [r["saved"] for r in hen]
