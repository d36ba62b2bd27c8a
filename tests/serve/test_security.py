"""Safe by default: Host and Origin checks, caps, bombs, non-images, traversal, 100 concurrent requests."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.serve.conftest import live_server, png_bytes
from tests.serve.support import bomb_png


@pytest.mark.parametrize("host", ["evil.example:8000", "127.0.0.1.evil.example:8000", "127.0.0.1:8001",
                                  "localhost:9999", "", "127.0.0.1:80x", "[::1:8000"])
def test_foreign_host_headers_are_refused(client: Any, host: str) -> None:
    response = client.get("/api/health", headers={"host": host})
    assert response.status_code == 400 and "Host" in response.json()["error"]


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "[::1]:8000", "LOCALHOST:8000"])
def test_loopback_names_are_accepted(client: Any, host: str) -> None:
    assert client.get("/api/health", headers={"host": host}).status_code == 200


def test_other_sites_cannot_post(client: Any) -> None:
    data = {"model": "mnist", "eps": "-1"}  # would be a quick 400 if it got through
    for headers in ({"origin": "http://evil.example"}, {"origin": "null"},
                    {"origin": "http://127.0.0.1:8000", "sec-fetch-site": "cross-site"}):
        response = client.post("/api/lab/attack", data=data, headers=headers)
        assert response.status_code == 403, headers
    assert client.post("/api/lab/attack", data=data, headers={"origin": "http://127.0.0.1:8000"}).status_code == 400


def _post_photo(client: Any, data: bytes, name: str = "photo.png") -> Any:
    return client.post("/api/cloak/jobs", files=[("photos", (name, data, "image/png"))], data={"preset": "low"})


@pytest.mark.parametrize(("data", "status", "word"), [
    (b"x" * (2 * 2**20 + 1), 413, "limit"),                     # over the 2 MB per-file cap of the test client
    (bomb_png(3000, 3000), 413, "megapixels"),                   # 9 MP > the 4 MP cap
    (bomb_png(30000, 30000), 413, "bomb"),                       # 900 MP: refused on its header
    (b"#!/bin/sh\nrm -rf /\n", 415, "not a JPEG"),
    (png_bytes(np.full((32, 32, 3), 9, np.uint8))[:60], 400, "corrupt"),
])
def test_bad_uploads_get_a_clear_status_and_leave_nothing(client: Any, data: bytes, status: int, word: str) -> None:
    before = client.get("/api/health").json()["jobs"]
    response = _post_photo(client, data)
    assert response.status_code == status and word in response.json()["error"], response.text
    assert client.get("/api/health").json()["jobs"] == before
    store = next(client.root.glob("camo-serve-*"))
    assert [p for p in store.rglob("*") if p.is_file() and "evil" in p.name] == []


def test_oversized_request_is_refused_on_its_length(client: Any) -> None:
    response = client.post("/api/cloak/jobs", content=b"x" * 10,
                           headers={"content-length": str(10**12), "content-type": "multipart/form-data; boundary=a"})
    assert response.status_code == 413


def test_traversal_names_never_become_paths(client: Any) -> None:
    store = next(client.root.glob("camo-serve-*"))
    outside = client.root.parent
    before = {p for p in outside.rglob("*")}
    for name in ("../../../../evil.png", "/tmp/evil.png", "..\\..\\evil.png", "evil\x00.png"):
        response = _post_photo(client, b"not an image at all", name=name)
        assert response.status_code == 415
        assert "evil" in response.json()["error"] and "/" not in response.json()["error"].split(":")[0]
    assert {p for p in outside.rglob("*")} == before  # nothing new anywhere, inside the store or out
    assert store.exists()
    for path in ("/static/..%2fapp.py", "/static/../../pyproject.toml", "/api/lab/images/..%2f..%2fetc"):
        assert client.get(path).status_code == 404, path


def test_a_hundred_concurrent_requests_on_a_real_server(tmp_path: Path) -> None:
    """100 requests at once against uvicorn: each gets its clear status; nothing lands outside the store."""
    bad = b"plain text, not a photo"
    with live_server(tmp_path) as url:
        def one(i: int) -> int:
            with httpx.Client(base_url=url, timeout=60) as http:
                if i % 4 == 0:
                    return http.get("/api/health", headers={"host": "evil.example"}).status_code
                if i % 4 == 1:
                    return http.post("/api/cloak/jobs", files={"photos": ("../x.png", bad)}).status_code
                if i % 4 == 2:
                    return http.get(f"/api/jobs/{i:032x}").status_code
                return http.get("/api/health").status_code

        with concurrent.futures.ThreadPoolExecutor(max_workers=100) as pool:
            statuses = list(pool.map(one, range(100)))
        with httpx.Client(base_url=url, timeout=60) as http:
            health = http.get("/api/health")
            assert health.status_code == 200 and health.json()["jobs"] == 0
        assert [statuses[i] for i in range(0, 100, 4)] == [400] * 25
        assert [statuses[i] for i in range(1, 100, 4)] == [415] * 25
        assert [statuses[i] for i in range(2, 100, 4)] == [404] * 25
        assert [statuses[i] for i in range(3, 100, 4)] == [200] * 25
        stores = list(tmp_path.glob("camo-serve-*"))
        assert len(stores) == 1 and [p for p in tmp_path.rglob("*") if p.is_file()] == []
    assert list(tmp_path.iterdir()) == []  # shut down: the private folder is gone
