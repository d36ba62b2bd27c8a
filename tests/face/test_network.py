"""dlib's ResNet in torch, checked against dlib's own encoder on dlib's own chips."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from camo.errors import InputError


@pytest.fixture(scope="module")
def net(dlib_module: Any) -> Any:
    from camo.face import load_dlib_recognizer

    return load_dlib_recognizer()


def test_structure_is_frozen_resnet(net: Any) -> None:
    assert sum(p.numel() for p in net.parameters()) == 5_614_592
    assert sum(isinstance(m, torch.nn.Conv2d) for m in net.modules()) == 29
    assert not net.training
    assert not any(p.requires_grad for p in net.parameters())


def test_load_is_cached(net: Any) -> None:
    from camo.face import load_dlib_recognizer

    assert load_dlib_recognizer() is net


def test_wrong_input_shape_says_what_it_got(net: Any) -> None:
    with pytest.raises(InputError, match=r"\(1, 3, 120, 150\)"):
        net(torch.zeros(1, 3, 120, 150))


def test_matches_dlib_on_dlib_chips_for_every_shared_face(net: Any, dlib_photos: list[Any], dlib_module: Any) -> None:
    """Must show: max |ours − dlib's compute_face_descriptor(chip)| <= 1e-4 over every face of both photo sets."""
    from camo.face.recognizer import _dlib_encoder

    encoder = _dlib_encoder()
    chips = [dlib_module.get_face_chip(p.pixels, s, 150, 0.25) for p in dlib_photos for s in p.shapes]
    assert len(chips) >= 45  # every photo set face, not a silently empty loop
    expected = np.array([encoder.compute_face_descriptor(chip) for chip in chips])
    x = torch.from_numpy(np.stack(chips)).permute(0, 3, 1, 2).float() / 255.0
    with torch.inference_mode():
        ours = torch.cat([net(batch) for batch in x.split(16)]).double().numpy()
    worst = np.abs(ours - expected).max()
    assert worst <= 1e-4, f"max abs difference {worst:.3g} over {len(chips)} faces"


def test_gradient_reaches_the_chip(net: Any) -> None:
    x = torch.full((1, 3, 150, 150), 0.5, requires_grad=True)
    (grad,) = torch.autograd.grad(net(x).square().sum(), x)
    assert grad.abs().sum() > 0
