"""The Cloak tab's job: verdicts read generically, decoy mode and JPEG output, photos without a face."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import numpy as np
import pytest
from PIL import Image

from camo.errors import InputError
from camo.serve.cloak_job import CloakOptions, amplified_perturbation, recognizer_verdicts
from tests.serve.conftest import astronaut_face, png_bytes
from tests.serve.support import sse_events


def test_a_single_verification_is_one_recognizers_verdict() -> None:
    single = {"protected": True, "verdict": "protected", "tolerance": 0.6, "min_distance": 0.71}
    assert recognizer_verdicts(single) == [
        {"recognizer": "dlib", "protected": True, "distance": 0.71, "threshold": 0.6, "verdict": "protected"}]
    assert recognizer_verdicts(None) == []


def test_per_recognizer_verdicts_are_read_as_given_list_or_mapping() -> None:
    listed = {"protected": False, "recognizers": [
        {"name": "dlib", "protected": True, "distance": 0.8, "threshold": 0.6},
        {"recognizer": "sface", "protected": False, "distance": 0.2, "threshold": 0.36, "verdict": "matched"}]}
    mapped = {"protected": False, "recognizers": {
        "dlib": {"protected": True, "distance": 0.8, "threshold": 0.6},
        "sface": {"protected": False, "min_distance": 0.2, "tolerance": 0.36, "verdict": "matched"}}}
    for verification in (listed, mapped):
        verdicts = recognizer_verdicts(verification)
        assert [(v["recognizer"], v["protected"], v["distance"], v["threshold"]) for v in verdicts] == [
            ("dlib", True, 0.8, 0.6), ("sface", False, 0.2, 0.36)]


def test_amplified_perturbation_is_grey_where_nothing_changed() -> None:
    original = np.full((4, 4, 3), 100, np.uint8)
    changed = original.copy()
    changed[1, 2] = (104, 96, 100)
    shown, gain = amplified_perturbation(original, changed)
    assert gain == pytest.approx(127 / 4)
    assert shown[1, 2].tolist() == [255, 1, 128] and np.all(np.delete(shown.reshape(-1, 3), 6, axis=0) == 128)


@pytest.mark.parametrize("options", [{"preset": "max"}, {"mode": "hide"}, {"image_format": "gif"},
                                     {"quality": 0}])
def test_options_are_checked(options: dict[str, Any]) -> None:
    with pytest.raises(InputError):
        CloakOptions(**options)


def test_decoy_jpeg_job_with_a_photo_without_a_face(client: Any) -> None:
    blank = np.full((64, 80, 3), 200, np.uint8)
    response = client.post("/api/cloak/jobs", files=[
        ("photos", ("face.png", png_bytes(astronaut_face()), "image/png")),
        ("photos", ("wall.png", png_bytes(blank), "image/png"))],
        data={"preset": "low", "mode": "decoy", "ensure": "false", "format": "jpeg"})
    assert response.status_code == 202, response.text
    with client.stream("GET", response.json()["events"]) as stream:
        events = sse_events(stream.iter_lines())
    assert events[-1]["state"] == "done"
    face, wall = (e["photo"] for e in events if e["type"] == "photo")
    assert face["status"] in ("protected", "not protected") and face["recognizers"]
    assert face["download"] == "face.cloaked.jpg"
    assert wall["status"] == "no face" and wall["files"] == []
    job_id = response.json()["id"]
    cloaked = client.get(f"/api/jobs/{job_id}/files/0-cloaked").content
    assert cloaked[:3] == b"\xff\xd8\xff" and b"Exif" not in cloaked
    assert Image.open(io.BytesIO(cloaked)).size == (210, 210)
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"/api/jobs/{job_id}/files/zip").content))
    assert archive.namelist() == ["face.cloaked.jpg"]
    assert client.delete(f"/api/jobs/{job_id}").json() == {"deleted": job_id}
    assert client.get(f"/api/jobs/{job_id}").status_code == 404
    assert not any(job_id in str(p) for p in client.root.rglob("*"))
