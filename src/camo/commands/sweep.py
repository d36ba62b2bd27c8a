"""``camo sweep``: class probabilities and logits along a signed ε axis (one gradient, forward passes only)."""

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
    parse_eps_list,
    progress_bar,
    write_json,
    write_report_if_asked,
    write_text,
)
from camo.commands.outputs import check_outputs

EPILOG = """examples:
  camo sweep digit.png --model mnist --label 3 --eps -0.5:0.5:0.01
  camo sweep hen.jpg --model imagenet --label hen --top-k 4 --out sweeps/
  camo sweep cat.png --model imagenet --label hog --json > sweep.json

Convention (the seeds'): x(ε) = clip(x + ε·sign(∇x J(x, L))). Negative ε moves towards the label L (targeted
FGSM with budget |ε|), positive ε away from it. The gradient is computed once; every ε costs one forward pass.
Writes <stem>.sweep.png, <stem>.sweep.csv and <stem>.sweep.json into --out.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "sweep", parents=[common], help="probability of each class against a signed ε (the seeds' curve)",
        description="One-step FGSM of IMAGE over a signed ε axis: negative ε towards --label, positive away from "
                    "it. Plots every class's probability (top-k for large label sets) and the logits with fitted "
                    "lines and R² (the network is close to piecewise linear in ε).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image", metavar="IMAGE", type=Path, help="input image file (never modified)")
    add_model_options(parser)
    parser.add_argument("--label", "-l", required=True, help="the label L (name or number) that sets the direction")
    parser.add_argument("--eps", type=parse_eps_list, default=parse_eps_list("-25/255:25/255:1/255"),
                        help="signed ε in pixels: START:STOP:STEP or a list (default: -25/255:25/255:1/255)")
    parser.add_argument("--top-k", type=int, help="classes shown besides L and the clean prediction "
                                                  "(default: all for ≤ 10 classes, else 5)")
    parser.add_argument("--out", "-o", type=Path, default=Path("camo-sweep"),
                        help="output folder (default: camo-sweep)")
    add_report_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out: Path = args.out
    stem = args.image.stem
    paths = [out / f"{stem}.sweep.{suffix}" for suffix in ("png", "csv", "json")]
    check_outputs(out, paths, protect=[args.image])  # before any heavy import
    if args.report:
        check_outputs(files=[args.report], protect=[args.image], option="--report")
    from camo.analysis.plots import sweep_figure
    from camo.analysis.sweep import sweep
    from camo.images import write_bytes_atomic

    model = load_model_from_args(args)
    label = model.label_index(args.label)
    x = load_image_for(model, args.image)
    with progress_bar(f"sweep: {args.image.name} along {args.label}, {len(args.eps)} ε",
                      disable=args.json or args.quiet):  # one gradient, then forward passes: start, beats, end
        result = sweep(model, x, label, args.eps, top_k=args.top_k, source=args.image.name)
    write_bytes_atomic(sweep_figure(result), paths[0])
    write_text(result.csv(), paths[1])
    write_json(result, paths[2])
    write_report_if_asked(args, [result], [args.image])
    if args.json:
        emit_json(result.to_dict())
        return 0
    from rich.table import Table

    curve = result.curve(label)
    table = Table(title=f"{result.model}: sweep of {result.source} along L = {result.label_name} "
                        f"(clean prediction {result.original_name}); ε < 0 towards L")
    for column in ("class", "max p, ε < 0", "at ε (/255)", "max p, ε > 0", "at ε (/255)", "logit line R²"):
        table.add_column(column, justify="right")
    for c in result.curves:
        row = [c.name + (" (L)" if c is curve else "")]
        for negative in (True, False):
            side = [(p, e) for p, e in zip(c.probabilities, result.eps, strict=True) if (e < 0) == negative and e != 0]
            best = max(side, key=lambda pe: (pe[0], -abs(pe[1])), default=None)  # ties: the smallest |ε|
            row += [f"{best[0]:.3f}", f"{best[1] * 255:.3g}"] if best else ["-", "-"]
        row.append(f"{c.fit.r2:.3f}" if c.fit else "-")
        table.add_row(*row)
    shown = console()
    shown.print(table)
    shown.print(f"wrote {', '.join(str(p) for p in paths)}" + (f" and {args.report}" if args.report else ""))
    return 0
