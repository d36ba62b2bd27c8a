"""Photo workers that misbehave on purpose, for the fault tests. Ray workers import this module by name."""

from __future__ import annotations

import os
import signal
import tempfile
from pathlib import Path
from typing import Any

from camo.face.cloak import CloakedPhoto
from camo.scale.photos import PhotoWorker


def marker(token: str) -> Path:
    """A file that outlives the worker process: it says the worker already died once for this token."""
    return Path(tempfile.gettempdir()) / f"camo-test-died-{token}"


class DiesOnce(PhotoWorker):
    """Kills its own process (SIGKILL, as the out-of-memory killer would) in the middle of the first task on a photo
    named ``kill-<token>...``; a restarted worker cloaks it normally."""

    def cloak_bytes(self, name: str, data: bytes, output_name: str, *,
                    keep_result: bool = True) -> tuple[dict[str, Any], CloakedPhoto | None, bytes | None]:
        if Path(name).name.startswith("kill-"):
            flag = marker(Path(name).stem.split("-")[1])
            if not flag.exists():
                flag.touch()
                os.kill(os.getpid(), signal.SIGKILL)
        return super().cloak_bytes(name, data, output_name, keep_result=keep_result)


class DiesAlways(PhotoWorker):
    """Kills its own process on every photo named ``crash...``: a photo that brings down any worker given it."""

    def cloak_bytes(self, name: str, data: bytes, output_name: str, *,
                    keep_result: bool = True) -> tuple[dict[str, Any], CloakedPhoto | None, bytes | None]:
        if Path(name).name.startswith("crash"):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().cloak_bytes(name, data, output_name, keep_result=keep_result)
