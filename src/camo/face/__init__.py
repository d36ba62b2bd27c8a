"""Faces: recognizers behind one interface (dlib, FaceNet, SFace, any ONNX file), each with a PyTorch twin and a
differentiable alignment from full-resolution pixels; photo comparison; the cloak.

Nothing is loaded at import; models load on first use.
"""

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
