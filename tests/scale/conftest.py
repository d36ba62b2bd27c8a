"""Fixtures for the photo-job tests: a few small face photos in a folder, and the cheapest cloak that still runs the
whole photo job (detection, one FGSM step through dlib's twin, save, verification on the saved file)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support import shared

#: Small photos of the shared set (≤ 424 px): seconds for the whole suite.
SMALL_PHOTOS = (
    ("face_recognition_examples", "examples", "obama_small.jpg"),
    ("face_recognition_examples", "examples", "obama-240p.jpg"),
    ("openface_examples", "examples", "clapton-2.jpg"),
    ("face_recognition_examples", "examples", "alex-lacamoire.png"),
)


@pytest.fixture(scope="module")
def cheap_job() -> object:
    pytest.importorskip("dlib", reason="the photo job needs dlib (dlib-bin)")
    from camo.face.cloak import PRESETS
    from camo.scale.photos import CloakJob

    return CloakJob(config=replace(PRESETS["low"], steps=1, samples=1), recognizers="dlib", ensure=False)


def copy_photos(folder: Path, names: tuple[tuple[str, ...], ...] = SMALL_PHOTOS) -> list[Path]:
    """Copies of shared photos in ``folder`` (skips when the shared data is absent)."""
    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for parts in names:
        copy = folder / parts[-1]
        shutil.copyfile(shared("faces", *parts), copy)
        copies.append(copy)
    return copies


def pairs_for(photos: list[Path], out: Path) -> list[tuple[Path, Path]]:
    return [(photo, out / f"{photo.stem}.png") for photo in photos]
