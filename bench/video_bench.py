"""Attacked video: fooled frames before and after the MP4 round trip, speed against the bare limit, memory, windows.

Clips (made here, nothing committed from ../shared):

* ``bundled``: a slow pan and zoom over four scikit-image photos (chelsea, coffee, astronaut, rocket), 2.5 s each,
  320×240 — 10 s in all.
* ``camera``: the 20 photos of ``../shared/data/imagenet_samples``, 0.5 s each with hand-held shake (σ 1.5 px) and
  sensor noise (σ 3 grey levels), 320×240, encoded at CRF 23 like a phone would — 10 s in all.
* ``speed``: 224×224 frames (no resize: the model's own size), 3 s of the bundled pan.
* ``long`` and ``short``: the bundled pan for 2 minutes and for 10 s at 5 frames/s (peak memory only).

Parts (``--parts``): ``fooled`` (FGSM 2/255 untargeted and PGD-10 4/255 towards hen on both clips), ``speed``
(FGSM and PGD-10 frames per second at 224×224 against the bare forward + input-gradient backward), ``window``
(one perturbation per window against per-frame FGSM), ``patch`` (a trained hen patch pasted at a fixed place
and tracked, ``--patch``), ``memory`` (peak RSS of ``camo video`` on 10 s and 2 min).
Raw numbers go to bench/raw/video.json; bench/VIDEO.md is written from them.

Usage (repository root): OMP_NUM_THREADS=1 PYTHONPATH=src python bench/video_bench.py [--parts fooled,speed,...]
    [--fps 10] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import camo
from camo import video

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SAMPLES = REPO.parent / "shared" / "data" / "imagenet_samples"
RAW = HERE / "raw" / "video.json"
LONG_FPS = 5  # the memory clips: 2 minutes (600 frames) against 10 s (50 frames), same frames per second


def bundled_photos() -> list[np.ndarray]:
    from skimage import data

    return [data.chelsea(), data.coffee(), data.astronaut(), data.rocket()]


def make_clips(work: Path, fps: int) -> dict[str, Path]:
    """Write the clips (once; reused when present)."""
    work.mkdir(parents=True, exist_ok=True)
    clips = {"bundled": work / f"bundled_{fps}fps.mp4", "camera": work / f"camera_{fps}fps.mp4",
             "speed": work / f"speed224_{fps}fps.mp4", "long": work / f"long2min_{LONG_FPS}fps.mp4",
             "short": work / f"short10s_{LONG_FPS}fps.mp4"}
    photos = bundled_photos()

    def pan(size: tuple[int, int], seconds_each: float, repeat: int = 1, rate: int = fps) -> Any:
        for _ in range(repeat):
            for i, photo in enumerate(photos):
                yield from video.pan_zoom_frames(photo, frames=round(seconds_each * rate), size=size, seed=i)

    if not clips["bundled"].exists():
        video.write_frames(pan((240, 320), 2.5), clips["bundled"], fps=fps, crf=18)
    if not clips["speed"].exists():
        video.write_frames(pan((224, 224), 0.75), clips["speed"], fps=fps, crf=18)
    if not clips["long"].exists():
        video.write_frames(pan((240, 320), 2.5, repeat=12, rate=LONG_FPS), clips["long"], fps=LONG_FPS, crf=18)
    if not clips["short"].exists():
        video.write_frames(pan((240, 320), 2.5, rate=LONG_FPS), clips["short"], fps=LONG_FPS, crf=18)
    if not clips["camera"].exists() and SAMPLES.is_dir():
        files = sorted(p for p in SAMPLES.iterdir() if p.suffix.lower() in (".jpeg", ".jpg", ".png"))

        def camera() -> Any:
            for i, path in enumerate(files):
                photo = camo.images.to_rgb_uint8(path)
                yield from video.pan_zoom_frames(photo, frames=round(0.5 * fps), size=(240, 320), zoom=1.1,
                                                 shake=1.5, noise=3.0, seed=i)

        video.write_frames(camera(), clips["camera"], fps=fps, crf=23)
    return clips


def summarise(result: video.VideoResult) -> dict[str, Any]:
    summary = result.summary()
    return {key: summary[key] for key in ("frames", "fooled_in_memory", "fooled", "survival", "seconds",
                                          "frames_per_second", "attack_frames_per_second", "target")}


def run(model: camo.Classifier, clip: Path, out: Path, settings: video.VideoSettings) -> dict[str, Any]:
    start = time.perf_counter()
    result = video.attack_video(model, clip, out, settings)
    row = summarise(result)
    row["wall_seconds"] = round(time.perf_counter() - start, 1)
    row["settings"] = {k: v for k, v in settings.to_dict().items() if v is not None}
    row["clip"] = clip.name
    print(json.dumps(row), flush=True)
    return row


def part_fooled(model: camo.Classifier, clips: dict[str, Path], work: Path) -> list[dict[str, Any]]:
    rows = []
    for name in ("bundled", "camera"):
        if not clips[name].exists():
            continue
        rows.append(run(model, clips[name], work / f"out-{name}-fgsm", video.VideoSettings(eps=2 / 255)))
        rows.append(run(model, clips[name], work / f"out-{name}-pgd",
                        video.VideoSettings(method="pgd", eps=4 / 255, target="hen", steps=10)))
    return rows


def part_patch(model: camo.Classifier, clips: dict[str, Path], work: Path, patch: Path) -> list[dict[str, Any]]:
    rows = []
    for name in ("bundled", "camera"):
        if not clips[name].exists():
            continue
        for place in ("fixed", "track"):
            rows.append(run(model, clips[name], work / f"out-{name}-patch-{place}",
                            video.VideoSettings(patch=str(patch), place=place, target="hen")))
    return rows


def bare_limit(model: camo.Classifier, size: tuple[int, int], batch: int = 8, repeats: int = 5) -> dict[str, float]:
    """Frames per second of one forward + one input-gradient backward (all FGSM needs) and of a forward alone."""
    view = video.frame_classifier(model, size)
    x = torch.rand(batch, 3, *size)
    y = torch.zeros(batch, dtype=torch.long)
    from camo.attacks.core import cross_entropy, frozen, input_gradient

    with frozen(view):
        input_gradient(view, x, y, cross_entropy)  # warm-up
        times = []
        for _ in range(repeats):
            tick = time.perf_counter()
            input_gradient(view, x, y, cross_entropy)
            times.append(time.perf_counter() - tick)
        forward = []
        with torch.no_grad():
            for _ in range(repeats):
                tick = time.perf_counter()
                view(x)
                forward.append(time.perf_counter() - tick)
    return {"forward_backward_fps": batch / min(times), "forward_fps": batch / min(forward),
            "forward_backward_fps_median": batch / float(np.median(times))}


def part_speed(model: camo.Classifier, clips: dict[str, Path], work: Path) -> dict[str, Any]:
    limit = bare_limit(model, (224, 224))
    print(json.dumps(limit), flush=True)
    fgsm = run(model, clips["speed"], work / "out-speed-fgsm", video.VideoSettings(eps=2 / 255))
    pgd = run(model, clips["speed"], work / "out-speed-pgd", video.VideoSettings(method="pgd", eps=4 / 255,
                                                                                   target="hen", steps=10))
    return {"limit": limit, "fgsm": fgsm, "pgd10": pgd}


def part_window(model: camo.Classifier, clips: dict[str, Path], work: Path) -> list[dict[str, Any]]:
    rows = [run(model, clips["bundled"], work / "out-window-1", video.VideoSettings(eps=2 / 255, survival_crfs=(23,)))]
    for window, fit in ((8, None), (8, 1), (25, 1)):
        rows.append(run(model, clips["bundled"], work / f"out-window-{window}-{fit}",
                        video.VideoSettings(eps=2 / 255, window=window, window_fit=fit, survival_crfs=(23,))))
    return rows


def peak_memory(clip: Path, out: Path) -> dict[str, Any]:
    """Peak RSS of ``camo video`` (a fresh process) on a clip."""
    code = ("import resource, sys; from camo.cli import main; status = main(sys.argv[1:]); "
            "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(status)")
    argv = [sys.executable, "-c", code, "video", str(clip), "--model", "imagenet", "--eps", "2/255",
            "--survival-crfs", "23", "--out", str(out), "--json", "--quiet"]
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    peak_kib = int(next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("PEAK")))
    summary = json.loads(done.stdout[: done.stdout.rindex("PEAK")])
    row = {"clip": clip.name, "frames": summary["frames"], "seconds": round(time.perf_counter() - start, 1),
           "peak_rss_mib": round(peak_kib / 1024, 1), "command": " ".join(argv[3:])}
    print(json.dumps(row), flush=True)
    return row


def part_memory(clips: dict[str, Path], work: Path) -> list[dict[str, Any]]:
    return [peak_memory(clips["short"], work / "out-mem-10s"), peak_memory(clips["long"], work / "out-mem-2min")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="fooled,speed,window,memory")
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--work", type=Path, default=Path("/tmp/camo-video-bench"))
    parser.add_argument("--patch", type=Path, help="for the patch part: a hen patch from camo patch train")
    parser.add_argument("--raw", type=Path, default=RAW, help="raw results file (parts are merged into it)")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    clips = make_clips(args.work, args.fps)
    raw: dict[str, Any] = json.loads(args.raw.read_text()) if args.raw.exists() else {}
    raw["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "load_average": os.getloadavg()}
    model = camo.load_model("imagenet")
    for part in args.parts.split(","):
        start = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        if part == "fooled":
            raw["fooled"] = {"when": start, "rows": part_fooled(model, clips, args.work)}
        elif part == "speed":
            raw["speed"] = {"when": start, **part_speed(model, clips, args.work)}
        elif part == "window":
            raw["window"] = {"when": start, "rows": part_window(model, clips, args.work)}
        elif part == "patch":
            if args.patch is None:
                raise SystemExit("the patch part needs --patch PATCH.png (from camo patch train)")
            raw["patch"] = {"when": start, "patch": str(args.patch), "rows": part_patch(model, clips, args.work,
                                                                                       args.patch)}
        elif part == "memory":
            raw["memory"] = {"when": start, "rows": part_memory(clips, args.work)}
        else:
            raise SystemExit(f"unknown part {part!r}")
        args.raw.parent.mkdir(exist_ok=True)
        args.raw.write_text(json.dumps(raw, indent=1) + "\n")


if __name__ == "__main__":
    main()
