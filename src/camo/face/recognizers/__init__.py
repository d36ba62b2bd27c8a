"""Face recognizers behind one interface: dlib, FaceNet and SFace built in, any ONNX file on request.

See :mod:`camo.face.recognizers.base` for the interface. Nothing is loaded at import.
"""

from camo.face.recognizers.base import (
    Face,
    FaceRecognizer,
    LocatedFace,
    RecognizerInfo,
    descriptor_distance,
    distance_matrix,
    locate_faces,
    with_landmarks68,
)
from camo.face.recognizers.dlib_resnet import DlibRecognizer
from camo.face.recognizers.facenet import FaceNetRecognizer
from camo.face.recognizers.onnx_exec import (
    SUPPORTED_OPERATORS,
    OnnxModule,
    UnsupportedOperatorError,
    load_onnx_module,
)
from camo.face.recognizers.onnx_file import OnnxRecognizer, parse_norm
from camo.face.recognizers.registry import (
    BUILTIN_RECOGNIZERS,
    OnnxOptions,
    builtin_infos,
    get_recognizer,
    get_recognizers,
)
from camo.face.recognizers.sface import SFaceRecognizer

__all__ = [
    "BUILTIN_RECOGNIZERS",
    "SUPPORTED_OPERATORS",
    "DlibRecognizer",
    "Face",
    "FaceNetRecognizer",
    "FaceRecognizer",
    "LocatedFace",
    "OnnxModule",
    "OnnxOptions",
    "OnnxRecognizer",
    "RecognizerInfo",
    "SFaceRecognizer",
    "UnsupportedOperatorError",
    "builtin_infos",
    "descriptor_distance",
    "distance_matrix",
    "get_recognizer",
    "get_recognizers",
    "load_onnx_module",
    "locate_faces",
    "parse_norm",
    "with_landmarks68",
]
