"""Reader for dlib's binary ``.dat`` network files (the DNN serialisation of ``dlib::serialize``).

The format is dlib's own: little-endian, self-describing only in part. Integers are a header byte (low four bits:
number of magnitude bytes, bit 0x80: negative) followed by the magnitude; floats are two integers (mantissa,
exponent) with value ``mantissa * 2**exponent``; strings are a length integer and the bytes; bools are the ASCII
bytes ``'0'``/``'1'``; tensors are a version integer, four dimension integers and raw float32 values.

A network file is written from the loss layer inwards: the loss, the version integers of every nested layer wrapper
(2: a computational layer, 1: a tag or skip marker, 3: the innermost wrapper that owns the input layer), the input
layer, then each computational layer from the input towards the output, each followed by saved training state. Tag
and skip markers write nothing else, so the residual topology is not in the file; :mod:`camo.face.network` infers
it from the layer sequence.

Only what dlib's face recogniser (``dlib_face_recognition_resnet_model_v1.dat``) uses is supported; anything else
raises :class:`~camo.errors.ModelError` naming what was found.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from camo.errors import ModelError

logger = logging.getLogger(__name__)

__all__ = [
    "AddPrev",
    "Affine",
    "Conv",
    "DlibLayer",
    "DlibNetwork",
    "FullyConnected",
    "Pool",
    "Relu",
    "parse_dlib_network",
    "read_dlib_network",
]

# Wrapper versions written by dlib's add_layer / add_tag_layer / add_skip_layer / input add_layer.
_COMPUTATIONAL, _MARKER, _INNERMOST = 2, 1, 3


@dataclass(frozen=True, eq=False)
class Conv:
    """A convolution (``con_4``): cross-correlation with zero padding, like ``torch.nn.Conv2d``.

    Shape: ``weights`` (out_channels, in_channels, kernel_rows, kernel_cols); ``bias`` (out_channels,).
    """

    weights: np.ndarray
    bias: np.ndarray
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True, eq=False)
class Affine:
    """A per-channel affine map ``gamma * x + beta`` (``affine_``: batch norm folded at training end).

    Shape: ``gamma`` and ``beta`` (channels,).
    """

    gamma: np.ndarray
    beta: np.ndarray


@dataclass(frozen=True)
class Relu:
    """``max(x, 0)`` (``relu_``)."""


@dataclass(frozen=True)
class Pool:
    """Max or average pooling (``max_pool_2`` / ``avg_pool_2``); ``size == (0, 0)`` averages everything."""

    kind: str  # "max" or "avg"
    size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]

    @property
    def is_global(self) -> bool:
        """Whether the window is the whole feature map (dlib writes 0×0 for that)."""
        return self.size == (0, 0)


@dataclass(frozen=True)
class AddPrev:
    """Adds the output of an earlier, tagged layer (``add_prev_``); which one is not stored in the file."""


@dataclass(frozen=True, eq=False)
class FullyConnected:
    """A fully connected layer (``fc_2``).

    Shape: ``weights`` (outputs, inputs); ``bias`` (outputs,) or None when the layer has none.
    """

    weights: np.ndarray
    bias: np.ndarray | None


DlibLayer = Conv | Affine | Relu | Pool | AddPrev | FullyConnected


@dataclass(frozen=True)
class DlibNetwork:
    """A parsed dlib metric-learning network: input normalisation plus layers from the input to the output.

    Attributes:
        loss: the loss layer's type string (``"loss_metric_2"``).
        margin: the metric loss margin.
        distance_threshold: the distance under which the loss calls two inputs the same (0.6 for faces).
        input_mean: per-channel (R, G, B) means subtracted from 0..255 pixels before dividing by 256.
        input_size: (rows, cols) the input layer requires.
        layers: computational layers in evaluation order.
    """

    loss: str
    margin: float
    distance_threshold: float
    input_mean: tuple[float, float, float]
    input_size: tuple[int, int]
    layers: tuple[DlibLayer, ...]


class _Reader:
    """Sequential decoder of dlib's primitive types over an in-memory file; every failure is a ModelError."""

    def __init__(self, data: bytes, name: str) -> None:
        self.data = data
        self.pos = 0
        self.name = name

    def fail(self, what: str) -> ModelError:
        return ModelError(f"{self.name}: {what} at byte {self.pos} of {len(self.data)}; not a valid dlib network file")

    def take(self, count: int, what: str) -> bytes:
        if count < 0 or self.pos + count > len(self.data):
            raise self.fail(f"truncated: {what} needs {count} bytes, only {len(self.data) - self.pos} left")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def integer(self) -> int:
        header = self.take(1, "integer header")[0]
        size = header & 0x0F
        # dlib never writes more than 8 magnitude bytes nor sets bits 0x70: anything else is not this format.
        if size > 8 or header & 0x70:
            self.pos -= 1
            raise self.fail(f"bad integer header 0x{header:02x}")
        magnitude = int.from_bytes(self.take(size, "integer"), "little")
        return -magnitude if header & 0x80 else magnitude

    def real(self) -> float:
        mantissa, exponent = self.integer(), self.integer()
        if abs(exponent) > 2000:
            raise self.fail(f"float exponent {exponent} out of range")
        return float(mantissa * 2.0**exponent)

    def string(self) -> str:
        length = self.integer()
        if length < 0 or length > 1000:
            raise self.fail(f"implausible string length {length}")
        raw = self.take(length, "string")
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise self.fail(f"non-text layer name {raw[:20]!r}") from None

    def boolean(self) -> bool:
        byte = self.take(1, "bool")
        if byte not in (b"0", b"1"):
            self.pos -= 1
            raise self.fail(f"bool byte {byte!r} is not '0' or '1'")
        return byte == b"1"

    def tensor(self) -> np.ndarray:
        version = self.integer()
        if version != 2:
            raise self.fail(f"tensor version {version} (expected 2)")
        dims = tuple(self.integer() for _ in range(4))
        if min(dims) < 0:
            raise self.fail(f"negative tensor dimensions {dims}")
        count = int(np.prod(dims, dtype=np.int64))
        raw = self.take(4 * count, f"tensor of shape {dims}")
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(dims)

    def alias(self) -> tuple[int, int, int, int]:
        version = self.integer()
        if version != 1:
            raise self.fail(f"alias_tensor version {version} (expected 1)")
        n, k, nr, nc = (self.integer() for _ in range(4))
        return n, k, nr, nc

    def at_bool(self) -> bool:
        return self.pos < len(self.data) and self.data[self.pos] in b"01"


def _conv(r: _Reader) -> Conv:
    params = r.tensor().ravel()
    num_filters, rows, cols, stride_y, stride_x, pad_y, pad_x = (r.integer() for _ in range(7))
    filters, biases = r.alias(), r.alias()
    for _ in range(4):  # learning-rate and weight-decay multipliers: training only
        r.real()
    out_ch, in_ch, kr, kc = filters
    n_weights = out_ch * in_ch * kr * kc
    if (out_ch, kr, kc) != (num_filters, rows, cols) or params.size != n_weights + num_filters:
        raise r.fail(f"con_4 with {params.size} params does not fit filters {filters} and {num_filters} biases")
    del biases
    return Conv(
        weights=params[:n_weights].reshape(filters),
        bias=params[n_weights:].copy(),
        stride=(stride_y, stride_x),
        padding=(pad_y, pad_x),
    )


def _affine(r: _Reader) -> Affine:
    params = r.tensor().ravel()
    r.alias()
    r.alias()
    # Newer dlib appends the layer mode (conv/fc); older files go straight to the wrapper's bools.
    if not r.at_bool():
        r.integer()
    if params.size % 2:
        raise r.fail(f"affine_ has an odd number of params ({params.size})")
    half = params.size // 2
    return Affine(gamma=params[:half].copy(), beta=params[half:].copy())


def _pool(r: _Reader, kind: str) -> Pool:
    rows, cols, stride_y, stride_x, pad_y, pad_x = (r.integer() for _ in range(6))
    return Pool(kind=kind, size=(rows, cols), stride=(stride_y, stride_x), padding=(pad_y, pad_x))


def _fc(r: _Reader) -> FullyConnected:
    outputs, inputs = r.integer(), r.integer()
    params = r.tensor().ravel()
    r.alias()
    r.alias()
    bias_mode = r.integer()  # dlib: 0 = has bias, 1 = no bias
    for _ in range(4):
        r.real()
    n_weights = outputs * inputs
    expected = n_weights + (outputs if bias_mode == 0 else 0)
    if bias_mode not in (0, 1) or params.size != expected:
        raise r.fail(f"fc_2 {inputs}->{outputs} with bias mode {bias_mode} cannot hold {params.size} params")
    # Stored as inputs x outputs; transpose to the usual (outputs, inputs).
    weights = params[:n_weights].reshape(inputs, outputs).T.copy()
    bias = params[n_weights:].copy() if bias_mode == 0 else None
    return FullyConnected(weights=weights, bias=bias)


def _layer(r: _Reader) -> DlibLayer:
    kind = r.string()
    if kind == "con_4":
        return _conv(r)
    if kind == "affine_":
        return _affine(r)
    if kind == "relu_":
        return Relu()
    if kind == "max_pool_2":
        return _pool(r, "max")
    if kind == "avg_pool_2":
        return _pool(r, "avg")
    if kind == "add_prev_":
        return AddPrev()
    if kind == "fc_2":
        return _fc(r)
    raise r.fail(
        f"unsupported layer type {kind!r} (supported: con_4, affine_, relu_, max_pool_2, avg_pool_2, add_prev_, fc_2)"
    )


def _skip_wrapper_state(r: _Reader, innermost: bool) -> None:
    """Skips what add_layer saves after its layer: three bools, three tensors (and a sample factor innermost)."""
    for _ in range(3):
        r.boolean()
    for _ in range(3):
        r.tensor()
    if innermost:
        r.integer()


def parse_dlib_network(data: bytes, name: str = "<bytes>") -> DlibNetwork:
    """Decodes a dlib metric network from the bytes of a ``.dat`` file.

    Args:
        data: the whole file.
        name: what to call the file in error messages.

    Returns:
        The parsed network.

    Raises:
        ModelError: the bytes are not a complete dlib metric network of a supported kind.
    """
    r = _Reader(data, name)
    if r.integer() != 1:
        raise r.fail("wrong leading version (expected 1)")
    loss = r.string()
    if not loss.startswith("loss_metric_"):
        raise r.fail(f"loss layer {loss!r} is not a metric loss (expected 'loss_metric_...')")
    margin, threshold = r.real(), r.real()

    n_computational = 0
    while True:
        version = r.integer()
        if version == _INNERMOST:
            break
        if version not in (_COMPUTATIONAL, _MARKER):
            raise r.fail(f"unexpected layer wrapper version {version}")
        n_computational += version == _COMPUTATIONAL

    input_kind = r.string()
    if input_kind != "input_rgb_image_sized":
        raise r.fail(f"input layer {input_kind!r} is not supported (expected 'input_rgb_image_sized')")
    mean = (r.real(), r.real(), r.real())
    size = (r.integer(), r.integer())

    layers = [_layer(r)]
    _skip_wrapper_state(r, innermost=True)
    for _ in range(n_computational):
        layers.append(_layer(r))
        _skip_wrapper_state(r, innermost=False)
    if r.pos != len(data):
        raise r.fail(f"{len(data) - r.pos} unexpected trailing bytes")
    logger.debug("parsed %s: %d layers", name, len(layers))
    return DlibNetwork(
        loss=loss, margin=margin, distance_threshold=threshold, input_mean=mean, input_size=size, layers=tuple(layers)
    )


def read_dlib_network(path: str | Path) -> DlibNetwork:
    """Reads a dlib metric network (such as ``dlib_face_recognition_resnet_model_v1.dat``) from disk.

    Args:
        path: the ``.dat`` file.

    Returns:
        The parsed network, layers from input to output.

    Raises:
        ModelError: the file is missing, unreadable, truncated, or not a supported dlib network.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read dlib network file {str(path)!r}: {exc.strerror or exc}") from exc
    return parse_dlib_network(data, name=str(path))
