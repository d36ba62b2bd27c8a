"""Writing H.264 MP4s without metadata, atomically (temporary name, renamed at the end), and decoding them again."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from camo import images

log = logging.getLogger("camo")


def even_sides(arr: np.ndarray) -> np.ndarray:
    """H.264 4:2:0 needs even sides: repeat the last row / column when a side is odd."""
    pad_h, pad_w = arr.shape[0] % 2, arr.shape[1] % 2
    return np.pad(arr, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge") if pad_h or pad_w else arr


_START_CODE = re.compile(b"\x00\x00\x01")


def _without_sei(packet: Any) -> Any:
    """The packet without SEI units (H.264 NAL type 6): x264 writes its version and every setting into one.

    Packets from libx264 are Annex B (units after 00 00 01 start codes; the payload never holds that sequence).
    """
    import av

    data = bytes(packet)
    starts = [m.end() for m in _START_CODE.finditer(data)]
    units = [data[begin : (starts[i + 1] - 3 if i + 1 < len(starts) else len(data))].rstrip(b"\x00")
             for i, begin in enumerate(starts)]
    if not any(unit and unit[0] & 0x1F == 6 for unit in units):
        return packet
    kept = b"".join(b"\x00\x00\x00\x01" + unit for unit in units if unit and unit[0] & 0x1F != 6)
    clean = av.Packet(kept)
    clean.pts, clean.dts, clean.time_base, clean.stream = packet.pts, packet.dts, packet.time_base, packet.stream
    clean.is_keyframe = packet.is_keyframe
    return clean


class Mp4Writer:
    """H.264 MP4 written under a temporary name, renamed into place by :meth:`finish`, deleted by :meth:`abort`.

    No metadata: no encoder tags in the container (bitexact) and x264's settings SEI removed from the stream; the
    input's tags (title, location, creation time) are never copied.
    """

    def __init__(self, path: Path, *, width: int, height: int, fps: Fraction, crf: int, preset: str = "medium") \
            -> None:
        import av

        self.path = path
        self.temporary = path.with_name(f".{path.name}.partial.mp4")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self.container = av.open(str(self.temporary), "w", format="mp4",
                                 options={"fflags": "+bitexact", "movflags": "+faststart"})
        try:
            stream = self.container.add_stream("libx264", rate=fps, options={"crf": str(crf), "preset": preset})
            stream.width, stream.height, stream.pix_fmt = width + width % 2, height + height % 2, "yuv420p"
            stream.codec_context.time_base = Fraction(1) / fps
            self.stream = stream
        except BaseException:
            self.abort()
            raise

    def _mux(self, packets: Sequence[Any]) -> None:
        for packet in packets:
            self.container.mux(_without_sei(packet))

    def write(self, arr: np.ndarray) -> None:
        import av

        frame = av.VideoFrame.from_ndarray(even_sides(arr), format="rgb24")
        frame.pts = self.count
        frame.time_base = self.stream.codec_context.time_base
        self.count += 1
        self._mux(self.stream.encode(frame))

    def close(self) -> None:
        """Flush the encoder and close the temporary file (still under its temporary name)."""
        self._mux(self.stream.encode(None))
        self.container.close()

    def finish(self) -> Path:
        os.chmod(self.temporary, 0o666 & ~images._umask())
        os.replace(self.temporary, self.path)
        return self.path

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:  # already closed or broken: the file is being thrown away either way
            log.debug("closing %s while aborting failed", self.temporary, exc_info=True)
        self.temporary.unlink(missing_ok=True)


def decode_file(path: Path, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Frames of a video camo wrote, cropped back to ``size`` (height, width) where it padded odd sides."""
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")[: size[0], : size[1]]
