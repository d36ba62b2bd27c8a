"""The face package's private image conversion (path, PIL, array -> RGB uint8)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from camo.errors import ImageError, InputError
from camo.face._image import _to_rgb_uint8


def test_grey_and_rgba_become_rgb(tmp_path: Path) -> None:
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert _to_rgb_uint8(grey).shape == (3, 4, 3)
    rgba = np.zeros((3, 4, 4), np.uint8)
    assert _to_rgb_uint8(rgba).shape == (3, 4, 3)
    Image.fromarray(grey).save(tmp_path / "g.png")
    np.testing.assert_array_equal(_to_rgb_uint8(tmp_path / "g.png")[:, :, 1], grey)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = Image.fromarray(np.zeros((2, 6, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    image.save(tmp_path / "r.jpg", exif=exif)
    assert _to_rgb_uint8(tmp_path / "r.jpg").shape == (6, 2, 3)


def test_bad_inputs_say_what_they_were(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="float64"):
        _to_rgb_uint8(np.zeros((4, 4, 3)))
    with pytest.raises(InputError, match=r"\(4, 4, 2\)"):
        _to_rgb_uint8(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ImageError, match=r"nope\.jpg"):
        _to_rgb_uint8(tmp_path / "nope.jpg")
    (tmp_path / "text.jpg").write_text("not an image")
    with pytest.raises(ImageError, match=r"text\.jpg"):
        _to_rgb_uint8(tmp_path / "text.jpg")
    with pytest.raises(InputError, match="int"):
        _to_rgb_uint8(3)  # type: ignore[arg-type]
