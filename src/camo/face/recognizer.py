"""Face recognition with dlib's models: our differentiable twin for attacks, dlib itself for verification.

:class:`Recognizer` finds faces (dlib HOG detector, 5 landmarks), aligns them with a differentiable warp and encodes
them with :class:`~camo.face.network.DlibFaceNet`; its descriptors match dlib's ``compute_face_descriptor`` to a
few thousandths. :meth:`Recognizer.dlib_descriptors` runs dlib's own pipeline end to end for independent checks.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from camo.errors import InputError
from camo.face.align import (
    Box,
    ChipGeometry,
    _dlib,
    _shape_predictor,
    chip_crop_box,
    chip_geometry,
    detect_faces,
    face_landmarks,
    warp_to_chip,
)
from camo.face.network import DlibFaceNet, dlib_model_path, load_dlib_recognizer
from camo.images import ImageSource, to_rgb_uint8

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_TOLERANCE", "Face", "Recognizer"]

DEFAULT_TOLERANCE = 0.6
"""dlib's and face_recognition's threshold: descriptors closer than this belong to the same person."""


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face.

    Attributes:
        box: (left, top, right, bottom) from dlib's detector, right/bottom inclusive; may reach past the image.
        landmarks: the 5 landmark points (x, y), shape (5, 2).
        descriptor: the 128-D descriptor, float64, shape (128,).
        geometry: where the 150×150 chip lies in the image.
    """

    box: Box
    landmarks: np.ndarray
    descriptor: np.ndarray
    geometry: ChipGeometry


DescriptorLike = Face | np.ndarray | Sequence[float]


def _as_descriptor(value: DescriptorLike) -> np.ndarray:
    array = value.descriptor if isinstance(value, Face) else np.asarray(value, dtype=np.float64)
    if array.shape != (128,):
        raise InputError(f"a face descriptor has shape (128,); got {array.shape}")
    return array


def _image_tensor(pixels: np.ndarray) -> torch.Tensor:
    """RGB uint8 (H, W, 3) -> float (1, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.array(pixels, dtype=np.uint8)).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


@functools.lru_cache(maxsize=1)
def _dlib_encoder() -> Any:
    return _dlib().face_recognition_model_v1(str(dlib_model_path()))


class Recognizer:
    """dlib's face recognizer (``face_recognition``'s model) with a differentiable PyTorch twin.

    The network loads on first use, not at construction, and is shared by every recognizer in the process.
    """

    def __init__(self, *, upsample: int = 1, network: DlibFaceNet | None = None) -> None:
        """Sets up the recognizer.

        Args:
            upsample: detector upsampling (1 = face_recognition's default; 0 is faster but misses faces < 80 px).
            network: the descriptor network; default: :func:`~camo.face.network.load_dlib_recognizer`.

        Raises:
            InputError: ``upsample`` is negative.
        """
        if upsample < 0:
            raise InputError(f"upsample must be >= 0; got {upsample}")
        self.upsample = upsample
        self._network = network

    @property
    def network(self) -> DlibFaceNet:
        """The frozen descriptor network (loaded on first access)."""
        if self._network is None:
            self._network = load_dlib_recognizer()
        return self._network

    def locate(self, image: ImageSource) -> list[tuple[Box, np.ndarray, ChipGeometry]]:
        """Detects faces and aligns them, without encoding: (box, landmarks, geometry) per face, largest first.

        Args:
            image: a path, a PIL image or an RGB uint8 array.

        Returns:
            One triple per face; empty when there is none.

        Raises:
            ImageError, InputError: the image cannot be read.
            ModelError: dlib or its model files are missing.
        """
        pixels = to_rgb_uint8(image)
        located = []
        for box in detect_faces(pixels, upsample=self.upsample):
            landmarks = face_landmarks(pixels, box)
            located.append((box, landmarks, chip_geometry(box, landmarks)))
        return located

    def faces(self, image: ImageSource) -> list[Face]:
        """Finds, aligns and encodes every face (see :func:`~camo.face.align.detect_faces` on false positives).

        Args:
            image: a path, a PIL image or an RGB uint8 array.

        Returns:
            The faces, largest box first; empty when there is none.

        Raises:
            ImageError, InputError: the image cannot be read.
            ModelError: dlib or its model files are missing.
        """
        pixels = to_rgb_uint8(image)
        located = self.locate(pixels)
        if not located:
            return []
        chips = []
        for _, _, geometry in located:
            # Only the pixels around the face are converted and warped: photos can be tens of megapixels.
            left, top, right, bottom = chip_crop_box(geometry, pixels.shape[:2])
            if right <= left or bottom <= top:
                left, top, right, bottom = 0, 0, pixels.shape[1], pixels.shape[0]
            crop = _image_tensor(pixels[top:bottom, left:right])
            chips.append(warp_to_chip(crop, geometry.translated(-left, -top)))
        network = self.network  # load outside no_grad: a module built there would still be fine, but be explicit
        with torch.no_grad():
            descriptors = network(torch.cat(chips)).double().numpy()
        return [
            Face(box=box, landmarks=landmarks, descriptor=descriptor.copy(), geometry=geometry)
            for (box, landmarks, geometry), descriptor in zip(located, descriptors, strict=True)
        ]

    def descriptor(self, x: torch.Tensor, geometry: ChipGeometry | Sequence[ChipGeometry]) -> torch.Tensor:
        """Differentiable descriptors of faces in image tensors (warp to the chip, then the network).

        Args:
            x: images, RGB in [0, 1]: whole photos or crops (then use ``geometry.translated(-left, -top)``).
            geometry: one chip for every image, or one per face (see :func:`~camo.face.align.warp_to_chip`).

        Returns:
            Descriptors, attached to the graph of ``x``.

        Raises:
            InputError: bad shapes.

        Shape: (N, 3, H, W) -> (N, 128); with K geometries, (1 or K, 3, H, W) -> (K, 128).
        """
        descriptors: torch.Tensor = self.network(warp_to_chip(x, geometry))
        return descriptors

    def dlib_descriptors(self, image: ImageSource) -> list[np.ndarray]:
        """dlib's own pipeline, end to end: detector, 5 landmarks, ``compute_face_descriptor(image, shape)``.

        For verification (for instance of a saved, cloaked file); faces come in the same order as :meth:`faces`.

        Args:
            image: a path, a PIL image or an RGB uint8 array.

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
        return float(np.linalg.norm(_as_descriptor(a) - _as_descriptor(b)))

    @staticmethod
    def match(a: DescriptorLike, b: DescriptorLike, tolerance: float = DEFAULT_TOLERANCE) -> bool:
        """Whether two faces are the same person: distance <= tolerance (face_recognition's rule).

        Raises:
            InputError: a descriptor is not 128 numbers or ``tolerance`` is not positive.
        """
        if not tolerance > 0:
            raise InputError(f"tolerance must be > 0; got {tolerance}")
        return Recognizer.distance(a, b) <= tolerance
