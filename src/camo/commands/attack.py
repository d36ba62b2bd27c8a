"""``camo attack``: attack image files and check that the saved 8-bit files still fool the model."""

from __future__ import annotations

import argparse
from pathlib import Path

from camo.commands import add_model_options, emit_json, load_model_from_args, parse_eps
from camo.errors import InputError

EPILOG = """examples:
  camo attack digit.png --model mnist --out adv/
  camo attack hen.jpg --model imagenet --target hog --eps 4/255 --method pgd --out adv/
  camo attack cat.png --model my_model.pt --eps 0.03 --method bim --steps 20 --out adv/ --json
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "attack", parents=[common], help="attack image files and check the saved 8-bit files still fool the model",
        description="Attack each IMAGE, save the adversarial image (8-bit, no metadata) and a figure "
                    "'original + perturbation = adversarial', reload the saved file and re-classify it.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="input image files (never modified)")
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
    parser.add_argument("--out", "-o", required=True, type=Path, help="output folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from camo.attack_files import AttackSettings, attack_images, validate

    if args.eps is None:  # 8/255 as an L2 length over a whole image changes almost nothing: fgm gets its own
        args.eps = 1.0 if args.method == "fgm" else 8 / 255
    settings = AttackSettings(method=args.method, eps=args.eps, target=args.target, steps=args.steps,
                              seed=args.seed, image_format=args.format, quality=args.quality)
    if args.eps < 0:  # before loading any model: the most common misunderstanding deserves a fast answer
        raise InputError(f"eps must be ≥ 0; got {args.eps:g}. To move towards a label (the 'negative epsilon' "
                         "trick), give a positive eps and --target LABEL")
    model = load_model_from_args(args)
    validate(model, settings)
    console = Console(stderr=True)
    budget = f"L2 ε = {args.eps:.3g}" if args.method == "fgm" else f"ε = {args.eps * 255:.3g}/255"
    with Progress(console=console, transient=True, disable=args.json or args.quiet) as progress:
        task = progress.add_task(f"{args.method} {budget}", total=len(args.images))
        records = attack_images(model, args.images, args.out, settings,
                                on_image=lambda _: progress.advance(task))
    if args.json:
        emit_json({"model": model.name, "out": str(args.out), "results": [r.to_dict() for r in records]})
        return 0
    table = Table(title=f"{model.name}: {args.method}, {budget}"
                  + (f", target {records[0].target}" if records and records[0].target else ""))
    for column in ("image", "original", "adversarial", "saved 8-bit file", "fooled", "survived 8-bit"):
        table.add_column(column)
    for r in records:
        table.add_row(Path(r.source).name, f"{r.original.label} {r.original.confidence:.0%}",
                      f"{r.adversarial.label} {r.adversarial.confidence:.0%}",
                      f"{r.saved.label} {r.saved.confidence:.0%}",
                      "yes" if r.success else "no", _survival(r.success, r.survived_quantisation))
    console.print(table)
    console.print(f"outputs in {args.out}/ (adversarial images, figures, results.json)")
    return 0


def _survival(success: bool, survived: bool) -> str:
    if survived:
        return "yes"
    return "NO: lost in the 8-bit file" if success else "-"
