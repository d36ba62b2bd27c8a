"""One interface for a face recognizer: shared detection, its own geometry, a differentiable twin, a reference.

Every recognizer camo knows (dlib, SFace, FaceNet, any ONNX file) is a :class:`FaceRecognizer`:

- **detection is shared**: dlib's HOG detector and shape predictors find each face once (:func:`locate_faces`,
  a :class:`LocatedFace` per face: box, dlib's 5 points and, when a recognizer needs them, the 68 iBUG points);
- **its geometry**: :meth:`FaceRecognizer.geometry` turns a located face into the recognizer's own chip (dlib's
  150×150 chip with padding 0.25, the ArcFace 5-point crop at 112×112, a box with a margin...) as a
  :class:`~camo.face.align.ChipGeometry` in the photo's pixels;
- **a differentiable descriptor from full-resolution pixels**: :meth:`FaceRecognizer.descriptor` warps a photo (or a
  crop of it) to the chip and runs the PyTorch network, so a cloak's gradient reaches every photo pixel;
- **its distance and threshold**: ``metric`` (``"euclidean"`` or ``"cosine"``, the latter as 1 − cosine
  similarity) and ``threshold`` (same person when distance ≤ threshold), with where the threshold comes from;
- **a reference**: :meth:`FaceRecognizer.reference_descriptors` runs the recognizer's own runtime (dlib, OpenCV,
  onnxruntime) on the uint8 photo, with its own aligner, to verify what the twin claims on a saved file.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from camo.errors import InputError
from camo.face.align import (
    Box,
    ChipGeometry,
    chip_crop_box,
    detect_faces,
    face_landmarks,
    face_landmarks68,
    warp_to_chip,
)
from camo.images import ImageSource, to_rgb_uint8

logger = logging.getLogger(__name__)

__all__ = [
    "Face",
    "FaceRecognizer",
    "LocatedFace",
    "Metric",
    "PixelScaled",
    "RecognizerInfo",
    "crop_tensor",
    "descriptor_distance",
    "distance_matrix",
    "locate_faces",
    "tapped",
    "with_landmarks68",
]

Metric = Literal["euclidean", "cosine"]
METRICS: tuple[str, ...] = ("euclidean", "cosine")


@dataclass(frozen=True, eq=False)
class LocatedFace:
    """A face found by the shared detector: what every recognizer's geometry is built from.

    Attributes:
        box: (left, top, right, bottom) from dlib's HOG detector, right/bottom inclusive; may reach past the image.
        landmarks: dlib's 5 points (eye corners, nose base), shape (5, 2).
        landmarks68: dlib's 68 iBUG points, shape (68, 2), or None when no recognizer asked for them.
    """

    box: Box
    landmarks: np.ndarray
    landmarks68: np.ndarray | None = None


def locate_faces(image: ImageSource, *, upsample: int = 1, landmarks68: bool = False) -> list[LocatedFace]:
    """Detects every face once for all recognizers: HOG boxes, 5 points and, if asked, 68 points.

    Args:
        image: a path, a PIL image or an RGB uint8 array.
        upsample: detector upsampling (1 = face_recognition's default; 0 misses faces under about 80 px).
        landmarks68: also predict the 68 points (loads dlib's 100 MB predictor on first use).

    Returns:
        The faces, largest box first; empty when there is none.

    Raises:
        ImageError, InputError: the image cannot be read or ``upsample`` is negative.
        ModelError: dlib or its model files are missing.
    """
    pixels = to_rgb_uint8(image)
    return [
        LocatedFace(box, face_landmarks(pixels, box), face_landmarks68(pixels, box) if landmarks68 else None)
        for box in detect_faces(pixels, upsample=upsample)
    ]


def with_landmarks68(pixels: np.ndarray, faces: Sequence[LocatedFace]) -> list[LocatedFace]:
    """The same faces, with the 68 points predicted where they are missing (boxes and 5 points unchanged)."""
    return [
        face if face.landmarks68 is not None else LocatedFace(face.box, face.landmarks,
                                                              face_landmarks68(pixels, face.box))
        for face in faces
    ]


@dataclass(frozen=True, eq=False)
class Face:
    """One detected and encoded face.

    Attributes:
        box: (left, top, right, bottom) from dlib's detector, right/bottom inclusive; may reach past the image.
        landmarks: dlib's 5 landmark points (x, y), shape (5, 2).
        descriptor: the recognizer's descriptor as its network returns it (not normalised), float64, shape (D,).
        geometry: where the recognizer's chip lies in the image.
    """

    box: Box
    landmarks: np.ndarray
    descriptor: np.ndarray
    geometry: ChipGeometry


DescriptorLike = Face | np.ndarray | Sequence[float]


@dataclass(frozen=True)
class RecognizerInfo:
    """What ``camo models`` shows about a recognizer (nothing here needs its weights loaded).

    Attributes:
        name: the name ``--recognizer`` takes.
        network: the architecture and its training data.
        input: the chip the network reads, e.g. "112×112 RGB, ArcFace 5-point alignment".
        descriptor_size: length of a descriptor.
        metric: "euclidean" or "cosine" (distance = 1 − cosine similarity).
        threshold: same person when distance ≤ threshold.
        threshold_source: where the threshold comes from (a publisher's documentation or a calibration).
        licence: the weights' licence.
        weights: where the weights are read from (an installed package, a file).
        reference: the runtime that verifies (dlib, OpenCV, onnxruntime).
    """

    name: str
    network: str
    input: str
    descriptor_size: int
    metric: str
    threshold: float
    threshold_source: str
    licence: str
    weights: str
    reference: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return dict(self.__dict__)


def descriptor_distance(a: np.ndarray, b: np.ndarray, metric: str) -> float:
    """Euclidean distance, or 1 − cosine similarity, between two descriptors.

    Raises:
        InputError: unknown metric or shapes that differ.
    """
    return float(distance_matrix(a.reshape(1, -1), b.reshape(1, -1), metric)[0, 0])


def distance_matrix(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """All pairwise distances between two sets of descriptors.

    Raises:
        InputError: unknown metric or descriptor lengths that differ.

    Shape: (M, D), (N, D) -> (M, N).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise InputError(f"descriptor sets must be (M, D) and (N, D); got {a.shape} and {b.shape}")
    if metric == "euclidean":
        result: np.ndarray = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)
        return result
    if metric == "cosine":
        # A zero descriptor has no direction: it is as far as can be (distance 1) from everything.
        na = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
        nb = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
        cosine: np.ndarray = 1.0 - na @ nb.T
        return cosine
    raise InputError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")


def crop_tensor(pixels: np.ndarray) -> torch.Tensor:
    """RGB uint8 pixels (a photo or a crop of it) as the tensor the networks' warps read.

    Shape: (H, W, 3) uint8 -> (1, 3, H, W) float in [0, 1].
    """
    contiguous = np.ascontiguousarray(pixels, dtype=np.uint8)
    return torch.from_numpy(contiguous).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


class FaceRecognizer(ABC):
    """A face recognizer: its geometry, a differentiable PyTorch twin, its distance and threshold, a reference.

    Subclasses set the class attributes and implement :meth:`geometry`, :meth:`_load_network`,
    :meth:`reference_chips`, :meth:`reference_encode` and :meth:`info`. Networks load on first use and are
    shared by every instance in the process (subclasses cache them).

    Attributes:
        name: the recognizer's name (``--recognizer NAME``).
        metric: "euclidean" or "cosine".
        threshold: same person when distance ≤ threshold.
        descriptor_size: length of a descriptor.
        needs_landmarks68: the geometry is built from dlib's 68 points (else from the 5 points and the box).
        upsample: the shared detector's upsampling when this recognizer detects by itself.
    """

    name: str = ""
    metric: str = "euclidean"
    threshold: float = 0.0
    descriptor_size: int = 0
    needs_landmarks68: bool = False

    def __init__(self, *, upsample: int = 1, network: nn.Module | None = None) -> None:
        """Sets up the recognizer (nothing is loaded yet).

        Args:
            upsample: detector upsampling for :meth:`detect` (1 = face_recognition's default).
            network: the descriptor network; default: the recognizer's own, loaded on first use.

        Raises:
            InputError: ``upsample`` is negative.
        """
        if upsample < 0:
            raise InputError(f"upsample must be >= 0; got {upsample}")
        self.upsample = upsample
        self._network = network

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, metric={self.metric!r}, threshold={self.threshold:g})"

    # -- what each recognizer provides ------------------------------------------------------------------------

    @abstractmethod
    def geometry(self, face: LocatedFace) -> ChipGeometry:
        """The recognizer's chip for a located face, in the photo's pixels.

        Raises:
            InputError: the face lacks the landmarks this geometry needs (see ``needs_landmarks68``).
        """

    @abstractmethod
    def _load_network(self) -> nn.Module:
        """Builds (or fetches from the per-process cache) the frozen network: chips in [0, 1] -> descriptors."""

    @abstractmethod
    def reference_chips(self, pixels: np.ndarray, faces: Sequence[LocatedFace]) -> np.ndarray:
        """The chips the reference runtime's own aligner cuts from a uint8 photo.

        Shape: (H, W, 3) uint8 -> (K, S, S, 3) uint8 RGB.
        """

    @abstractmethod
    def reference_encode(self, chips: np.ndarray) -> np.ndarray:
        """The reference runtime's descriptors of uint8 RGB chips.

        Shape: (K, S, S, 3) uint8 -> (K, D) float64.
        """

    @abstractmethod
    def info(self) -> RecognizerInfo:
        """What this recognizer is, without loading it."""

    # -- shared behaviour ---------------------------------------------------------------------------------------

    @property
    def network(self) -> nn.Module:
        """The frozen descriptor network (loaded on first access): (N, 3, S, S) chips in [0, 1] -> (N, D)."""
        if self._network is None:
            self._network = self._load_network()
        return self._network

    def detect(self, image: ImageSource) -> list[LocatedFace]:
        """Finds faces with the shared detector, with the landmarks this recognizer needs. Largest first."""
        return locate_faces(image, upsample=self.upsample, landmarks68=self.needs_landmarks68)

    def _ready(self, pixels: np.ndarray, located: Sequence[LocatedFace] | None) -> list[LocatedFace]:
        faces = self.detect(pixels) if located is None else list(located)
        if self.needs_landmarks68:
            faces = with_landmarks68(pixels, faces)
        return faces

    def descriptor(self, x: torch.Tensor, geometry: ChipGeometry | Sequence[ChipGeometry]) -> torch.Tensor:
        """Differentiable descriptors of faces in image tensors (warp to the chip, then the network).

        Args:
            x: images, RGB in [0, 1]: whole photos or crops (then use ``geometry.translated(-left, -top)``).
            geometry: one chip for every image, or one per face (see :func:`~camo.face.align.warp_to_chip`).

        Returns:
            Descriptors, attached to the graph of ``x``.

        Raises:
            InputError: bad shapes.

        Shape: (N, 3, H, W) -> (N, D); with K geometries, (1 or K, 3, H, W) -> (K, D).
        """
        descriptors: torch.Tensor = self.network(warp_to_chip(x, geometry))
        return descriptors

    def descriptor_and_features(self, x: torch.Tensor, geometry: ChipGeometry | Sequence[ChipGeometry],
                                ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`descriptor`, and the network's activations at its middle layer (see :func:`tapped`).

        Raises:
            InputError: bad shapes, or a network that reports no middle layer.

        Shape: as :meth:`descriptor`, plus (N or K, C, h, w).
        """
        return tapped(self.network, warp_to_chip(x, geometry))

    def faces(self, image: ImageSource, located: Sequence[LocatedFace] | None = None) -> list[Face]:
        """Finds (or takes), aligns and encodes every face with the PyTorch twin.

        Args:
            image: a path, a PIL image or an RGB uint8 array.
            located: faces already found by :func:`locate_faces` in this image (shared between recognizers);
                default: detect them here.

        Returns:
            The faces, in the order of ``located`` (largest box first when detected here); empty when none.

        Raises:
            ImageError, InputError: the image cannot be read.
            ModelError: the recognizer's model files are missing.
        """
        pixels = to_rgb_uint8(image)
        found = self._ready(pixels, located)
        if not found:
            return []
        geometries = [self.geometry(face) for face in found]
        chips = []
        for geometry in geometries:
            # Only the pixels around the face are converted and warped: photos can be tens of megapixels.
            left, top, right, bottom = chip_crop_box(geometry, pixels.shape[:2])
            if right <= left or bottom <= top:
                left, top, right, bottom = 0, 0, pixels.shape[1], pixels.shape[0]
            crop = crop_tensor(pixels[top:bottom, left:right])
            chips.append(warp_to_chip(crop, geometry.translated(-left, -top)))
        network = self.network
        with torch.no_grad():
            descriptors = network(torch.cat(chips)).double().numpy()
        return [
            Face(box=face.box, landmarks=face.landmarks, descriptor=descriptor.copy(), geometry=geometry)
            for face, geometry, descriptor in zip(found, geometries, descriptors, strict=True)
        ]

    def reference_descriptors(
        self, image: ImageSource, located: Sequence[LocatedFace] | None = None
    ) -> list[np.ndarray]:
        """The reference runtime end to end on a uint8 photo (for verification, e.g. of a saved cloaked file).

        Detection is the shared one; alignment and network are the reference's own.

        Args:
            image: a path, a PIL image or an RGB uint8 array.
            located: faces already found in this image; default: detect them here.

        Returns:
            One (D,) float64 descriptor per face, in the order of ``located``.

        Raises:
            ImageError, InputError: the image cannot be read.
            ModelError: the reference runtime or the model files are missing.
        """
        pixels = to_rgb_uint8(image)
        found = self._ready(pixels, located)
        if not found:
            return []
        return list(self.reference_encode(self.reference_chips(pixels, found)))

    def _as_descriptor(self, value: DescriptorLike) -> np.ndarray:
        array = value.descriptor if isinstance(value, Face) else np.asarray(value, dtype=np.float64)
        if array.shape != (self.descriptor_size,):
            raise InputError(f"a {self.name} descriptor has shape ({self.descriptor_size},); got {array.shape}")
        return array

    def distance_between(self, a: DescriptorLike, b: DescriptorLike) -> float:
        """This recognizer's distance between two faces or descriptors (euclidean, or 1 − cosine similarity).

        Raises:
            InputError: a descriptor has the wrong length.
        """
        return descriptor_distance(self._as_descriptor(a), self._as_descriptor(b), self.metric)

    def matches(self, a: DescriptorLike, b: DescriptorLike, threshold: float | None = None) -> bool:
        """Whether two faces are the same person by this recognizer: distance ≤ threshold (default: its own).

        Raises:
            InputError: a descriptor has the wrong length, or ``threshold`` is not positive.
        """
        limit = self.threshold if threshold is None else threshold
        if not limit > 0:
            raise InputError(f"threshold must be > 0; got {limit}")
        return self.distance_between(a, b) <= limit

    def torch_distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Differentiable distances between rows of two descriptor batches (for losses).

        Shape: (N, D), (N or 1, D) -> (N,).
        """
        if self.metric == "cosine":
            similarity: torch.Tensor = torch.nn.functional.cosine_similarity(a, b, dim=1, eps=1e-12)
            return 1.0 - similarity
        norms: torch.Tensor = (a - b).norm(dim=1)
        return norms


def tapped(network: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A network's output and its activations at a middle layer, from one forward pass: what feature-level cloak
    losses compare. The built-in networks report the middle residual block or join (dlib's ResNet, FaceNet's graph,
    any ONNX graph with residual additions; an ONNX graph without them, like SFace's, its middle convolution);
    networks that cannot say where their middle is are refused.

    Raises:
        InputError: the network has no ``forward_tapped``.
    """
    method = getattr(network, "forward_tapped", None)
    if method is None:
        raise InputError(f"{type(network).__name__} does not report a middle layer: feature-level losses need dlib's,"
                         " FaceNet's or an ONNX network")
    out, middle = method(x)
    return out, middle


class PixelScaled(nn.Module):
    """Chips in [0, 1] -> ``(255·x − mean) / std`` (channels flipped to BGR if asked) -> the wrapped network.

    Shape: (N, 3, S, S) -> the network's output.
    """

    def __init__(self, net: nn.Module, *, mean: float = 0.0, std: float = 1.0, bgr: bool = False) -> None:
        super().__init__()
        if not std > 0:
            raise InputError(f"std must be > 0; got {std}")
        self.net, self.mean, self.std, self.bgr = net, float(mean), float(std), bgr
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(self._scaled(x))
        return out

    def _scaled(self, x: torch.Tensor) -> torch.Tensor:
        return ((x.flip(1) if self.bgr else x) * 255.0 - self.mean) / self.std

    def forward_tapped(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`forward`, and the wrapped network's middle activations (see :func:`tapped`)."""
        return tapped(self.net, self._scaled(x))


@dataclass(frozen=True)
class _NetworkCache:
    """A per-process cache of built networks, keyed by whatever identifies the weights."""

    built: dict[Any, nn.Module] = field(default_factory=dict)

    def get(self, key: Any, build: Any) -> nn.Module:
        if key not in self.built:
            self.built[key] = build()
        return self.built[key]


NETWORKS = _NetworkCache()
"""Networks built in this process (one per weights file), shared by every recognizer instance."""

