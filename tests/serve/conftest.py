"""Fixtures for the web app: small face photos, an in-process client, a real uvicorn server on a free port."""

from __future__ import annotations

import io
import socket
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.support import torch_threads

HOST = "127.0.0.1"


def png_bytes(pixels: np.ndarray, **info: Any) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", **info)
    return buffer.getvalue()


def astronaut_face() -> np.ndarray:
    """skimage's astronaut (public domain) cropped to her face: 210×210, one face dlib finds, cloaked in seconds."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[20:230, 120:330])


def hopper_face() -> np.ndarray:
    """matplotlib's Grace Hopper photo cropped around her face (a second person), 300×300."""
    import matplotlib.cbook

    from camo.images import to_rgb_uint8

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return np.ascontiguousarray(to_rgb_uint8(str(path))[90:390, 110:410])


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The app in process (lifespan run), with its private folder under a temporary folder of the test's own."""
    from fastapi.testclient import TestClient

    from camo.serve import ServeSettings, create_app

    root = tmp_path_factory.mktemp("serve-root")
    settings = ServeSettings(port=8000, root=root, max_file_bytes=2 * 2**20, max_pixels=4_000_000)
    with TestClient(create_app(settings), base_url=f"http://{HOST}:8000") as test_client:
        test_client.root = root  # type: ignore[attr-defined]
        yield test_client


@contextmanager
def live_server(root: Path, **limits: Any) -> Iterator[str]:
    """uvicorn serving the app in a thread on a free port of 127.0.0.1; always shut down (bounded) on exit.

    The socket is bound and listening before the server starts, so clients can connect at once: their requests
    wait in the backlog until uvicorn accepts them (no polling for readiness).
    """
    import uvicorn

    from camo.serve import ServeSettings, create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    sock.listen(256)
    port = sock.getsockname()[1]
    settings = ServeSettings(host=HOST, port=port, root=root, **limits)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="on",
                                           timeout_graceful_shutdown=3))

    def serve() -> None:
        with warnings.catch_warnings():  # the server's own thread: third-party deprecations are not ours to fail
            warnings.simplefilter("default")
            server.run(sockets=[sock])

    thread = threading.Thread(target=serve, name="uvicorn-test", daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()
        assert not thread.is_alive(), "the test server did not shut down within 60 s"
