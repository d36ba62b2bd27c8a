"""How a cloak's step sees the members (camo.face.surrogate): skip gradients (residual branches pass γ × their
gradient back, the forward pass unchanged) and feature dropout (convolutions drop outputs in passes with gradients)."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import torch

import camo.face.surrogate as surrogate_module
from camo.errors import InputError
from camo.face.cloak_config import PRESETS, CloakConfig, parse_dropout
from camo.face.surrogate import branch_input, conv_output, dropout_rate, residual_branch, surrogate
from tests.face.test_recognizers import _recognizer
from tests.support import shared

_INPUT = {"dlib": 150, "facenet": 160, "sface": 112}


def test_a_residual_branch_keeps_its_value_and_scales_its_gradient() -> None:
    x = torch.linspace(-2, 3, 7, requires_grad=True)
    with surrogate(skip_gradient=0.3):
        y = residual_branch(x * 2)
    assert torch.equal(y, x.detach() * 2)
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert torch.allclose(grad, torch.full_like(x, 0.6))
    # Outside the block, and with γ = 1 or None, the gradient is the plain one.
    for gamma in (None, 1.0):
        with surrogate(skip_gradient=gamma):
            (grad,) = torch.autograd.grad(residual_branch(x * 2).sum(), x)
        assert torch.allclose(grad, torch.full_like(x, 2.0))
    (grad,) = torch.autograd.grad(residual_branch(x * 2).sum(), x)
    assert torch.allclose(grad, torch.full_like(x, 2.0))


def test_gamma_is_checked_and_restored_after_an_error() -> None:
    for bad in (0.0, -0.5, 1.5, float("nan"), float("inf")):
        with pytest.raises(InputError, match="skip"), surrogate(skip_gradient=bad):
            pass
        with pytest.raises(InputError, match="skip_gradient"):
            CloakConfig(skip_gradient=bad)
    x = torch.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="inside"), surrogate(skip_gradient=0.5):
        raise RuntimeError("inside")
    (grad,) = torch.autograd.grad(residual_branch(x).sum(), x)
    assert torch.equal(grad, torch.ones(3))


def test_gamma_belongs_to_the_thread_that_set_it() -> None:
    seen: list[torch.Tensor] = []

    def other() -> None:
        x = torch.ones(2, requires_grad=True)
        seen.append(torch.autograd.grad(residual_branch(x).sum(), x)[0])

    with surrogate(skip_gradient=0.25):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert torch.equal(seen[0], torch.ones(2))


def test_feature_dropout_drops_a_fraction_in_passes_with_gradients_only() -> None:
    x = torch.ones(200, 50)
    with surrogate(dropout=0.2, seed=3):
        dropped = conv_output(x)
        again = conv_output(x)
        with torch.no_grad():
            kept = conv_output(x)
    assert torch.equal(kept, x)
    zeros = float((dropped == 0).float().mean())
    assert 0.17 < zeros < 0.23, zeros
    # The survivors are scaled so the expected value stays x's; each pass draws a new mask.
    assert torch.allclose(dropped[dropped != 0], torch.full_like(dropped[dropped != 0], 1 / 0.8))
    assert not torch.equal(dropped, again)
    # The same seed draws the same masks: a cloak stays reproducible.
    with surrogate(dropout=0.2, seed=3):
        assert torch.equal(conv_output(x), dropped)
    assert torch.equal(conv_output(x), x)
    for bad in (-0.1, 0.6, float("nan")):
        with pytest.raises(InputError, match="dropout"), surrogate(dropout=bad):
            pass
    for bad in (0.0, 0.6, float("nan")):
        with pytest.raises(InputError, match="dropout"):
            CloakConfig(dropout=bad)


def test_dropout_masks_are_windows_of_a_pool_or_drawn_whole_when_larger(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(surrogate_module, "POOL_SIZE", 100_000)
    small, large = torch.ones(40, 50), torch.ones(400, 300)  # 2000 values fit the pool, 120,000 do not
    with surrogate(dropout=0.1, seed=1):
        masks = [conv_output(small) for _ in range(200)]
        with dropout_rate(0.3):
            heavier = [conv_output(small) for _ in range(200)]
        whole = conv_output(large)
    for drawn, rate in ((masks, 0.1), (heavier, 0.3)):
        stacked = torch.stack(drawn)
        assert abs(float((stacked == 0).float().mean()) - rate) < 0.02
        assert torch.allclose(stacked[stacked != 0], torch.full_like(stacked[stacked != 0], 1 / (1 - rate)))
        # Each pass gets its own window of the pool, so masks differ from pass to pass.
        assert len({tuple((mask.flatten() == 0).nonzero().flatten()[:20].tolist()) for mask in drawn}) > 195
    assert whole.shape == large.shape and 0.07 < float((whole == 0).float().mean()) < 0.13


@pytest.mark.parametrize("name", ["dlib", "facenet", "sface"])
def test_feature_dropout_reaches_every_built_in_network_and_only_when_asked(dlib_module: Any, name: str) -> None:
    network = _recognizer(name).network
    size = _INPUT[name]
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    plain = network(x)
    with surrogate(dropout=0.02, seed=0):
        ghost = network(x)
        with torch.no_grad():
            reference = network(x)
    assert torch.equal(reference, plain)
    # A ghost of the network: its output moves (how far on real faces: bench/ENSEMBLE_FINDINGS.md, round 5).
    assert not torch.allclose(ghost, plain, rtol=1e-4, atol=1e-5)


def test_the_branch_of_a_join_is_the_input_produced_later() -> None:
    assert branch_input([3, 9]) == 1
    assert branch_input([9, 3]) == 0
    assert branch_input([-1, 0]) == 1  # the graph's input is the shortcut of the first block
    with pytest.raises(InputError, match="two"):
        branch_input([1, 2, 3])


def test_an_onnx_graph_scales_the_gradient_of_its_residual_branches() -> None:
    pytest.importorskip("onnx", reason="onnx is not installed")
    from onnx import TensorProto, helper, numpy_helper

    from camo.face.recognizers.onnx_exec import OnnxModule

    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(3, 3, 3, 3)).astype(np.float32) * 0.3 for _ in range(3)]
    inits = [numpy_helper.from_array(w, f"w{i}") for i, w in enumerate(weights)]
    nodes, value = [], "x"
    for i in range(3):  # the branch is the first input of one Add, the second of the others
        nodes.append(helper.make_node("Conv", [value, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1]))
        inputs = [f"c{i}", value] if i != 1 else [value, f"c{i}"]
        nodes.append(helper.make_node("Add", inputs, [f"r{i}"]))
        value = f"r{i}"
    nodes.append(helper.make_node("ReduceMean", [value], ["y"], axes=[1, 2, 3], keepdims=0))
    graph = helper.make_graph(nodes, "res", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N"])], initializer=inits)
    module = OnnxModule(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1), requires_grad=True)
    plain = module(x)
    with surrogate(skip_gradient=0.4):
        skipped = module(x)
        (grad,) = torch.autograd.grad(skipped.sum(), x)
    assert torch.equal(plain, skipped)

    # The graph is linear, so its skip gradient is the plain gradient of the same graph with each branch × γ.
    def scaled(inputs: torch.Tensor, gamma: float) -> torch.Tensor:
        out = inputs
        for w in weights:
            out = out + gamma * torch.nn.functional.conv2d(out, torch.from_numpy(w), padding=1)
        return out.mean(dim=(1, 2, 3))

    (expected,) = torch.autograd.grad(scaled(x, 0.4).sum(), x)
    assert torch.allclose(grad, expected, atol=1e-6)
    (unscaled,) = torch.autograd.grad(scaled(x, 1.0).sum(), x)
    assert not torch.allclose(grad, unscaled, atol=1e-4)


@pytest.mark.parametrize("name", ["dlib", "facenet", "sface"])
def test_built_in_networks_keep_their_output_and_change_their_gradient_where_they_have_joins(
        dlib_module: Any, name: str) -> None:
    network = _recognizer(name).network
    size = _INPUT[name]
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0), requires_grad=True)
    out = network(x)
    (plain,) = torch.autograd.grad(out.sum(), x)
    with surrogate(skip_gradient=0.5):
        skipped_out = network(x)
        (skipped,) = torch.autograd.grad(skipped_out.sum(), x)
    assert torch.equal(out, skipped_out)
    cosine = float(torch.nn.functional.cosine_similarity(plain.flatten(), skipped.flatten(), dim=0))
    if name == "sface":  # no residual joins: nothing to scale
        assert torch.allclose(plain, skipped)
    else:
        assert cosine < 0.99, cosine


def test_a_skip_gradient_cloak_stays_in_its_budget_and_fools_the_member_without_joins(dlib_module: Any) -> None:
    from camo.face.cloak import cloak
    from camo.face.recognizers import get_recognizers

    photo = shared("faces", "face_recognition_examples", "examples", "obama.jpg")
    members = list(get_recognizers("dlib,sface"))
    config = replace(PRESETS["mid"], steps=6, samples=1)
    plain = cloak(photo, recognizers=members, config=config)
    skipped = cloak(photo, recognizers=members, config=replace(config, skip_gradient=0.5))
    assert skipped.verification is not None and plain.verification is not None
    # SFace has no residual joins: its gradient is untouched, and it is fooled as by the plain cloak. (dlib's own
    # margin shrinks: a skip gradient follows less of a member's own gradient, so it is a weaker white-box step.)
    sface = next(v for v in skipped.verification.recognizers if v.recognizer == "sface")
    assert all(face.protected for face in sface.faces)
    assert skipped.linf <= round(config.eps * 255)
    # Same seed, same forward pass: only the changed gradient can make the two cloaks differ.
    assert not np.array_equal(skipped.pixels, plain.pixels)
    assert skipped.config.skip_gradient == 0.5


def test_a_member_gets_its_own_dropout_rate_inside_the_cloaks_block_only() -> None:
    x = torch.ones(400, 50)
    with surrogate(dropout=0.0, seed=1):
        assert torch.equal(conv_output(x), x)  # 0: no dropout of its own ...
        with dropout_rate(0.3):  # ... but a member may have a rate
            zeros = float((conv_output(x) == 0).float().mean())
            with dropout_rate(None):  # None keeps the surrounding rate
                assert float((conv_output(x) == 0).float().mean()) > 0.25
        assert torch.equal(conv_output(x), x)  # restored on leaving
    assert 0.27 < zeros < 0.33, zeros
    # Outside a cloak's block (no generator for the masks) a member's rate changes nothing.
    with dropout_rate(0.3):
        assert torch.equal(conv_output(x), x)
    for bad in (-0.1, 0.6, float("nan")):
        with pytest.raises(InputError, match="dropout"), dropout_rate(bad):
            pass


def test_per_member_rates_are_checked_read_and_kept_by_retries() -> None:
    config = CloakConfig(dropout=0.02, member_dropout=(("facenet", 0.05), ("sface", 0.0)))
    assert (config.dropout_for("dlib"), config.dropout_for("facenet"), config.dropout_for("sface")) == (0.02, 0.05, 0)
    assert config.ghosts and CloakConfig(member_dropout=(("dlib", 0.01),)).ghosts
    assert not CloakConfig().ghosts and not CloakConfig(member_dropout=(("dlib", 0.0),)).ghosts
    for bad in ((("dlib", 0.6),), (("dlib", float("nan")),), (("dlib", 0.1), ("dlib", 0.2)), (("", 0.1),)):
        with pytest.raises(InputError, match="member_dropout"):
            CloakConfig(member_dropout=bad)
    assert parse_dropout("0.02") == (0.02, ())
    assert parse_dropout("0") == (None, ())
    assert parse_dropout("dlib=0.02, facenet=0.05") == (None, (("dlib", 0.02), ("facenet", 0.05)))
    assert parse_dropout("0.01,sface=0.05") == (0.01, (("sface", 0.05),))
    for bad in ("x", "dlib=", "0.1,0.2", "facenet=high"):
        with pytest.raises(InputError, match="dropout"):
            parse_dropout(bad)
    from camo.face.cloak_config import stronger

    rates = (("dlib", 0.02), ("facenet", 0.05))
    assert stronger(replace(PRESETS["mid"], member_dropout=rates)) == replace(PRESETS["high"], member_dropout=rates)


def test_equal_member_rates_are_the_common_rate_bit_for_bit(dlib_module: Any) -> None:
    from camo.face.cloak import cloak
    from camo.face.recognizers import get_recognizers

    photo = shared("faces", "face_recognition_examples", "examples", "obama.jpg")
    members = list(get_recognizers("dlib"))
    config = replace(PRESETS["mid"], steps=2, samples=1)
    common = cloak(photo, recognizers=members, config=replace(config, dropout=0.05), verify_result=False)
    named = cloak(photo, recognizers=members, config=replace(config, member_dropout=(("dlib", 0.05),)),
                  verify_result=False)
    other = cloak(photo, recognizers=members, config=replace(config, dropout=0.05, member_dropout=(("dlib", 0.2),)),
                  verify_result=False)
    unused = cloak(photo, recognizers=members, config=replace(config, dropout=0.05, member_dropout=(("sface", 0.2),)),
                   verify_result=False)
    assert np.array_equal(common.pixels, named.pixels)
    assert np.array_equal(common.pixels, unused.pixels)  # a rate for a recognizer not in the ensemble is unused
    assert not np.array_equal(common.pixels, other.pixels)  # the member's own rate replaces the common one
