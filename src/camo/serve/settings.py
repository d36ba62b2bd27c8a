"""What the web app allows: the bound address, upload caps, queue bounds and how long results are kept."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from camo.errors import InputError

#: Host names that always mean "this machine": a DNS-rebinding page cannot make a browser send them for its site.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ServeSettings:
    """Limits of one running server. Sizes in bytes, times in seconds.

    Attributes:
        host, port: the address the server binds (127.0.0.1 by default: reachable from this machine only).
        allowed_hosts: Host header names accepted besides ``host`` (and the loopback names when ``host`` is
            loopback); any other Host is refused, so a DNS-rebinding page cannot reach the API.
        max_request_bytes: largest request body (all photos of a batch together).
        max_file_bytes: largest single uploaded file.
        max_files: most photos in one batch.
        max_pixels: largest photo, in pixels (decompression-bomb guard, checked on the header before decoding).
        queue_size: cloak jobs that may wait; one more is answered "busy, retry" (HTTP 429).
        workers: cloak jobs run at once (one suits a 2-core machine: torch already uses the cores).
        lab_slots: attack-lab runs at once; more at the same time are answered 429.
        keep_seconds: a finished job's files are deleted this long after it ended (and all on shutdown).
        max_jobs: jobs kept at once; the oldest finished one is deleted to make room.
        root: the folder under which the private temporary folder is made (default: the system's).
        preview_side: longest side of the before/after previews shown on the page (downloads are full size).
    """

    host: str = "127.0.0.1"
    port: int = 8000
    allowed_hosts: tuple[str, ...] = ()
    max_request_bytes: int = 200 * 2**20
    max_file_bytes: int = 30 * 2**20
    max_files: int = 50
    max_pixels: int = 40_000_000
    queue_size: int = 4
    workers: int = 1
    lab_slots: int = 1
    keep_seconds: float = 3600.0
    max_jobs: int = 64
    root: Path | None = None
    preview_side: int = 1024

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise InputError(f"port must be in 0..65535; got {self.port}")
        for name in ("max_request_bytes", "max_file_bytes", "max_files", "max_pixels", "queue_size", "workers",
                     "lab_slots", "max_jobs", "preview_side"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1; got {getattr(self, name)}")
        if not self.keep_seconds > 0:
            raise InputError(f"keep_seconds must be > 0; got {self.keep_seconds}")

    @property
    def loopback(self) -> bool:
        """Whether the server is reachable from this machine only."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def host_names(self) -> frozenset[str]:
        """Host header names (without port, lower case) the server answers to."""
        names = {self.host.lower(), *(h.lower() for h in self.allowed_hosts)}
        if self.loopback or self.host in ("0.0.0.0", "::"):  # a wildcard bind listens on loopback too
            names.update(LOOPBACK_NAMES)
        return frozenset(names)
