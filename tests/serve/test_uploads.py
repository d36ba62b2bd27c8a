"""Uploads: types judged by content, names that can never become paths, caps, bombs."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from camo.serve.rejected import Rejected
from camo.serve.uploads import Upload, check_image, clean_stem, read_form, sniff
from tests.serve.conftest import png_bytes
from tests.serve.support import bomb_png


def test_sniff_judges_the_content_not_the_name() -> None:
    assert sniff(png_bytes(np.zeros((4, 4), np.uint8))[:12]) == "png"
    assert sniff(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00") == "jpeg"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp"
    for other in (b"GIF89a......", b"<svg xmlns=", b"%PDF-1.7\n...", b"BM\x00\x00", b"", b"\x89PN"):
        assert sniff(other) is None


@pytest.mark.parametrize(("name", "stem"), [
    ("../../etc/passwd", "passwd"), ("/etc/shadow.png", "shadow"), ("C:\\Users\\me\\ma photo.jpg", "ma_photo"),
    ("..", "photo"), ("", "photo"), ("é.png", "e"), ("a.tar.gz", "a_tar"), (".bashrc", "bashrc"),
])
def test_clean_stem_examples(name: str, stem: str) -> None:
    assert clean_stem(name) == stem


@given(st.text(max_size=300))
def test_clean_stem_is_always_a_plain_name(name: str) -> None:
    stem = clean_stem(name)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,60}", stem), stem


def _form(parts: list[tuple[str, str | None, bytes]], boundary: str = "XyZ") -> tuple[bytes, str]:
    body = b""
    for field, filename, data in parts:
        disposition = f'form-data; name="{field}"' + (f'; filename="{filename}"' if filename is not None else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


async def _chunks(body: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for at in range(0, len(body), size):
        yield body[at : at + size]


def _read(body: bytes, kind: str, folder: Path, **caps: int) -> object:
    limits = {"max_request_bytes": 10**6, "max_file_bytes": 10**5, "max_files": 3, **caps}
    return asyncio.run(read_form(_chunks(body), kind, folder, **limits))


def test_read_form_streams_files_into_the_folder_under_clean_names(tmp_path: Path) -> None:
    body, kind = _form([("preset", None, b"low"), ("photos", "../../../x/evil.png", b"abc"),
                        ("photos", "/abs/path/b.jpg", b"defg")])
    form = _read(body, kind, tmp_path)
    assert form.fields == {"preset": "low"}  # type: ignore[attr-defined]
    uploads = form.files["photos"]  # type: ignore[attr-defined]
    assert [u.path.read_bytes() for u in uploads] == [b"abc", b"defg"]
    assert [u.path.relative_to(tmp_path).as_posix() for u in uploads] == ["0/evil.upload", "1/b.upload"]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        "0/evil.upload", "1/b.upload"]


@pytest.mark.parametrize(("caps", "parts"), [
    ({"max_file_bytes": 10}, [("photos", "a.png", b"x" * 11)]),
    ({"max_files": 2}, [("photos", f"{i}.png", b"x") for i in range(3)]),
    ({"max_request_bytes": 500}, [("photos", "a.png", b"x" * 600)]),
    ({}, [("preset", None, b"x" * 5000)]),
])
def test_read_form_caps_answer_413(tmp_path: Path, caps: dict[str, int], parts: list[tuple[str, str | None, bytes]]
                                   ) -> None:
    body, kind = _form(parts)
    with pytest.raises(Rejected) as caught:
        _read(body, kind, tmp_path, **caps)
    assert caught.value.status == 413


def test_read_form_refuses_other_bodies(tmp_path: Path) -> None:
    with pytest.raises(Rejected) as caught:
        _read(b'{"a": 1}', "application/json", tmp_path)
    assert caught.value.status == 415
    body, kind = _form([("photos", "a.png", b"abc")])
    with pytest.raises(Rejected) as caught:
        _read(body[: len(body) // 2] + b"--nonsense", kind.replace("XyZ", "Other"), tmp_path)
    assert caught.value.status == 400


def _upload(tmp_path: Path, data: bytes, name: str = "photo.png") -> Upload:
    path = tmp_path / "in.upload"
    path.write_bytes(data)
    return Upload(index=0, name=name, path=path, size=len(data))


def test_check_image_gives_the_suffix_of_the_content(tmp_path: Path) -> None:
    upload = _upload(tmp_path, png_bytes(np.full((8, 9, 3), 7, np.uint8)), name="really.jpg")
    info = check_image(upload, max_pixels=100)
    assert (info.kind, info.width, info.height) == ("png", 9, 8)
    assert upload.path.name == "in.png" and upload.path.exists()


@pytest.mark.parametrize(("data", "status"), [
    (b"hello, I am text pretending to be a photo", 415),
    (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", 415),
    (png_bytes(np.arange(192, dtype=np.uint8).reshape(8, 8, 3))[:-30], 400),  # truncated
    (bomb_png(20, 10), 413),                                    # 200 pixels > the cap of 100
    (bomb_png(30000, 30000), 413),                              # 900 megapixels: never decoded
])
def test_check_image_refuses(tmp_path: Path, data: bytes, status: int) -> None:
    with pytest.raises(Rejected) as caught:
        check_image(_upload(tmp_path, data), max_pixels=100)
    assert caught.value.status == status
    assert str(tmp_path) not in str(caught.value)  # messages never name a server-side path

