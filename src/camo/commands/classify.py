"""``camo classify``: what the model says about image files, as they are saved on disk."""

from __future__ import annotations

import argparse
from pathlib import Path

from camo.commands import add_model_options, console, emit_json, load_image_for, load_model_from_args, progress_bar
from camo.commands.inputs import expand_images

EPILOG = """examples:
  camo classify cat.jpg --model imagenet
  camo classify adv/ --model imagenet --top-k 3          # every image of a folder, e.g. camo attack's outputs
  camo classify digit.png adv/digit.adv.png --model mnist --json

Each file is read from disk and prepared exactly as every camo command prepares it for the model (EXIF
orientation, the model's channels, resized and centre-cropped to its input size), so the answer is about the file
as saved: an 8-bit PNG, or a JPEG after its compression. Nothing is written.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "classify", parents=[common], help="the model's top-k classes for image files (or folders), as saved",
        description="Classify each IMAGE (files or folders of images) and print the model's most likely classes "
                    "with their probabilities.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE|DIR", help="image files or folders")
    add_model_options(parser)
    parser.add_argument("--top-k", "-k", type=int, default=5, help="classes shown per image (default: 5)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from camo.errors import InputError
    from camo.models.ranking import top_k

    if args.top_k < 1:
        raise InputError(f"--top-k must be ≥ 1; got {args.top_k}")
    paths = expand_images(args.images)  # before the model loads: a typo costs a second
    model = load_model_from_args(args)
    results = []
    with progress_bar(f"classify: {len(paths)} images with {model.name}", disable=args.json or args.quiet,
                      unit="images") as update:
        for done, path in enumerate(paths, start=1):
            results.append((path, top_k(model, load_image_for(model, path), args.top_k)[0]))
            update(done, len(paths))
    if args.json:
        emit_json({"model": model.name, "results": [
            {"image": str(path), "top": [r.to_dict() for r in ranked]} for path, ranked in results]})
        return 0
    from rich.table import Table

    table = Table(title=f"{model.name}: top {args.top_k} of each file as saved")
    table.add_column("image")
    for rank in range(1, min(args.top_k, len(results[0][1])) + 1):
        table.add_column(f"#{rank}")
    for path, ranked in results:
        table.add_row(str(path), *(f"{r.label} {r.probability:.1%}" for r in ranked))
    console().print(table)
    return 0
