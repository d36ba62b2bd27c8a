"""Ensemble cloak benchmark: transfer to recognizers outside the ensemble, look, time and memory.

Run from the repository root, one configuration per call (results are written after every photo, so a partial run
still leaves numbers)::

    OMP_NUM_THREADS=1 PYTHONPATH=src:. python bench/ensemble_bench.py run --name mid --preset mid
    OMP_NUM_THREADS=1 PYTHONPATH=src:. python bench/ensemble_bench.py run --name mid-no-facenet --preset mid \\
        --recognizers dlib,sface
    OMP_NUM_THREADS=1 PYTHONPATH=src:. python bench/ensemble_bench.py run --name mid-momentum --preset mid \\
        --momentum 1.0
    PYTHONPATH=src:. python bench/ensemble_bench.py table          # bench/ENSEMBLE_RESULTS.md + the curve PNG

Photos: the people with two or more distinct photos in ../shared/data/faces (the face_recognition examples'
knn_examples and test images, lennon-1/2 and clapton-1/2; the resized copies obama-240p…1080p and obama_small are
left out, and a photo whose dlib descriptor lies within 0.1 of an earlier photo of the same person is a copy and is
dropped), plus the first two ORL photos of ten ORL people.

Each cloaked photo is scored by every recognizer's own reference runtime (dlib; OpenCV for FaceNet and SFace;
onnxruntime for the validation recognizer EdgeFace-XXS, which never enters a cloak's ensemble) after three
channels: the PNG (the 8-bit pixels), a JPEG q85 re-encode, and a 50 % Lanczos downscale. Per recognizer R:

- **strict**: no face R finds in the file lies within R's threshold of **any** clean photo of the same person,
  the uncloaked original included;
- **gallery**: the same with the original left out;
- **rank-1**: every face found is nearest (among all clean photos of everyone) to a photo of another person.

A file in which no face is found counts as protected (and is counted in ``no_face``). Thresholds: each built-in's
own (dlib 0.6 euclidean; FaceNet 0.9387 euclidean; SFace 0.637 cosine distance); EdgeFace 0.674 cosine distance, its
false-match-rate 1e-3 point measured in bench/RECOGNIZERS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.cloak_bench import downscale, jpeg  # the channels every cloak benchmark scores

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT.parent / "shared" / "data" / "faces"
EDGEFACE = ROOT.parent / "shared" / "models" / "edgeface_xxs" / "edgeface_xxs.onnx"
EDGEFACE_THRESHOLD = 0.674  # cosine distance at FMR 1e-3 (bench/RECOGNIZERS.md)
RAW = ROOT / "bench" / "raw" / "ensemble"
CHANNELS = ("png", "jpeg85", "down50")
MEMBERS = ("dlib", "facenet", "sface")
VALIDATION = "edgeface"

_FR = "face_recognition_examples"


#: ORL subjects kept out of every choice of a setting (rounds 1–8 used s1–s10): a check of the settings on people
#: they were not chosen on (tiny 92×112 grey faces only; the shared data hold no further celebrity photos).
HOLDOUT = range(11, 21)


def candidate_photos(photos: str = "main") -> list[tuple[str, Path]]:
    """(person, path) of every candidate photo, in a fixed order (copies are dropped later by descriptor): the 36
    photos of every round (``main``) or the held-out ORL subjects (``holdout``, photos 1 and 2 of each)."""
    if photos == "holdout":
        return [(person, path) for person, path in _orl(HOLDOUT) if path.exists()]
    fr = FACES / _FR / "examples"
    knn = fr / "knn_examples"
    tests = FACES / _FR / "tests" / "test_images"
    found: list[tuple[str, Path]] = []
    for person in sorted(p.name for p in (knn / "train").iterdir() if p.is_dir()):
        found += [(person, p) for p in sorted((knn / "train" / person).iterdir())]
    found += [("alex_lacamoire", knn / "test" / "alex_lacamoire1.jpg"), ("alex_lacamoire", fr / "alex-lacamoire.png"),
              ("kit_harington", knn / "test" / "johnsnow_test1.jpg"), ("obama", knn / "test" / "obama1.jpg"),
              ("obama", fr / "obama.jpg"), ("obama", fr / "obama2.jpg"), ("biden", fr / "biden.jpg"),
              ("obama", tests / "obama.jpg"), ("obama", tests / "obama2.jpg"), ("obama", tests / "obama3.jpg"),
              ("biden", tests / "biden.jpg")]
    openface = FACES / "openface_examples" / "examples"
    found += [(name.split("-")[0], openface / f"{name}.jpg") for name in ("lennon-1", "lennon-2", "clapton-1",
                                                                           "clapton-2")]
    found += _orl(range(1, 11))
    return [(person, path) for person, path in found if path.exists()]


def _orl(subjects: range) -> list[tuple[str, Path]]:
    """(person, path) of photos 1 and 2 of each ORL subject."""
    return [(f"orl_s{k}", FACES / "orl_att_faces" / f"s{k}" / f"{i}.pgm") for k in subjects for i in (1, 2)]


def evaluators() -> dict[str, Any]:
    from camo.face.recognizers import DlibRecognizer, FaceNetRecognizer, OnnxRecognizer, SFaceRecognizer

    return {"dlib": DlibRecognizer(), "facenet": FaceNetRecognizer(), "sface": SFaceRecognizer(),
            VALIDATION: OnnxRecognizer(EDGEFACE, align="arcface", size=112, norm=(127.5, 127.5), metric="cosine",
                                       threshold=EDGEFACE_THRESHOLD, name="edgeface_xxs")}


def reference(recognizers: dict[str, Any], pixels: np.ndarray) -> tuple[int, dict[str, list[np.ndarray]]]:
    """Faces found by the shared detector and each recognizer's reference descriptors of them."""
    from camo.face.recognizers import locate_faces

    located = locate_faces(pixels, upsample=1, landmarks68=True)
    if not located:
        return 0, {name: [] for name in recognizers}
    return len(located), {name: r.reference_descriptors(pixels, located) for name, r in recognizers.items()}


def clean_gallery(recognizers: dict[str, Any], photos: str = "main") -> list[dict[str, Any]]:
    """The photos (copies dropped) with each recognizer's clean descriptor of their largest face; cached."""
    from camo.face.recognizers import descriptor_distance
    from camo.images import to_rgb_uint8

    cache = RAW / ("gallery.npz" if photos == "main" else f"gallery-{photos}.npz")
    entries: list[dict[str, Any]] = []
    if cache.exists():
        data = np.load(cache, allow_pickle=False)
        meta = json.loads(str(data["meta"]))
        for i, item in enumerate(meta):
            entries.append({**item, "path": Path(item["path"]),
                            "clean": {name: data[f"{i}_{name}"] for name in recognizers}})
        return entries
    for person, path in candidate_photos(photos):
        pixels = to_rgb_uint8(path)
        count, found = reference(recognizers, pixels)
        if not count:
            print(f"skip {path}: no face", file=sys.stderr)
            continue
        clean = {name: descriptors[0] for name, descriptors in found.items()}
        copy = any(e["person"] == person and descriptor_distance(e["clean"]["dlib"], clean["dlib"], "euclidean") < 0.1
                   for e in entries)
        if copy:
            print(f"skip {path}: a copy of an earlier photo of {person}", file=sys.stderr)
            continue
        entries.append({"person": person, "path": path, "clean": clean})
    # Only people with two or more photos stay.
    counts = {p: sum(e["person"] == p for e in entries) for p in {e["person"] for e in entries}}
    entries = [e for e in entries if counts[e["person"]] >= 2]
    RAW.mkdir(parents=True, exist_ok=True)
    arrays = {f"{i}_{name}": e["clean"][name] for i, e in enumerate(entries) for name in recognizers}
    meta = json.dumps([{"person": e["person"], "path": str(e["path"])} for e in entries])
    np.savez(cache, meta=np.array(meta), **arrays)  # type: ignore[arg-type]
    return entries


def score(recognizers: dict[str, Any], gallery: list[dict[str, Any]], index: int,
          found: dict[str, list[np.ndarray]]) -> dict[str, dict[str, bool]]:
    """strict / gallery / rank-1 protection of one cloaked file, per recognizer."""
    from camo.face.recognizers import descriptor_distance

    person = gallery[index]["person"]
    verdicts = {}
    for name, recognizer in recognizers.items():
        faces = found[name]
        threshold, metric = recognizer.threshold, recognizer.metric
        distances = [[descriptor_distance(f, e["clean"][name], metric) for e in gallery] for f in faces]
        same = [j for j, e in enumerate(gallery) if e["person"] == person]
        strict = all(row[j] > threshold for row in distances for j in same)
        others = all(row[j] > threshold for row in distances for j in same if j != index)
        rank1 = all(gallery[int(np.argmin(row))]["person"] != person for row in distances)
        verdicts[name] = {"strict": strict, "gallery": others, "rank1": rank1, "faces": len(faces),
                          "min_same": min((row[j] for row in distances for j in same), default=None)}
    return verdicts


def colour_change(original: np.ndarray, changed: np.ndarray) -> dict[str, float]:
    """How the change splits into brightness and colour over the changed box, in 8-bit levels: the mean |ΔY| and the
    mean √(ΔCb² + ΔCr²) (BT.601 luma and chroma). SSIM, computed per channel, does not tell a colour cast on skin
    (or colour in a grey photo) from a brightness change of the same size; this does. 0 and 0 for identical images.
    Shape: (H, W, 3) uint8, (H, W, 3) uint8.
    """
    from camo.face.verification import changed_box

    found = changed_box(original, changed)
    if found is None:
        return {"luma": 0.0, "chroma": 0.0}
    top, bottom, left, right = found
    box = (slice(top, bottom), slice(left, right))
    delta = changed[box].astype(np.float64) - original[box].astype(np.float64)
    luma = delta @ np.array([0.299, 0.587, 0.114])
    cb = delta @ np.array([-0.168736, -0.331264, 0.5])
    cr = delta @ np.array([0.5, -0.418688, -0.081312])
    return {"luma": round(float(np.abs(luma).mean()), 3), "chroma": round(float(np.hypot(cb, cr).mean()), 3)}


def config_from(args: argparse.Namespace) -> Any:
    """The preset with the settings given on the command line (``add_config_options``)."""
    from camo.face.cloak import preset
    from camo.face.cloak_config import parse_dropout

    changes: dict[str, Any] = {}
    for field in ("eps", "steps", "momentum", "samples", "jitter", "noise", "texture", "floor", "cap", "smooth",
                  "blur", "min_ssim", "photo_ssim", "ssim_weight", "features", "skip_gradient", "margin"):
        value = getattr(args, field)
        if value is not None:
            changes[field] = value / 255 if field in ("eps", "noise", "texture") else value
    if changes.get("margin") == 0:
        changes["margin"] = None  # 0 = no margin, as camo cloak's --margin 0
    if args.dropout is not None:
        changes["dropout"], changes["member_dropout"] = parse_dropout(args.dropout)
    if args.resize is not None:
        changes["resize"] = (args.resize, 1.0)
    if args.grey:
        changes["grey"] = True
    return replace(preset(args.preset), seed=args.seed, **changes)


def run(args: argparse.Namespace) -> None:
    import torch

    from camo.face.cloak import cloak, cloak_ensured, image_similarity
    from camo.face.cloak_config import preset_name
    from camo.face.recognizers import get_recognizers
    from camo.images import to_rgb_uint8

    torch.set_num_threads(1)
    recognizers = evaluators()
    gallery = clean_gallery(recognizers, args.photos)
    config = config_from(args)
    members = get_recognizers(args.recognizers)
    if any(m.name not in MEMBERS for m in members):
        raise SystemExit("the ensemble may hold only built-in recognizers (the validation recognizer never enters)")
    out = RAW / f"{args.name}.json"
    rows: list[dict[str, Any]] = []
    meta = {"name": args.name, "recognizers": [m.name for m in members], "config": config.to_dict(),
            "command": " ".join(sys.argv), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "photos": len(gallery), "photo_set": args.photos}
    for index, entry in enumerate(gallery[: args.limit or None]):
        if args.match and args.match not in str(entry["path"]):
            continue
        original = to_rgb_uint8(entry["path"])
        load = os.getloadavg()[0]
        if config.margin is None:  # one attempt: the benchmark measures a setting, not --ensure
            attempts = [cloak(original, recognizers=members, config=config, verify_result=False)]
        else:  # with a margin, what --ensure does (the members alone decide)
            attempts = cloak_ensured(original, recognizers=members, config=config)
        result, seconds = attempts[-1], sum(attempt.seconds for attempt in attempts)
        t0 = time.perf_counter()
        channels = {"png": result.pixels, "jpeg85": jpeg(result.pixels, 85), "down50": downscale(result.pixels, 0.5)}
        verdicts = {}
        for channel in CHANNELS if not args.quick else ("png", "jpeg85"):
            _, found = reference(recognizers, channels[channel])
            verdicts[channel] = score(recognizers, gallery, index, found)
            if channel == "png":
                verify_seconds = time.perf_counter() - t0
        similarity = image_similarity(original, result.pixels)
        colour = colour_change(original, result.pixels)
        rows.append({"path": str(entry["path"]), "person": entry["person"], "pixels": int(original.shape[0] *
                     original.shape[1]), "cloak_seconds": round(seconds, 3),
                     "verify_seconds": round(verify_seconds, 3), "load": round(load, 2),
                     "ssim": similarity["ssim"], "face_ssim": similarity["face_ssim"], "psnr": similarity["psnr"],
                     "face_luma_change": colour["luma"], "face_chroma_change": colour["chroma"],
                     "grey": result.config.grey, "verdicts": verdicts,
                     **({} if config.margin is None else {"attempts": [
                         {"preset": preset_name(a.config), "margin": a.verification and a.verification.margin}
                         for a in attempts]})})
        meta["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        RAW.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({**meta, "rows": rows}, indent=1))
        strict = {n: v["strict"] for n, v in verdicts["png"].items()}
        # EdgeFace's verdict is left out of the progress line: it is read from the table, after a run has decided.
        shown = {n: v for n, v in strict.items() if n in MEMBERS}
        print(f"[{index + 1}/{len(gallery)}] {entry['path'].name} {seconds:.1f}s ssim "
              f"{similarity['ssim']:.3f}/{similarity['face_ssim']:.3f} strict png {shown}", file=sys.stderr,
              flush=True)


def speed(args: argparse.Namespace) -> None:
    """A whole ``camo cloak`` job per photo (cloak, save PNG, read back, verify with every member; ensure on) at a
    preset: wall and CPU seconds (CPU seconds of one thread are what an idle machine's wall time would be), peak RSS.
    """
    import tempfile

    import torch

    from camo.face.cloak import cloak_photo
    from camo.face.recognizers import get_recognizers
    from camo.images import to_rgb_uint8

    torch.set_num_threads(args.threads)
    members = get_recognizers(args.recognizers)
    config = config_from(args)
    paths = [p for p in sorted({str(path) for _, path in candidate_photos() if path.suffix != ".pgm"})]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        members[0].faces(to_rgb_uint8(paths[0]))  # load the networks outside the timing
        for m in members:
            _ = m.network
        for path in paths[: args.limit or None]:
            pixels = to_rgb_uint8(path)
            if pixels.shape[0] * pixels.shape[1] > 2_000_000:
                continue
            load = os.getloadavg()[0]
            wall, cpu = time.perf_counter(), time.process_time()
            record = cloak_photo(path, Path(tmp) / "out.png", recognizers=members, config=config, ensure=True)
            rows.append({"path": path, "pixels": int(pixels.shape[0] * pixels.shape[1]),
                         "faces": 0 if record.result is None else len(record.result.faces),
                         "wall_s": round(time.perf_counter() - wall, 2),
                         "cpu_s": round(time.process_time() - cpu, 2), "attempts": record.attempts,
                         "protected": record.protected, "load": round(load, 2)})
            print(rows[-1], file=sys.stderr, flush=True)
            RAW.mkdir(parents=True, exist_ok=True)
            (RAW / f"speed-{args.name or args.preset}.json.txt").write_text(json.dumps({
                "command": " ".join(sys.argv), "recognizers": args.recognizers, "threads": args.threads,
                "config": config.to_dict(),
                "rows": rows,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}, indent=1))


def big(args: argparse.Namespace) -> None:
    """One 24 MP photo (a celebrity photo enlarged to 6000×4000 on a grey canvas) through a whole job at a preset."""
    import tempfile

    import torch

    from camo.face.cloak import cloak_photo, preset
    from camo.face.recognizers import get_recognizers

    torch.set_num_threads(1)
    members = get_recognizers(args.recognizers)
    face = Image.open(FACES / _FR / "examples" / "knn_examples" / "train" / "biden" / "biden.jpg").convert("RGB")
    canvas = Image.new("RGB", (6000, 4000), (128, 128, 128))
    face = face.resize((face.width * 3, face.height * 3), Image.Resampling.LANCZOS)
    canvas.paste(face, (1500, 1000))
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "big.png"
        canvas.save(source)
        load = os.getloadavg()[0]
        wall, cpu = time.perf_counter(), time.process_time()
        record = cloak_photo(source, Path(tmp) / "out.png", recognizers=members, config=preset(args.preset),
                             ensure=True)
        row = {"command": " ".join(sys.argv), "pixels": 24_000_000, "wall_s": round(time.perf_counter() - wall, 1),
               "cpu_s": round(time.process_time() - cpu, 1), "attempts": record.attempts,
               "protected": record.protected, "load": round(load, 2),
               "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    print(row)
    (RAW / f"big-{args.preset}.json.txt").write_text(json.dumps(row, indent=1))


def summarise(data: dict[str, Any]) -> dict[str, Any]:
    rows = data["rows"]
    n = len(rows)
    summary: dict[str, Any] = {"n": n, "ssim": statistics.median(r["ssim"] for r in rows),
                               "face_ssim": statistics.median(r["face_ssim"] for r in rows),
                               "cloak_s": statistics.median(r["cloak_seconds"] for r in rows),
                               "verify_s": statistics.median(r["verify_seconds"] for r in rows)}
    if all("face_chroma_change" in r for r in rows):  # runs before 2026-11-30's third session lack it
        summary["luma"] = statistics.median(r["face_luma_change"] for r in rows)
        summary["chroma"] = statistics.median(r["face_chroma_change"] for r in rows)
    for channel in CHANNELS:
        if not all(channel in r["verdicts"] for r in rows):
            continue
        for name in (*MEMBERS, VALIDATION):
            for kind in ("strict", "gallery", "rank1"):
                summary[f"{channel}/{name}/{kind}"] = sum(r["verdicts"][channel][name][kind] for r in rows) / n
            summary[f"{channel}/{name}/no_face"] = sum(r["verdicts"][channel][name]["faces"] == 0 for r in rows)
    return summary


def _budget(config: dict[str, Any]) -> str:
    budget = ("off (uniform ε)" if config.get("texture") is None else
              f"texture {config['texture'] * 255:.3g}/255, floor {config['floor']}")
    if config.get("smooth") is not None:
        budget += f", low-frequency (smooth σ {config['smooth']:g} chip px)"
    if config.get("blur"):
        budget += f", blur EOT ≤ {config['blur']:g} chip px"
    if config.get("grey"):
        budget += ", grey (brightness only)"
    if config.get("min_ssim") is not None:
        budget += f", SSIM target {config['min_ssim']:g} (weight {config['ssim_weight']:g})"
    if config.get("photo_ssim") is not None:
        budget += f", photo SSIM target {config['photo_ssim']:g}"
    if config.get("features") is not None:
        budget += f", feature loss {config['features']:g}"
    if config.get("skip_gradient") is not None:
        budget += f", skip gradient γ {config['skip_gradient']:g}"
    if config.get("dropout") is not None:
        budget += f", feature dropout {config['dropout']:g}"
    if config.get("member_dropout"):
        budget += ", feature dropout " + " ".join(f"{name} {rate:g}" for name, rate in config["member_dropout"])
    if config.get("margin") is not None:
        budget += f", margin {config['margin']:g} (photos retried at stronger presets as --ensure does)"
    if config.get("size_aware"):
        budget += ", size-aware ε (small faces up to ⅓ less)"
    return budget


def table(args: argparse.Namespace) -> None:
    runs = {p.stem: json.loads(p.read_text()) for p in sorted(RAW.glob("*.json")) if not p.stem.startswith("knn-")}
    lines = ["# Ensemble cloak: transfer, look, time (bench/ensemble_bench.py)", "",
             "Generated by `PYTHONPATH=src:. python bench/ensemble_bench.py table` from bench/raw/ensemble/*.json; "
             "each run's command is listed. Definitions (strict, gallery, rank-1) in the script's docstring. "
             "**Bold**: a recognizer outside that run's ensemble (leave-one-out or the validation recognizer, "
             "EdgeFace-XXS, which never enters an ensemble).", ""]
    points = []
    for name, data in runs.items():
        if not data.get("rows"):
            continue
        s = summarise(data)
        members = data["recognizers"]
        config = data["config"]
        lines += [f"## {name}: ensemble {'+'.join(members)}, ε {config['eps_255']}/255, {config['steps']} steps, "
                  f"momentum {config.get('momentum')}, samples {config['samples']}, perceptual budget "
                  f"{_budget(config)}",
                  "",
                  f"`{data['command']}` — {s['n']} of {data['photos']} photos; median SSIM photo {s['ssim']:.4f}, "
                  f"face region {s['face_ssim']:.4f}"
                  + (f"; median change over the face box: brightness {s['luma']:.2f}, colour {s['chroma']:.2f} "
                     f"levels (mean |ΔY|, mean √(ΔCb² + ΔCr²))" if "chroma" in s else "")
                  + f"; median cloak {s['cloak_s']:.1f} s + reference scoring of 4 "
                  f"recognizers {s['verify_s']:.1f} s per photo; peak RSS {data.get('peak_rss_mb')} MB; "
                  f"{data['machine']}, load average median {statistics.median(r['load'] for r in data['rows']):.1f}.",
                  *([f"Note: {data['note']}."] if data.get("note") else []),
                  "", "| channel | recognizer | strict | gallery | rank-1 | no face found |",
                  "|---|---|---|---|---|---|"]
        for channel in CHANNELS:
            for rec in (*MEMBERS, VALIDATION):
                key = f"{channel}/{rec}"
                if f"{key}/strict" not in s:
                    continue
                label = rec if rec in members else f"**{rec}**"
                lines.append(f"| {channel} | {label} | {s[key + '/strict']:.0%} | {s[key + '/gallery']:.0%} | "
                             f"{s[key + '/rank1']:.0%} | {s[key + '/no_face']} |")
        lines.append("")
    complete = {name: data for name, data in runs.items() if len(data.get("rows", [])) == data["photos"]}
    if complete:
        k = min(len(data["rows"]) for data in complete.values())
        lines += [f"## Every complete run ({k} photos)", "",
                  "Strict protection after PNG / JPEG q85; **bold** = outside that run's ensemble.", "",
                  "| run | ensemble | face SSIM | photo SSIM | dlib | facenet | sface | edgeface |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, data in complete.items():
            s = summarise({**data, "rows": data["rows"][:k]})
            cells = []
            for rec in (*MEMBERS, VALIDATION):
                text = f"{s[f'png/{rec}/strict']:.0%} / {s[f'jpeg85/{rec}/strict']:.0%}"
                cells.append(text if rec in data["recognizers"] else f"**{text}**")
            lines.append(f"| {name} | {'+'.join(data['recognizers'])} | {s['face_ssim']:.4f} | {s['ssim']:.4f} | "
                         + " | ".join(cells) + " |")
            for rec in (*MEMBERS, VALIDATION):
                # The curve: left-out members of leave-one-out runs, and EdgeFace for full-ensemble runs (the
                # leave-one-out runs' EdgeFace figures are in the table; plotted they only pile up at the bottom).
                plotted = rec in MEMBERS or len(data["recognizers"]) == len(MEMBERS)
                if rec not in data["recognizers"] and plotted:
                    points.append((name, rec, s["face_ssim"], s[f"png/{rec}/strict"], s[f"jpeg85/{rec}/strict"]))
        lines.append("")
        lines += ["## The same runs by kind of photo", "",
                  "18 photos of 6 celebrities (face_recognition and openface examples, faces of 100–400 px in photos "
                  "up to 2 MP) and 18 ORL photos (92×112 grey, almost all face, faces of about 60 px). Strict "
                  "protection after PNG; **bold** = outside that run's ensemble.", "",
                  "| run | photos | face SSIM | photo SSIM | dlib | facenet | sface | edgeface |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, data in complete.items():
            for kind, rows in (("celebrities", [r for r in data["rows"] if "orl_att" not in r["path"]]),
                               ("ORL", [r for r in data["rows"] if "orl_att" in r["path"]])):
                if not rows:
                    continue
                s = summarise({**data, "rows": rows})
                cells = [f"{s[f'png/{rec}/strict']:.0%}" for rec in (*MEMBERS, VALIDATION)]
                cells = [c if rec in data["recognizers"] else f"**{c}**"
                         for c, rec in zip(cells, (*MEMBERS, VALIDATION), strict=True)]
                lines.append(f"| {name} | {kind} ({len(rows)}) | {s['face_ssim']:.4f} | {s['ssim']:.4f} | "
                             + " | ".join(cells) + " |")
        lines.append("")
    for path in sorted(RAW.glob("speed-*.json.txt")):
        data = json.loads(path.read_text())
        rows = data["rows"]
        if not rows:
            continue
        lines += [f"## Speed ({path.name.removesuffix('.json.txt')}): `{data['command']}`", "",
                  f"A whole job per single-face photo ≤ 2 MP (cloak, save PNG, read back, verify with each of "
                  f"{data['recognizers']}; --ensure on) on {len(rows)} photos: median wall "
                  f"{statistics.median(r['wall_s'] for r in rows):.1f} s at a median load average of "
                  f"{statistics.median(r['load'] for r in rows):.1f} on 2 cores, {data.get('threads', 1)} torch "
                  f"thread(s), median CPU time {statistics.median(r['cpu_s'] for r in rows):.1f} s (max "
                  f"{max(r['cpu_s'] for r in rows):.1f} s; with one thread, what an idle machine's wall time would be, "
                  "roughly); attempts "
                  f"{[r['attempts'] for r in rows]}; peak RSS {data['peak_rss_mb']} MB.", ""]
    for path in sorted(RAW.glob("big-*.json.txt")):
        row = json.loads(path.read_text())
        lines += [f"## A 24 MP photo ({path.name.removesuffix('.json.txt')}): `{row['command']}`", "",
                  f"6000×4000, one face: wall {row['wall_s']} s at load average {row['load']}, CPU {row['cpu_s']} s, "
                  f"attempts {row['attempts']}, protected {row['protected']}, peak RSS {row['peak_rss_mb']} MB.", ""]
    for path in sorted(RAW.glob("knn-*.json")):
        data = json.loads(path.read_text())
        lines += [f"## Decoy and dodge in the 1-nearest-neighbour experiment: `{data['command']}`", "",
                  f"Cloaks made on {'+'.join(data['recognizers'])}; each scorer's gallery holds the person's cloaked "
                  "training photos and everyone else's clean ones (bench/ensemble_knn.py). Not identified / "
                  "queries (worst margin); **bold** = outside the ensemble.", "",
                  "| mode | " + " | ".join(data["decoy"]["scorers"]) + " | cloak time |",
                  "|---|" + "---|" * (len(data["decoy"]["scorers"]) + 1)]
        for mode in ("decoy", "dodge"):
            cells = []
            for scorer, v in data[mode]["scorers"].items():
                text = f"{v['not_identified']}/{v['queries']} ({v['worst_margin']:+.3f})"
                cells.append(text if scorer in data["recognizers"] else f"**{text}**")
            lines.append(f"| {mode} | " + " | ".join(cells) + f" | {data[mode]['cloak_seconds']} s |")
        lines.append("")
    out = ROOT / "bench" / "ENSEMBLE_RESULTS.md"
    if points:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 5))
        markers = {"dlib": "o", "facenet": "s", "sface": "^", VALIDATION: "*"}
        for name, rec, face_ssim, png, _ in points:
            ax.scatter(face_ssim, png * 100, marker=markers[rec], s=80 if rec == VALIDATION else 40)
            ax.annotate(f"{name} → {rec}", (face_ssim, png * 100), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        ax.set_xlabel("median SSIM over the face region")
        ax.set_ylabel("strict protection after PNG, unseen recognizer (%)")
        ax.set_title(f"Transfer vs look ({k} photos): a run and a recognizer outside its ensemble",
                     fontsize=9)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(ROOT / "bench" / "ensemble_tradeoff.png", dpi=110)
        lines += [f"## Trade-off (complete runs, {k} photos)", "",
                  "![trade-off](ensemble_tradeoff.png)", "",
                  "| run | unseen recognizer | face SSIM | strict PNG | strict JPEG q85 |", "|---|---|---|---|---|"]
        lines += [f"| {n} | {r} | {f:.4f} | {p:.0%} | {'-' if j is None else f'{j:.0%}'} |"
                  for n, r, f, p, j in points]
    lines += _configurations(complete, k)
    out.write_text("\n".join(lines) + "\n")
    print(out)


#: Full-ensemble runs whose leave-one-out runs carry another name (runs named before the convention).
_FULL_RUN = {"low": "low-smooth", "mid-ssim95w100": "mid-ssim95"}
#: The configurations that are today's presets.
_CURRENT = ("r8-s16", "r4-mid", "r4-high")
#: What each configuration is, in today's preset names (runs are named as they were when made). Runs before
#: round 4 cloaked the black-and-white ORL photos in colour; the r4-* presets cloak them in brightness only.
_LABELS = {"mid": "former mid (uniform 6/255 ×7)", "high-perceptual": "former high + texture (uniform 10/255 ×20)",
           "low": "first low (16/255)", "mid-smooth": "mid (24/255), round 2–3", "mid-smooth-grey": "mid --grey",
           "mid-smooth3": "mid with σ 3", "mid-ssim95w100": "round-3 low (mid + look target 0.95)",
           "high-smooth": "high (32/255), round 3", "r4a": "look target + ε 32/255", "r4b": "look target + 20 steps",
           "r4c1": "look target + feature loss 1", "r4c10": "look target + feature loss 10",
           "r4d": "mid + feature loss 1", "r4f": "mid + feature loss 1 + look target 0.88",
           "r4-mid": "mid (the default until round 8)", "r4-low": "round-4 low (look target + feature loss 1)",
           "r4-high": "high (32/255)", "r5-low-sg5": "round-4 low + skip gradient 0.5",
           "r5-low-do2": "round-4 low + feature dropout 0.02", "r5-mid-do2": "mid + feature dropout 0.02",
           "r5-low-do2-s4": "round-4 low + dropout, 4 EOT copies", "r5-low-do2-k20": "round-4 low + dropout, 20 steps",
           "r5-g93": "round-5 low (target 0.93, 20 steps, feature loss 1, dropout 0.02)",
           "r5-g91": "round-5 low with target 0.91",
           "r6-p": "round-5 low with dropout per member (dlib 0.02, FaceNet 0.05, SFace 0.05)",
           "r6-p1": "round-5 low with dropout per member, 1 EOT copy",
           "r6-m1": "round-5 low + margin 1.4 (retries at mid, high)", "r6-m2": "round-5 low, 1 EOT copy + margin 1.4",
           "r6-h": "D-low + margin 1.25 (retries at low, mid, high)",
           "r6-m13": "round-6 low (round-5 low + margin 1.3, retries at mid, high)",
           "r7-l7": "round-7 low (round-6 low + photo look target 0.95)",
           "r8-s16": "low, the default (round-7 low in 16 steps; retries in 20, then mid, high)"}


def _configurations(complete: dict[str, Any], k: int) -> list[str]:
    """One row and one point per configuration whose three leave-one-out runs are complete: the mean of the three
    left-out members' strict protection (the deciding measure of bench/ENSEMBLE_FINDINGS.md, round 3) against the
    median face SSIM, with EdgeFace and the photo-wide SSIM from the configuration's full-ensemble run if any."""
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    for name, data in complete.items():
        base, _, member = name.rpartition("-loo-")
        if base and member in MEMBERS:
            groups.setdefault(base, {})[member] = data
    rows = []
    for base, runs in groups.items():
        if set(runs) != set(MEMBERS):
            continue
        left_out = {m: summarise({**runs[m], "rows": runs[m]["rows"][:k]})[f"png/{m}/strict"] for m in MEMBERS}
        face = statistics.median(r["face_ssim"] for m in MEMBERS for r in runs[m]["rows"][:k])
        full = complete.get(_FULL_RUN.get(base, base))
        s = summarise({**full, "rows": full["rows"][:k]}) if full else None
        rows.append((base, left_out, sum(left_out.values()) / len(MEMBERS), face, s))
    if not rows:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Numbered points (the table below says what each number is): names would run into each other.
    rows.sort(key=lambda row: -row[2])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for number, (base, _, mean, face, s) in enumerate(rows, start=1):
        current = base in _CURRENT
        ax.scatter(face, mean * 100, marker="o", color="tab:green" if current else "tab:blue", zorder=3)
        ax.annotate(str(number), (face, mean * 100), fontsize=7, xytext=(3, 3), textcoords="offset points")
        if s is not None:
            ax.scatter(s["face_ssim"], s[f"png/{VALIDATION}/strict"] * 100, marker="*", s=70, color="tab:red")
            ax.annotate(str(number), (s["face_ssim"], s[f"png/{VALIDATION}/strict"] * 100), fontsize=6,
                        color="tab:red", xytext=(4, -6), textcoords="offset points")
    ax.scatter([], [], marker="o", color="tab:green", label="a preset as it now is: mean of 3 leave-one-out members")
    ax.scatter([], [], marker="o", color="tab:blue", label="another configuration: the same")
    ax.scatter([], [], marker="*", color="tab:red", label=f"{VALIDATION} (never in an ensemble), full-ensemble run")
    ax.set_xlabel("median SSIM over the face region")
    ax.set_ylabel("strict protection after PNG (%)")
    ax.set_title(f"Transfer vs look per configuration ({k} photos; numbers: the table in ENSEMBLE_RESULTS.md)",
                 fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(ROOT / "bench" / "ensemble_tradeoff_mean.png", dpi=110)
    lines = [f"## Per configuration: mean of the three leave-one-out figures ({k} photos)", "",
             "Each configuration run three times, each time without one member and measured on it (strict after "
             "PNG); face SSIM: median over the three runs' photos; EdgeFace and photo SSIM from the configuration's "
             "full-ensemble run, where there is one. #: the point's number in the figure (green: the presets as "
             "they now are).", "",
             "![per configuration](ensemble_tradeoff_mean.png)", "",
             "| # | configuration | left-out dlib | FaceNet | SFace | **mean** | face SSIM | full run: EdgeFace PNG / "
             "JPEG | full run: photo SSIM |", "|---|---|---|---|---|---|---|---|---|"]
    for number, (base, left_out, mean, face, s) in enumerate(rows, start=1):
        edge = "–" if s is None else f"{s[f'png/{VALIDATION}/strict']:.0%} / {s[f'jpeg85/{VALIDATION}/strict']:.0%}"
        photo = "–" if s is None else f"{s['ssim']:.4f}"
        name = f"**{_LABELS.get(base, base)}**" if base in _CURRENT else _LABELS.get(base, base)
        lines.append(f"| {number} | {name} (`{base}`) | " + " | ".join(f"{left_out[m]:.0%}" for m in MEMBERS)
                     + f" | **{mean:.1%}** | {face:.4f} | {edge} | {photo} |")
    return [*lines, ""]


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """The settings ``run`` and ``speed`` may change from the preset (read back by ``config_from``)."""
    parser.add_argument("--eps", type=float, help="in /255")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--momentum", type=float)
    parser.add_argument("--samples", type=int)
    parser.add_argument("--jitter", type=float)
    parser.add_argument("--noise", type=float, help="in /255")
    parser.add_argument("--texture", type=float, help="perceptual budget: full ε where the local σ ≥ this (/255)")
    parser.add_argument("--cap", type=float, help="dodge: a member's distance ÷ threshold stops counting above this")
    parser.add_argument("--floor", type=float, help="perceptual budget: the smallest fraction of ε")
    parser.add_argument("--smooth", type=float, help="low-frequency cloak: Gaussian σ of the change, chip pixels")
    parser.add_argument("--grey", action="store_true", help="brightness-only change (no colour cast)")
    parser.add_argument("--min-ssim", type=float,
                        help="look target: face-region SSIM below this is paid for in the loss")
    parser.add_argument("--photo-ssim", type=float, help="look target over the whole photo (faces filling it)")
    parser.add_argument("--ssim-weight", type=float, help="weight of the SSIM shortfall (default: CloakConfig's)")
    parser.add_argument("--features", type=float, help="feature-level loss: weight of the middle-layer change")
    parser.add_argument("--skip-gradient", type=float, help="SGM: γ on the gradient through each residual branch")
    parser.add_argument("--dropout", help="feature dropout: fraction of each convolution's outputs dropped (P, or "
                                          "NAME=P,... per member)")
    parser.add_argument("--margin", type=float, help="retry at the next stronger preset while a member's distance "
                                                     "is below this × its threshold (what --ensure does; 0 = off)")
    parser.add_argument("--blur", type=float, help="EOT: largest Gaussian blur σ of a copy, chip pixels")
    parser.add_argument("--resize", type=float, help="lower end of the random resize factor")
    parser.add_argument("--seed", type=int, default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("run")
    one.add_argument("--name", required=True)
    one.add_argument("--preset", default="mid")
    one.add_argument("--recognizers", default="dlib,facenet,sface")
    add_config_options(one)
    one.add_argument("--limit", type=int, default=0)
    one.add_argument("--match", help="only photos whose path contains this (e.g. orl_att_faces)")
    one.add_argument("--quick", action="store_true", help="skip the 50 %% downscale channel")
    one.add_argument("--photos", choices=("main", "holdout"), default="main",
                     help="main: the 36 photos of every round; holdout: ORL subjects 11–20, never used to choose")
    one.set_defaults(func=run)
    sub.add_parser("table").set_defaults(func=table)
    fast = sub.add_parser("speed")
    fast.add_argument("--name", help="results in bench/raw/ensemble/speed-NAME.json.txt (default: the preset)")
    fast.add_argument("--preset", default="mid")
    fast.add_argument("--recognizers", default="dlib,facenet,sface")
    fast.add_argument("--limit", type=int, default=0)
    fast.add_argument("--threads", type=int, default=1,
                      help="torch threads (1: CPU seconds are an idle machine's wall time; 2: this machine's cores)")
    add_config_options(fast)
    fast.set_defaults(func=speed)
    large = sub.add_parser("big")
    large.add_argument("--preset", default="mid")
    large.add_argument("--recognizers", default="dlib,facenet,sface")
    large.set_defaults(func=big)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
