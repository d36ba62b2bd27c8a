"""Detection order, dlib's chip geometry, the differentiable warp and its crop equivalence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from camo.errors import InputError


def _photo(faces_dir: Path, name: str) -> np.ndarray:
    from camo.images import to_rgb_uint8

    hits = sorted((faces_dir).rglob(name))
    if not hits:
        pytest.skip(f"{name} is not in {faces_dir}")
    return to_rgb_uint8(hits[0])


def _tensor(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None].double() / 255.0


def test_several_faces_come_largest_first(dlib_module: Any, faces_dir: Path) -> None:
    from camo.face import detect_faces

    boxes = detect_faces(_photo(faces_dir, "obama_and_biden.jpg"))
    areas = [(r - left + 1) * (b - t + 1) for left, t, r, b in boxes]
    assert len(boxes) >= 2
    assert areas == sorted(areas, reverse=True)


def test_blank_image_has_no_face(dlib_module: Any) -> None:
    from camo.face import detect_faces

    assert detect_faces(np.full((200, 200, 3), 128, np.uint8)) == []


def test_detector_refuses_float_images(dlib_module: Any) -> None:
    from camo.face import detect_faces

    with pytest.raises(InputError, match="float32"):
        detect_faces(np.zeros((50, 50, 3), np.float32))


@pytest.mark.parametrize("name", ["obama-720p.jpg", "lennon-1.jpg", "obama_partial_face.jpg"])
def test_chip_matches_dlibs_get_face_chip(dlib_module: Any, faces_dir: Path, name: str) -> None:
    """Our chip equals dlib's up to its uint8 truncation (mean |diff| ≈ 0.25 of a level), pyramid or not."""
    from camo.face import chip_geometry, detect_faces, face_landmarks, warp_to_chip
    from camo.face.align import _shape_predictor

    pixels = _photo(faces_dir, name)
    box = detect_faces(pixels)[0]
    geometry = chip_geometry(box, face_landmarks(pixels, box))
    expected = dlib_module.get_face_chip(pixels, _shape_predictor()(pixels, dlib_module.rectangle(*box)), 150, 0.25)
    chip = warp_to_chip(_tensor(pixels), geometry)[0].permute(1, 2, 0).numpy() * 255.0
    assert np.abs(chip - expected).mean() < 0.4
    assert np.abs(chip - expected).max() < 4.0


@pytest.mark.parametrize("name", ["obama-720p.jpg", "lennon-1.jpg"])
def test_crop_gives_the_same_chip_as_the_whole_photo(dlib_module: Any, faces_dir: Path, name: str) -> None:
    from camo.face import chip_crop_box, chip_geometry, detect_faces, face_landmarks, warp_to_chip

    pixels = _photo(faces_dir, name)
    box = detect_faces(pixels)[0]
    geometry = chip_geometry(box, face_landmarks(pixels, box))
    left, top, right, bottom = chip_crop_box(geometry, pixels.shape[:2])
    assert (right - left) * (bottom - top) < pixels.shape[0] * pixels.shape[1]
    x = _tensor(pixels)
    whole = warp_to_chip(x, geometry)
    cropped = warp_to_chip(x[..., top:bottom, left:right], geometry.translated(-left, -top))
    assert torch.allclose(whole, cropped, atol=1e-9)


def test_gradients_reach_face_pixels_only(dlib_module: Any, faces_dir: Path) -> None:
    from camo.face import Recognizer, chip_crop_box

    pixels = _photo(faces_dir, "obama-480p.jpg")
    recognizer = Recognizer()
    (face,) = recognizer.faces(pixels)
    x = _tensor(pixels).float().requires_grad_(True)
    (grad,) = torch.autograd.grad(recognizer.descriptor(x, face.geometry).square().sum(), x)
    left, top, right, bottom = face.box
    assert grad[..., max(top, 0) : bottom, max(left, 0) : right].abs().min(dim=1).values.gt(0).float().mean() > 0.5
    c_left, c_top, c_right, c_bottom = chip_crop_box(face.geometry, pixels.shape[:2])
    outside = torch.ones_like(grad, dtype=torch.bool)
    outside[..., c_top:c_bottom, c_left:c_right] = False
    assert grad[outside].abs().max() == 0
    assert c_right < pixels.shape[1] or c_left > 0  # the face does not fill the photo: "outside" is not empty


def test_geometry_count_must_fit_the_batch(dlib_module: Any, faces_dir: Path) -> None:
    from camo.face import chip_geometry, detect_faces, face_landmarks, warp_to_chip

    pixels = _photo(faces_dir, "obama-240p.jpg")
    box = detect_faces(pixels)[0]
    geometry = chip_geometry(box, face_landmarks(pixels, box))
    x = _tensor(pixels).repeat(3, 1, 1, 1)
    assert warp_to_chip(x[:1], [geometry, geometry]).shape == (2, 3, 150, 150)
    with pytest.raises(InputError, match="2 geometries for a batch of 3"):
        warp_to_chip(x, [geometry, geometry])
    with pytest.raises(InputError, match="float tensor"):
        warp_to_chip(torch.zeros(1, 3, 10, 10, dtype=torch.uint8), geometry)
