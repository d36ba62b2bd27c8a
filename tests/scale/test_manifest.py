"""The job manifest: one complete line per photo, torn tails dropped, one run per folder, digests trusted by stat."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from camo.errors import InputError
from camo.scale.manifest import MANIFEST_NAME, Manifest, digest


def test_records_survive_reopening_and_the_latest_record_wins(tmp_path: Path) -> None:
    with Manifest(tmp_path) as manifest:
        manifest.append({"key": "a", "status": "failed"})
        manifest.append({"key": "b", "status": "protected"})
        manifest.append({"key": "a", "status": "protected"})
    with Manifest(tmp_path) as again:
        assert len(again) == 2
        assert again.get("a") == {"v": 1, "key": "a", "status": "protected"}
        assert again.get("missing") is None
    lines = (tmp_path / MANIFEST_NAME).read_bytes().splitlines()
    assert len(lines) == 3 and all(json.loads(line)["key"] for line in lines)


def test_a_torn_last_line_is_dropped_and_cut_off(tmp_path: Path) -> None:
    with Manifest(tmp_path) as manifest:
        manifest.append({"key": "done", "status": "protected"})
    path = tmp_path / MANIFEST_NAME
    whole = path.read_bytes()
    with path.open("ab") as handle:  # a crash in the middle of writing the second record
        handle.write(b'{"v":1,"key":"half","sta')
    with Manifest(tmp_path) as manifest:
        assert manifest.get("done") is not None and manifest.get("half") is None
        assert path.read_bytes() == whole
        manifest.append({"key": "next", "status": "protected"})
    with Manifest(tmp_path) as manifest:
        assert {entry["key"] for entry in manifest} == {"done", "next"}


def test_a_damaged_line_inside_the_file_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / MANIFEST_NAME).write_text('{"key": "a"}\nnot json\n{"key": "b"}\n')
    with pytest.raises(InputError, match="line 2 is not a camo manifest record"):
        Manifest(tmp_path).__enter__()


def test_two_runs_cannot_write_into_one_folder(tmp_path: Path) -> None:
    with Manifest(tmp_path), pytest.raises(InputError, match="another camo run is writing"):
        Manifest(tmp_path).__enter__()
    with Manifest(tmp_path):  # released when the first run ends
        pass


def test_digest_is_reused_only_while_size_and_mtime_match(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"one")
    first = digest(path)
    assert first.sha256 == "7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed"  # sha256(b"one")
    fake = type(first)(sha256="trusted", size=first.size, mtime_ns=first.mtime_ns)
    assert digest(path, fake) is fake  # unchanged by stat: not read again
    path.write_bytes(b"two!")
    os.utime(path, ns=(first.mtime_ns + 10**9, first.mtime_ns + 10**9))
    assert digest(path, fake).sha256 != "trusted"
