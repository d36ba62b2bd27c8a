"""The HTML report: one self-contained file whose embedded figures are valid images; rendered by Chromium if any."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image

import camo
from camo.analysis.best_eps import best_eps
from camo.analysis.evaluate import evaluate
from camo.analysis.grid import grid
from camo.analysis.report import load_result, report_html, write_report
from camo.analysis.sweep import sweep
from camo.eps_grid import eps_range
from camo.errors import InputError
from tests.support import read_mnist_test

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def results(mnist_model: camo.Classifier) -> list[object]:
    x, y = read_mnist_test()
    return [
        sweep(mnist_model, x[:1], 3, eps_range(-0.3, 0.3, 0.05), source="seven.png"),
        best_eps(mnist_model, x[:1], 3, eps_max=0.3, step_size=0.02, source="seven.png"),
        evaluate(mnist_model, x[:40], y[:40], (0.0, 0.1, 0.2), ["fgsm"], data="first 40"),
        grid(mnist_model, x[:1], 0.2, source="seven.png"),
    ]


def test_page_is_self_contained_with_valid_embedded_pngs(results: list[object]) -> None:
    page = report_html(results, title="digit <7> & friends")
    assert page.startswith("<!doctype html>") and "digit &lt;7&gt; &amp; friends" in page
    sources = re.findall(r"""(?:src|href)=['"]([^'"]*)['"]""", page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources), sources
    assert "<script" not in page and "url(" not in page and "@import" not in page
    # one figure per sweep / best-ε / grid, two for the evaluation (accuracy + confusion)
    assert len(sources) == 5
    for src in sources:
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as img:
            img.verify()
    for heading in ("Sweep:", "Best ε:", "Robustness:", "Grid:"):
        assert heading in page
    assert "ε &lt; 0 moves towards L" in page  # the sign convention is stated


def test_json_files_round_trip_into_the_same_page(results: list[object], tmp_path: Path) -> None:
    paths = []
    for i, r in enumerate(results):
        path = tmp_path / f"{i}.json"
        path.write_text(json.dumps(r.to_dict()))  # type: ignore[attr-defined]
        paths.append(path)
    loaded = [load_result(p) for p in paths]
    assert loaded == results  # equal result objects draw equal pages: figures read only these


def test_bad_result_files(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "other.json").write_text('{"kind": "poem"}')
    with pytest.raises(InputError, match="not a JSON file"):
        load_result(tmp_path / "bad.json")
    with pytest.raises(InputError, match="'poem'"):
        load_result(tmp_path / "other.json")
    with pytest.raises(InputError, match="no such file"):
        load_result(tmp_path / "missing.json")
    with pytest.raises(InputError, match="at least one"):
        report_html([])


def test_renders_in_headless_chromium(results: list[object], tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"needs {CHROMIUM} (Debian package chromium) to render the report")
    page = write_report(results, tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    done = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         f"--screenshot={shot}", "--window-size=1200,2000", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert shot.exists(), done.stderr[-2000:]
    with Image.open(shot) as img:
        assert img.size == (1200, 2000)
        grey = img.convert("L")
        # Rendered content, not a blank page: plenty of non-white pixels, and the embedded figures drew.
        dark = sum(grey.histogram()[:200])
        assert dark > 0.02 * 1200 * 2000
