"""``camo evaluate``: accuracy and attack success against ε for each method over a data set."""

from __future__ import annotations

import argparse
from pathlib import Path

from camo.commands import (
    add_model_options,
    add_report_option,
    console,
    emit_json,
    load_model_from_args,
    parse_eps,
    parse_eps_list,
    progress_bar,
    write_json,
    write_report_if_asked,
    write_text,
)

EPILOG = """examples:
  camo evaluate --model mnist --data mnist --eps 0:0.3:0.05 --method fgsm,pgd
  CAMO_DATA=~/data/mnist camo evaluate --model mnist --data mnist-test --eps 0:0.3:0.05 --method fgsm,pgd
  camo evaluate --model my_model.pt --data photos/ --eps 0,2/255,4/255,8/255 --limit 200 --report robust.html
  camo evaluate --model mnist-robust --data mnist-test --eps 0.1,0.2,0.3 --method fgsm,pgd \
      --steps 50 --step-size 0.01 --restarts 10      # PGD-50 × 10 restarts, the papers' MNIST evaluation
  camo evaluate --model mnist-robust --data mnist-test --eps 0.3 --method pgd --steps 50 --restarts 10 \
      --ray --workers 2                              # batches on Ray workers: the same numbers, sooner

--data DIR holds one sub-folder of images per class, each named by a label of the model.
mnist-test reads t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz from --data-root or $CAMO_DATA.
Attacks are untargeted, against the true labels. Success rate = share of the correctly classified images that the
attack makes wrong.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    from camo.choices import ATTACK_METHODS as METHODS

    parser = sub.add_parser(
        "evaluate", parents=[common], help="robustness curves: accuracy against ε per attack over a data set",
        description="Attack every image of a data set with each method at each ε; report clean accuracy, accuracy, "
                    "attack success rate, mean confidence and mean L∞/L2 per ε and method, a confusion matrix, "
                    "an accuracy-against-ε plot and a CSV.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_options(parser)
    parser.add_argument("--data", required=True, help="mnist, mnist-test, or a folder with one sub-folder per class")
    parser.add_argument("--data-root", help="folder of the MNIST test files for --data mnist-test "
                                            "(default: $CAMO_DATA)")
    parser.add_argument("--eps", type=parse_eps_list, default=parse_eps_list("0:0.3:0.05"),
                        help="ε values ≥ 0 in pixels: START:STOP:STEP or a list a,b,c (default: 0:0.3:0.05)")
    parser.add_argument("--method", default="fgsm",
                        help=f"comma-separated attacks from {', '.join(METHODS)} (default: fgsm)")
    parser.add_argument("--limit", type=int, help="use only the first N images (a seeded choice for folders)")
    parser.add_argument("--steps", type=int, default=10, help="steps of iterative methods (default: 10)")
    parser.add_argument("--step-size", type=parse_eps, help="step of iterative methods in pixels, e.g. 0.01 "
                                                            "(default: each method's own; pgd: 2.5·ε/steps)")
    parser.add_argument("--restarts", type=int, default=1,
                        help="random starts of pgd; an image is robust only if it survives all (default: 1)")
    parser.add_argument("--seed", type=int, default=0, help="random start of pgd (default: 0)")
    parser.add_argument("--batch-size", type=int, default=500, help="images per attack call (default: 500)")
    parser.add_argument("--confusion-eps", type=parse_eps, help="ε of the confusion matrices (default: the largest)")
    parser.add_argument("--out", "-o", type=Path, default=Path("camo-evaluate"),
                        help="output folder for evaluation.json/.csv and figures (default: camo-evaluate)")
    parser.add_argument("--ray", nargs="?", const="local", metavar="auto|ADDRESS",
                        help="run the batches on Ray: alone, a private Ray on this machine; auto, the cluster `ray "
                             "start` runs here; or a cluster's address (host:6379). Same results as without")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="with --ray: worker processes (default: one per CPU)")
    add_report_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from camo.commands.outputs import check_outputs

    check_outputs(args.out, [args.out / "evaluation.json", args.out / "evaluation.csv", args.out / "accuracy.png"])
    if args.report:
        check_outputs(files=[args.report], option="--report")
    from camo.analysis.evaluate import check_settings, evaluate, load_dataset
    from camo.analysis.plots import accuracy_figure, confusion_figure
    from camo.images import write_bytes_atomic

    methods, _ = check_settings([m.strip() for m in args.method.split(",") if m.strip()], args.eps)
    batch_map = None
    if args.ray is not None:
        from camo.scale.evaluate import ray_batch_map
        from camo.scale.runner import RayOptions

        batch_map = ray_batch_map(RayOptions(address=args.ray, workers=args.workers))
    elif args.workers is not None:
        from camo.errors import InputError

        raise InputError("--workers is for --ray")
    model = load_model_from_args(args)
    x, y, description = load_dataset(args.data, model, root=args.data_root, limit=args.limit, seed=args.seed)
    with progress_bar(f"{', '.join(methods)} on {len(x)} images", disable=args.json) as update:
        result = evaluate(model, x, y, args.eps, methods, batch_size=args.batch_size, steps=args.steps,
                          step_size=args.step_size, restarts=args.restarts, seed=args.seed,
                          confusion_eps=args.confusion_eps, data=description, callback=update, batch_map=batch_map)
    out: Path = args.out
    write_json(result, out / "evaluation.json")
    write_text(result.csv(), out / "evaluation.csv")
    write_bytes_atomic(accuracy_figure(result), out / "accuracy.png")
    for method, _ in result.confusions:
        write_bytes_atomic(confusion_figure(result, method), out / f"confusion-{method}.png")
    write_report_if_asked(args, [result])
    if args.json:
        emit_json(result.to_dict())
        return 0
    from rich.table import Table

    table = Table(title=f"{result.model} on {result.data}: {result.count} images, clean accuracy "
                        f"{result.clean_accuracy:.2%} ({result.seconds:.0f} s)"
                        + (f"; pgd: {result.restarts} random starts" if result.restarts > 1 else ""))
    for column in ("method", "ε", "ε×255", "accuracy", "success rate", "mean confidence", "mean L∞", "mean L2"):
        table.add_column(column, justify="right")
    for r in result.rows:
        success = "-" if r.success_rate is None else f"{r.success_rate:.2%}"
        table.add_row(r.method, f"{r.eps:.3g}", f"{r.eps * 255:.3g}", f"{r.accuracy:.2%}", success,
                      f"{r.mean_confidence:.3f}", f"{r.mean_linf:.3g}", f"{r.mean_l2:.3g}")
    shown = console()
    shown.print(table)
    shown.print(f"outputs in {out}/ (evaluation.json, evaluation.csv, accuracy.png, confusion-*.png)"
                + (f"; report {args.report}" if args.report else ""))
    return 0
