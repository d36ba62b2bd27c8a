"""Cloak benchmark on ../shared/data/faces: protection (PNG and JPEG q85), look (PSNR/SSIM), time, memory, and the
1-nearest-neighbour enrolment experiment (decoy and dodge).

Run from the repository root::

    PYTHONPATH=src:. python bench/cloak_bench.py protection --presets low mid high --out /tmp/cloak-bench
    PYTHONPATH=src:. python bench/cloak_bench.py protection --presets mid --downscale 0.75 0.5 --out /tmp/cloak-bench
    PYTHONPATH=src:. python bench/cloak_bench.py knn --preset mid --seed 0 --out /tmp/cloak-bench
    PYTHONPATH=src:. python bench/cloak_bench.py speed --presets mid --out /tmp/cloak-bench
    PYTHONPATH=src:. python bench/cloak_bench.py big --out /tmp/cloak-bench      # a 24 MP photo

Run with OMP_NUM_THREADS=1 (torch at one thread, as the CLI) and note the load average next to every timing.

"Protected" for a cloaked photo: no face dlib finds in the saved (or JPEG re-encoded) file lies within 0.6 of any
clean photo of the same person, where "the same person" means every clean face of the set within 0.6 of the
original face (dlib's own notion of identity; it includes the original photo itself).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from camo.face.cloak import PRESETS, DecoyChooser, cloak, cloak_photo
from camo.face.cloak import preset as mode_preset
from camo.face.recognizer import Recognizer
from camo.images import to_rgb_uint8

FACES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces"
SETS = ("face_recognition_examples", "openface_examples", "facenet_pytorch_test_images")
SUFFIXES = {".jpg", ".jpeg", ".png"}
TOLERANCE = 0.6


def photos() -> list[Path]:
    return sorted(p for name in SETS for p in (FACES / name).rglob("*") if p.suffix.lower() in SUFFIXES)


def jpeg(pixels: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as img:
        return np.asarray(img.convert("RGB"))


def downscale(pixels: np.ndarray, factor: float) -> np.ndarray:
    """What a site that shrinks uploads does: Lanczos resize by ``factor`` (then dlib sees smaller faces)."""
    img = Image.fromarray(pixels)
    size = (max(1, round(img.width * factor)), max(1, round(img.height * factor)))
    return np.asarray(img.resize(size, Image.Resampling.LANCZOS))


def clean_gallery(recognizer: Recognizer, paths: list[Path]) -> dict[Path, list[np.ndarray]]:
    return {p: recognizer.dlib_descriptors(p) for p in paths}


def protection(args: argparse.Namespace) -> dict[str, Any]:
    recognizer = Recognizer()
    paths = photos()
    gallery = clean_gallery(recognizer, paths)
    everyone = [d for ds in gallery.values() for d in ds]
    results: dict[str, Any] = {}
    for preset in args.presets:
        rows = []
        for path in paths:
            if not gallery[path]:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                record = cloak_photo(path, Path(tmp) / "out.png", recognizer=recognizer, config=PRESETS[preset])
                saved = to_rgb_uint8(Path(tmp) / "out.png")
            if record.result is None or record.verification is None:
                continue
            faces_png = recognizer.dlib_descriptors(saved)
            faces_jpg = recognizer.dlib_descriptors(jpeg(saved, 85))
            faces_small = {f: recognizer.dlib_descriptors(downscale(saved, f)) for f in args.downscale}
            # the same shrink of the clean photo: how far resizing alone moves dlib's descriptor
            clean_small = {f: recognizer.dlib_descriptors(downscale(to_rgb_uint8(path), f)) for f in args.downscale}
            for face in record.result.faces:
                # dlib's own descriptor of this face in the clean photo (face.descriptor is the cloak's twin's).
                own = min(gallery[path], key=lambda g, f=face: float(np.linalg.norm(g - f.descriptor)))
                same = [g for g in everyone if np.linalg.norm(g - own) <= TOLERANCE]
                png = min((float(np.linalg.norm(f - g)) for f in faces_png for g in same), default=None)
                jpg = min((float(np.linalg.norm(f - g)) for f in faces_jpg for g in same), default=None)
                small = {f"x{f:g}_min_distance": min((float(np.linalg.norm(d - g)) for d in ds for g in same),
                                                     default=None) for f, ds in faces_small.items()}
                small |= {f"x{f:g}_clean_distance": min((float(np.linalg.norm(d - own)) for d in ds), default=None)
                          for f, ds in clean_small.items()}
                rows.append({"photo": str(path.relative_to(FACES)), "megapixels": saved.size / 3e6, **small,
                             "faces_in_photo": len(record.result.faces), "same_person_photos": len(same),
                             "png_min_distance": png, "jpeg85_min_distance": jpg,
                             "psnr": record.verification.psnr, "ssim": record.verification.ssim,
                             "face_psnr": record.verification.face_psnr, "face_ssim": record.verification.face_ssim,
                             "cloak_seconds": record.result.seconds, "total_seconds": record.seconds})
            print(preset, rows[-1]["photo"], f"png {rows[-1]['png_min_distance']} jpg {rows[-1]['jpeg85_min_distance']}"
                  f" {record.seconds:.2f}s", file=sys.stderr, flush=True)
        results[preset] = rows
    return results


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def ok(value: float | None) -> bool:
        return value is None or value > TOLERANCE

    photos_seen: dict[str, dict[str, Any]] = {}
    for r in rows:
        photos_seen.setdefault(r["photo"], r)
    single = [r for r in photos_seen.values() if r["faces_in_photo"] == 1 and r["megapixels"] <= 2.0]
    return {
        "faces": len(rows),
        "png_protected": sum(ok(r["png_min_distance"]) for r in rows),
        "jpeg85_protected": sum(ok(r["jpeg85_min_distance"]) for r in rows),
        **{key.replace("_min_distance", "_protected"): sum(ok(r[key]) for r in rows)
           for key in rows[0] if key.startswith("x") and key.endswith("_min_distance")},
        **{key.replace("_clean_distance", "_clean_found"): sum(r[key] is not None for r in rows)
           for key in rows[0] if key.startswith("x") and key.endswith("_clean_distance")},
        **{key.replace("_clean_distance", "_clean_median_shift"):
           statistics.median(r[key] for r in rows if r[key] is not None)
           for key in rows[0] if key.startswith("x") and key.endswith("_clean_distance")
           and any(r[key] is not None for r in rows)},
        "median_psnr": statistics.median(r["psnr"] for r in photos_seen.values()),
        "median_ssim": statistics.median(r["ssim"] for r in photos_seen.values()),
        "median_face_psnr": statistics.median(r["face_psnr"] for r in photos_seen.values()),
        "median_face_ssim": statistics.median(r["face_ssim"] for r in photos_seen.values()),
        "median_cloak_s_single_face_le_2mp": statistics.median(r["cloak_seconds"] for r in single) if single else None,
        "median_total_s_single_face_le_2mp": statistics.median(r["total_seconds"] for r in single) if single else None,
        "single_face_photos_le_2mp": len(single),
    }


KNN = FACES / "face_recognition_examples" / "examples" / "knn_examples"


def knn(args: argparse.Namespace) -> dict[str, Any]:
    """Fawkes' threat model: a 1-NN recognizer enrolled with a person's cloaked photos (others clean)."""
    recognizer = Recognizer()
    train = {person.name: sorted(p for p in person.iterdir() if p.suffix.lower() in SUFFIXES)
             for person in sorted((KNN / "train").iterdir()) if person.is_dir()}
    clean_train = {name: [recognizer.dlib_descriptors(p)[0] for p in files] for name, files in train.items()}
    # Queries: every clean face of the whole set (test folder and the other photos) that a clean 1-NN gallery
    # identifies as one of the enrolled people within 0.6, except the training photos themselves.
    train_files = {p for files in train.values() for p in files}
    queries: list[tuple[str, np.ndarray]] = []
    for path in photos():
        if path in train_files or "aligned" in str(path):
            continue
        for d in recognizer.dlib_descriptors(path):
            name, dist = min(((n, float(np.linalg.norm(d - g))) for n, gs in clean_train.items() for g in gs),
                             key=lambda t: t[1])
            if dist <= TOLERANCE:
                queries.append((name, d))
    out: dict[str, Any] = {"queries": {n: sum(q == n for q, _ in queries) for n in train}}
    for mode in ("decoy", "dodge"):
        config = replace(mode_preset(args.preset, mode), seed=args.seed)
        # As `camo cloak --mode decoy` does: one chooser for the run, so each person keeps one decoy.
        decoys = DecoyChooser() if mode == "decoy" else None
        per_person = {}
        for name, files in train.items():
            cloaked = []
            chosen = set()
            for path in files:
                result = cloak(path, recognizer=recognizer, config=config, verify_result=False, decoys=decoys)
                chosen.update(f.decoy for f in result.faces if f.decoy is not None)
                faces = recognizer.dlib_descriptors(result.pixels)
                if not faces:
                    continue
                # The cloaked file's face nearest to where the person was (largest face otherwise).
                cloaked.append(faces[0])
            gallery = [(n, g) for n, gs in clean_train.items() if n != name for g in gs]
            gallery += [(name, g) for g in cloaked]
            own = [d for q, d in queries if q == name]
            identified = sum(min(gallery, key=lambda item: float(np.linalg.norm(item[1] - d)))[0] == name
                             for d in own)
            # How close the call was: nearest cloaked photo of them minus nearest other person (> 0 = safe).
            margins = [min((float(np.linalg.norm(c - d)) for c in cloaked), default=float("inf"))
                       - min(float(np.linalg.norm(g - d)) for n, g in gallery if n != name) for d in own]
            per_person[name] = {"queries": len(own), "identified_as_them": identified,
                                "cloaked_enrolled": len(cloaked), "decoys": sorted(chosen),
                                "worst_margin": round(min(margins), 4) if margins else None}
            print(mode, name, per_person[name], file=sys.stderr, flush=True)
        total = sum(v["queries"] for v in per_person.values())
        missed = sum(v["queries"] - v["identified_as_them"] for v in per_person.values())
        out[mode] = {"per_person": per_person, "queries": total, "not_identified": missed,
                     "rate": missed / total if total else None}
    return out


def speed(args: argparse.Namespace) -> dict[str, Any]:
    """What `camo cloak` spends per photo on the single-face photos of at most 2 MP: read, detect, cloak, save the
    PNG, read it back and verify it with dlib's full pipeline (cloak_photo), after one warm-up photo."""
    recognizer = Recognizer()
    chosen = []
    for path in photos():
        pixels = to_rgb_uint8(path)
        if pixels.size / 3e6 <= 2.0 and len(recognizer.dlib_descriptors(pixels)) == 1:
            chosen.append((path, pixels.size / 3e6))
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cloak_photo(chosen[0][0], Path(tmp) / "warm.png", recognizer=recognizer)  # loads the models
        for preset in args.presets:
            rows = []
            for path, megapixels in chosen:
                start = time.perf_counter()
                record = cloak_photo(path, Path(tmp) / "out.png", recognizer=recognizer, config=PRESETS[preset])
                total = time.perf_counter() - start
                assert record.result is not None and record.verification is not None
                rows.append({"photo": str(path.relative_to(FACES)), "megapixels": round(megapixels, 3),
                             "total_seconds": round(total, 4), "cloak_seconds": round(record.result.seconds, 4),
                             "steps": record.result.config.steps, "attempts": record.attempts,
                             "protected": record.protected, "load_1min": os.getloadavg()[0]})
                print(preset, rows[-1], file=sys.stderr, flush=True)
            real = [r for r in rows if r["megapixels"] >= 0.25]
            out[preset] = {
                "rows": rows, "photos": len(rows),
                "median_total_s": statistics.median(r["total_seconds"] for r in rows),
                "median_cloak_s": statistics.median(r["cloak_seconds"] for r in rows),
                "photos_ge_0.25mp": len(real),
                "median_total_s_ge_0.25mp": statistics.median(r["total_seconds"] for r in real),
                "max_total_s": max(r["total_seconds"] for r in rows),
                "protected": sum(r["protected"] for r in rows),
            }
    return out


def big(args: argparse.Namespace) -> dict[str, Any]:
    """A 24 MP photo (obama-1080p upscaled 3.4× to 6532×3674 px): time and peak memory."""
    source = to_rgb_uint8(FACES / "face_recognition_examples" / "examples" / "obama-1080p.jpg")
    pixels = np.asarray(Image.fromarray(source).resize((6532, 3674), Image.Resampling.BICUBIC))
    recognizer = Recognizer(upsample=0)  # the face is huge; upsampling 24 MP four-fold only costs time
    start = time.perf_counter()
    result = cloak(pixels, recognizer=recognizer, config=PRESETS[args.preset])
    seconds = time.perf_counter() - start
    assert result.verification is not None
    return {"size": [pixels.shape[1], pixels.shape[0]], "megapixels": pixels.size / 3e6, "seconds": seconds,
            "cloak_seconds": result.seconds, "verdict": result.verification.verdict(),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["protection", "knn", "speed", "big"])
    parser.add_argument("--presets", nargs="+", default=["low", "mid", "high"])
    parser.add_argument("--preset", default="mid")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="knn: seed of the cloak's randomness")
    parser.add_argument("--downscale", type=float, nargs="*", default=[],
                        help="protection: also match the saved file shrunk by these factors (e.g. 0.5), as an "
                             "upload site might; the clean photo shrunk the same way gives the baseline")
    parser.add_argument("--out", type=Path, default=Path("/tmp/cloak-bench"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    data: dict[str, Any] = {"what": args.what, "threads": args.threads, "machine": platform.machine(),
                            "cpus": os.cpu_count(), "load_before": load_before}
    if args.what == "protection":
        rows = protection(args)
        data["rows"] = rows
        data["summary"] = {preset: summarise(r) for preset, r in rows.items()}
    elif args.what == "knn":
        data["knn"] = knn(args)
    elif args.what == "speed":
        data["speed"] = speed(args)
    else:
        data["big"] = big(args)
    data["load_after"] = os.getloadavg()
    data["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    label = "-".join(args.presets) if args.what in ("protection", "speed") else args.preset
    if args.what == "knn" and args.seed:
        label += f"-seed{args.seed}"
    name = args.out / f"{args.what}-{label}.json"
    name.write_text(json.dumps(data, indent=2, default=float))
    print(json.dumps({k: v for k, v in data.items() if k != "rows"}, indent=2, default=float))


if __name__ == "__main__":
    main()
