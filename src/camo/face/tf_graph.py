"""Reader for frozen TensorFlow graphs (``GraphDef`` ``.pb`` files), straight from the protobuf wire format.

A frozen graph is one serialised ``tensorflow.GraphDef`` message: a list of ``NodeDef`` (name, op, inputs, an
attribute map) in which the trained weights are ``Const`` nodes holding a ``TensorProto``. Only the handful of
messages a frozen inference graph uses are decoded, and only their fields that carry meaning here; other fields are
skipped, as protobuf readers do. No TensorFlow (and no protobuf runtime) is needed.

Wire format (https://protobuf.dev/programming-guides/encoding/): a message is a sequence of fields, each a varint key
``field_number << 3 | wire_type`` followed by a varint (type 0), 8 bytes (type 1), a varint length and that many bytes
(type 2: strings, bytes, nested messages, packed repeated numbers) or 4 bytes (type 5). Repeated numbers may come
packed or one per field; both are accepted. Anything that does not decode raises :class:`~camo.errors.ModelError`.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from camo.errors import ModelError

logger = logging.getLogger(__name__)

__all__ = ["AttrList", "AttrValue", "GraphDef", "NodeDef", "parse_graph_def", "read_graph_def"]

# tensorflow/core/framework/types.proto: DataType enum values -> numpy dtypes (little-endian, as TF writes them).
_DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"),  # DT_FLOAT
    2: np.dtype("<f8"),  # DT_DOUBLE
    3: np.dtype("<i4"),  # DT_INT32
    4: np.dtype("u1"),  # DT_UINT8
    5: np.dtype("<i2"),  # DT_INT16
    6: np.dtype("i1"),  # DT_INT8
    9: np.dtype("<i8"),  # DT_INT64
    10: np.dtype("?"),  # DT_BOOL
}
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


@dataclass(frozen=True)
class AttrList:
    """``AttrValue.ListValue``: the repeated forms of an attribute (e.g. ``strides``, ``ksize``)."""

    s: tuple[bytes, ...] = ()
    i: tuple[int, ...] = ()
    f: tuple[float, ...] = ()
    b: tuple[bool, ...] = ()
    type: tuple[int, ...] = ()
    shape: tuple[tuple[int, ...], ...] = ()


@dataclass(frozen=True, eq=False)
class AttrValue:
    """One node attribute (``AttrValue``); exactly the field the file set is not ``None``.

    ``type`` is the raw ``DataType`` enum value; ``shape`` has -1 for unknown dimensions.
    """

    s: bytes | None = None
    i: int | None = None
    f: float | None = None
    b: bool | None = None
    type: int | None = None
    shape: tuple[int, ...] | None = None
    tensor: np.ndarray | None = None
    list: AttrList | None = None


@dataclass(frozen=True, eq=False)
class NodeDef:
    """One graph node: its name, operation, input names (``"^name"`` = control input) and attributes."""

    name: str
    op: str
    inputs: tuple[str, ...]
    attr: dict[str, AttrValue] = field(default_factory=dict)

    def tensor(self) -> np.ndarray:
        """The ``value`` tensor of a ``Const`` node.

        Raises:
            ModelError: the node is not a constant holding a tensor.
        """
        value = self.attr.get("value")
        if self.op != "Const" or value is None or value.tensor is None:
            raise ModelError(f"graph node {self.name!r} ({self.op}) is not a constant tensor")
        return value.tensor


@dataclass(frozen=True, eq=False)
class GraphDef:
    """A parsed ``GraphDef``: its nodes in file order, and a lookup by name."""

    nodes: tuple[NodeDef, ...]
    by_name: dict[str, NodeDef] = field(default_factory=dict)

    def node(self, name: str) -> NodeDef:
        """The node called ``name``.

        Raises:
            ModelError: the graph has no such node.
        """
        try:
            return self.by_name[name]
        except KeyError:
            raise ModelError(f"graph has no node named {name!r}") from None


# --- wire format ----------------------------------------------------------------------------------------------------


def _varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    """Decodes one base-128 varint at ``pos``; returns (value, next position)."""
    value = shift = 0
    while True:
        if pos >= end:
            raise ModelError(f"truncated varint at byte {pos}")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise ModelError(f"varint longer than 10 bytes at byte {pos}")


def _fields(buf: memoryview, start: int, end: int) -> Iterator[tuple[int, int, int | memoryview]]:
    """Yields (field number, wire type, value) for each field of the message in ``buf[start:end]``.

    The value is an int for varints, and a memoryview of the payload for the other wire types.
    """
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ModelError(f"invalid protobuf field number 0 at byte {pos}")
        if wire == _VARINT:
            value, pos = _varint(buf, pos, end)
            yield number, wire, value
            continue
        if wire == _BYTES:
            length, pos = _varint(buf, pos, end)
        elif wire == _FIXED64:
            length = 8
        elif wire == _FIXED32:
            length = 4
        else:
            raise ModelError(f"unsupported protobuf wire type {wire} (field {number}) at byte {pos}")
        if pos + length > end:
            raise ModelError(f"field {number} claims {length} bytes at byte {pos}, past the end of its message ({end})")
        yield number, wire, buf[pos : pos + length]
        pos += length


def _payload(wire: int, value: int | memoryview, what: str) -> memoryview:
    if wire != _BYTES or not isinstance(value, memoryview):
        raise ModelError(f"{what} should be length-delimited; found wire type {wire}")
    return value


def _text(wire: int, value: int | memoryview, what: str) -> str:
    try:
        return bytes(_payload(wire, value, what)).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelError(f"{what} is not valid UTF-8") from exc


def _int(wire: int, value: int | memoryview, what: str) -> int:
    if wire != _VARINT or not isinstance(value, int):
        raise ModelError(f"{what} should be a varint; found wire type {wire}")
    return value - (1 << 64) if value >= 1 << 63 else value  # int64 negatives are 10-byte two's complement


def _ints(wire: int, value: int | memoryview, what: str) -> list[int]:
    """A repeated varint field: packed (one length-delimited run) or a single unpacked element."""
    if wire == _VARINT:
        return [_int(wire, value, what)]
    run = _payload(wire, value, what)
    out, pos = [], 0
    while pos < len(run):
        raw, pos = _varint(run, pos, len(run))
        out.append(_int(_VARINT, raw, what))
    return out


def _floats(wire: int, value: int | memoryview, what: str) -> list[float]:
    """A repeated float field: packed or a single unpacked fixed32 element."""
    if not isinstance(value, memoryview) or wire not in (_BYTES, _FIXED32) or len(value) % 4:
        raise ModelError(f"{what} should hold float32 values; found wire type {wire}")
    return [float(v) for v in np.frombuffer(value, dtype="<f4")]


def _float(wire: int, value: int | memoryview, what: str) -> float:
    if wire != _FIXED32 or not isinstance(value, memoryview):
        raise ModelError(f"{what} should be a float32; found wire type {wire}")
    return float(struct.unpack("<f", value)[0])


# --- messages -------------------------------------------------------------------------------------------------------


def _shape(buf: memoryview) -> tuple[int, ...]:
    """TensorShapeProto: ``dim`` (2) = Dim{size (1)}; ``unknown_rank`` (3) is reported as an empty shape."""
    dims = []
    for number, wire, value in _fields(buf, 0, len(buf)):
        if number == 2:
            dim = _payload(wire, value, "shape dimension")
            size = 0
            for n, w, v in _fields(dim, 0, len(dim)):
                if n == 1:
                    size = _int(w, v, "dimension size")
            dims.append(size)
    return tuple(dims)


def _tensor(buf: memoryview) -> np.ndarray:
    """TensorProto: dtype (1), tensor_shape (2), tensor_content (4) or typed value lists (float 5, double 6, int 7,
    int64 10, bool 11); a short value list is filled with its last value, as TensorFlow does."""
    dtype_enum, content = 0, None
    shape: tuple[int, ...] = ()
    values: list[float] = []
    for number, wire, value in _fields(buf, 0, len(buf)):
        if number == 1:
            dtype_enum = _int(wire, value, "tensor dtype")
        elif number == 2:
            shape = _shape(_payload(wire, value, "tensor shape"))
        elif number == 4:
            content = bytes(_payload(wire, value, "tensor content"))
        elif number == 5:
            values += _floats(wire, value, "tensor float_val")
        elif number == 6:
            if not isinstance(value, memoryview) or wire not in (_BYTES, _FIXED64) or len(value) % 8:
                raise ModelError(f"tensor double_val should hold float64 values; found wire type {wire}")
            values += [float(v) for v in np.frombuffer(value, dtype="<f8")]
        elif number in (7, 10, 11):
            values += _ints(wire, value, "tensor int_val")  # stay Python ints: exact for int64
    dtype = _DTYPES.get(dtype_enum)
    if dtype is None:
        raise ModelError(f"unsupported tensor dtype (TensorFlow DataType {dtype_enum})")
    if any(d < 0 for d in shape):
        raise ModelError(f"constant tensor has an unknown dimension: shape {shape}")
    count = int(np.prod(shape, dtype=np.int64))
    if content is not None:
        if len(content) != count * dtype.itemsize:
            raise ModelError(
                f"tensor content has {len(content)} bytes; shape {shape} of {dtype} needs {count * dtype.itemsize}"
            )
        array = np.frombuffer(content, dtype=dtype).reshape(shape)
    elif values:
        if len(values) > count:
            raise ModelError(f"tensor has {len(values)} values for shape {shape}")
        array = np.asarray(values + values[-1:] * (count - len(values)), dtype=dtype).reshape(shape)
    else:
        array = np.zeros(shape, dtype=dtype)
    return array.astype(dtype.newbyteorder("="), copy=False)


def _attr_list(buf: memoryview) -> AttrList:
    """AttrValue.ListValue: s (2), i (3), f (4), b (5), type (6), shape (7)."""
    s: list[bytes] = []
    i: list[int] = []
    f: list[float] = []
    b: list[bool] = []
    types: list[int] = []
    shapes: list[tuple[int, ...]] = []
    for number, wire, value in _fields(buf, 0, len(buf)):
        if number == 2:
            s.append(bytes(_payload(wire, value, "list attribute s")))
        elif number == 3:
            i += _ints(wire, value, "list attribute i")
        elif number == 4:
            f += _floats(wire, value, "list attribute f")
        elif number == 5:
            b += [bool(v) for v in _ints(wire, value, "list attribute b")]
        elif number == 6:
            types += _ints(wire, value, "list attribute type")
        elif number == 7:
            shapes.append(_shape(_payload(wire, value, "list attribute shape")))
    return AttrList(tuple(s), tuple(i), tuple(f), tuple(b), tuple(types), tuple(shapes))


def _attr_value(buf: memoryview) -> AttrValue:
    """AttrValue: list (1), s (2), i (3), f (4), b (5), type (6), shape (7), tensor (8)."""
    value_of: dict[str, object] = {}
    for number, wire, value in _fields(buf, 0, len(buf)):
        if number == 1:
            value_of["list"] = _attr_list(_payload(wire, value, "list attribute"))
        elif number == 2:
            value_of["s"] = bytes(_payload(wire, value, "string attribute"))
        elif number == 3:
            value_of["i"] = _int(wire, value, "int attribute")
        elif number == 4:
            value_of["f"] = _float(wire, value, "float attribute")
        elif number == 5:
            value_of["b"] = bool(_int(wire, value, "bool attribute"))
        elif number == 6:
            value_of["type"] = _int(wire, value, "type attribute")
        elif number == 7:
            value_of["shape"] = _shape(_payload(wire, value, "shape attribute"))
        elif number == 8:
            value_of["tensor"] = _tensor(_payload(wire, value, "tensor attribute"))
    return AttrValue(**value_of)  # type: ignore[arg-type]


def _node(buf: memoryview) -> NodeDef:
    """NodeDef: name (1), op (2), input (3), attr (5, a map: entries with key (1) and value (2))."""
    name = op = ""
    inputs: list[str] = []
    attr: dict[str, AttrValue] = {}
    for number, wire, value in _fields(buf, 0, len(buf)):
        if number == 1:
            name = _text(wire, value, "node name")
        elif number == 2:
            op = _text(wire, value, "node op")
        elif number == 3:
            inputs.append(_text(wire, value, "node input"))
        elif number == 5:
            entry = _payload(wire, value, "node attribute")
            key, attr_value = "", AttrValue()
            for n, w, v in _fields(entry, 0, len(entry)):
                if n == 1:
                    key = _text(w, v, "attribute name")
                elif n == 2:
                    attr_value = _attr_value(_payload(w, v, "attribute value"))
            attr[key] = attr_value
    if not name or not op:
        raise ModelError(f"graph node without a name or op (name={name!r}, op={op!r})")
    return NodeDef(name, op, tuple(inputs), attr)


def parse_graph_def(data: bytes) -> GraphDef:
    """Parses a serialised ``GraphDef`` (its ``node`` list, field 1; other top-level fields are ignored).

    Args:
        data: the bytes of a frozen ``.pb`` graph.

    Returns:
        The graph, nodes in file order.

    Raises:
        ModelError: the bytes are not a GraphDef with at least one node, or a node or tensor does not decode.
    """
    buf = memoryview(data)
    nodes = [_node(_payload(w, v, "graph node")) for number, w, v in _fields(buf, 0, len(buf)) if number == 1]
    if not nodes:
        raise ModelError("not a TensorFlow GraphDef: no nodes found")
    by_name: dict[str, NodeDef] = {}
    for node in nodes:
        if node.name in by_name:
            raise ModelError(f"graph has two nodes named {node.name!r}")
        by_name[node.name] = node
    return GraphDef(tuple(nodes), by_name)


def read_graph_def(path: Path) -> GraphDef:
    """Reads and parses a frozen TensorFlow graph file.

    Args:
        path: the ``.pb`` file.

    Returns:
        The parsed graph.

    Raises:
        ModelError: the file cannot be read or is not a valid GraphDef (the message names the file).
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read TensorFlow graph {str(path)!r}: {exc.strerror or exc}") from exc
    try:
        graph = parse_graph_def(data)
    except ModelError as exc:
        raise ModelError(f"{str(path)!r} is not a valid TensorFlow graph: {exc}") from exc
    logger.debug("read %d graph nodes from %s", len(graph.nodes), path)
    return graph
