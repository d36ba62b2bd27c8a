"""Which recognizers camo has, by name: the built-ins (dlib, FaceNet, SFace) and any ONNX file the user brings.

Instances are cheap (nothing loads until a network or reference runtime is first needed) and each network is built
once per process. The validation recognizer of the benchmarks (EdgeFace) is deliberately not a built-in: it stands
for the recognizers nobody optimised against.
"""

from __future__ import annotations

from pathlib import Path

from camo.errors import InputError
from camo.face.recognizers.base import FaceRecognizer, RecognizerInfo
from camo.face.recognizers.dlib_resnet import DlibRecognizer
from camo.face.recognizers.facenet import FaceNetRecognizer
from camo.face.recognizers.onnx_file import OnnxRecognizer
from camo.face.recognizers.sface import SFaceRecognizer

__all__ = ["BUILTIN_RECOGNIZERS", "OnnxOptions", "builtin_infos", "get_recognizer", "get_recognizers"]

BUILTIN_RECOGNIZERS: dict[str, type[FaceRecognizer]] = {
    "dlib": DlibRecognizer,
    "facenet": FaceNetRecognizer,
    "sface": SFaceRecognizer,
}
"""The built-in recognizers by name, in the order ``all`` lists them."""


class OnnxOptions:
    """How to read a user's ONNX recognizer (see :class:`~camo.face.recognizers.onnx_file.OnnxRecognizer`)."""

    def __init__(self, *, align: str = "arcface", size: int = 112, norm: tuple[float, float] = (127.5, 127.5),
                 bgr: bool = False, metric: str = "cosine", threshold: float | None = None) -> None:
        self.align, self.size, self.norm, self.bgr = align, size, norm, bgr
        self.metric, self.threshold = metric, threshold


def get_recognizer(name: str, *, upsample: int = 1, onnx: OnnxOptions | None = None) -> FaceRecognizer:
    """One recognizer: a built-in name, or the path of an ``.onnx`` file.

    Args:
        name: ``dlib``, ``facenet``, ``sface`` or ``FILE.onnx``.
        upsample: detector upsampling.
        onnx: how to read an ONNX file (default: ArcFace alignment, 112 px, (x − 127.5)/127.5, RGB, cosine).

    Raises:
        InputError: an unknown name.
        ModelError: the ONNX file is missing.
    """
    if name in BUILTIN_RECOGNIZERS:
        return BUILTIN_RECOGNIZERS[name](upsample=upsample)
    if name.lower().endswith(".onnx"):
        options = onnx or OnnxOptions()
        return OnnxRecognizer(Path(name), align=options.align, size=options.size, norm=options.norm,
                              bgr=options.bgr, metric=options.metric, threshold=options.threshold,
                              upsample=upsample)
    raise InputError(f"unknown recognizer {name!r}: use {', '.join(BUILTIN_RECOGNIZERS)}, all, or a FILE.onnx")


def get_recognizers(spec: str, *, upsample: int = 1, onnx: OnnxOptions | None = None) -> list[FaceRecognizer]:
    """Recognizers from a ``--recognizer`` value: a name, ``all`` (every built-in), a file, or a comma list.

    Raises:
        InputError: an empty spec, an unknown name or the same recognizer twice.
        ModelError: an ONNX file is missing.
    """
    names = [part.strip() for part in spec.split(",") if part.strip()]
    if not names:
        raise InputError("no recognizer given: use dlib, facenet, sface, all, or a FILE.onnx")
    expanded = [n for name in names for n in (BUILTIN_RECOGNIZERS if name == "all" else [name])]
    if len(set(expanded)) != len(expanded):
        raise InputError(f"a recognizer is named twice in {spec!r}")
    return [get_recognizer(name, upsample=upsample, onnx=onnx) for name in expanded]


def builtin_infos() -> list[RecognizerInfo]:
    """What ``camo models`` lists for the built-ins (no weights are loaded)."""
    return [cls().info() for cls in BUILTIN_RECOGNIZERS.values()]
