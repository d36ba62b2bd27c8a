"""Receiving uploads safely: multipart bodies streamed straight into a job's private folder, under size caps, and
each file's type judged from its content (never its name) before any pixel is decoded.

Nothing a client sends becomes a path: files are stored as ``<folder>/<index>/<clean name>`` where the index is a
counter and the clean name keeps only letters, digits, ``-`` and ``_`` of the upload's stem, plus the suffix of
the type found in the content. ``../``, absolute paths and odd characters in a name are therefore harmless.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import parse_qsl

from PIL import Image, UnidentifiedImageError
from python_multipart.multipart import MultipartParser, parse_options_header

from camo.errors import ImageError
from camo.images import open_image
from camo.serve.rejected import Rejected

#: Image types accepted from the web, by the first bytes of the file, with the suffix they are stored under.
KINDS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}

#: Largest text field of a form (settings such as ``preset``): nothing legitimate comes close.
MAX_FIELD_BYTES = 4096


def sniff(head: bytes) -> str | None:
    """The image type of a file from its first 12 bytes (``png``, ``jpeg``, ``webp``), or None for anything else."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def clean_stem(name: str, *, fallback: str = "photo", limit: int = 60) -> str:
    """A file name stem safe to show and to use in a download name: the last path component of ``name``, without
    its suffix, reduced to ASCII letters, digits, ``-`` and ``_``.

    ``"../../etc/passwd"`` -> ``"passwd"``; ``"C:\\x\\ma photo.jpg"`` -> ``"ma_photo"``; ``""`` -> ``fallback``.
    """
    last = re.split(r"[\\/]", name)[-1]
    stem = last.rsplit(".", 1)[0] if "." in last.strip(".") else last
    ascii_only = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", ascii_only).strip("_-")[:limit]
    return cleaned or fallback


@dataclass
class Upload:
    """One uploaded file, stored in the job's folder.

    Attributes:
        index: its position among the request's files (from 0).
        name: the client's file name, as given (for messages only; never used as a path).
        path: where it is stored; its name is the clean stem plus the suffix of the type found in the content.
        size: bytes.
        kind: ``png``, ``jpeg`` or ``webp`` once checked (see :func:`check_image`).
    """

    index: int
    name: str
    path: Path
    size: int = 0
    kind: str | None = None

    @property
    def stem(self) -> str:
        return clean_stem(self.name)


@dataclass
class Form:
    """A parsed multipart form: text fields and uploaded files."""

    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, list[Upload]] = field(default_factory=dict)

    def text(self, name: str, default: str) -> str:
        return self.fields.get(name, default).strip()


class _Reader:
    """Callbacks for python-multipart's streaming parser that write file parts into ``folder`` under caps."""

    def __init__(self, folder: Path, *, max_file_bytes: int, max_files: int) -> None:
        self.folder, self.max_file_bytes, self.max_files = folder, max_file_bytes, max_files
        self.form = Form()
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._field = ""
        self._upload: Upload | None = None
        self._handle: IO[bytes] | None = None
        self._text = bytearray()
        self._count = 0

    def callbacks(self) -> dict[str, object]:
        return {"on_part_begin": self.part_begin, "on_header_field": self.header_field,
                "on_header_value": self.header_value, "on_header_end": self.header_end,
                "on_headers_finished": self.headers_finished, "on_part_data": self.part_data,
                "on_part_end": self.part_end}

    def part_begin(self) -> None:
        self._headers, self._upload, self._text = {}, None, bytearray()

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name, self._header_value = b"", b""

    def headers_finished(self) -> None:
        disposition, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in params:
            raise Rejected(400, "each part of the form needs a Content-Disposition: form-data header with a name")
        self._field = params[b"name"].decode("utf-8", "replace")
        if b"filename" not in params:
            return
        filename = params[b"filename"].decode("utf-8", "replace")
        if self._count >= self.max_files:
            raise Rejected(413, f"too many files in one request: at most {self.max_files}")
        index = self._count
        self._count += 1
        place = self.folder / str(index)
        place.mkdir(mode=0o700)
        self._upload = Upload(index=index, name=filename, path=place / f"{clean_stem(filename)}.upload")
        self._handle = open(self._upload.path, "xb")  # noqa: SIM115 (closed in part_end or close())

    def part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._upload is not None and self._handle is not None:
            self._upload.size += len(chunk)
            if self._upload.size > self.max_file_bytes:
                raise Rejected(413, f"{clean_stem(self._upload.name)}: larger than the limit of "
                                    f"{self.max_file_bytes / 2**20:.0f} MB per file")
            self._handle.write(chunk)
            return
        self._text += chunk
        if len(self._text) > MAX_FIELD_BYTES:
            raise Rejected(413, f"form field {self._field[:40]!r} is longer than {MAX_FIELD_BYTES} bytes")

    def part_end(self) -> None:
        if self._upload is not None:
            self.close()
            if self._upload.size == 0 and not self._upload.name:
                self._upload.path.unlink()  # an empty file input sends a nameless, empty part: not an upload
                self._upload.path.parent.rmdir()
            else:
                self.form.files.setdefault(self._field, []).append(self._upload)
            self._upload = None
        else:
            self.form.fields[self._field] = self._text.decode("utf-8", "replace")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


async def read_form(chunks: AsyncIterator[bytes], content_type: str, folder: Path, *, max_request_bytes: int,
                    max_file_bytes: int, max_files: int) -> Form:
    """Stream a ``multipart/form-data`` body into ``folder`` (files) and memory (short text fields); a url-encoded
    body gives text fields only.

    Raises:
        Rejected: 415 for another content type, 400 for a malformed body, 413 when a cap is passed (the reading
            stops there; the caller deletes ``folder``).
    """
    kind, params = parse_options_header(content_type)
    if kind == b"application/x-www-form-urlencoded":  # text fields only (curl -d): no files
        body = bytearray()
        async for chunk in chunks:
            body += chunk
            if len(body) > MAX_FIELD_BYTES * 4:
                raise Rejected(413, f"a url-encoded form is limited to {MAX_FIELD_BYTES * 4} bytes")
        return Form(fields=dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)))
    if kind != b"multipart/form-data" or not params.get(b"boundary"):
        raise Rejected(415, "send a multipart/form-data form (file fields and text fields), e.g. curl -F")
    reader = _Reader(folder, max_file_bytes=max_file_bytes, max_files=max_files)
    parser = MultipartParser(params[b"boundary"], reader.callbacks())  # type: ignore[arg-type]
    total = 0
    try:
        async for chunk in chunks:
            total += len(chunk)
            if total > max_request_bytes:
                raise Rejected(413, f"the request is larger than the limit of {max_request_bytes / 2**20:.0f} MB")
            parser.write(chunk)
        parser.finalize()
    except Rejected:
        raise
    except Exception as err:  # python-multipart reports a malformed body with its own exception types
        raise Rejected(400, f"malformed multipart body ({type(err).__name__})") from None
    finally:
        reader.close()
    return reader.form


@dataclass(frozen=True)
class ImageInfo:
    """What :func:`check_image` found: the type from the content and the size from the header."""

    kind: str
    width: int
    height: int


def check_image(upload: Upload, *, max_pixels: int) -> ImageInfo:
    """Check an uploaded file is a whole JPEG/PNG/WebP image within the pixel cap, then give it its suffix.

    The type is sniffed from the first bytes and must agree with what Pillow finds; the pixel count is read from
    the header before anything is decoded (a decompression bomb never gets decoded); then the image is decoded
    once, by the same reader the CLI uses, to catch truncated and corrupt files now rather than in the job.

    Raises:
        Rejected: 415 for anything but JPEG/PNG/WebP (whatever its name says), 413 over the pixel cap,
            400 for a truncated or corrupt image.
    """
    shown = clean_stem(upload.name)
    with open(upload.path, "rb") as handle:
        head = handle.read(12)
    kind = sniff(head)
    if kind is None:
        raise Rejected(415, f"{shown}: not a JPEG, PNG or WebP image (judged by its content, not its name)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(upload.path) as img:
                width, height, found = img.width, img.height, (img.format or "").lower()
    except Image.DecompressionBombError:
        raise Rejected(413, f"{shown}: refused as a possible decompression bomb") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise Rejected(400, f"{shown}: the image is corrupt or truncated") from None
    if found != kind:
        raise Rejected(415, f"{shown}: its content starts like {kind} but reads as {found or 'nothing known'}")
    if width * height > max_pixels:
        raise Rejected(413, f"{shown}: {width}×{height} = {width * height / 1e6:.3g} megapixels is over the limit "
                            f"of {max_pixels / 1e6:g} megapixels (a guard against decompression bombs)")
    try:
        open_image(upload.path, max_pixels=max_pixels).close()
    except ImageError as err:
        raise Rejected(400, str(err).replace(str(upload.path), shown)) from None
    final = upload.path.with_suffix(KINDS[kind])
    upload.path.rename(final)
    upload.path, upload.kind = final, kind
    return ImageInfo(kind=kind, width=width, height=height)
