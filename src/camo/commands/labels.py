"""``camo labels``: a model's class labels, all or those holding a word."""

from __future__ import annotations

import argparse
from typing import Any

from camo.commands import add_model_options, emit_json, load_model_from_args

EPILOG = """examples:
  camo labels --model imagenet cat          # 'tiger cat', 'Persian cat', ... (whole words first)
  camo labels --model imagenet              # all 1000
  camo labels --model my_model.pt --json

A label is found by any part of it, whatever the case; --target, --label and friends take the name (any synonym)
or the number shown here.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "labels", parents=[common], help="list a model's class labels, or search them",
        description="Print the class labels of a model with their numbers: all of them, or those that hold SEARCH "
                    "(case-insensitive; labels where it is a whole word come first).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("search", nargs="?", default="", metavar="SEARCH", help="a word or part of one")
    add_model_options(parser)
    parser.set_defaults(func=run)


def _labels(args: argparse.Namespace) -> tuple[str, list[str]]:
    """The model's name and labels; the built-ins' without loading their weights."""
    from pathlib import Path

    from camo.choices import BUILTIN_MODELS
    from camo.errors import ModelError
    from camo.names import builtin_name

    plain = args.weights is None and args.model_config is None and not Path(args.model).exists()
    name = builtin_name(args.model, BUILTIN_MODELS) if plain else None
    if name == "imagenet":
        from camo.models.zoo import imagenet_labels

        return name, imagenet_labels()
    if name is not None:  # mnist, mnist-robust
        return name, [str(d) for d in range(10)]
    model: Any = load_model_from_args(args)
    if model.labels is None:
        raise ModelError(f"{model.name} has no class names (give --model-config with 'labels'); "
                         "classes are numbered 0..N-1")
    return str(model.name), list(model.labels)


def run(args: argparse.Namespace) -> int:
    from camo.errors import LabelError
    from camo.names import label_hint, search_labels

    name, labels = _labels(args)
    found = search_labels(labels, args.search)
    if not found:
        raise LabelError(f"no label of {name} holds {args.search!r}{label_hint(labels, args.search)}")
    if args.json:
        emit_json({"model": name, "search": args.search,
                   "labels": [{"index": index, "label": label} for index, label in found]})
        return 0
    width = len(str(len(labels) - 1))
    for index, label in found:
        print(f"{index:>{width}}  {label}")
    return 0
