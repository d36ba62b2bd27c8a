"""``camo best-eps``: the smallest ε that makes the model predict a label, and the ε that maximises its probability."""

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
  camo best-eps digit.png --model mnist --target 3
  camo best-eps digit.png --model mnist --target 3 --method pgd --max-eps 0.3
  camo best-eps hen.jpg --model imagenet --target hog --max-eps 8/255 --step 0.25/255 --scan --json

Reaching the target is not monotone in ε, not even for pgd: a digit reached at ε = 0.21 can be missed at 0.24 and
reached again at 0.27. Bisection (default, few attacks) returns an ε that reaches the target with one at most
--tolerance below it that does not: a crossing, not always the first. --scan tries every grid step (the seeds'
brute force) and returns the first that reaches it. FGSM's bisection starts from the first grid step that reaches
the target, so for fgsm both agree within one --step. Each attacked image is judged as its 8-bit file.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    from camo.choices import LINF_METHODS as BEST_EPS_METHODS

    parser = sub.add_parser(
        "best-eps", parents=[common], help="smallest ε that makes the model predict a label",
        description="Search the budget of a targeted attack on IMAGE: the smallest ε for which the model predicts "
                    "--target, and the ε that maximises p(target).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image", metavar="IMAGE", type=Path, help="input image file (never modified)")
    add_model_options(parser)
    parser.add_argument("--target", "-t", required=True, help="the label to reach (name or number)")
    parser.add_argument("--method", choices=BEST_EPS_METHODS, default="fgsm", help="attack (default: fgsm)")
    parser.add_argument("--max-eps", type=parse_eps, default=64 / 255, help="largest ε searched (default: 64/255)")
    parser.add_argument("--step", type=parse_eps, default=1 / 255, help="grid step of --scan (default: 1/255)")
    parser.add_argument("--tolerance", type=parse_eps, help="bisection precision (default: step/8)")
    parser.add_argument("--scan", action="store_true", help="brute-force scan of the grid instead of bisection")
    parser.add_argument("--steps", type=int, default=10, help="steps of iterative methods (default: 10)")
    parser.add_argument("--seed", type=int, default=0, help="random start of pgd (default: 0)")
    parser.add_argument("--out", "-o", type=Path, default=Path("camo-best-eps"),
                        help="output folder for <stem>.best-eps.json and .png (default: camo-best-eps)")
    add_report_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    stem = args.image.stem
    data, figure = args.out / f"{stem}.best-eps.json", args.out / f"{stem}.best-eps.png"
    check_outputs(args.out, [data, figure], protect=[args.image])  # before any heavy import
    if args.report:
        check_outputs(files=[args.report], protect=[args.image], option="--report")
    from camo.analysis.best_eps import best_eps
    from camo.analysis.plots import best_eps_figure
    from camo.images import write_bytes_atomic

    model = load_model_from_args(args)
    target = model.label_index(args.target)
    x = load_image_for(model, args.image)
    what = f"best-eps: {args.image.name} towards {args.target}, {args.method} up to ε = {format_eps(args.max_eps)}"
    with progress_bar(what, disable=args.json or args.quiet, unit="ε tried") as update:
        result = best_eps(model, x, target, method=args.method, eps_max=args.max_eps, step_size=args.step,
                          tolerance=args.tolerance, scan=args.scan, steps=args.steps, seed=args.seed,
                          source=args.image.name, callback=lambda evaluated: update(evaluated, None))
    write_json(result, data)
    write_bytes_atomic(best_eps_figure(result), figure)
    write_report_if_asked(args, [result], [args.image])
    if args.json:
        emit_json(result.to_dict())
        return 0
    shown = console()
    how = f"{result.method}, {result.search}, ε ≤ {format_eps(result.eps_max)}"
    if result.smallest_eps is None:
        shown.print(f"{result.source}: {result.model} never predicts {result.target_name} ({how}); "
                    f"clean prediction {result.original_name}")
    else:
        shown.print(f"{result.source}: smallest ε that makes {result.model} predict {result.target_name}: "
                    f"ε = {format_eps(result.smallest_eps, decimal=True)} "
                    f"(± {result.resolution * 255:.2g}/255; {how}); clean prediction {result.original_name}")
    shown.print(f"highest p({result.target_name}) = {result.best_probability:.3f} at ε = "
                f"{format_eps(result.best_eps)} (over the {len(result.points)} ε evaluated)")
    shown.print(f"wrote {data} and {figure}")
    return 0
