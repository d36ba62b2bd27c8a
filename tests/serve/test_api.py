"""The JSON API through the ASGI test client: a cloak job end to end, the attack lab, and errors."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from tests.serve.conftest import astronaut_face, png_bytes
from tests.serve.support import BARE_PNG_CHUNKS, png_chunks, sse_events


def test_health_options_page_and_docs(client: Any) -> None:
    assert client.get("/api/health").json()["status"] == "ok"
    options = client.get("/api/options").json()
    assert set(options["presets"]) == {"low", "mid", "high"} and options["modes"] == ["dodge", "decoy"]
    # What the page's note on each preset reads: the look target, feature loss and dropout where the preset has them.
    low, mid = options["presets"]["low"]["dodge"], options["presets"]["mid"]["dodge"]
    assert low["min_ssim"] and low["features"] and low["dropout"] and low["margin"]
    assert mid["min_ssim"] is None and mid["features"] is None and mid["dropout"] is None and mid["margin"] is None
    assert {"mnist", "imagenet"} <= set(options["lab"]["models"]) and "fgsm" in options["lab"]["methods"]
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # nothing loaded from elsewhere (no CDN)
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    assert client.get("/favicon.ico").status_code == 204
    docs = client.get("/docs").text
    assert "/api/cloak/jobs" in docs and "/api/lab/attack" in docs and "cdn" not in docs.lower()


@pytest.fixture(scope="module")
def cloak_run(client: Any) -> dict[str, Any]:
    """One photo with a text chunk (metadata to strip) through a cloak job, followed live over SSE."""
    info = PngInfo()
    info.add_text("Location", "52.52N 13.40E, home")
    upload = png_bytes(astronaut_face(), pnginfo=info)
    response = client.post("/api/cloak/jobs", files=[("photos", ("../../secret dir/me.png", upload, "image/png"))],
                           data={"preset": "low", "ensure": "false"})
    assert response.status_code == 202, response.text
    job = response.json()
    with client.stream("GET", job["events"]) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = sse_events(stream.iter_lines())
    return {"job": job, "events": events, "upload": upload}


def test_cloak_job_events_arrive_in_order(cloak_run: dict[str, Any]) -> None:
    kinds = [e["type"] for e in cloak_run["events"]]
    assert kinds[:2] == ["queued", "running"] and kinds[-2:] == ["zip", "end"]
    assert kinds.count("photo") == 1 and kinds.index("photo") > kinds.index("progress")
    fractions = [e["fraction"] for e in cloak_run["events"] if e["type"] == "progress"]
    assert len(fractions) >= 6 and fractions == sorted(fractions) and 0 < fractions[-1] <= 1
    assert cloak_run["events"][-1]["state"] == "done"


def test_cloak_verdicts_are_per_recognizer_and_match_the_downloaded_file(client: Any,
                                                                        cloak_run: dict[str, Any]) -> None:
    from camo.face import Recognizer

    photo = next(e["photo"] for e in cloak_run["events"] if e["type"] == "photo")
    assert photo["name"] == "me" and photo["download"] == "me.cloaked.png" and photo["faces"] == 1
    verdicts = photo["recognizers"]
    assert verdicts and all({"recognizer", "protected", "distance", "threshold"} <= set(v) for v in verdicts)
    assert photo["protected"] == all(v["protected"] for v in verdicts)
    from camo.face.cloak import PRESETS

    assert 0.9 < photo["ssim"] <= 1 and 0.8 < photo["face_ssim"] <= 1
    assert 0 < photo["linf_255"] <= round(PRESETS["low"].eps * 255)  # the preset the job asked for
    cloaked = client.get(f"/api/jobs/{cloak_run['job']['id']}/files/0-cloaked?download=1")
    assert cloaked.headers["content-disposition"] == 'attachment; filename="me.cloaked.png"'
    # dlib's verdict, recomputed here on the downloaded file: the distance the page shows is that file's.
    original = astronaut_face()
    pixels = np.asarray(Image.open(io.BytesIO(cloaked.content)).convert("RGB"))
    recognizer = Recognizer()
    distance = float(np.linalg.norm(recognizer.dlib_descriptors(original)[0] - recognizer.dlib_descriptors(pixels)[0]))
    dlib = next(v for v in verdicts if v["recognizer"] == "dlib")
    assert abs(distance - dlib["distance"]) < 0.05


def test_cloak_downloads_are_bare_pngs_and_previews_show_the_saved_file(client: Any,
                                                                       cloak_run: dict[str, Any]) -> None:
    job_id = cloak_run["job"]["id"]
    state = client.get(f"/api/jobs/{job_id}").json()
    assert state["state"] == "done"
    assert set(state["files"]) == {"0-cloaked", "0-before", "0-after", "0-perturbation", "report", "zip"}
    files = {key: client.get(f"/api/jobs/{job_id}/files/{key}").content for key in state["files"]}
    original = astronaut_face()
    cloaked = np.asarray(Image.open(io.BytesIO(files["0-cloaked"])))
    assert cloaked.shape == original.shape
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(files["0-before"]))), original)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(files["0-after"]))), cloaked)
    perturbation = np.asarray(Image.open(io.BytesIO(files["0-perturbation"]))).astype(int)
    changed = np.any(cloaked != original, axis=2)
    assert np.all(perturbation[~changed] == 128) and np.abs(perturbation[changed] - 128).max() >= 100
    for key in ("0-cloaked", "0-before", "0-after", "0-perturbation"):
        assert set(png_chunks(files[key])) <= BARE_PNG_CHUNKS, key
    with zipfile.ZipFile(io.BytesIO(files["zip"])) as archive:
        assert archive.namelist() == ["me.cloaked.png"]
        assert archive.read("me.cloaked.png") == files["0-cloaked"]
        assert archive.getinfo("me.cloaked.png").date_time == (1980, 1, 1, 0, 0, 0)
    from camo.serve.app import REPORT_POLICY

    report_headers = client.get(f"/api/jobs/{job_id}/files/report").headers
    assert report_headers["content-security-policy"] == REPORT_POLICY  # embedded images and styles, nothing else
    report = files["report"].decode()
    assert "me.png" in report and ("protected" in report) and "secret" not in report
    assert "52.52N" not in report and b"52.52N" not in files["0-cloaked"]


def test_job_files_stay_inside_job_folders(client: Any, cloak_run: dict[str, Any]) -> None:
    store_roots = list(client.root.glob("camo-serve-*"))
    assert len(store_roots) == 1
    written = [p for p in client.root.rglob("*") if p.is_file()]
    assert (store_roots[0] / cloak_run["job"]["id"]).is_dir() and written
    for path in written:  # every file lies in some job's folder: <root>/camo-serve-*/<32 hex digits>/...
        parts = path.relative_to(store_roots[0]).parts
        assert len(parts) >= 2 and len(parts[0]) == 32 and int(parts[0], 16) >= 0, path
    assert not any("secret" in str(p) for p in client.root.rglob("*"))


def test_unknown_files_and_jobs_are_404(client: Any, cloak_run: dict[str, Any]) -> None:
    job_id = cloak_run["job"]["id"]
    assert client.get(f"/api/jobs/{job_id}/files/..%2f..%2fetc%2fpasswd").status_code == 404
    assert client.get(f"/api/jobs/{job_id}/files/0-nothing").status_code == 404
    assert client.get(f"/api/jobs/{'0' * 32}").status_code == 404
    assert client.get("/api/jobs/..%2f..%2fetc").status_code in (404, 422)


def test_cloak_job_settings_are_checked_before_any_work(client: Any) -> None:
    photo = ("photos", ("a.png", png_bytes(astronaut_face()), "image/png"))
    for data, word in (({"preset": "extreme"}, "preset"), ({"mode": "hide"}, "mode"), ({"ensure": "maybe"}, "true"),
                       ({"format": "gif"}, "format")):
        response = client.post("/api/cloak/jobs", files=[photo], data=data)
        assert response.status_code == 400 and word in response.json()["error"], (data, response.text)
    response = client.post("/api/cloak/jobs", data={"preset": "low"}, files=[("other", ("", b"", "image/png"))])
    assert response.status_code == 400 and "no photos" in response.json()["error"]
    assert client.get("/api/health").json()["jobs"] >= 1  # the earlier job; the refused ones left nothing behind


def test_lab_attack_labels_come_from_the_saved_file(client: Any, mnist_model: Any, tmp_path: Path) -> None:
    from camo import images
    from camo.attack_files import predict

    response = client.post("/api/lab/attack", data={"model": "mnist", "method": "fgsm", "eps": "0.3",
                                                    "image": "digit-7"})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["original"]["label"] == "7"
    assert result["success"] == (result["saved"]["index"] != result["original"]["index"])  # about the file
    assert result["in_memory_success"] == (result["adversarial"]["index"] != result["original"]["index"])
    adversarial = client.get(result["urls"]["adversarial"]).content
    assert set(png_chunks(adversarial)) <= BARE_PNG_CHUNKS
    path = tmp_path / "check.png"
    path.write_bytes(adversarial)
    assert predict(mnist_model, images.load(path, channels=1))[0].index == result["saved"]["index"]
    for key in ("figure", "sweep"):
        data = client.get(result["urls"][key]).content
        figure = Image.open(io.BytesIO(data))
        assert figure.format == "PNG" and figure.width > 400
        assert set(png_chunks(data)) <= BARE_PNG_CHUNKS | {b"pHYs"}  # matplotlib's dpi; no text, time or EXIF
    assert result["sweep"]["label"] == "7" and result["sweep"]["points"] == 41


def test_lab_uploaded_image_and_target(client: Any) -> None:
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:16] = 255  # a one
    response = client.post("/api/lab/attack", files=[("upload", ("my digit.txt", png_bytes(digit), "text/plain"))],
                           data={"model": "mnist", "method": "bim", "eps": "0.3", "target": "8", "steps": "10"})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["image"] == "my_digit" and result["target"] == "8" and result["sweep"]["label"] == "8"
    assert result["success"] == (result["saved"]["label"] == "8")
    assert result["in_memory_success"] == (result["adversarial"]["label"] == "8")


@pytest.mark.parametrize(("data", "word"), [
    ({"model": "mnist", "eps": "-0.1"}, "eps"), ({"model": "mnist", "eps": "lots"}, "ε"),
    ({"model": "mnist", "target": "cat"}, "cat"), ({"model": "vgg"}, "model"), ({"model": "mnist", "method": "cw"},
                                                                             "method"),
    ({"model": "mnist", "image": "../../etc/passwd"}, "bundled"), ({"model": "mnist", "steps": "1e9"}, "steps"),
])
def test_lab_errors_are_one_clear_400(client: Any, data: dict[str, str], word: str) -> None:
    response = client.post("/api/lab/attack", data=data)
    assert response.status_code == 400, response.text
    assert word in response.json()["error"]

