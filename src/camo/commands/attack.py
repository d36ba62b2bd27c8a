"""``camo attack``: attack image files and check that the saved 8-bit files still fool the model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from camo.attack_record import output_files
from camo.attack_results import RESULTS_FILE, earlier_to_keep, read_entries, written_over
from camo.commands import add_model_options, console, emit_json, load_model_from_args, parse_eps, progress_bar
from camo.commands.display import format_eps
from camo.commands.inputs import expand_images, output_names
from camo.commands.outputs import check_folder, check_outputs
from camo.errors import InputError

EPILOG = """examples:
  camo attack digit.png --model mnist --out adv/
  camo attack hen.jpg --model imagenet --target hog --eps 4/255 --method pgd --out adv/
  camo attack photos/ --model imagenet --method pgd --format jpeg --quality 85 --out adv/
  camo attack cat.png --model my_model.pt --eps 0.03 --method bim --steps 20 --out adv/ --json

Folders are read for their image files; outputs are <name>.adv.png (or .jpg) and <name>.figure.png per input, named
after its stem (lengthened with its folder where two inputs share a stem), and results.json. Attacks into a folder
that holds an earlier run's results add to its results.json: an earlier record stays while its adversarial file is
still there and this run writes over neither of its files, and each record names its own run's model and settings,
so `camo report DIR/results.json` shows every file in DIR. A results.json that is not camo attack's is refused.

The adversarial image has the input's own resolution: the model sees it through its usual resize and centre crop
(imagenet: shorter side to 224, then the central 224×224), done inside the attack, so ε is per pixel of your image;
what lies outside the crop the model sees is not attacked (pgd's random start aside). --crop attacks and saves the
model's 224×224 view instead. For fgm, ε is the L2 length of the change over the image as saved.

Verdicts are about the file you get: each saved file is read back from disk and classified again, and the goal
(away from the predicted label, or onto --target) counts as met only when that file meets it. results.json, per
image: success (the saved file meets the goal), in_memory_success (the float result before saving did),
lost_by / gained_by (when the two differ: "8-bit rounding" or "JPEG q95", found by classifying the 8-bit image
without its JPEG step), linf and l2 (the saved change, pixel units), saved_change_exceeds_eps (that change is larger
than ε by more than 8-bit rounding can add: L∞ > ε + 0.5/255, or for fgm L2 > ε + 0.5/255·√pixels, e.g. after
JPEG). Exit status 3 when some saved file misses its goal.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "attack", parents=[common], help="attack image files and check the saved 8-bit files still fool the model",
        description="Attack each IMAGE (files or folders), save the adversarial image (8-bit, no metadata) and a "
                    "figure 'original + perturbation = adversarial', reload the saved file and re-classify it.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE|DIR",
                        help="input image files or folders (never modified)")
    add_model_options(parser)
    parser.add_argument("--eps", type=parse_eps, default=None,
                        help="budget in pixel units, 8/255 or 0.03: the largest change of any pixel (L∞), or for "
                             "fgm the L2 length of the whole change (default: 8/255; fgm: 1.0)")
    parser.add_argument("--target", help="move towards this label (name or number) instead of away from the "
                                         "predicted one: targeted FGSM, the 'negative epsilon' trick")
    parser.add_argument("--method", choices=["fgsm", "fgm", "bim", "pgd", "mifgsm"], default="fgsm",
                        help="attack (default: fgsm)")
    parser.add_argument("--steps", type=int, default=10, help="steps of iterative methods (default: 10)")
    parser.add_argument("--seed", type=int, default=0, help="random start of pgd (default: 0)")
    parser.add_argument("--format", choices=["png", "jpeg"], default="png", help="output format (default: png)")
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality (default: 95)")
    parser.add_argument("--crop", action="store_true",
                        help="attack and save the model's own view (e.g. imagenet: resized and centre-cropped to "
                             "224×224) instead of the image at its own resolution")
    parser.add_argument("--out", "-o", required=True, type=Path, help="output folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.eps is None:  # 8/255 as an L2 length over a whole image changes almost nothing: fgm gets its own
        args.eps = 1.0 if args.method == "fgm" else 8 / 255
    if args.eps < 0:  # before anything else: the most common misunderstanding deserves a fast answer
        raise InputError(f"eps must be ≥ 0; got {args.eps:g}. To move towards a label (the 'negative epsilon' "
                         "trick), give a positive eps and --target LABEL")
    check_folder(args.out)  # before reading any folder: a bad --out costs a second
    paths = expand_images(args.images)
    names = output_names(paths)
    files = [path for name in names for path in output_files(args.out, name, args.format)]
    check_outputs(args.out, [*files, args.out / RESULTS_FILE], protect=paths)
    earlier = read_entries(args.out / RESULTS_FILE)  # an earlier run's records; refused before a model loads

    from camo.attack_files import AttackSettings, attack_images, validate

    settings = AttackSettings(method=args.method, eps=args.eps, target=args.target, steps=args.steps,
                              seed=args.seed, image_format=args.format, quality=args.quality, crop=args.crop)
    model = load_model_from_args(args)
    validate(model, settings)
    budget = f"L2 ε = {args.eps:.3g}" if args.method == "fgm" else f"ε = {format_eps(args.eps)}"
    with progress_bar(f"attack: {len(paths)} images, {args.method} {budget}", disable=args.json or args.quiet,
                      unit="images") as update:
        done = [0]

        def advance(_: Any) -> None:
            done[0] += 1
            update(done[0], len(paths))

        records = attack_images(model, paths, args.out, settings, names=names, on_image=advance)
    missed = [r for r in records if not r.success]
    kept, replaced = len(earlier_to_keep(earlier, args.out, files)), len(written_over(earlier, files))
    gone = len(earlier) - kept - replaced
    if args.json:
        emit_json({"model": model.name, "out": str(args.out), "results": [r.to_dict() for r in records],
                   "earlier_records_kept": kept})
    else:
        _print_table(model.name, args, budget, records)
        if earlier:
            console().print(_earlier(kept, replaced, gone), highlight=False)
    if missed and not args.quiet:
        console().print(_hint(args, missed), highlight=False)
    return 3 if missed else 0


def _print_table(model: str, args: argparse.Namespace, budget: str, records: list[Any]) -> None:
    from rich.table import Table

    shown = console()
    table = Table(title=f"{model}: {args.method}, {budget}"
                  + (f", target {records[0].target}" if records and records[0].target else ""))
    kind = "saved JPEG" if args.format == "jpeg" else "saved 8-bit file"
    for column in ("image", "original", kind, "goal met (saved file)", "in memory", "goal met (in memory)"):
        table.add_column(column)
    for r in records:
        table.add_row(Path(r.source).name, f"{r.original.label} {r.original.confidence:.0%}",
                      f"{r.saved.label} {r.saved.confidence:.0%}", _verdict(r),
                      f"{r.adversarial.label} {r.adversarial.confidence:.0%}",
                      "yes" if r.in_memory_success else "no")
    shown.print(table)
    met = sum(r.success for r in records)
    shown.print(f"{met} of {len(records)} saved files meet the goal; outputs in {args.out}/ "
                "(adversarial images, figures, results.json)", highlight=False)
    exceeded = [Path(r.source).name for r in records if r.saved_change_exceeds_eps]
    if exceeded:
        shown.print(f"note: the saved change exceeds ε (beyond 8-bit rounding) for {', '.join(exceeded)}; "
                    "see linf / l2 in results.json", highlight=False)


def _earlier(kept: int, replaced: int, gone: int) -> str:
    """What became of the records of earlier runs into the same folder."""
    parts = [f"kept {kept} record{'s' if kept != 1 else ''} of earlier runs (files still there)"]
    if replaced:
        parts.append(f"replaced {replaced} (this run wrote over {'their' if replaced != 1 else 'its'} files)")
    if gone:
        parts.append(f"dropped {gone} (adversarial file{'s' if gone != 1 else ''} no longer there)")
    return f"results.json: {', '.join(parts)}"


def _verdict(r: Any) -> str:
    if r.success:
        return f"yes (gained by {r.gained_by})" if r.gained_by else "yes"
    return f"NO: lost by {r.lost_by}" if r.lost_by else "NO"


def _hint(args: argparse.Namespace, missed: list[Any]) -> str:
    """What would work for the files that miss their goal."""
    first = missed[0]
    image = first.source
    goal = f"--target {first.target}" if first.target is not None else "(the original label must change)"
    lines = [f"{len(missed)} saved file(s) miss the goal {goal}: exit status 3."]
    if any(r.lost_by and r.lost_by.startswith("JPEG") for r in missed):
        lines.append("hint: the JPEG step undid it: try --format png, or a higher --quality")
    if args.method in ("fgsm", "fgm"):
        lines.append("hint: one gradient step is the weakest attack; try --method pgd --steps 20 (same ε), "
                     "or a larger --eps")
    else:
        lines.append("hint: try a larger --eps, or more --steps")
    if first.target is not None:
        lines.append(f"hint: the smallest ε that reaches it: camo best-eps {image} --model {args.model} "
                     f"--target {first.target} --method pgd")
    return "\n".join(lines)
