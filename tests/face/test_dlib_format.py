"""The dlib .dat reader: the real recognizer file, a hand-made file, and every way a file can be wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from camo.errors import ModelError
from camo.face.dlib_format import Conv, FullyConnected, Pool, parse_dlib_network, read_dlib_network


def _int(value: int) -> bytes:
    """dlib's integer encoding, written independently of the reader under test."""
    magnitude = abs(value).to_bytes(8, "little").rstrip(b"\0")
    return bytes([len(magnitude) | (0x80 if value < 0 else 0)]) + magnitude


def _float(mantissa: int, exponent: int) -> bytes:
    return _int(mantissa) + _int(exponent)


def _string(text: str) -> bytes:
    return _int(len(text)) + text.encode()


def _tensor(values: np.ndarray) -> bytes:
    return _int(2) + _int(values.size) + _int(1) + _int(1) + _int(1) + values.astype("<f4").tobytes()


def _alias(*dims: int) -> bytes:
    return _int(1) + b"".join(_int(d) for d in dims)


def _wrapper_state(innermost: bool) -> bytes:
    empty = _int(2) + _int(0) * 4
    return b"110" + empty * 3 + (_int(1) if innermost else b"")


def _tiny_network() -> bytes:
    """loss_metric <- fc(2 -> 3, no bias) <- tag <- con(2 filters, 1x1) <- input."""
    conv = np.array([0.5, -1.0, 2.0, 0.25, 3.0, -4.0, 0.125, 1.5], dtype=np.float32)  # 2x3 weights + 2 biases
    fc = np.arange(6, dtype=np.float32)  # stored inputs x outputs
    return b"".join(
        [
            _int(1),
            _string("loss_metric_2"),
            _float(1, -1),
            _float(-3, 2),
            _int(2) + _int(1) + _int(3),
            _string("input_rgb_image_sized"),
            _float(123, 0),
            _float(-117, 0),
            _float(52, 1),
            _int(4) + _int(5),
            _string("con_4") + _tensor(conv),
            b"".join(_int(v) for v in (2, 1, 1, 1, 1, 0, 0)),
            _alias(2, 3, 1, 1) + _alias(1, 2, 1, 1) + _float(1, 0) * 4,
            _wrapper_state(innermost=True),
            _string("fc_2") + _int(3) + _int(2) + _tensor(fc) + _alias(2, 3, 1, 1) + _alias(0, 0, 0, 0),
            _int(1) + _float(1, 0) * 4,
            _wrapper_state(innermost=False),
        ]
    )


def test_hand_made_file_decodes_every_field() -> None:
    net = parse_dlib_network(_tiny_network())
    assert (net.loss, net.margin, net.distance_threshold) == ("loss_metric_2", 0.5, -12.0)
    assert net.input_mean == (123.0, -117.0, 104.0)
    assert net.input_size == (4, 5)
    conv, fc = net.layers
    assert isinstance(conv, Conv) and isinstance(fc, FullyConnected)
    np.testing.assert_array_equal(conv.weights.reshape(2, 3), [[0.5, -1.0, 2.0], [0.25, 3.0, -4.0]])
    np.testing.assert_array_equal(conv.bias, [0.125, 1.5])
    np.testing.assert_array_equal(fc.weights, np.arange(6).reshape(2, 3).T)
    assert fc.bias is None


def test_reads_dlib_face_recognition_model(model_path: Path) -> None:
    net = read_dlib_network(model_path)
    convs = [layer for layer in net.layers if isinstance(layer, Conv)]
    params = sum(c.weights.size + c.bias.size for c in convs)
    params += sum(layer.gamma.size * 2 for layer in net.layers if hasattr(layer, "gamma"))
    fc = net.layers[-1]
    assert isinstance(fc, FullyConnected) and fc.bias is None
    params += fc.weights.size
    assert len(convs) == 29
    assert params == 5_614_592
    assert fc.weights.shape == (128, 256)
    assert net.input_size == (150, 150)
    assert net.distance_threshold == pytest.approx(0.6)
    assert isinstance(net.layers[-2], Pool) and net.layers[-2].is_global


def test_truncated_file_is_a_model_error(model_path: Path, tmp_path: Path) -> None:
    data = model_path.read_bytes()
    for cut in (3, 1000, len(data) // 2, len(data) - 1):
        broken = tmp_path / f"cut{cut}.dat"
        broken.write_bytes(data[:cut])
        with pytest.raises(ModelError, match=r"truncated|not a valid dlib"):
            read_dlib_network(broken)


def test_random_bytes_are_a_model_error(tmp_path: Path) -> None:
    noise = tmp_path / "noise.dat"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ModelError, match=r"noise\.dat"):
        read_dlib_network(noise)


def test_unknown_layer_type_is_named(model_path: Path) -> None:
    data = model_path.read_bytes().replace(b"\x05relu_", b"\x05relv_", 1)
    with pytest.raises(ModelError, match="relv_"):
        parse_dlib_network(data)


def test_trailing_bytes_are_refused() -> None:
    with pytest.raises(ModelError, match="trailing"):
        parse_dlib_network(_tiny_network() + b"\x00")


def test_missing_file_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"missing\.dat"):
        read_dlib_network(tmp_path / "missing.dat")
