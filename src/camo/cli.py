"""The ``camo`` command: a thin layer that parses, calls one library function, prints.

Tables and progress go to stderr; ``--json`` puts machine-readable results alone on stdout. Every error camo raises
on purpose becomes one line ``error: ...`` and exit status 1 (usage errors: status 2).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from camo.errors import CamoError, InputError

log = logging.getLogger("camo")

#: Modules that add their own subcommand: each has ``register(sub, common)`` where ``sub`` is the subparsers action
#: and ``common`` the parent parser holding --json and --quiet; the command's ``func(args) -> int`` raises CamoError.
COMMAND_MODULES: list[str] = [
    "camo.commands.sweep", "camo.commands.best_eps", "camo.commands.grid", "camo.commands.evaluate",
    "camo.commands.report", "camo.commands.patch", "camo.commands.faces", "camo.commands.cloak",
    "camo.commands.serve", "camo.commands.video", "camo.commands.train",
    "camo.commands.labels", "camo.commands.classify",
]

EPILOG_ATTACK = """examples:
  camo attack digit.png --model mnist --out adv/
  camo attack hen.jpg --model imagenet --target hog --eps 4/255 --method pgd --out adv/
  camo attack cat.png --model my_model.pt --eps 0.03 --method bim --steps 20 --out adv/ --json
"""


def parse_eps(text: str) -> float:
    """ε as a fraction ``8/255`` or a plain number ``0.03`` (pixel units; images live in [0, 1])."""
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            value = float(num) / float(den)
        else:
            value = float(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"expected a number like 8/255 or 0.03, got {text!r}") from None
    return value


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", "-m", default="mnist",
                        help="mnist, imagenet, a TorchScript file, or package.module:factory (default: mnist)")
    parser.add_argument("--weights", help="state-dict file for a package.module:factory model")
    parser.add_argument("--model-config", help="JSON with mean/std/bounds/labels/input_size (default: <model>.json)")


def load_model_from_args(args: argparse.Namespace) -> Any:
    from camo.models import load_model

    return load_model(args.model, weights=args.weights, config=args.model_config, progress=training_progress)


def training_progress(epoch: int, epochs: int, accuracy: float) -> None:
    print(f"  training mnist: epoch {epoch}/{epochs}, held-out accuracy {accuracy:.1%}", file=sys.stderr)


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def cmd_attack(args: argparse.Namespace) -> int:
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


def cmd_models(args: argparse.Namespace) -> int:
    from camo.face.recognizers import builtin_infos
    from camo.models.zoo import BUILTIN, MnistRecipe, mnist_weights_path

    if args.retrain:
        from camo.models import load_model

        if args.retrain not in ("mnist", "mnist-robust"):
            raise InputError(f"only the built-in mnist and mnist-robust models are trained here; got {args.retrain!r}")
        load_model(args.retrain, retrain=True, progress=training_progress)
    cached = mnist_weights_path(MnistRecipe())
    rows = [{"name": name, "what": what, "expects": expects,
             "cached": str(cached) if name == "mnist" and cached.exists() else None}
            for name, (what, expects) in BUILTIN.items()]
    # mnist-robust (camo.train): its cache, once trained
    from camo.train.builtin import NAME as ROBUST
    from camo.train.builtin import weights_path as robust_weights_path

    for row in rows:
        if row["name"] == ROBUST and robust_weights_path().exists():
            row["cached"] = str(robust_weights_path())
    user = {"name": "PATH.pt | package.module:factory",
            "what": "your model: a TorchScript file, or a factory with --weights STATE_DICT",
            "expects": "mean/std/bounds/labels/input_size from --model-config or a JSON sidecar <model>.json",
            "cached": None}
    rows.append(user)
    recognizers: list[dict[str, Any]] = [info.to_dict() for info in builtin_infos()]
    recognizers.append({
        "name": "FILE.onnx", "network": "your ONNX face recognizer, run by camo's PyTorch executor",
        "input": "--align arcface|dlib|box, --size, --norm MEAN/STD, --bgr", "descriptor_size": None,
        "metric": "--metric cosine|euclidean", "threshold": None,
        "threshold_source": "--threshold (default: cosine distance 0.6, flagged as uncalibrated)",
        "licence": "the file's own", "weights": "the file you give", "reference": "onnxruntime"})
    if args.json:  # one list, as before: classifiers, then recognizers (kind "face recognizer")
        emit_json(rows + [{"kind": "face recognizer", "what": rec["network"], "expects": rec["input"], "cached": None,
                           **rec} for rec in recognizers])
        return 0
    for row in rows:
        print(f"{row['name']}\n    {row['what']}\n    expects: {row['expects']}")
        if row["cached"]:
            print(f"    cached weights: {row['cached']}")
    print("\nface recognizers (camo faces --recognizer NAME):")
    for rec in recognizers:
        size = f", {rec['descriptor_size']}-D" if rec["descriptor_size"] else ""
        threshold = f" ≤ {rec['threshold']:.3g}" if rec["threshold"] is not None else ""
        print(f"{rec['name']}\n    {rec['network']}\n    input: {rec['input']}{size}\n"
              f"    same person: {rec['metric']} distance{threshold} ({rec['threshold_source']})\n"
              f"    licence: {rec['licence']}; weights: {rec['weights']}; reference: {rec['reference']}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from camo.demo import run_demo

    index = run_demo(args.out, progress=lambda text: print(text, file=sys.stderr))
    if args.json:
        emit_json({"index": str(index)})
    else:
        print(f"demo written: open {index}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="camo",
        description="Fool image classifiers with FGSM and its family, measurably; cloak face photos.",
        epilog="Run 'camo COMMAND --help' for a command's options and examples.",
    )
    from camo import __version__

    parser.add_argument("--version", action="version", version=f"camo {__version__}")
    # Options every command takes, accepted after the command name.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print results as JSON on stdout (tables go away)")
    common.add_argument("--quiet", "-q", action="store_true", help="hide notes about conversions and training")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    attack = sub.add_parser(
        "attack", parents=[common], help="attack image files and check the saved 8-bit files still fool the model",
        description="Attack each IMAGE, save the adversarial image (8-bit, no metadata) and a figure "
                    "'original + perturbation = adversarial', reload the saved file and re-classify it.",
        epilog=EPILOG_ATTACK, formatter_class=argparse.RawDescriptionHelpFormatter)
    attack.add_argument("images", nargs="+", metavar="IMAGE", help="input image files (never modified)")
    add_model_options(attack)
    attack.add_argument("--eps", type=parse_eps, default=None,
                        help="budget in pixel units, 8/255 or 0.03: the largest change of any pixel (L∞), or for "
                             "fgm the L2 length of the whole change (default: 8/255; fgm: 1.0)")
    attack.add_argument("--target", help="move towards this label (name or number) instead of away from the "
                                         "predicted one: targeted FGSM, the 'negative epsilon' trick")
    attack.add_argument("--method", choices=["fgsm", "fgm", "bim", "pgd", "mifgsm"], default="fgsm",
                        help="attack (default: fgsm)")
    attack.add_argument("--steps", type=int, default=10, help="steps of iterative methods (default: 10)")
    attack.add_argument("--seed", type=int, default=0, help="random start of pgd (default: 0)")
    attack.add_argument("--format", choices=["png", "jpeg"], default="png", help="output format (default: png)")
    attack.add_argument("--quality", type=int, default=95, help="JPEG quality (default: 95)")
    attack.add_argument("--out", "-o", required=True, type=Path, help="output folder")
    attack.set_defaults(func=cmd_attack)

    models = sub.add_parser("models", parents=[common],
                            help="list the built-in models and face recognizers and what each expects",
                            epilog="examples:\n  camo models\n  camo models --retrain mnist\n"
                                   "  camo models --retrain mnist-robust",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    models.add_argument("--retrain", metavar="NAME", help="train a built-in model again (mnist, mnist-robust)")
    models.set_defaults(func=cmd_models)

    demo = sub.add_parser("demo", parents=[common], help="run camo on built-in data and write an HTML gallery",
                          epilog="example:\n  camo demo --out demo-output && xdg-open demo-output/index.html",
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    demo.add_argument("--out", "-o", type=Path, default=Path("camo-demo"), help="output folder (default: camo-demo)")
    demo.set_defaults(func=cmd_demo)

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub, common)
    return parser


def _join_negative_values(argv: Sequence[str], options: tuple[str, ...] = ("--eps",)) -> list[str]:
    """Let ``--eps -8/255`` through to the ε check (argparse would take ``-8/255`` for an option)."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in options and i + 1 < len(argv) and argv[i + 1].startswith("-") and len(argv[i + 1]) > 1 \
                and (argv[i + 1][1].isdigit() or argv[i + 1][1] == "."):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


class _NoteHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        level = "warning" if record.levelno >= logging.WARNING else "note"
        print(f"{level}: {record.getMessage()}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = build_parser().parse_args(_join_negative_values(list(sys.argv[1:] if argv is None else argv)))
    handler = _NoteHandler()
    log.addHandler(handler)
    log.setLevel(logging.WARNING if args.quiet else logging.INFO)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except CamoError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # an output folder that is a file, no permission, a full disk: one line, not a traceback
        where = f"{err.filename}: " if err.filename else ""
        print(f"error: {where}{err.strerror or err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        log.removeHandler(handler)


def app() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    app()
