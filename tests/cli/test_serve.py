"""``camo serve`` through its entry point: --help, a real start on a free port, and a clean shutdown."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from camo.cli import main
from tests.serve.conftest import astronaut_face, png_bytes

REPO = Path(__file__).resolve().parents[2]


def test_help_explains_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["serve", "--help"])
    assert caught.value.code == 0
    text = capsys.readouterr().out
    assert "camo serve --open" in text and "127.0.0.1" in text and "429" in text


def test_serves_then_deletes_everything_on_ctrl_c(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp_path),
           "COLUMNS": "200"}
    server = subprocess.Popen([sys.executable, "-m", "camo.cli", "serve", "--port", "0", "--quiet"], env=env,
                              stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        assert server.stderr is not None
        line = server.stderr.readline()  # printed once the socket listens: requests wait in its backlog
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert found, line
        url = found.group(0)
        with httpx.Client(base_url=url, timeout=120) as http:
            assert http.get("/api/health").json()["status"] == "ok"
            assert http.get("/api/health", headers={"host": "evil.example"}).status_code == 400
            assert len(list(tmp_path.glob("camo-serve-*"))) == 1  # its private folder, under TMPDIR
            job = http.post("/api/cloak/jobs", files={"photos": ("me.png", png_bytes(astronaut_face()))},
                            data={"preset": "high"}).json()
            with http.stream("GET", job["events"]) as stream:  # a page still following a running job...
                assert next(stream.iter_lines()).startswith("data:")
                server.send_signal(signal.SIGINT)  # ...does not keep the server from stopping
                code = server.wait(timeout=60)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            code = server.wait(timeout=60)
        if server.stderr is not None:
            server.stderr.close()
    assert code == 0
    assert list(tmp_path.glob("camo-serve-*")) == []


def test_a_busy_port_is_one_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 1
    assert "error: cannot listen on 127.0.0.1" in capsys.readouterr().err


def test_a_network_wide_bind_needs_allow_host(capsys: pytest.CaptureFixture[str]) -> None:
    """The server has no login: listening beyond this machine must be asked for, not a typo away."""
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--allow-host" in err[0] and "no login" in err[0]
