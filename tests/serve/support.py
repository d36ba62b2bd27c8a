"""Helpers for the web app's tests: PNG chunk lists, crafted bombs, reading an event stream."""

from __future__ import annotations

import functools
import json
import struct
import zlib
from typing import Any

#: The only PNG chunks an image without metadata needs (PLTE for palettes; camo writes RGB or grey).
BARE_PNG_CHUNKS = {b"IHDR", b"IDAT", b"IEND"}


def png_chunks(data: bytes) -> list[bytes]:
    """The chunk types of a PNG file, in order."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    kinds, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kinds.append(data[at + 4 : at + 8])
        at += 12 + length
    return kinds


@functools.lru_cache(maxsize=4)
def bomb_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of width×height zeros: kilobytes on disk, width·height pixels once decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def sse_events(lines: Any) -> list[dict[str, Any]]:
    """The JSON events of a server-sent event stream (keep-alive comments skipped)."""
    return [json.loads(line[len("data:"):]) for line in lines if line.startswith("data:")]
