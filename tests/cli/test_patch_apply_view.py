"""``camo patch apply`` keeps each image's resolution and sizes the patch for the model's view of it: the same share of
the resized, centre-cropped view as the patch was made for (read from its sidecar), a warning when it lands smaller,
``--crop`` for the model's own view.

A tiny TorchScript model whose verdict is the brightness of the middle 4×4 pixels of its 16×16 view shows that the
saved full-resolution file, read back through the model's usual preprocessing (``camo classify``), works as the patch
was made to, and stops working once the patch lands smaller.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from camo import images
from camo.cli import main

SIZE = 16      # the model's view
SIDE = 4       # the patch, in view pixels
GREY = 100


class Middle(nn.Module):
    """"plain" (0) unless the middle 4×4 pixels of the view are bright, then "shifted" (1)."""

    def __init__(self) -> None:
        super().__init__()
        weights = torch.zeros(1, SIZE, SIZE)
        weights[:, 6:10, 6:10] = 1.0
        self.register_buffer("weights", weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = (x * self.weights).mean(dim=(1, 2, 3)) - 0.05  # white there: 16/256 ≈ 0.062; grey 100: 0.025
        return torch.stack([torch.zeros_like(score), 2000.0 * score], dim=1)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "middle.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # deprecated in torch 2.13, still what users have
        torch.jit.script(Middle()).save(str(path))
    path.with_suffix(".json").write_text(json.dumps({"labels": ["plain", "shifted"], "channels": 1,
                                                     "input_size": [SIZE, SIZE], "name": "middle"}))
    return path


def _white_patch(folder: Path, *, image_size: bool = True) -> Path:
    """A white SIDE×SIDE patch with the sidecar ``patch grow/train`` write (optionally an older one, no image_size)."""
    path = folder / "white.png"
    Image.fromarray(np.full((SIDE, SIDE), 255, np.uint8)).save(path)
    record: dict[str, object] = {"kind": "grown", "model": "middle", "target": "shifted", "target_index": 1,
                                 "size": SIDE, "area_fraction": SIDE * SIDE / (SIZE * SIZE)}
    if image_size:
        record["image_size"] = [SIZE, SIZE]
    path.with_suffix(".json").write_text(json.dumps(record))
    return path


def _photo(folder: Path) -> Path:
    # 48×96: three view pixels per photo pixel each way, so the model's view of it is exact arithmetic
    path = folder / "photo.png"
    Image.fromarray(np.full((48, 96), GREY, np.uint8)).save(path)
    return path


def _apply(patch: Path, photo: Path, out: Path, capsys: pytest.CaptureFixture[str],
           *extra: str) -> tuple[dict[str, object], str]:
    capsys.readouterr()
    assert main(["patch", "apply", str(patch), str(photo), "--out", str(out), "--json", *extra]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def _verdict(path: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["classify", str(path), "--model", str(model), "--json"]) == 0
    return str(json.loads(capsys.readouterr().out)["results"][0]["top"][0]["label"])


@pytest.mark.parametrize("image_size", [True, False], ids=["sidecar", "older-sidecar"])
def test_a_large_image_keeps_its_size_and_the_patch_its_share_of_the_view(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], model: Path, image_size: bool) -> None:
    patch, photo = _white_patch(tmp_path, image_size=image_size), _photo(tmp_path)
    before = photo.read_bytes()
    assert _verdict(photo, model, capsys) == "plain"
    record, err = _apply(patch, photo, tmp_path / "out", capsys)
    assert record["sized_for"] == {"model": "middle", "view": [SIZE, SIZE], "patch_size": [SIDE, SIDE]}
    assert record["warning"] is None and "warning" not in err
    (row,) = record["results"]  # type: ignore[misc]
    assert row["patch_size"] == [12, 12] and row["at"] == [42, 18] and row["warning"] is None
    assert row["in_view"] == {"size": [SIDE, SIDE], "visible": 1.0}
    saved_path = tmp_path / "out" / "photo.patched.png"
    with Image.open(saved_path) as saved:
        assert saved.size == (96, 48)
        pixels = np.asarray(saved)
    expected = np.full((48, 96), GREY, np.uint8)
    expected[18:30, 42:54] = 255
    assert np.array_equal(pixels, expected)
    assert photo.read_bytes() == before
    view = images.load(saved_path, channels=1, size=(SIZE, SIZE))[0, 0]  # what every camo command gives the model
    assert torch.equal(view[6:10, 6:10], torch.ones(SIDE, SIDE))
    assert _verdict(saved_path, model, capsys) == "shifted"


def test_crop_saves_the_models_view_with_the_patch_at_its_own_size(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    record, err = _apply(_white_patch(tmp_path), _photo(tmp_path), tmp_path / "out", capsys, "--crop")
    assert record["mode"] == "crop" and record["warning"] is None and "warning" not in err
    (row,) = record["results"]  # type: ignore[misc]
    assert row["patch_size"] == [SIDE, SIDE] and row["at"] == [6, 6]
    with Image.open(tmp_path / "out" / "photo.patched.png") as saved:
        assert saved.size == (SIZE, SIZE)
        assert np.asarray(saved)[6:10, 6:10].min() == 255


@pytest.mark.parametrize("scale", ["0.5", "1.5"])
def test_a_warning_exactly_when_the_patch_lands_smaller_than_it_was_made(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], model: Path, scale: str) -> None:
    record, err = _apply(_white_patch(tmp_path), _photo(tmp_path), tmp_path / "out", capsys, "--scale", scale)
    (row,) = record["results"]  # type: ignore[misc]
    saved = tmp_path / "out" / "photo.patched.png"
    if scale == "0.5":
        assert row["patch_size"] == [6, 6] and row["in_view"]["size"] == [2, 2]
        lines = [line for line in err.splitlines() if "warning" in line]
        assert len(lines) == 1 and lines[0] == record["warning"] == f"warning: {row['warning']}"
        assert "2×2 px" in lines[0] and "4×4 px it was made at" in lines[0] and "16×16 view" in lines[0]
        assert _verdict(saved, model, capsys) == "plain"  # too small to do what it was made for
    else:
        assert row["patch_size"] == [18, 18] and row["in_view"]["size"] == [6, 6]
        assert record["warning"] is None and row["warning"] is None and "warning" not in err
        assert _verdict(saved, model, capsys) == "shifted"


def test_a_warning_when_the_patch_lies_outside_the_crop_the_model_sees(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    # the model sees the middle 48×48 of the 48×96 photo; a patch at the left edge is not in its view at all
    record, err = _apply(_white_patch(tmp_path), _photo(tmp_path), tmp_path / "out", capsys, "--at", "0,18")
    (row,) = record["results"]  # type: ignore[misc]
    assert row["in_view"] == {"size": [SIDE, SIDE], "visible": 0.0}
    assert record["warning"] is not None and "0% of it inside the centre crop" in str(record["warning"])
    assert err.count("warning") == 1


def test_several_images_warn_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    patch = _white_patch(tmp_path)
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a", "b", "c", "d", "e"):
        Image.fromarray(np.full((48, 96), GREY, np.uint8)).save(folder / f"{name}.png")
    record, err = _apply(patch, folder, tmp_path / "out", capsys, "--scale", "0.5")
    lines = [line for line in err.splitlines() if "warning" in line]
    assert len(lines) == 1 and lines[0] == record["warning"]
    assert "in 5 of 5 images" in lines[0] and "4×4 px it was made at" in lines[0] and "2 more" in lines[0]
    assert all(row["warning"] for row in record["results"])  # type: ignore[attr-defined]


def test_random_positions_stay_where_the_model_looks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for k in range(6):
        Image.fromarray(np.full((48, 96), GREY, np.uint8)).save(folder / f"{k}.png")
    record, err = _apply(_white_patch(tmp_path), folder, tmp_path / "out", capsys, "--random", "--seed", "3")
    rows = record["results"]  # type: ignore[attr-defined]
    assert record["warning"] is None and "warning" not in err
    assert all(row["in_view"]["visible"] == 1.0 and 24 <= row["at"][0] <= 72 - 12 for row in rows)
    assert len({tuple(row["at"]) for row in rows}) > 1  # random, not all in the middle


def test_a_grown_patch_is_sized_from_the_sidecar_grow_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             model: Path) -> None:
    assert main(["patch", "grow", "--model", str(model), "--target", "shifted", "--size", str(SIDE), "--steps", "2",
                 "--out", str(tmp_path / "grown"), "--json"]) == 0
    grown = json.loads(capsys.readouterr().out)
    assert grown["image_size"] == [SIZE, SIZE]
    record, _ = _apply(tmp_path / "grown" / "shifted.png", _photo(tmp_path), tmp_path / "out", capsys)
    assert record["sized_for"] == {"model": "middle", "view": [SIZE, SIZE], "patch_size": [SIDE, SIDE]}
    assert record["results"][0]["patch_size"] == [3 * SIDE, 3 * SIDE]  # type: ignore[index]


def test_crop_without_a_sidecar_and_a_broken_sidecar_are_clear_errors(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "bare.png")
    photo = _photo(tmp_path)
    assert main(["patch", "apply", str(tmp_path / "bare.png"), str(photo), "--crop", "--out",
                 str(tmp_path / "o")]) == 1
    assert "--crop needs the patch's sidecar bare.json" in capsys.readouterr().err
    (tmp_path / "bare.json").write_text("{not json")
    assert main(["patch", "apply", str(tmp_path / "bare.png"), str(photo), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bare.json: not a camo patch's sidecar" in err[0]
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
