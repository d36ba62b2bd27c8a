"""``attack_video``: frames in → attacked frames → before|after video, attacked MP4, per-frame results, survival.

A batch of frames at a time so memory stays bounded on a long clip:

    decode a batch → attack it (the same attack functions as images; or one perturbation shared by a window of
    frames; or a patch pasted on every frame) → quantise to 8 bits → re-classify what will be written → caption
    before | after → encode (H.264 at the input's frame rate) → next batch

then the attacked video, decoded again, is re-classified at every encoder quality (CRF) asked for. Outputs are
written under temporary names and renamed at the end, so an error or Ctrl-C leaves nothing half-written at an output
name.

Shape: batches are (N, 3, H, W) float32 in [0, 1].
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from camo import images
from camo.attack_files import AttackSettings, attack_one, predict, validate
from camo.attack_record import Prediction
from camo.choices import PATCH_PLACES
from camo.errors import InputError
from camo.models import Classifier
from camo.video.compose import GIF_FPS, GIF_MAX_FRAMES, caption, gif_bytes, gif_frame, side_by_side
from camo.video.encode import Mp4Writer, decode_file
from camo.video.perturb import METHODS, PatchPlacer, load_patch, shared_perturbation
from camo.video.records import FrameRecord, VideoResult, VideoSettings, frames_csv
from camo.video.source import MAX_FRAME_PIXELS, VideoSource, iter_frames, open_video
from camo.video.view import Geometry, frame_classifier

log = logging.getLogger("camo")

#: Pixels of full-resolution frames attacked at once; batches shrink for large frames so memory stays bounded.
BATCH_PIXELS = 8_000_000

#: Where a patch goes on each frame: fixed, or tracked (following the scene's motion).
PLACES = PATCH_PLACES

#: progress(stage, done, total): stage "attack" (total None when the container does not say) or "crf N".
Progress = Callable[[str, int, int | None], None]

#: What :func:`attack_video` runs when given no settings (a frozen dataclass, shared safely).
_DEFAULT_SETTINGS = VideoSettings()


def _fooled(pred: Prediction, clean: Prediction, target: int | None) -> bool:
    return pred.index == target if target is not None else pred.index != clean.index


def _to_tensor(frames: Sequence[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().div_(255.0)


def _to_arrays(x: torch.Tensor) -> list[np.ndarray]:
    arr = (x.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return [np.ascontiguousarray(a) for a in arr]


def output_names(source: VideoSource, out_dir: Path) -> dict[str, Path]:
    stem = source.path.name if source.kind == "frames" else source.path.stem
    return {
        "before_after_mp4": out_dir / f"{stem}.before_after.mp4",
        "before_after_gif": out_dir / f"{stem}.before_after.gif",
        "attacked_mp4": out_dir / f"{stem}.attacked.mp4",
        "frames_json": out_dir / f"{stem}.frames.json",
        "frames_csv": out_dir / f"{stem}.frames.csv",
        "summary_json": out_dir / f"{stem}.summary.json",
    }


def _check_settings(model: Classifier, settings: VideoSettings) -> int | None:
    if settings.method not in METHODS:
        raise InputError(f"unknown method {settings.method!r} for video; choose one of {', '.join(METHODS)}")
    target = validate(model, AttackSettings(method=settings.method, eps=settings.eps, target=settings.target,
                                            steps=settings.steps, seed=settings.seed))
    if settings.batch_size < 1:
        raise InputError(f"batch size must be ≥ 1; got {settings.batch_size}")
    if settings.window < 1:
        raise InputError(f"window must be ≥ 1 frame; got {settings.window}")
    if settings.window_fit is not None and not 1 <= settings.window_fit <= settings.window:
        raise InputError(f"window-fit must be in 1..{settings.window} (the window); got {settings.window_fit}")
    for crf in (settings.crf, *settings.survival_crfs):
        if not 0 <= crf <= 51:
            raise InputError(f"CRF must be in 0..51 (libx264; 18 ≈ visually lossless, 23 default); got {crf}")
    if settings.place not in PLACES:
        raise InputError(f"place must be one of {', '.join(PLACES)}; got {settings.place!r}")
    if settings.patch is not None and settings.window > 1:
        raise InputError("a patch is the same on every frame already; give --patch or --window, not both")
    return target


def attack_video(
    model: Classifier,
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    settings: VideoSettings = _DEFAULT_SETTINGS,
    *,
    progress: Progress | None = None,
    max_pixels: int = MAX_FRAME_PIXELS,
) -> VideoResult:
    """Attack every frame of a video and write the before|after MP4 and GIF, the attacked MP4, per-frame JSON and
    CSV and a summary with survival through H.264 at each CRF of ``settings.survival_crfs``.

    Args:
        model: the classifier; frames are resized and centre-cropped to its input size inside the attack.
        source: a video file or a folder of frames (never modified).
        out_dir: output folder; outputs are named ``<stem>.before_after.mp4``, ``.before_after.gif``,
            ``.attacked.mp4`` (the attacked frames alone, full resolution, CRF ``settings.crf``), ``.frames.json``,
            ``.frames.csv`` and ``.summary.json``.
        settings: method, ε, target, temporal window or patch, CRFs.
        progress: ``progress(stage, done, total)`` after each batch ("attack") and each re-classified batch
            ("crf N").

    Returns:
        The per-frame records and the summary.

    Raises:
        InputError: bad settings, a file that is not a video, audio only, no frames, frames too large, a corrupt
            or truncated stream (then nothing is left at any output name), an output that would replace the input.
    """
    target = _check_settings(model, settings)
    patch, patch_target = load_patch(settings.patch, settings.target) if settings.patch is not None else (None, None)
    if patch is not None and target is None and patch_target is not None:
        target = model.label_index(patch_target)
    video = open_video(source, fps=settings.fps, max_pixels=max_pixels)
    out = Path(out_dir)
    names = output_names(video, out)
    protect = images.image_files(video.path) if video.kind == "frames" else [video.path]
    if settings.patch is not None:
        protect = [*protect, Path(settings.patch)]
    for path in names.values():
        images.refuse_inputs(path, protect)
    if video.kind == "frames" and out.resolve().is_relative_to(video.path.resolve()):
        raise InputError(f"{out}: the output folder is inside the folder of frames {video.path}; the outputs would "
                         "become frames of the next run. Choose another folder")

    frame_size = (video.height, video.width)
    view = frame_classifier(model, frame_size)
    placer = PatchPlacer(patch, Geometry.of(frame_size, model.input_size), settings) if patch is not None else None
    batch = settings.window if settings.window > 1 else \
        max(1, min(settings.batch_size, BATCH_PIXELS // (video.width * video.height)))
    crfs = tuple(dict.fromkeys((settings.crf, *settings.survival_crfs)))

    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    writers: list[Mp4Writer] = []
    written: list[Path] = []
    try:
        encoded = {crf: Mp4Writer(names["attacked_mp4"] if crf == settings.crf else
                                  out / f".{names['attacked_mp4'].stem}.crf{crf}.mp4",
                                  width=video.width, height=video.height, fps=video.fps, crf=crf) for crf in crfs}
        writers.extend(encoded.values())
        display: Mp4Writer | None = None
        gif_every = max(1, math.ceil(float(video.fps) / GIF_FPS))
        gif_frames: list[Image.Image] = []
        records: list[FrameRecord] = []
        generator = torch.Generator().manual_seed(settings.seed)
        start, attack_time = time.perf_counter(), 0.0
        for chunk in _batches(iter_frames(video, max_pixels=max_pixels), batch):
            x = _to_tensor(chunk)
            clean = predict(view, x)
            tick = time.perf_counter()
            x_adv, positions = _perturb(view, x, chunk, clean, settings, target, placer, generator)
            attack_time += time.perf_counter() - tick
            adversarial = predict(view, x_adv)
            after = _to_arrays(x_adv)
            saved = predict(view, _to_tensor(after))
            for i, arr in enumerate(after):
                index = len(records)
                fooled = _fooled(saved[i], clean[i], target)
                records.append(FrameRecord(
                    index=index, time=index / float(video.fps), clean=clean[i], adversarial=adversarial[i],
                    saved=saved[i], fooled_in_memory=_fooled(adversarial[i], clean[i], target), fooled=fooled,
                    linf=float(np.abs(arr.astype(np.int16) - chunk[i].astype(np.int16)).max()) / 255.0,
                    patch_at=positions[i]))
                composed = side_by_side(chunk[i], arr, caption(clean[i], title="before", fooled=None),
                                        caption(saved[i], title="after", fooled=fooled), fooled=fooled)
                if display is None:
                    display = Mp4Writer(names["before_after_mp4"], width=composed.shape[1],
                                        height=composed.shape[0], fps=video.fps, crf=20, preset="veryfast")
                    writers.append(display)
                display.write(composed)
                for writer in encoded.values():
                    writer.write(arr)
                if settings.gif and index % gif_every == 0 and len(gif_frames) < GIF_MAX_FRAMES:
                    gif_frames.append(gif_frame(composed))
            if progress is not None:
                progress("attack", len(records), video.frames)
        seconds = time.perf_counter() - start
        for writer in writers:
            writer.close()

        survival_start = time.perf_counter()
        survival: dict[int, int] = {}
        for crf, writer in encoded.items():
            predictions = _reclassify(view, writer.temporary, frame_size, batch, len(records),
                                      _stage(progress, f"crf {crf}", len(records)))
            for i, pred in enumerate(predictions):
                r = records[i]
                records[i] = replace(r, encoded={**r.encoded, crf: pred},
                                     fooled_encoded={**r.fooled_encoded, crf: _fooled(pred, r.clean, target)})
            survival[crf] = sum(r.fooled_encoded[crf] for r in records)
        survival_seconds = time.perf_counter() - survival_start

        keys = ["before_after_mp4", "attacked_mp4", "frames_json", "frames_csv", "summary_json"]
        result = VideoResult(
            model=model.name, source=video.to_dict(), settings=settings.to_dict(),
            target=model.label_name(target) if target is not None else None, frames=records,
            fooled_in_memory=sum(r.fooled_in_memory for r in records), fooled=sum(r.fooled for r in records),
            survival=survival, seconds=seconds, attack_seconds=attack_time, survival_seconds=survival_seconds,
            outputs={key: str(names[key]) for key in [*keys, *(["before_after_gif"] if gif_frames else [])]})
        # Everything is computed; only now do files appear at output names.
        files = {names["frames_csv"]: frames_csv(records, crfs),
                 names["frames_json"]: json.dumps([r.to_dict() for r in records], indent=1).encode(),
                 names["summary_json"]: json.dumps(result.summary(), indent=2).encode()}
        if gif_frames:
            files[names["before_after_gif"]] = gif_bytes(gif_frames, 1000.0 * gif_every / float(video.fps))
        for path, data in files.items():
            written.append(images.write_bytes_atomic(data, path))
        for writer in writers:
            if writer is encoded[settings.crf] or writer is display:
                written.append(writer.finish())
            else:
                writer.temporary.unlink(missing_ok=True)
        return result
    except BaseException:
        # Nothing this run put at an output name stays; MP4s not yet renamed are deleted under their temporary names.
        for writer in writers:
            writer.abort()
        for path in written:
            path.unlink(missing_ok=True)
        if created:
            _remove_empty(out)
        raise


def _perturb(
    view: Classifier, x: torch.Tensor, chunk: Sequence[np.ndarray], clean: Sequence[Prediction],
    settings: VideoSettings, target: int | None, placer: PatchPlacer | None, generator: torch.Generator,
) -> tuple[torch.Tensor, list[tuple[int, int]] | list[None]]:
    """The attacked frames of one batch (a window when ``settings.window`` > 1) and the patch's positions."""
    if placer is not None:
        return placer.paste(x, chunk)
    # Untargeted: away from the labels the model already gave (no second forward pass to find them).
    labels = torch.tensor([p.index for p in clean], dtype=torch.long) if target is None else \
        torch.full((x.shape[0],), target, dtype=torch.long)
    nowhere: list[None] = [None] * len(chunk)
    if settings.window > 1:
        delta = shared_perturbation(view, x, labels, settings.eps, targeted=target is not None,
                                    method=settings.method, steps=settings.steps, fit_frames=settings.window_fit,
                                    generator=generator)
        return (x + delta).clamp(0.0, 1.0), nowhere
    return attack_one(view, x, _attack_settings(settings), target, labels=labels), nowhere


def _stage(progress: Progress | None, stage: str, total: int) -> Callable[[int], None] | None:
    if progress is None:
        return None
    report = progress
    return lambda done: report(stage, done, total)


def _reclassify(view: Classifier, path: Path, frame_size: tuple[int, int], batch: int, expected: int,
                progress: Callable[[int], None] | None) -> list[Prediction]:
    """The model's answer on every frame of an MP4 camo wrote, decoded again."""
    predictions: list[Prediction] = []
    for decoded in _batches(decode_file(path, frame_size), batch):
        predictions.extend(predict(view, _to_tensor(decoded)))
        if progress is not None:
            progress(len(predictions))
    if len(predictions) != expected:
        raise InputError(f"{path}: decoded {len(predictions)} frames, not the {expected} written")
    return predictions


def _attack_settings(settings: VideoSettings) -> AttackSettings:
    """The image attack's settings for a video's per-frame attack."""
    return AttackSettings(method=settings.method, eps=settings.eps, target=settings.target, steps=settings.steps,
                          seed=settings.seed)


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        log.debug("left %s in place (not empty)", folder)


def _batches(frames: Iterator[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    chunk: list[np.ndarray] = []
    for frame in frames:
        chunk.append(frame)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
