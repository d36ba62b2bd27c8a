"""A small ONNX executor in PyTorch: run a face recognizer's ONNX graph differentiably, no onnxruntime needed.

The graph is parsed with the ``onnx`` package; every node becomes a call to a PyTorch function, in the graph's
(topological) order, so gradients reach the input. Nodes whose inputs are all constants (weights, ``Constant``
nodes, ``DequantizeLinear`` of quantised weights, shape arithmetic on them) are evaluated once when the module is
built: an int8 block-quantised file becomes float weights computed exactly as onnxruntime computes them,
``(q − zero_point) · scale`` in float32.

Only the operators face recognition networks use are implemented (convolutional and transformer backbones:
convolutions, normalisations, activations, matrix products, shape manipulation). Anything else is refused when the
file is loaded, with one error naming the operator.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from camo.errors import ModelError
from camo.face.surrogate import branch_input, conv_output, residual_branch

logger = logging.getLogger(__name__)

__all__ = [
    "SUPPORTED_OPERATORS",
    "OnnxModule",
    "UnsupportedOperatorError",
    "load_onnx_module",
    "onnxruntime_session",
    "runtime_model_bytes",
    "runtime_model_file",
]

Value = torch.Tensor | None
Attributes = dict[str, Any]
OpFunction = Callable[[list[Value], Attributes, int], list[torch.Tensor]]


class UnsupportedOperatorError(ModelError):
    """The ONNX file uses an operator the executor does not implement."""


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:
        raise ModelError("reading ONNX files needs the onnx package: pip install onnx") from exc
    return onnx


# ONNX TensorProto data types -> torch dtypes (the ones that occur in recognizers' graphs).
_DTYPES: dict[int, torch.dtype] = {
    1: torch.float32, 2: torch.uint8, 3: torch.int8, 5: torch.int16, 6: torch.int32, 7: torch.int64,
    9: torch.bool, 10: torch.float16, 11: torch.float64, 16: torch.bfloat16,
}


def _ints(value: Value) -> list[int]:
    if value is None:
        return []
    return [int(v) for v in value.reshape(-1).tolist()]


def _axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def _same_float(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ONNX binary ops take equal types; promote int scalars in mixed float graphs rather than fail."""
    if a.dtype != b.dtype:
        dtype = torch.promote_types(a.dtype, b.dtype)
        return a.to(dtype), b.to(dtype)
    return a, b


def _binary(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> OpFunction:
    def op(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
        a, b = inputs[0], inputs[1]
        assert a is not None and b is not None
        return [fn(*_same_float(a, b))]

    return op


def _unary(fn: Callable[[torch.Tensor], torch.Tensor]) -> OpFunction:
    def op(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
        assert inputs[0] is not None
        return [fn(inputs[0])]

    return op


def _div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if a.dtype.is_floating_point:
        return a / b
    return torch.div(a, b, rounding_mode="trunc")


def _conv(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    x, weight, bias = inputs[0], inputs[1], inputs[2] if len(inputs) > 2 else None
    assert x is not None and weight is not None
    spatial = weight.dim() - 2
    strides = attrs.get("strides", [1] * spatial)
    dilations = attrs.get("dilations", [1] * spatial)
    group = attrs.get("group", 1)
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads_begin, pads_end = [], []
        for i in range(spatial):
            size, kernel = x.shape[2 + i], (weight.shape[2 + i] - 1) * dilations[i] + 1
            total = max(0, (math.ceil(size / strides[i]) - 1) * strides[i] + kernel - size)
            small, big = total // 2, total - total // 2
            pads_begin.append(small if auto_pad == "SAME_UPPER" else big)
            pads_end.append(big if auto_pad == "SAME_UPPER" else small)
    elif auto_pad == "VALID":
        pads_begin = pads_end = [0] * spatial
    else:
        pads = attrs.get("pads", [0] * (2 * spatial))
        pads_begin, pads_end = list(pads[:spatial]), list(pads[spatial:])
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[spatial]
    if pads_begin == pads_end:
        padding: Any = tuple(pads_begin)
    else:
        # F.pad lists the last dimension first.
        flat = [p for i in reversed(range(spatial)) for p in (pads_begin[i], pads_end[i])]
        x, padding = F.pad(x, flat), 0
    return [conv(x, weight, bias, stride=tuple(strides), padding=padding, dilation=tuple(dilations), groups=group)]


def _batch_norm(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    x, scale, bias, mean, var = inputs[:5]
    assert x is not None and scale is not None and bias is not None and mean is not None and var is not None
    shape = (1, -1) + (1,) * (x.dim() - 2)
    eps = attrs.get("epsilon", 1e-5)
    inv = scale.view(shape) / torch.sqrt(var.view(shape) + eps)
    return [(x - mean.view(shape)) * inv + bias.view(shape)]


def _channel_affine(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    """``x · scale + shift`` per channel: a batch norm whose constants were folded when the module was built."""
    x, scale, shift = inputs[0], inputs[1], inputs[2]
    assert x is not None and scale is not None and shift is not None
    shape = (1, -1) + (1,) * (x.dim() - 2)
    return [torch.addcmul(shift.view(shape), x, scale.view(shape))]


def _layer_norm(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    x, scale, bias = inputs[0], inputs[1], inputs[2] if len(inputs) > 2 else None
    assert x is not None and scale is not None
    axis = _axis(attrs.get("axis", -1), x.dim())
    shape = tuple(x.shape[axis:])
    weight = scale.expand(shape) if tuple(scale.shape) != shape else scale
    offset = None if bias is None else (bias.expand(shape) if tuple(bias.shape) != shape else bias)
    return [F.layer_norm(x, shape, weight, offset, eps=attrs.get("epsilon", 1e-5))]


def _prelu(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    x, slope = inputs[0], inputs[1]
    assert x is not None and slope is not None
    if x.dim() > 2 and slope.numel() == x.shape[1] and (
        (slope.dim() == 1 and slope.shape[0] != x.shape[-1]) or tuple(slope.shape[1:]) == (1,) * (slope.dim() - 1)
    ):
        # Per-channel slopes, written (C,) or (C, 1, 1): PyTorch's fused kernel, same arithmetic.
        return [F.prelu(x, slope.reshape(-1))]
    return [torch.where(x >= 0, x, x * slope)]


def _gemm(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    a, b, c = inputs[0], inputs[1], inputs[2] if len(inputs) > 2 else None
    assert a is not None and b is not None
    if attrs.get("transA", 0):
        a = a.t()
    if attrs.get("transB", 0):
        b = b.t()
    out = attrs.get("alpha", 1.0) * (a @ b)
    if c is not None:
        out = out + attrs.get("beta", 1.0) * c
    return [out]


def _reshape(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    x = inputs[0]
    assert x is not None
    shape = _ints(inputs[1])
    if not attrs.get("allowzero", 0):
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
    return [x.reshape(shape)]


def _flatten(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    x = inputs[0]
    assert x is not None
    axis = _axis(attrs.get("axis", 1), x.dim())
    return [x.reshape(math.prod(x.shape[:axis]), -1)]


def _axes_of(inputs: list[Value], attrs: Attributes, position: int) -> list[int] | None:
    if "axes" in attrs:
        return list(attrs["axes"])
    if len(inputs) > position and inputs[position] is not None:
        return _ints(inputs[position])
    return None


def _squeeze(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    x = inputs[0]
    assert x is not None
    axes = _axes_of(inputs, attrs, 1)
    if axes is None:
        return [x.squeeze()]
    keep = [s for i, s in enumerate(x.shape) if i not in {_axis(a, x.dim()) for a in axes}]
    return [x.reshape(keep)]


def _unsqueeze(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    x = inputs[0]
    assert x is not None
    axes = _axes_of(inputs, attrs, 1) or []
    rank = x.dim() + len(axes)
    for axis in sorted(_axis(a, rank) for a in axes):
        x = x.unsqueeze(axis)
    return [x]


def _transpose(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    x = inputs[0]
    assert x is not None
    perm = attrs.get("perm", list(reversed(range(x.dim()))))
    return [x.permute(*perm)]


def _concat(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    parts = [t for t in inputs if t is not None]
    dtype = parts[0].dtype
    for part in parts[1:]:
        dtype = torch.promote_types(dtype, part.dtype)
    return [torch.cat([p.to(dtype) for p in parts], dim=attrs["axis"])]


def _shape(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    x = inputs[0]
    assert x is not None
    dims = list(x.shape)
    start, end = attrs.get("start", 0), attrs.get("end", len(dims))
    return [torch.tensor(dims[start:end], dtype=torch.int64)]


def _gather(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    x, indices = inputs[0], inputs[1]
    assert x is not None and indices is not None
    axis = _axis(attrs.get("axis", 0), x.dim())
    idx = indices.long()
    idx = torch.where(idx < 0, idx + x.shape[axis], idx)
    picked = x.index_select(axis, idx.reshape(-1))
    return [picked.reshape(tuple(x.shape[:axis]) + tuple(idx.shape) + tuple(x.shape[axis + 1 :]))]


def _slice(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    x = inputs[0]
    assert x is not None
    if opset < 10:
        starts, ends = list(attrs["starts"]), list(attrs["ends"])
        axes = list(attrs.get("axes", range(len(starts))))
        steps = [1] * len(starts)
    else:
        starts, ends = _ints(inputs[1]), _ints(inputs[2])
        axes = _ints(inputs[3]) if len(inputs) > 3 and inputs[3] is not None else list(range(len(starts)))
        steps = _ints(inputs[4]) if len(inputs) > 4 and inputs[4] is not None else [1] * len(starts)
    index: list[Any] = [slice(None)] * x.dim()
    flips = []
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        axis = _axis(axis, x.dim())
        size = x.shape[axis]
        if step > 0:
            lo = max(0, min(size, start + size if start < 0 else start))
            hi = max(0, min(size, end + size if end < 0 else end))
            index[axis] = slice(lo, max(lo, hi), step)
        else:
            # Negative steps: walk the flipped axis (torch slices step forwards only).
            lo = max(-1, min(size - 1, start + size if start < 0 else start))
            hi = max(-1, min(size - 1, end + size if end < 0 else end))
            flips.append(axis)
            index[axis] = slice(size - 1 - lo, size - 1 - hi if hi < lo else size - 1 - lo, -step)
    if flips:
        x = x.flip(flips)
    return [x[tuple(index)]]


def _split(inputs: list[Value], attrs: Attributes, opset: int, outputs: int) -> list[torch.Tensor]:
    x = inputs[0]
    assert x is not None
    axis = _axis(attrs.get("axis", 0), x.dim())
    sizes = list(attrs["split"]) if "split" in attrs else _ints(inputs[1]) if len(inputs) > 1 else []
    if not sizes:
        chunk = math.ceil(x.shape[axis] / outputs)
        sizes = [min(chunk, x.shape[axis] - i * chunk) for i in range(outputs)]
    return list(torch.split(x, sizes, dim=axis))


def _reduce(fn: Callable[[torch.Tensor, list[int], bool], torch.Tensor]) -> OpFunction:
    def op(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
        x = inputs[0]
        assert x is not None
        axes = _axes_of(inputs, attrs, 1)
        keep = bool(attrs.get("keepdims", 1))
        if not axes:
            if attrs.get("noop_with_empty_axes", 0):
                return [x]
            axes = list(range(x.dim()))
        return [fn(x, [_axis(a, x.dim()) for a in axes], keep)]

    return op


def _clip(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    x = inputs[0]
    assert x is not None
    low = inputs[1] if len(inputs) > 1 else None
    high = inputs[2] if len(inputs) > 2 else None
    if opset < 11:
        low = torch.tensor(attrs["min"]) if "min" in attrs else None
        high = torch.tensor(attrs["max"]) if "max" in attrs else None
    if low is not None:
        x = torch.maximum(x, low.to(x.dtype))
    if high is not None:
        x = torch.minimum(x, high.to(x.dtype))
    return [x]


def _expand(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    x = inputs[0]
    assert x is not None
    shape = torch.broadcast_shapes(tuple(x.shape), tuple(_ints(inputs[1])))
    return [x.expand(shape)]


def _cast(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    x = inputs[0]
    assert x is not None
    to = attrs["to"]
    if to not in _DTYPES:
        raise UnsupportedOperatorError(f"Cast to ONNX data type {to} is not supported")
    return [x.to(_DTYPES[to])]


def _softmax(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    x = inputs[0]
    assert x is not None
    if opset >= 13:
        return [torch.softmax(x, dim=attrs.get("axis", -1))]
    axis = _axis(attrs.get("axis", 1), x.dim())  # older opsets: softmax over the flattened trailing dimensions
    flat = x.reshape(math.prod(x.shape[:axis]), -1)
    return [torch.softmax(flat, dim=1).reshape(x.shape)]


def _cumsum(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    x = inputs[0]
    assert x is not None
    axis = _axis(_ints(inputs[1])[0], x.dim())
    if attrs.get("reverse", 0):
        x = x.flip(axis)
    out = torch.cumsum(x, dim=axis)
    if attrs.get("exclusive", 0):
        out = out - x
    if attrs.get("reverse", 0):
        out = out.flip(axis)
    return [out]


def _constant_of_shape(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    value = attrs.get("value")
    fill = value if isinstance(value, torch.Tensor) else torch.zeros(1, dtype=torch.float32)
    return [fill.reshape(-1)[0].expand(_ints(inputs[0])).clone()]


def _constant(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    if "value" in attrs:
        return [attrs["value"]]
    for key, dtype in (("value_float", torch.float32), ("value_int", torch.int64)):
        if key in attrs:
            return [torch.tensor(attrs[key], dtype=dtype)]
    for key, dtype in (("value_floats", torch.float32), ("value_ints", torch.int64)):
        if key in attrs:
            return [torch.tensor(list(attrs[key]), dtype=dtype)]
    raise UnsupportedOperatorError(f"Constant with attributes {sorted(attrs)} is not supported")


def _dequantize(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    q, scale, zero = inputs[0], inputs[1], inputs[2] if len(inputs) > 2 else None
    assert q is not None and scale is not None
    axis = _axis(attrs.get("axis", 1), q.dim())
    block = attrs.get("block_size", 0)

    def spread(t: torch.Tensor) -> torch.Tensor:
        if t.dim() == 0 or t.numel() == 1:
            return t.reshape(())
        if block:  # blocked: each scale covers `block` consecutive elements along `axis`
            return t.repeat_interleave(block, dim=axis).narrow(axis, 0, q.shape[axis])
        return t.reshape([-1 if i == axis else 1 for i in range(q.dim())])

    shifted = q.to(torch.int32) - (spread(zero).to(torch.int32) if zero is not None else 0)
    return [shifted.to(torch.float32) * spread(scale).to(torch.float32)]


def _pool(kind: str) -> OpFunction:
    def op(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
        x = inputs[0]
        assert x is not None
        kernel = list(attrs["kernel_shape"])
        spatial = len(kernel)
        strides = list(attrs.get("strides", [1] * spatial))
        pads = list(attrs.get("pads", [0] * (2 * spatial)))
        if pads[:spatial] != pads[spatial:] or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise UnsupportedOperatorError(f"{kind} with asymmetric or automatic padding is not supported")
        ceil = bool(attrs.get("ceil_mode", 0))
        if kind == "MaxPool":
            pool = {1: F.max_pool1d, 2: F.max_pool2d}[spatial]
            return [pool(x, kernel, strides, pads[:spatial], ceil_mode=ceil)]
        avg = {1: F.avg_pool1d, 2: F.avg_pool2d}[spatial]
        return [avg(x, kernel, strides, pads[:spatial], ceil_mode=ceil,
                    count_include_pad=bool(attrs.get("count_include_pad", 0)))]

    return op


def _pad(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    x = inputs[0]
    assert x is not None
    pads = list(attrs["pads"]) if opset < 11 else _ints(inputs[1])
    value = attrs.get("value", 0.0) if opset < 11 else (
        float(inputs[2].reshape(-1)[0]) if len(inputs) > 2 and inputs[2] is not None else 0.0)
    if len(inputs) > 3 and inputs[3] is not None:
        raise UnsupportedOperatorError("Pad with an axes input is not supported")
    mode = attrs.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    rank = x.dim()
    flat = [p for i in reversed(range(rank)) for p in (pads[i], pads[i + rank])]
    while len(flat) > 2 and flat[-2:] == [0, 0]:
        flat = flat[:-2]
    return [F.pad(x, flat, mode={"constant": "constant", "reflect": "reflect", "edge": "replicate"}[mode],
                  value=value if mode == "constant" else None)]


def _where(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    cond, a, b = inputs[0], inputs[1], inputs[2]
    assert cond is not None and a is not None and b is not None
    a, b = _same_float(a, b)
    return [torch.where(cond.bool(), a, b)]


def _range(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    start, limit, delta = inputs[0], inputs[1], inputs[2]
    assert start is not None and limit is not None and delta is not None
    return [torch.arange(start.item(), limit.item(), delta.item(), dtype=start.dtype)]


def _tile(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    x = inputs[0]
    assert x is not None
    return [x.repeat(*_ints(inputs[1]))]


def _global_average_pool(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    x = inputs[0]
    assert x is not None
    return [x.mean(dim=tuple(range(2, x.dim())), keepdim=True)]


def _identity(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    x = inputs[0]
    assert x is not None
    return [x]


def _leaky_relu(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    assert inputs[0] is not None
    return [F.leaky_relu(inputs[0], attrs.get("alpha", 0.01))]


def _hard_sigmoid(inputs: list[Value], attrs: Attributes, opset: int) -> list[torch.Tensor]:
    assert inputs[0] is not None
    return [torch.clamp(attrs.get("alpha", 0.2) * inputs[0] + attrs.get("beta", 0.5), 0.0, 1.0)]


def _l2_reduce(x: torch.Tensor, axes: list[int], keep: bool) -> torch.Tensor:
    return torch.sqrt(torch.sum(x * x, dim=axes, keepdim=keep))


def _amax(x: torch.Tensor, axes: list[int], keep: bool) -> torch.Tensor:
    return torch.amax(x, dim=axes, keepdim=keep)


def _mean(x: torch.Tensor, axes: list[int], keep: bool) -> torch.Tensor:
    return torch.mean(x, dim=axes, keepdim=keep)


def _sum(x: torch.Tensor, axes: list[int], keep: bool) -> torch.Tensor:
    return torch.sum(x, dim=axes, keepdim=keep)


_OPS: dict[str, OpFunction] = {
    "Add": _binary(torch.add), "Sub": _binary(torch.sub), "Mul": _binary(torch.mul), "Div": _binary(_div),
    "Pow": _binary(torch.pow), "Max": _binary(torch.maximum), "Min": _binary(torch.minimum),
    "Equal": _binary(torch.eq), "Less": _binary(torch.lt), "Greater": _binary(torch.gt),
    "And": _binary(torch.logical_and), "Or": _binary(torch.logical_or), "MatMul": _binary(torch.matmul),
    "Relu": _unary(F.relu), "Sigmoid": _unary(torch.sigmoid), "Tanh": _unary(torch.tanh), "Erf": _unary(torch.erf),
    "Sqrt": _unary(torch.sqrt), "Exp": _unary(torch.exp), "Log": _unary(torch.log), "Abs": _unary(torch.abs),
    "Neg": _unary(torch.neg), "Reciprocal": _unary(torch.reciprocal), "Sin": _unary(torch.sin),
    "Cos": _unary(torch.cos), "Floor": _unary(torch.floor), "Ceil": _unary(torch.ceil),
    "Not": _unary(torch.logical_not), "HardSwish": _unary(F.hardswish),
    "_ChannelAffine": _channel_affine,
    "Conv": _conv, "BatchNormalization": _batch_norm, "LayerNormalization": _layer_norm, "PRelu": _prelu,
    "LeakyRelu": _leaky_relu, "HardSigmoid": _hard_sigmoid, "Gemm": _gemm, "Reshape": _reshape,
    "Flatten": _flatten, "Squeeze": _squeeze, "Unsqueeze": _unsqueeze, "Transpose": _transpose,
    "Concat": _concat, "Shape": _shape, "Gather": _gather, "Slice": _slice, "Clip": _clip, "Expand": _expand,
    "Cast": _cast, "Softmax": _softmax, "CumSum": _cumsum, "ConstantOfShape": _constant_of_shape,
    "Constant": _constant, "DequantizeLinear": _dequantize, "MaxPool": _pool("MaxPool"),
    "AveragePool": _pool("AveragePool"), "GlobalAveragePool": _global_average_pool, "Pad": _pad,
    "Where": _where, "Range": _range, "Tile": _tile, "Identity": _identity, "Dropout": _identity,
    "ReduceL2": _reduce(_l2_reduce), "ReduceMean": _reduce(_mean), "ReduceSum": _reduce(_sum),
    "ReduceMax": _reduce(_amax),
}

#: The operator types the executor runs (default ONNX domain).
SUPPORTED_OPERATORS: frozenset[str] = frozenset([*(op for op in _OPS if not op.startswith("_")), "Split"])


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(array, copy=True))


def _attributes(node: Any, onnx: Any) -> Attributes:
    attrs: Attributes = {}
    for attribute in node.attribute:
        value = onnx.helper.get_attribute_value(attribute)
        if isinstance(value, onnx.TensorProto):
            value = _tensor(onnx.numpy_helper.to_array(value))
        elif isinstance(value, (list, tuple)):
            value = list(value)
        attrs[attribute.name] = value
    return attrs


class _Node:
    __slots__ = ("attrs", "inputs", "name", "op", "outputs")

    def __init__(self, op: str, name: str, inputs: list[str], outputs: list[str], attrs: Attributes) -> None:
        self.op, self.name, self.inputs, self.outputs, self.attrs = op, name, inputs, outputs, attrs


class OnnxModule(nn.Module):
    """An ONNX graph run by PyTorch operators: differentiable, frozen, in eval mode.

    The module takes the graph's first (non-weight) input and returns its first output; other inputs must have
    defaults (initialisers) in the file.
    """

    def __init__(self, model: Any, *, source: str = "ONNX model") -> None:
        """Builds the executor from a parsed ``onnx.ModelProto``.

        Args:
            model: the parsed model (``onnx.load(path)``).
            source: a name for messages (usually the file path).

        Raises:
            UnsupportedOperatorError: a node uses an operator (or a domain) the executor does not implement.
            ModelError: the graph has no free input or no output, or reads a value nothing produces.
        """
        super().__init__()
        onnx = _onnx()
        graph = model.graph
        self.source = source
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
        for node in graph.node:
            if node.domain not in ("", "ai.onnx") or node.op_type not in SUPPORTED_OPERATORS:
                where = f"{node.domain}." if node.domain not in ("", "ai.onnx") else ""
                raise UnsupportedOperatorError(
                    f"{source} uses the ONNX operator {where}{node.op_type} (node {node.name or node.output[0]!r}), "
                    "which camo's executor does not support; supported: " + ", ".join(sorted(SUPPORTED_OPERATORS)))
        constants: dict[str, torch.Tensor] = {
            init.name: _tensor(onnx.numpy_helper.to_array(init)) for init in graph.initializer
        }
        read = {name for node in graph.node for name in node.input}
        # Old exporters list weights among the inputs; some files even list inputs no node reads: skip both.
        inputs = [i.name for i in graph.input if i.name not in constants and i.name in read]
        if not inputs or not graph.output:
            raise ModelError(f"{source} has no free input or no output: not a recognizer graph")
        self.input_name, self.output_name = inputs[0], graph.output[0].name
        self.input_shape = tuple(
            d.dim_value if d.HasField("dim_value") else None for d in graph.input[[i.name for i in graph.input].index(
                self.input_name)].type.tensor_type.shape.dim)
        available = set(constants) | set(inputs)
        nodes = []
        with torch.no_grad():
            for proto in graph.node:
                node = _Node(proto.op_type, proto.name, list(proto.input), list(proto.output),
                             _attributes(proto, onnx))
                missing = [name for name in node.inputs if name and name not in available]
                if missing:
                    raise ModelError(f"{source}: node {node.name!r} reads {missing[0]!r}, which nothing produces")
                available.update(node.outputs)
                if all(not name or name in constants for name in node.inputs):
                    # Weights, their dequantisation and shape arithmetic on them: computed once, here.
                    for name, value in zip(node.outputs, self._run(node, [constants.get(n) for n in node.inputs]),
                                           strict=False):
                        constants[name] = value
                elif node.op == "BatchNormalization" and all(n in constants for n in node.inputs[1:5]):
                    # Inference batch norm is a per-channel affine map: fold its four constants into two, once.
                    scale, bias, mean, var = (constants[n] for n in node.inputs[1:5])
                    factor = scale / torch.sqrt(var + node.attrs.get("epsilon", 1e-5))
                    constants[f"{node.outputs[0]}::scale"] = factor
                    constants[f"{node.outputs[0]}::shift"] = bias - mean * factor
                    nodes.append(_Node("_ChannelAffine", node.name, [node.inputs[0], f"{node.outputs[0]}::scale",
                                                                      f"{node.outputs[0]}::shift"],
                                       node.outputs[:1], {}))
                else:
                    nodes.append(node)
        used = {name for node in nodes for name in node.inputs} | {self.output_name}
        self._nodes = nodes
        # What forward_tapped reports: the residual join (an Add of two computed values) in the middle of the graph;
        # in a graph without residual joins, the middle convolution.
        is_join = [node.op == "Add" and len(node.inputs) == 2
                   and all(name and name not in constants for name in node.inputs) for node in nodes]
        joins = [node.outputs[0] for node, join in zip(nodes, is_join, strict=True) if join]
        joins = joins or [node.outputs[0] for node in nodes if node.op == "Conv"]
        self.tap_name: str | None = joins[len(joins) // 2] if joins else None
        # Which input of each residual join is the branch (for skip gradients); None for every other node.
        produced_by = {name: index for index, node in enumerate(nodes) for name in node.outputs}
        self._branch: list[int | None] = [
            branch_input([produced_by.get(name, -1) for name in node.inputs]) if join else None
            for node, join in zip(nodes, is_join, strict=True)]
        # Drop each activation after its last reader: a batch through a deep graph would otherwise keep every
        # intermediate tensor alive until the end (autograd still keeps what backward needs).
        last_read: dict[str, int] = {}
        for index, node in enumerate(nodes):
            for name in node.inputs:
                last_read[name] = index
        self._release: list[list[str]] = [[] for _ in nodes]
        for name, index in last_read.items():
            if name != self.output_name and name not in constants:
                self._release[index].append(name)
        self._constant_names: dict[str, str] = {}
        for index, name in enumerate(sorted(n for n in constants if n in used)):
            key = f"c{index}"
            self.register_buffer(key, constants[name].contiguous())
            self._constant_names[name] = key
        self.requires_grad_(False)
        self.eval()

    def _run(self, node: _Node, values: list[Value]) -> list[torch.Tensor]:
        if node.op == "Split":
            return _split(values, node.attrs, self.opset, len(node.outputs))
        try:
            return _OPS[node.op](values, node.attrs, self.opset)
        except UnsupportedOperatorError:
            raise
        except (RuntimeError, IndexError, KeyError, ValueError, AssertionError) as exc:
            raise ModelError(f"{self.source}: node {node.name!r} ({node.op}) failed: {exc}") from exc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Runs the graph on its first input.

        Shape: the graph's input shape -> its first output's shape.
        """
        return self.forward_tapped(x)[0]

    def forward_tapped(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`forward`, and the value of the middle residual join or convolution (``tap_name``; the output when
        the graph has neither), for feature-level cloak losses."""
        values: dict[str, Value] = {name: getattr(self, key) for name, key in self._constant_names.items()}
        values[self.input_name] = x
        middle: Value = None
        for node, release, branch in zip(self._nodes, self._release, self._branch, strict=True):
            args = [values.get(name) if name else None for name in node.inputs]
            if branch is not None:
                args[branch] = residual_branch(args[branch])  # type: ignore[arg-type]
            outputs = self._run(node, args)
            if node.op == "Conv":
                outputs = [conv_output(outputs[0]), *outputs[1:]]
            for name, value in zip(node.outputs, outputs, strict=False):
                values[name] = value
                if name == self.tap_name:
                    middle = value
            for name in release:
                values.pop(name, None)
        out = values[self.output_name]
        assert out is not None
        return out, out if middle is None else middle


def load_onnx_module(path: str | Path) -> OnnxModule:
    """Parses an ONNX file and builds its PyTorch executor.

    Args:
        path: the ``.onnx`` file.

    Returns:
        The frozen module (not cached: callers cache what they keep).

    Raises:
        ModelError: the file is missing or not a readable ONNX model.
        UnsupportedOperatorError: it uses an operator the executor does not implement.
    """
    onnx = _onnx()
    file = Path(path)
    if not file.is_file():
        raise ModelError(f"ONNX model {str(file)!r} not found")
    try:
        model = onnx.load(str(file))
    except Exception as exc:  # the onnx package raises DecodeError, OSError, ...: all mean "not an ONNX file"
        raise ModelError(f"{str(file)!r} is not a readable ONNX model: {exc}") from exc
    logger.info("building the ONNX executor for %s (%d nodes)", file, len(model.graph.node))
    return OnnxModule(model, source=str(file))


def runtime_model_bytes(path: str | Path) -> bytes:
    """The ONNX file with its graph inputs reduced to the ones nodes read and that carry no weights.

    Old exporters list every weight among the inputs, and SFace's quantised file lists inputs no node reads:
    onnxruntime then demands them and OpenCV 5 refuses the graph. The nodes and weights are untouched.

    Raises:
        ModelError: the file is missing or unreadable.
    """
    onnx = _onnx()
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # DecodeError, OSError...: all mean "not an ONNX file"
        raise ModelError(f"{str(path)!r} is not a readable ONNX model: {exc}") from exc
    read = {name for node in model.graph.node for name in node.input}
    weights = {init.name for init in model.graph.initializer}
    keep = [i for i in model.graph.input if i.name in read and i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    data: bytes = model.SerializeToString()
    return data


def runtime_model_file(path: str | Path) -> Path:
    """:func:`runtime_model_bytes` saved once in camo's cache (for runtimes that only open files, like OpenCV).

    Raises:
        ModelError: the file is missing or unreadable.
    """
    import hashlib

    from camo.images import write_bytes_atomic
    from camo.models.zoo import cache_dir

    source = Path(path)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    target = cache_dir() / "onnx" / f"{source.stem}-{digest}.onnx"
    if not target.is_file():
        write_bytes_atomic(runtime_model_bytes(source), target)
    return target


def onnxruntime_session(path: str | Path, *, threads: int = 1) -> Any:
    """An onnxruntime CPU session for an ONNX file (the reference runtime for files camo executes), cached per
    process and file version.

    Raises:
        ModelError: onnxruntime is not installed, or the file is missing or unreadable.
    """
    file = Path(path).resolve()
    if not file.is_file():
        raise ModelError(f"ONNX model {str(file)!r} not found")
    return _session(file, file.stat().st_mtime_ns, threads)


@functools.lru_cache(maxsize=8)
def _session(path: Path, mtime_ns: int, threads: int) -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise ModelError("the reference runtime for ONNX recognizers is onnxruntime: pip install onnxruntime") from exc
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3  # its warnings about old exporters' graph inputs are not the user's concern
    return onnxruntime.InferenceSession(runtime_model_bytes(path), options, providers=["CPUExecutionProvider"])
