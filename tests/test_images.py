"""images: every format and mode loads to the right values; saving strips metadata, is atomic, spares inputs."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from camo import images
from camo.errors import ImageError


def _pattern(h: int = 6, w: int = 8) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tiff", ".webp", ".ppm"])
def test_lossless_formats_load_exactly(tmp_path: Path, suffix: str) -> None:
    arr = _pattern()
    path = tmp_path / f"p{suffix}"
    Image.fromarray(arr).save(path, **({"lossless": True} if suffix == ".webp" else {}))
    x = images.load(path)
    assert x.shape == (1, 3, 6, 8) and x.dtype == torch.float32
    assert np.array_equal(np.round(x[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8), arr)


def test_jpeg_loads_close(tmp_path: Path) -> None:
    arr = np.full((16, 16, 3), 120, dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "p.jpg", quality=95)
    assert float((images.load(tmp_path / "p.jpg") - 120 / 255).abs().max()) < 3 / 255


def test_grey_pgm_keeps_one_channel_or_becomes_rgb(tmp_path: Path) -> None:
    grey = _pattern()[..., 0]
    Image.fromarray(grey).save(tmp_path / "g.pgm")
    assert images.load(tmp_path / "g.pgm", channels=None).shape == (1, 1, 6, 8)
    rgb = images.load(tmp_path / "g.pgm", channels=3)
    assert torch.equal(rgb[:, 0], rgb[:, 2]) and torch.allclose(rgb[0, 1] * 255, torch.tensor(grey).float())


def test_is_grey_sees_black_and_white_whatever_the_file_mode(tmp_path: Path) -> None:
    grey = _pattern()[..., 0]
    Image.fromarray(grey).save(tmp_path / "g.png")
    Image.fromarray(np.repeat(grey[..., None], 3, axis=2)).save(tmp_path / "rgb.png")
    assert images.is_grey(images.to_rgb_uint8(tmp_path / "g.png"))
    assert images.is_grey(images.to_rgb_uint8(tmp_path / "rgb.png"))  # an RGB file holding a grey picture
    tinted = np.repeat(grey[..., None], 3, axis=2)
    tinted[3, 4, 2] ^= 1  # one level of one channel of one pixel
    assert not images.is_grey(tinted)
    assert not images.is_grey(_pattern())


def test_sixteen_bit_keeps_precision(tmp_path: Path) -> None:
    values = np.array([[0, 1, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "d.png")
    x = images.load(tmp_path / "d.png", channels=1)
    assert torch.allclose(x.flatten(), torch.tensor(values.flatten() / 65535.0, dtype=torch.float32))
    assert 0 < float(x.flatten()[1]) < 1 / 255, "16-bit precision must not be rounded to 8 bits"


def test_palette_and_rgba_convert_with_a_note(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    Image.fromarray(_pattern()).convert("P").save(tmp_path / "p.png")
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 0] = 255
    rgba[:2, :, 3] = 255  # top half opaque red, bottom half transparent
    Image.fromarray(rgba).save(tmp_path / "a.png")
    with caplog.at_level(logging.INFO, logger="camo"):
        assert images.load(tmp_path / "p.png").shape == (1, 3, 6, 8)
        x = images.load(tmp_path / "a.png")
    assert "palette" in caplog.text and "alpha" in caplog.text
    assert torch.equal(x[0, :, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.equal(x[0, :, 3, 0], torch.tensor([1.0, 1.0, 1.0])), "transparent pixels composite on white"


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    arr = np.zeros((2, 4, 3), dtype=np.uint8)
    arr[0, 0] = 255  # a marker in the top-left corner of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    Image.fromarray(arr).save(tmp_path / "r.jpg", exif=exif, quality=100)
    x = images.load(tmp_path / "r.jpg")
    assert x.shape == (1, 3, 4, 2), "the displayed image is portrait"
    assert float(x[0, 0, 0, 1]) > 0.8, "the marker ends up top-right after a clockwise turn"


def test_fit_resizes_and_centre_crops(caplog: pytest.LogCaptureFixture) -> None:
    x = torch.rand(1, 3, 300, 450)
    with caplog.at_level(logging.INFO, logger="camo"):
        y = images.fit(x, (224, 224))
    assert y.shape == (1, 3, 224, 224) and "centre-cropped" in caplog.text
    assert images.fit(y, (224, 224)) is y


def test_save_strips_all_metadata(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    exif[0x8825] = {1: "N", 2: (52.0, 22.0, 0.0)}  # GPS IFD
    src = tmp_path / "gps.jpg"
    Image.fromarray(_pattern(32, 32)).save(src, exif=exif)
    with Image.open(src) as original:
        assert original.getexif(), "the fixture must carry EXIF for this test to mean anything"
    for suffix in (".png", ".jpg"):
        out = images.save(images.load(src), tmp_path / "out" / f"clean{suffix}")
        with Image.open(out) as img:
            assert not img.getexif() and "exif" not in img.info and "icc_profile" not in img.info
            assert not (set(img.info) - {"dpi", "jfif", "jfif_version", "jfif_unit", "jfif_density", "progressive",
                                         "progression"}), img.info


def test_save_round_trips_8_bit_values(tmp_path: Path) -> None:
    x = torch.rand(1, 3, 5, 7)
    out = images.save(x, tmp_path / "x.png")
    assert torch.equal(images.load(out), images.quantize(x))


def test_save_refuses_to_overwrite_an_input_and_leaves_it_intact(tmp_path: Path) -> None:
    src = tmp_path / "in.png"
    Image.fromarray(_pattern()).save(src)
    before = src.read_bytes()
    with pytest.raises(ImageError, match="refusing to overwrite an input"):
        images.save(torch.zeros(1, 3, 6, 8), src, protect=[tmp_path / "." / "in.png"])
    assert src.read_bytes() == before
    with pytest.raises(ImageError, match="already exists"):
        images.save(torch.zeros(1, 3, 6, 8), src, overwrite=False)


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    images.save(torch.rand(1, 3, 4, 4), tmp_path / "a.png")
    with pytest.raises(ImageError):
        images.save(torch.rand(1, 3, 4, 4) + 2, tmp_path / "b.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_follow_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        path = images.save(torch.rand(1, 3, 4, 4), tmp_path / "photo.png")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # 0o644, or 0o600 for a user who keeps files private


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: None, "no such file"),
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_text("hello, not an image"), "not an image"),
])
def test_unreadable_files_raise_image_error(tmp_path: Path, make: object, message: str) -> None:
    path = tmp_path / "bad.png"
    make(path)  # type: ignore[operator]
    with pytest.raises(ImageError, match=message):
        images.load(path)


def test_truncated_jpeg_raises_image_error(tmp_path: Path) -> None:
    full = tmp_path / "full.jpg"
    Image.fromarray(_pattern(64, 64)).save(full, quality=90)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(ImageError, match="corrupt or truncated"):
        images.load(cut)


def test_size_guard_refuses_before_decoding(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    Image.new("L", (2000, 2000)).save(big)
    with pytest.raises(ImageError, match="megapixels"):
        images.load(big, max_pixels=1_000_000)


def test_to_rgb_uint8_accepts_paths_pil_and_arrays(tmp_path: Path) -> None:
    arr = _pattern()
    Image.fromarray(arr).save(tmp_path / "p.png")
    for source in (tmp_path / "p.png", Image.fromarray(arr), arr, np.dstack([arr, np.full((6, 8), 255, np.uint8)])):
        assert np.array_equal(images.to_rgb_uint8(source), arr)
    with pytest.raises(ImageError, match="uint8"):
        images.to_rgb_uint8(arr.astype(np.float32))


def test_png_level_changes_the_size_not_the_pixels(tmp_path: Path) -> None:
    pixels = np.tile(np.arange(256, dtype=np.uint8), (64, 1))[..., None].repeat(3, axis=2)
    fast, small = tmp_path / "fast.png", tmp_path / "small.png"
    images.save(pixels, fast, png_level=1)
    images.save(pixels, small, png_level=9)
    assert np.array_equal(np.asarray(Image.open(fast)), np.asarray(Image.open(small)))
    assert np.array_equal(np.asarray(Image.open(fast)), pixels)
    assert fast.stat().st_size > small.stat().st_size
    with pytest.raises(ImageError, match=r"in 0\.\.9"):
        images.save(pixels, tmp_path / "bad.png", png_level=10)


def test_image_files_finds_images_and_skips_hidden_companions(tmp_path: Path) -> None:
    for name in ("b.JPG", "a.png", "._a.png", "notes.txt", "sub/c.webp", "sub/.hidden/d.png", ".cache/e.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "folder.png").mkdir()  # a folder named like an image is not a file
    assert [p.name for p in images.image_files(tmp_path)] == ["a.png", "b.JPG"]
    assert [p.relative_to(tmp_path).as_posix() for p in images.image_files(tmp_path, recursive=True)] == \
        ["a.png", "b.JPG", "sub/c.webp"]


def test_images_too_small_for_a_model_raise_one_clear_error(tmp_path: Path) -> None:
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (1, 1), "red").save(tiny)
    with pytest.raises(ImageError, match=r"tiny.png: 1×1 pixels is too small.*at least 8×8"):
        images.load(tiny, size=(224, 224))
    assert images.load(tiny).shape == (1, 3, 1, 1)  # without a model size it is just an image
    small_model = tmp_path / "four.png"
    Image.new("L", (4, 4), 9).save(small_model)
    assert images.load(small_model, channels=1, size=(4, 4)).shape == (1, 1, 4, 4)  # a 4×4 model takes 4×4
