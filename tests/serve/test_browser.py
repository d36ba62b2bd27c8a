"""The page in a real browser: Debian's chromium driven by Playwright against uvicorn on a free local port.

Uploads two face photos (one JPEG carrying EXIF, one PNG), waits for the verdicts, moves the before/after slider,
downloads the zip and checks it holds the cloaked PNGs without metadata; then runs one attack in the lab.
Skips, saying why, without /usr/bin/chromium (Debian package ``chromium``) or the ``playwright`` package.
Set CAMO_SCREENSHOTS=DIR to keep the screenshots of both pages.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.serve.conftest import astronaut_face, hopper_face, live_server
from tests.serve.support import BARE_PNG_CHUNKS, png_chunks

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 180_000  # the cloak of two small photos takes seconds; a loaded machine may take far longer


@pytest.fixture(scope="module")
def browser() -> Any:
    if not CHROMIUM.exists():
        pytest.skip(f"needs {CHROMIUM} (Debian package chromium; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="needs the playwright package (pip install playwright)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield launched
        finally:
            launched.close()


def _photos(folder: Path) -> tuple[Path, Path]:
    jpeg = folder / "astronaut with gps.jpg"
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"     # Make
    exif[0x0131] = "where-i-live"  # Software
    Image.fromarray(astronaut_face()).save(jpeg, format="JPEG", quality=95, exif=exif.tobytes())
    png = folder / "hopper.png"
    Image.fromarray(hopper_face()).save(png)
    return jpeg, png


def _shots() -> Path | None:
    folder = os.environ.get("CAMO_SCREENSHOTS")
    return Path(folder) if folder else None


def test_cloak_two_photos_and_run_the_lab_in_chromium(browser: Any, tmp_path: Path) -> None:
    jpeg, png = _photos(tmp_path)
    shots = _shots()
    (tmp_path / "server").mkdir()
    with live_server(tmp_path / "server") as url:
        context = browser.new_context(accept_downloads=True, viewport={"width": 1200, "height": 1000})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(url + "/")
        page.wait_for_selector("body[data-ready='true']")
        # -- cloak two photos -----------------------------------------------------------------------------------
        page.set_input_files("#photos", [str(jpeg), str(png)])
        assert "2 photo(s)" in page.inner_text("#chosen")
        page.select_option("#preset", "low")
        page.uncheck("#ensure")
        page.click("#cloak-go")
        page.wait_for_selector("#job[data-state]", timeout=TIMEOUT_MS)
        assert page.get_attribute("#job", "data-state") == "done", page.inner_text("#job-status")
        cards = page.locator("article.photo")
        assert cards.count() == 2
        assert cards.nth(0).locator("h2").inner_text() == "astronaut_with_gps"
        for i in range(2):
            verdicts = cards.nth(i).locator("li.verdict")
            assert verdicts.count() >= 1 and "dlib" in verdicts.first.inner_text()
            assert "SSIM" in cards.nth(i).locator(".ssim").inner_text()
            for img in cards.nth(i).locator("img").all():  # before, after, perturbation: each loads and decodes
                assert img.evaluate("e => e.decode().then(() => e.naturalWidth)") > 0, img.get_attribute("src")
        status = page.inner_text("#job-status")
        assert status.startswith("Done:") and "of 2 photos protected" in status
        # -- the slider moves the boundary between before and after ---------------------------------------------
        before = cards.nth(0).locator("img.before")
        assert before.evaluate("e => e.style.clipPath") == "inset(0px 50% 0px 0px)"
        cards.nth(0).locator("input.slider").fill("20")
        assert before.evaluate("e => e.style.clipPath") == "inset(0px 80% 0px 0px)"
        if shots:
            page.screenshot(path=str(shots / "web-cloak.png"), full_page=True)
        # -- the zip: the two cloaked PNGs, full size, without metadata -----------------------------------------
        with page.expect_download() as caught:
            page.click("#zip-link")
        archive_path = tmp_path / "download.zip"
        caught.value.save_as(archive_path)
        with zipfile.ZipFile(archive_path) as archive:
            assert archive.namelist() == ["astronaut_with_gps.cloaked.png", "hopper.cloaked.png"]
            for name, source in zip(archive.namelist(), (astronaut_face(), hopper_face()), strict=True):
                data = archive.read(name)
                assert set(png_chunks(data)) <= BARE_PNG_CHUNKS, name
                assert b"SecretCam" not in data and b"where-i-live" not in data
                pixels = np.asarray(Image.open(io.BytesIO(data)))
                assert pixels.shape == source.shape
        # -- the attack lab -------------------------------------------------------------------------------------
        page.click("#tab-lab")
        page.select_option("#lab-method", "fgsm")
        page.fill("#lab-eps", "0.3")
        page.click("#lab-go")
        page.wait_for_selector("#lab-out:not([hidden])", timeout=TIMEOUT_MS)
        assert page.inner_text("#lab-orig") == "7"
        assert page.inner_text("#lab-saved") in {str(d) for d in range(10)}
        for selector in ("#lab-figure", "#lab-sweep"):  # (the page's CSP forbids eval: no wait_for_function)
            assert page.locator(selector).evaluate("e => e.decode().then(() => e.naturalWidth)") > 400
        assert "towards" in page.inner_text("#lab-sweep-caption")
        if shots:
            page.screenshot(path=str(shots / "web-lab.png"), full_page=True)
        context.close()
        assert errors == []
