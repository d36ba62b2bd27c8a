"""Faces: recognizers behind one interface (dlib, FaceNet, SFace, any ONNX file), each with a PyTorch twin and a
differentiable alignment from full-resolution pixels; photo comparison; the cloak.

Nothing is loaded at import, not even torch: each public name is imported on first use, as in :mod:`camo`, so a
light submodule (:mod:`camo.face.cloak_config`, whose presets the web page lists) imports without the heavy ones.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from camo.face.align import (
        Box,
        ChipGeometry,
        arcface_points,
        box_geometry,
        chip_crop_box,
        chip_geometry,
        detect_faces,
        face_landmarks,
        face_landmarks68,
        similarity_geometry,
        warp_to_chip,
    )
    from camo.face.cloak import (
        DEFAULT_ENSEMBLE,
        PRESETS,
        CloakConfig,
        CloakedPhoto,
        CloakResult,
        RecognizerVerdict,
        Verification,
        cloak,
        cloak_photo,
        verify,
    )
    from camo.face.compare import FaceComparison, compare_photos, compare_with, draw_faces
    from camo.face.dlib_format import DlibNetwork, read_dlib_network
    from camo.face.network import DlibFaceNet, dlib_model_path, load_dlib_recognizer
    from camo.face.recognizer import DEFAULT_TOLERANCE, Face, Recognizer
    from camo.face.recognizers import (
        BUILTIN_RECOGNIZERS,
        DlibRecognizer,
        FaceNetRecognizer,
        FaceRecognizer,
        LocatedFace,
        OnnxRecognizer,
        RecognizerInfo,
        SFaceRecognizer,
        get_recognizer,
        get_recognizers,
        locate_faces,
    )

#: Where each lazily imported public name lives.
_LAZY = {
    **dict.fromkeys(("Box", "ChipGeometry", "arcface_points", "box_geometry", "chip_crop_box", "chip_geometry",
                     "detect_faces", "face_landmarks", "face_landmarks68", "similarity_geometry", "warp_to_chip"),
                    "camo.face.align"),
    **dict.fromkeys(("DEFAULT_ENSEMBLE", "PRESETS", "CloakConfig", "CloakedPhoto", "CloakResult",
                     "RecognizerVerdict", "Verification", "cloak", "cloak_photo", "verify"), "camo.face.cloak"),
    **dict.fromkeys(("FaceComparison", "compare_photos", "compare_with", "draw_faces"), "camo.face.compare"),
    **dict.fromkeys(("DlibNetwork", "read_dlib_network"), "camo.face.dlib_format"),
    **dict.fromkeys(("DlibFaceNet", "dlib_model_path", "load_dlib_recognizer"), "camo.face.network"),
    **dict.fromkeys(("DEFAULT_TOLERANCE", "Face", "Recognizer"), "camo.face.recognizer"),
    **dict.fromkeys(("BUILTIN_RECOGNIZERS", "DlibRecognizer", "FaceNetRecognizer", "FaceRecognizer", "LocatedFace",
                     "OnnxRecognizer", "RecognizerInfo", "SFaceRecognizer", "get_recognizer", "get_recognizers",
                     "locate_faces"), "camo.face.recognizers"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'camo.face' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


class _Package(types.ModuleType):
    """``camo.face`` itself. ``cloak`` names the function, not its module: importing the submodule
    ``camo.face.cloak`` would otherwise bind the module to that name on the package (as it did before the function
    was looked up, and for good after), so ``from camo.face import cloak`` would depend on what ran first."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "cloak" and isinstance(value, types.ModuleType):
            return  # the submodule stays reachable as sys.modules["camo.face.cloak"] and by its import
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
    "BUILTIN_RECOGNIZERS",
    "DEFAULT_ENSEMBLE",
    "DEFAULT_TOLERANCE",
    "PRESETS",
    "Box",
    "ChipGeometry",
    "CloakConfig",
    "CloakResult",
    "CloakedPhoto",
    "DlibFaceNet",
    "DlibNetwork",
    "DlibRecognizer",
    "Face",
    "FaceComparison",
    "FaceNetRecognizer",
    "FaceRecognizer",
    "LocatedFace",
    "OnnxRecognizer",
    "Recognizer",
    "RecognizerInfo",
    "RecognizerVerdict",
    "SFaceRecognizer",
    "Verification",
    "arcface_points",
    "box_geometry",
    "chip_crop_box",
    "chip_geometry",
    "cloak",
    "cloak_photo",
    "compare_photos",
    "compare_with",
    "detect_faces",
    "dlib_model_path",
    "draw_faces",
    "face_landmarks",
    "face_landmarks68",
    "get_recognizer",
    "get_recognizers",
    "load_dlib_recognizer",
    "locate_faces",
    "read_dlib_network",
    "similarity_geometry",
    "verify",
    "warp_to_chip",
]
