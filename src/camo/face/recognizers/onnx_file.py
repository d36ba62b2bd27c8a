"""Any face recognizer in an ONNX file, on the common interface: the user brings the network they fear.

The graph runs in camo's own PyTorch executor (:mod:`camo.face.recognizers.onnx_exec`), so it is differentiable
from the photo's pixels like the built-in recognizers. The user states what the file expects — the alignment
(``arcface``: the 5-point similarity crop most modern recognizers use; ``dlib``: dlib's chip; ``box``: the detector's
box with a margin), the chip size, the input normalisation ``(pixel − mean) / std`` on 0–255 values, the channel
order, the metric and the threshold. Reference: onnxruntime on the same file, fed crops cut by OpenCV's
``warpAffine`` (arcface, box) or dlib's ``get_face_chip`` (dlib).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch import nn

from camo.errors import InputError, ModelError
from camo.face.align import ChipGeometry, arcface_points, box_geometry, chip_geometry, similarity_geometry
from camo.face.recognizers.base import (
    METRICS,
    NETWORKS,
    DescriptorLike,
    Face,
    FaceRecognizer,
    LocatedFace,
    PixelScaled,
    RecognizerInfo,
)
from camo.face.recognizers.onnx_exec import load_onnx_module, onnxruntime_session
from camo.face.recognizers.sface import opencv

__all__ = ["ALIGNMENTS", "DEFAULT_COSINE_THRESHOLD", "OnnxRecognizer", "parse_norm"]

ALIGNMENTS = ("arcface", "dlib", "box")

DEFAULT_COSINE_THRESHOLD = 0.6
"""Without ``--threshold``: cosine distance 0.6 (similarity 0.4), a common ArcFace-family operating point — not a
calibration of the user's file."""

DEFAULT_EUCLIDEAN_THRESHOLD = 1.1
"""Without ``--threshold``, for a euclidean file: 1.1, which on unit vectors is cosine similarity 0.395."""


def parse_norm(text: str) -> tuple[float, float]:
    """``--norm`` as ``MEAN/STD`` on 0–255 pixels (``127.5/127.5`` → [−1, 1]; ``0/1`` → raw 0–255;
    ``0/255`` → [0, 1]), or a name: ``arcface`` (127.5/127.5), ``raw`` (0/1), ``unit`` (0/255), ``facenet``
    (127.5/128).

    Raises:
        InputError: not a name nor two numbers, or STD ≤ 0.
    """
    names = {"arcface": (127.5, 127.5), "raw": (0.0, 1.0), "unit": (0.0, 255.0), "facenet": (127.5, 128.0)}
    if text in names:
        return names[text]
    try:
        mean_text, std_text = text.split("/")
        mean, std = float(mean_text), float(std_text)
    except ValueError:
        raise InputError(f"--norm takes MEAN/STD on 0–255 pixels (e.g. 127.5/127.5) or one of "
                         f"{', '.join(names)}; got {text!r}") from None
    if not std > 0:
        raise InputError(f"--norm STD must be > 0; got {text!r}")
    return mean, std


class OnnxRecognizer(FaceRecognizer):
    """A recognizer from an ONNX file, run by camo's executor; reference onnxruntime.

    Args:
        path: the ``.onnx`` file (input N×3×S×S, output N×D).
        align: ``"arcface"``, ``"dlib"`` or ``"box"``.
        size: chip side in pixels (112 for ArcFace-family files).
        norm: (mean, std) applied to 0–255 pixels before the network.
        bgr: feed the network BGR instead of RGB.
        metric: ``"cosine"`` (distance 1 − cosine similarity) or ``"euclidean"``.
        threshold: same person when distance ≤ threshold; default: a generic one (see
            :data:`DEFAULT_COSINE_THRESHOLD`), stated as such by :meth:`info`.
        padding: dlib chip padding (``align="dlib"``).
        margin: box growth, as a fraction of the box (``align="box"``).
        name: a display name; default: the file name.

    Raises:
        InputError: a setting out of range.
        ModelError: the file is missing.
    """

    needs_landmarks68 = False

    def __init__(
        self,
        path: str | Path,
        *,
        align: str = "arcface",
        size: int = 112,
        norm: tuple[float, float] = (127.5, 127.5),
        bgr: bool = False,
        metric: str = "cosine",
        threshold: float | None = None,
        padding: float = 0.25,
        margin: float = 0.35,
        name: str | None = None,
        upsample: int = 1,
    ) -> None:
        super().__init__(upsample=upsample)
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"ONNX recognizer {str(self.path)!r} not found")
        if align not in ALIGNMENTS:
            raise InputError(f"--align must be one of {', '.join(ALIGNMENTS)}; got {align!r}")
        if metric not in METRICS:
            raise InputError(f"--metric must be one of {', '.join(METRICS)}; got {metric!r}")
        if size < 16 or size > 1024:
            raise InputError(f"--size must be between 16 and 1024 pixels; got {size}")
        if not norm[1] > 0:
            raise InputError(f"the normalisation's std must be > 0; got {norm[1]}")
        if threshold is not None and not threshold > 0:
            raise InputError(f"--threshold must be > 0; got {threshold}")
        self.align, self.size, self.norm, self.bgr = align, size, norm, bgr
        self.padding, self.margin = padding, margin
        self.metric = metric
        self.threshold_given = threshold is not None
        default = DEFAULT_COSINE_THRESHOLD if metric == "cosine" else DEFAULT_EUCLIDEAN_THRESHOLD
        self.threshold = float(threshold) if threshold is not None else default
        self.name = name or self.path.name
        self.needs_landmarks68 = align == "arcface"
        self.descriptor_size = 0  # known once the network ran; see _as_descriptor

    def _key(self) -> tuple[str, str, tuple[float, float], bool]:
        digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
        return (digest, str(self.path.resolve()), self.norm, self.bgr)

    def _load_network(self) -> nn.Module:
        mean, std = self.norm
        return NETWORKS.get(self._key(), lambda: PixelScaled(load_onnx_module(self.path), mean=mean, std=std,
                                                              bgr=self.bgr))

    def geometry(self, face: LocatedFace) -> ChipGeometry:
        """The chip this file expects: ArcFace crop, dlib chip or grown box, at ``size``."""
        if self.align == "arcface":
            if face.landmarks68 is None:
                raise InputError("ArcFace alignment needs dlib's 68 landmarks; locate faces with landmarks68=True")
            return similarity_geometry(arcface_points(face.landmarks68), size=self.size)
        if self.align == "dlib":
            return chip_geometry(face.box, face.landmarks, size=self.size, padding=self.padding)
        return box_geometry(face.box, size=self.size, margin=self.margin)

    def reference_chips(self, pixels: np.ndarray, faces: Sequence[LocatedFace]) -> np.ndarray:
        """Crops cut by the reference tools: dlib's ``get_face_chip`` (dlib) or OpenCV's ``warpAffine``."""
        chips = []
        for face in faces:
            geometry = self.geometry(face)
            if self.align == "dlib":
                from camo.face.align import _dlib
                from camo.face.recognizers.dlib_resnet import _full_object_detection

                chip = _dlib().get_face_chip(pixels, _full_object_detection(face.box, face.landmarks), self.size,
                                             self.padding)
            else:
                cv2 = opencv()
                chip = cv2.warpAffine(pixels, geometry.matrix, (self.size, self.size),
                                      flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            chips.append(np.asarray(chip, dtype=np.uint8))
        return np.stack(chips) if chips else np.zeros((0, self.size, self.size, 3), np.uint8)

    def reference_encode(self, chips: np.ndarray) -> np.ndarray:
        """onnxruntime on the file, with the same normalisation and channel order. Shape: -> (K, D)."""
        session = onnxruntime_session(self.path)
        mean, std = self.norm
        x = chips.astype(np.float32)
        if self.bgr:
            x = x[..., ::-1]
        x = np.ascontiguousarray(((x - mean) / std).transpose(0, 3, 1, 2), dtype=np.float32)
        name = session.get_inputs()[0].name
        # Some exports fix the batch at 1: run one chip at a time.
        outputs = [np.asarray(session.run(None, {name: x[i : i + 1]})[0]).reshape(-1) for i in range(len(x))]
        return np.array(outputs, dtype=np.float64).reshape(len(x), -1)

    def _as_descriptor(self, value: DescriptorLike) -> np.ndarray:
        array = value.descriptor if isinstance(value, Face) else np.asarray(value, dtype=np.float64)
        if array.ndim != 1:
            raise InputError(f"a {self.name} descriptor is one vector; got shape {array.shape}")
        return array

    def info(self) -> RecognizerInfo:
        """What this recognizer is, as the user described it."""
        mean, std = self.norm
        source = ("given with --threshold" if self.threshold_given else
                  f"generic default {self.threshold:g} ({self.metric}), not calibrated for this file: "
                  "pass --threshold")
        return RecognizerInfo(
            name=self.name,
            network=f"user ONNX file {self.path.name}, run by camo's PyTorch executor",
            input=f"{self.size}×{self.size} {'BGR' if self.bgr else 'RGB'}, (pixel − {mean:g}) / {std:g}, "
                  f"{self.align} alignment",
            descriptor_size=self.descriptor_size, metric=self.metric, threshold=self.threshold,
            threshold_source=source, licence="the file's own", weights=str(self.path),
            reference="onnxruntime",
        )
