"""``camo grid``: one image pushed towards every class, perturbations and adversarials in one figure."""

from __future__ import annotations

import argparse
from pathlib import Path

from camo.commands import (
    add_model_options,
    add_report_option,
    console,
    emit_json,
    load_image_for,
    load_model_from_args,
    parse_eps,
    progress_bar,
    write_json,
    write_report_if_asked,
)
from camo.commands.display import format_eps
from camo.commands.outputs import check_outputs

EPILOG = """examples:
  camo grid digit.png --model mnist --eps 0.25 --method pgd
  camo grid hen.jpg --model imagenet --eps 4/255 --method pgd --top-k 6 --out grids/ --report hen.html

Writes <stem>.grid.png and <stem>.grid.json into --out. Adversarials are quantised to 8 bits before they are
classified, as a saved file would be.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    from camo.choices import LINF_METHODS as GRID_METHODS

    parser = sub.add_parser(
        "grid", parents=[common], help="push one image towards every class (the seeds' grid figure)",
        description="Targeted attack of IMAGE towards every class (top-k for large label sets): the perturbations "
                    "and the adversarials, with the model's label and probability under each.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image", metavar="IMAGE", type=Path, help="input image file (never modified)")
    add_model_options(parser)
    parser.add_argument("--eps", type=parse_eps, default=8 / 255, help="L∞ budget in pixels (default: 8/255)")
    parser.add_argument("--method", choices=GRID_METHODS, default="fgsm", help="attack (default: fgsm)")
    parser.add_argument("--top-k", type=int, help="targets for large label sets (default: 8)")
    parser.add_argument("--steps", type=int, default=10, help="steps of iterative methods (default: 10)")
    parser.add_argument("--seed", type=int, default=0, help="random start of pgd (default: 0)")
    parser.add_argument("--out", "-o", type=Path, default=Path("camo-grid"), help="output folder (default: camo-grid)")
    add_report_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    figure, data = args.out / f"{args.image.stem}.grid.png", args.out / f"{args.image.stem}.grid.json"
    check_outputs(args.out, [figure, data], protect=[args.image])  # before any heavy import: a second, not five
    if args.report:
        check_outputs(files=[args.report], protect=[args.image], option="--report")
    from camo.analysis.grid import grid
    from camo.analysis.plots import grid_figure
    from camo.images import write_bytes_atomic

    model = load_model_from_args(args)
    x = load_image_for(model, args.image)
    what = f"grid: {args.image.name} towards every class, {args.method} ε = {format_eps(args.eps)}"
    with progress_bar(what, disable=args.json or args.quiet, unit="attack steps") as update:
        result = grid(model, x, args.eps, method=args.method, top_k=args.top_k, steps=args.steps, seed=args.seed,
                      source=args.image.name, callback=update)
    write_bytes_atomic(grid_figure(result), figure)
    write_json(result, data)
    write_report_if_asked(args, [result], [args.image])
    if args.json:
        emit_json(result.to_dict())
        return 0
    from rich.table import Table

    table = Table(title=f"{result.model}: {result.source} ({result.original_name} "
                        f"{result.original_probability:.0%}) towards every class, {result.method}, "
                        f"ε = {format_eps(result.eps)}")
    for column in ("target", "predicted (8-bit)", "p(predicted)", "p(target)", "reached"):
        table.add_column(column, justify="right")
    for c in result.cells:
        table.add_row(c.target_name, c.predicted_name, f"{c.probability:.1%}", f"{c.target_probability:.1%}",
                      "yes" if c.predicted == c.target else "no")
    shown = console()
    shown.print(table)
    shown.print(f"wrote {figure} and {data}")
    return 0
