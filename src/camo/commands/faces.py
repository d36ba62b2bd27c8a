"""``camo faces``: who matches whom across photos, by dlib's recognizer (our PyTorch twin of it)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from camo.cli import emit_json
from camo.commands import console

EPILOG = """examples:
  camo faces obama.jpg obama2.jpg biden.jpg
  camo faces party.jpg --tolerance 0.5 --out faces/ --json

Two faces are the same person when the distance between their 128-D descriptors is at most the tolerance
(0.6, face_recognition's default). Writes <stem>.faces.png (faces outlined and numbered) and faces.json to --out.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "faces", parents=[common], help="find faces in photos and tell who matches whom",
        description="Detect every face (dlib HOG + 5 landmarks), encode it with dlib's recognition network and "
                    "compare all faces with each other: a distance matrix and a same-person table.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", nargs="+", type=Path, metavar="PHOTO", help="photo files (never modified)")
    parser.add_argument("--tolerance", type=float, default=0.6, help="same-person threshold (default: 0.6)")
    parser.add_argument("--out", "-o", type=Path, default=Path("camo-faces"),
                        help="output folder for outlined photos and faces.json (default: camo-faces)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from rich.table import Table

    from camo.face import compare_photos, draw_faces
    from camo.images import check_unique_stems, save, write_bytes_atomic

    check_unique_stems(args.photos)  # their outlined copies are named after them
    result = compare_photos(args.photos, tolerance=args.tolerance)
    out: Path = args.out
    labels = iter(result.labels)
    for path, faces in zip(args.photos, result.faces, strict=True):
        names = [next(labels).split("#")[-1] for _ in faces]
        outlined = np.asarray(draw_faces(path, faces, names).convert("RGB"))
        save(outlined, out / f"{path.stem}.faces.png", protect=args.photos)
    data = result.to_dict()
    write_bytes_atomic((json.dumps(data, indent=2) + "\n").encode(), out / "faces.json")
    if args.json:
        emit_json(data)
        return 0
    screen = console()
    for path, faces in zip(args.photos, result.faces, strict=True):
        if not faces:
            screen.print(f"{path.name}: no face found")
    if len(result.labels) > 1:
        matrix = Table(title=f"descriptor distances (same person: ≤ {args.tolerance:g})")
        matrix.add_column("")
        for j in range(len(result.labels)):
            matrix.add_column(str(j + 1), justify="right")  # numbers keep wide matrices readable
        for i, label in enumerate(result.labels):
            cells = [f"[bold]{d:.2f}[/bold]" if i != j and d <= args.tolerance else f"{d:.2f}"
                     for j, d in enumerate(result.distances[i])]
            matrix.add_row(f"{i + 1}  {label}", *cells)
        screen.print(matrix)
    pairs = Table(title="same person")
    for column in ("face", "face", "distance"):
        pairs.add_column(column)
    for pair in data["same_person"]:
        pairs.add_row(pair["a"], pair["b"], f"{pair['distance']:.3f}")
    screen.print(pairs if data["same_person"] else "no two faces match")
    screen.print(f"{len(result.labels)} faces in {len(args.photos)} photos; outlined copies in {out}/")
    return 0
