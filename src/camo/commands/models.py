"""``camo models``: the built-in models and face recognizers, what each expects, and retraining the built-in ones."""

from __future__ import annotations

import argparse
from typing import Any

from camo.commands import emit_json, training_progress
from camo.errors import InputError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("models", parents=[common],
                            help="list the built-in models and face recognizers and what each expects",
                            epilog="examples:\n  camo models\n  camo models --retrain mnist\n"
                                   "  camo models --retrain mnist-robust",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--retrain", metavar="NAME", help="train a built-in model again (mnist, mnist-robust)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
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
