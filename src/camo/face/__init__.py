"""Faces: dlib's face recognizer rebuilt in PyTorch, a differentiable alignment, and photo comparison.

Nothing is loaded at import; models load on first use.
"""

from camo.face.align import (
    Box,
    ChipGeometry,
    chip_crop_box,
    chip_geometry,
    detect_faces,
    face_landmarks,
    warp_to_chip,
)
from camo.face.cloak import (
    PRESETS,
    CloakConfig,
    CloakedPhoto,
    CloakResult,
    Verification,
    cloak,
    cloak_photo,
    verify,
)
from camo.face.compare import FaceComparison, compare_photos, draw_faces
from camo.face.dlib_format import DlibNetwork, read_dlib_network
from camo.face.network import DlibFaceNet, dlib_model_path, load_dlib_recognizer
from camo.face.recognizer import DEFAULT_TOLERANCE, Face, Recognizer

__all__ = [
    "DEFAULT_TOLERANCE",
    "PRESETS",
    "Box",
    "ChipGeometry",
    "CloakConfig",
    "CloakResult",
    "CloakedPhoto",
    "DlibFaceNet",
    "DlibNetwork",
    "Face",
    "FaceComparison",
    "Recognizer",
    "Verification",
    "chip_crop_box",
    "chip_geometry",
    "cloak",
    "cloak_photo",
    "compare_photos",
    "detect_faces",
    "dlib_model_path",
    "draw_faces",
    "face_landmarks",
    "load_dlib_recognizer",
    "read_dlib_network",
    "verify",
    "warp_to_chip",
]
