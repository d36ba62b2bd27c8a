"""distinct_names: output names and face labels that never collide, lengthened only where they would."""

from __future__ import annotations

from pathlib import Path

import pytest

from camo.errors import InputError
from camo.file_names import distinct_names


def test_stems_take_folders_only_where_they_collide(tmp_path: Path) -> None:
    paths = [tmp_path / "obama.jpg", tmp_path / "cloaked" / "obama.png", tmp_path / "biden.jpg"]
    assert distinct_names(paths) == ["obama", "cloaked_obama", "biden"]
    assert distinct_names([tmp_path / "a.jpg", tmp_path / "a.png"]) == ["a-jpg", "a-png"]


def test_file_names_as_labels(tmp_path: Path) -> None:
    paths = [tmp_path / "x" / "obama.jpg", tmp_path / "y" / "obama.jpg", tmp_path / "x" / "obama.png"]
    assert distinct_names(paths, suffix=True, sep="/") == ["x/obama.jpg", "y/obama.jpg", "obama.png"]
    deep = [tmp_path / "a" / "b" / "p.jpg", tmp_path / "a" / "c" / "d" / "p.jpg"]
    assert distinct_names(deep, suffix=True, sep="/") == ["b/p.jpg", "c/d/p.jpg"]  # below the folder they share


def test_the_same_file_twice_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="given twice"):
        distinct_names([tmp_path / "a.jpg", tmp_path / "sub" / ".." / "a.jpg"], suffix=True)
