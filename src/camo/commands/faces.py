"""``camo faces``: who matches whom across photos, by one recognizer or several (dlib, FaceNet, SFace, an ONNX file)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from camo.commands import console, emit_json, progress_bar
from camo.commands.inputs import expand_images, output_names
from camo.commands.outputs import check_folder, check_outputs

EPILOG = """examples:
  camo faces obama.jpg obama2.jpg biden.jpg
  camo faces party.jpg --recognizer all --out faces/ --json
  camo faces photos/ cloaked/ --recognizer dlib          # folders: every image in them
  camo faces a.jpg b.jpg --recognizer sface --tolerance 0.6
  camo faces a.jpg b.jpg --recognizer w600k_r50.onnx --align arcface --size 112 --norm 127.5/127.5 --threshold 0.7

Faces are found once (dlib's HOG detector and landmarks) and encoded by each recognizer (our PyTorch twin of it).
Two faces are the same person when their distance is at most the recognizer's threshold: dlib euclidean 0.6
(its documented tolerance), SFace cosine distance 0.637 (OpenCV's similarity 0.363), FaceNet euclidean 0.939
(calibrated here at 1e-3 false matches; see `camo models`). For an ONNX file, say what it expects: --align
arcface|dlib|box, --size, --norm MEAN/STD on 0–255 pixels (or arcface, raw, unit, facenet), --bgr, --metric,
--threshold (without it a generic cosine distance 0.6 is used and a note says so). With several recognizers --json
prints {"recognizers": [...]}, one result each. Writes <stem>.faces.png (faces outlined and numbered) and
faces.json to --out; photos of the same stem from different folders get the folder in their name
(cloaked_obama.faces.png), and photos of the same file name in their faces' labels (cloaked/obama.jpg#1).
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "faces", parents=[common], help="find faces in photos and tell who matches whom",
        description="Detect every face (dlib HOG + landmarks), encode it with one or several face recognizers and "
                    "compare all faces with each other: a distance matrix and a same-person table per recognizer.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", nargs="+", type=Path, metavar="PHOTO|DIR",
                        help="photo files or folders of photos (never modified)")
    parser.add_argument("--recognizer", "-r", default="dlib", metavar="NAME",
                        help="dlib, facenet, sface, all, a FILE.onnx, or a comma list (default: dlib)")
    parser.add_argument("--tolerance", "--threshold", dest="tolerance", type=float, default=None,
                        help="same-person distance threshold (default: the recognizer's own; one recognizer only)")
    onnx = parser.add_argument_group("ONNX recognizer (--recognizer FILE.onnx)")
    onnx.add_argument("--align", choices=("arcface", "dlib", "box"), default="arcface",
                      help="face alignment the file expects (default: arcface, the 5-point template)")
    onnx.add_argument("--size", type=int, default=112, help="input side in pixels (default: 112)")
    onnx.add_argument("--norm", default="127.5/127.5",
                      help="MEAN/STD on 0–255 pixels, or arcface, raw, unit, facenet (default: 127.5/127.5)")
    onnx.add_argument("--bgr", action="store_true", help="the file expects BGR channel order (default: RGB)")
    onnx.add_argument("--metric", choices=("cosine", "euclidean"), default="cosine",
                      help="descriptor distance (default: cosine, as 1 − cosine similarity)")
    parser.add_argument("--out", "-o", type=Path, default=Path("camo-faces"),
                        help="output folder for outlined photos and faces.json (default: camo-faces)")
    parser.set_defaults(func=run)


def _recognizers(args: argparse.Namespace) -> list[Any]:
    from camo.errors import InputError
    from camo.face.recognizers import OnnxOptions, get_recognizers, parse_norm

    options = OnnxOptions(align=args.align, size=args.size, norm=parse_norm(args.norm), bgr=args.bgr,
                          metric=args.metric, threshold=args.tolerance)
    recognizers = get_recognizers(args.recognizer, onnx=options)
    if args.tolerance is not None and len(recognizers) > 1:
        raise InputError("--tolerance sets one recognizer's threshold; give it with a single --recognizer")
    if args.tolerance is not None and not args.tolerance > 0:
        raise InputError(f"--tolerance must be > 0; got {args.tolerance}")
    return recognizers


def run(args: argparse.Namespace) -> int:
    check_folder(args.out)  # before any heavy import: a second, not five
    import numpy as np
    from rich.table import Table

    from camo.face import compare_with, draw_faces
    from camo.images import save, write_bytes_atomic

    photos = expand_images(args.photos)
    names = output_names(photos)  # their outlined copies are named after them
    out: Path = args.out
    outlined_paths = [out / f"{name}.faces.png" for name in names]
    check_outputs(out, [*outlined_paths, out / "faces.json"], protect=photos)
    recognizers = _recognizers(args)
    for recognizer in recognizers:
        if getattr(recognizer, "threshold_given", True) is False and not args.quiet:
            console().print(f"note: {recognizer.name}: {recognizer.info().threshold_source}")
    what = f"faces: {len(photos)} photos, {', '.join(r.name for r in recognizers)}"
    with progress_bar(what, disable=args.json or args.quiet):  # no count from the library: start, beats, end
        results = compare_with(photos, recognizers, tolerance=args.tolerance)
    first = results[0]
    labels = iter(first.labels)
    for path, faces, target in zip(photos, first.faces, outlined_paths, strict=True):
        names_in_photo = [next(labels).split("#")[-1] for _ in faces]
        outlined = np.asarray(draw_faces(path, faces, names_in_photo).convert("RGB"))
        save(outlined, target, protect=photos)
    data = results[0].to_dict() if len(results) == 1 else {"recognizers": [r.to_dict() for r in results]}
    write_bytes_atomic((json.dumps(data, indent=2) + "\n").encode(), out / "faces.json")
    if args.json:
        emit_json(data)
        return 0
    screen = console()
    for path, faces in zip(photos, first.faces, strict=True):
        if not faces:
            screen.print(f"{path}: no face found")
    for result in results:
        name = f"{result.recognizer} ({result.metric})"
        if len(result.labels) > 1:
            matrix = Table(title=f"{name} distances (same person: ≤ {result.tolerance:.3g})")
            matrix.add_column("")
            for j in range(len(result.labels)):
                matrix.add_column(str(j + 1), justify="right")  # numbers keep wide matrices readable
            for i, label in enumerate(result.labels):
                cells = [f"[bold]{d:.2f}[/bold]" if i != j and d <= result.tolerance else f"{d:.2f}"
                         for j, d in enumerate(result.distances[i])]
                matrix.add_row(f"{i + 1}  {label}", *cells)
            screen.print(matrix)
        pairs = Table(title=f"same person by {result.recognizer}")
        for column in ("face", "face", "distance"):
            pairs.add_column(column)
        for i, j in result.same_person:
            pairs.add_row(result.labels[i], result.labels[j], f"{result.distances[i, j]:.3f}")
        screen.print(pairs if result.same_person else f"{result.recognizer}: no two faces match")
    screen.print(f"{len(first.labels)} faces in {len(photos)} photos; outlined copies in {out}/")
    return 0

