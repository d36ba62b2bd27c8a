"""The record of a photo job in its output folder: what is finished, so that a re-run does only the rest.

One JSON line per finished (or failed) photo, appended and flushed to disk as soon as the photo's output file is
atomically in place. A line is a complete record or, after a crash in the middle of writing it, a torn tail without
its newline, which loading drops (and cuts off the file). A photo counts as done when a line records it under the
same settings, its input still has the recorded SHA-256 and its output file still has the recorded SHA-256: a
changed input, a changed setting or a deleted or edited output means the photo is done again (atomically, with the
same result, since every photo is seeded on its own).

Hashing every photo of a large library on every re-run would cost minutes, so a file whose size and modification
time match the record keeps its recorded hash (what make and rsync trust too).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from camo.errors import InputError

__all__ = ["MANIFEST_NAME", "FileDigest", "Manifest", "digest"]

#: The manifest's file name inside the output folder.
MANIFEST_NAME = "camo-manifest.jsonl"

_VERSION = 1


@dataclass(frozen=True)
class FileDigest:
    """A file's SHA-256 and the (size, mtime_ns) it had when hashed."""

    sha256: str
    size: int
    mtime_ns: int

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size, "mtime_ns": self.mtime_ns}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileDigest:
        return cls(sha256=str(data["sha256"]), size=int(data["size"]), mtime_ns=int(data["mtime_ns"]))


def digest(path: Path, known: FileDigest | None = None) -> FileDigest:
    """The file's digest; ``known`` is reused without reading the file when its size and mtime still match."""
    stat = path.stat()
    if known is not None and (known.size, known.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
        return known
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return FileDigest(sha256=sha.hexdigest(), size=stat.st_size, mtime_ns=stat.st_mtime_ns)


class Manifest:
    """The append-only record of a job in ``folder`` (see the module docstring). Open it with ``with``: it holds an
    exclusive lock on the file, so two runs into one folder cannot interleave.

    Args:
        folder: the job's output folder (created if missing).

    Raises:
        InputError: another camo run holds the folder, or a line before the last is not a record.
    """

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / MANIFEST_NAME
        self._entries: dict[str, dict[str, Any]] = {}
        self._fd: int | None = None

    def __enter__(self) -> Manifest:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InputError(f"{self.path.parent}: another camo run is writing into this folder; wait for it or "
                             "choose another --out") from None
        self._fd = fd
        try:
            self._load()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None

    def _load(self) -> None:
        assert self._fd is not None
        data = self.path.read_bytes()
        complete = data.rfind(b"\n") + 1
        if complete < len(data):
            # A record torn by a crash while it was written: its photo is simply not done.
            os.ftruncate(self._fd, complete)
        for number, line in enumerate(data[:complete].splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                key = entry["key"]
            except (ValueError, KeyError, TypeError):
                raise InputError(f"{self.path}: line {number} is not a camo manifest record; move the file away "
                                 "to start the job afresh") from None
            self._entries[key] = entry  # a later line about the same photo replaces an earlier one

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> dict[str, Any] | None:
        """The latest record under ``key``, or None."""
        return self._entries.get(key)

    def append(self, entry: dict[str, Any]) -> None:
        """Record one photo: one line, written with a single call, flushed to disk before returning.

        Raises:
            InputError: the entry has no ``key``.
        """
        if self._fd is None:
            raise RuntimeError("the manifest is not open (use it in a with block)")
        if "key" not in entry:
            raise InputError("a manifest record needs a key")
        line = json.dumps({"v": _VERSION, **entry}, separators=(",", ":"), allow_nan=False).encode() + b"\n"
        written = os.write(self._fd, line)
        if written != len(line):
            raise OSError(f"{self.path}: short write ({written} of {len(line)} bytes)")
        os.fsync(self._fd)
        self._entries[entry["key"]] = {"v": _VERSION, **entry}
