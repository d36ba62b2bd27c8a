"""Feature-level cloak losses: each network reports a middle layer from the same forward pass, and the cloak's
model and loss use it (CloakConfig.features)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from camo.errors import InputError
from camo.face.cloak_config import PRESETS, CloakConfig
from tests.face.test_recognizers import _recognizer
from tests.support import shared

_INPUT = {"dlib": 150, "facenet": 160, "sface": 112}


@pytest.mark.parametrize("name", ["dlib", "facenet", "sface"])
def test_the_tapped_forward_is_the_forward_plus_a_middle_layer(dlib_module: Any, name: str) -> None:
    from camo.face.recognizers.base import tapped

    network = _recognizer(name).network
    size = _INPUT[name]
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        plain = network(x)
        out, middle = tapped(network, x)
    assert torch.equal(out, plain)
    # A spatial map well inside the network: coarser than the chip, finer than the global pool, many channels.
    assert middle.dim() == 4 and middle.shape[0] == 2 and middle.shape[1] >= 64
    assert 3 < middle.shape[2] < size // 4, middle.shape
    # It is the input's own: another chip gives other activations, and gradients reach the pixels through it.
    other = x.flip(3).requires_grad_()
    _, moved = tapped(network, other)
    assert not torch.allclose(moved.detach(), middle)
    (grad,) = torch.autograd.grad(moved.square().mean(), other)
    assert grad.abs().sum() > 0


def test_a_network_without_a_middle_layer_is_refused() -> None:
    from camo.face.recognizers.base import tapped

    with pytest.raises(InputError, match="middle layer"):
        tapped(nn.Linear(4, 2), torch.zeros(1, 4))


def test_an_onnx_graph_reports_its_middle_residual_join(tmp_path: Any) -> None:
    pytest.importorskip("onnx", reason="onnx is not installed")
    from onnx import TensorProto, helper, numpy_helper

    from camo.face.recognizers.onnx_exec import OnnxModule

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(3, 3, 3, 3)).astype(np.float32), f"w{i}") for i in range(3)]
    nodes = []
    value = "x"
    for i in range(3):  # three residual blocks: conv, then add the block's input back
        nodes.append(helper.make_node("Conv", [value, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Add", [f"c{i}", value], [f"r{i}"]))
        value = f"r{i}"
    nodes.append(helper.make_node("ReduceMean", [value], ["y"], axes=[2, 3], keepdims=0))
    graph = helper.make_graph(nodes, "res", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], initializer=inits)
    module = OnnxModule(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    assert module.tap_name == "r1"
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    out, middle = module.forward_tapped(x)
    assert torch.equal(out, module(x))
    w = [torch.from_numpy(numpy_helper.to_array(init).copy()) for init in inits]
    r0 = torch.nn.functional.conv2d(x, w[0], padding=1) + x
    r1 = torch.nn.functional.conv2d(r0, w[1], padding=1) + r0
    assert torch.allclose(middle, r1, atol=1e-5)


def test_feature_loss_adds_the_feature_change_in_the_steps_direction() -> None:
    from camo.face.cloak_model import feature_loss

    calls = []

    def base(output: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        calls.append(output.shape)
        return output.sum()

    output = torch.tensor([[1.0, 2.0, 0.5, 0.25], [3.0, 4.0, 1.5, 0.75]])  # 2 copies: 2 descriptor columns, 2 members
    dodge = feature_loss(base, 2, 3.0, targeted=False)(output, torch.zeros(1))
    decoy = feature_loss(base, 2, 3.0, targeted=True)(output, torch.zeros(1))
    change = (0.5 + 1.5) / 2 + (0.25 + 0.75) / 2  # each member's mean over the copies, summed
    assert dodge.item() == pytest.approx(10.0 + 3.0 * change)
    assert decoy.item() == pytest.approx(10.0 - 3.0 * change)
    assert calls == [torch.Size([2, 2]), torch.Size([2, 2])]  # the base loss never sees the feature columns


def test_features_setting_is_checked() -> None:
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(InputError, match="features"):
            CloakConfig(features=bad)


def test_a_feature_level_cloak_moves_the_middle_layers_and_fools_the_members(dlib_module: Any) -> None:
    from camo.face.cloak import cloak
    from camo.face.cloak_model import DegradedDescriptors, crop_tensor
    from camo.face.recognizers import get_recognizers, locate_faces
    from camo.images import to_rgb_uint8

    photo = shared("faces", "face_recognition_examples", "examples", "obama.jpg")
    members = [m for m in get_recognizers("dlib,sface")]
    config = replace(PRESETS["mid"], steps=4, samples=1)
    plain = cloak(photo, recognizers=members, config=config)
    featured = cloak(photo, recognizers=members, config=replace(config, features=10.0))
    assert featured.verification is not None and featured.verification.protected
    assert featured.linf <= round(config.eps * 255)

    # Measured with the members' middle layers: the feature loss moves them further than the plain cloak does.
    original = to_rgb_uint8(photo)
    face = locate_faces(original, landmarks68=True)[0]
    geometries = [m.geometry(face) for m in members]
    model = DegradedDescriptors(members, geometries, replace(config, features=1.0), torch.Generator())
    model.clean(crop_tensor(original))
    reference = model._features
    assert reference is not None

    def change(pixels: np.ndarray) -> float:
        with torch.no_grad():
            total = 0.0
            for member, geometry, ref in zip(members, geometries, reference, strict=True):
                _, middle = member.descriptor_and_features(crop_tensor(pixels), geometry)
                total += float((middle - ref).norm() / ref.norm())
            return total

    assert change(featured.pixels) > change(plain.pixels) * 1.15, (change(featured.pixels), change(plain.pixels))
