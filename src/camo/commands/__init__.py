"""The CLI's commands, one module each; this package holds what they share.

A command is a module ``camo/commands/<name>.py`` with ``register(sub, common)``: ``sub`` is the subparsers action
and ``common`` the parent parser holding --json and --quiet; it adds its parser with ``set_defaults(func=run)``
where ``run(args) -> int`` raises :class:`~camo.errors.CamoError` for bad input. :mod:`camo.cli` imports every
command module by name, in one list, and builds the parser from them. Command modules import only light modules
at their top level (argparse, this package, ``camo.errors``); torch, models and attacks are imported inside
``run``, so ``camo --help`` and usage errors answer without loading them.

Shared here: ε parsing (one value, lists and ranges), the model options and loading, JSON output, image loading
for a model, progress bars and writing result files. Command modules import these from here, never from
:mod:`camo.cli` (which imports them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from camo.commands.progress import progress_bar as progress_bar


class Result(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


def parse_eps(text: str) -> float:
    """ε as a fraction ``8/255`` or a plain number ``0.03`` (pixel units; images live in [0, 1])."""
    from camo.eps_grid import fraction

    try:
        return fraction(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number like 8/255 or 0.03, got {text!r}") from None


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


def parse_eps_list(text: str) -> tuple[float, ...]:
    """ε values as ``start:stop:step`` (stop included when on the grid) or a comma-separated list; each part a
    number or a fraction (``-25/255:25/255:1/255``, ``0:0.3:0.05``, ``2/255,4/255,8/255``)."""
    from camo.eps_grid import eps_range
    from camo.errors import InputError

    try:
        if ":" in text:
            parts = text.split(":")
            if len(parts) != 3:
                raise argparse.ArgumentTypeError(f"expected START:STOP:STEP like -25/255:25/255:1/255, got {text!r}")
            start, stop, step = (parse_eps(p) for p in parts)
            return eps_range(start, stop, step)
        values = tuple(parse_eps(p) for p in text.split(",") if p.strip())
    except InputError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if not values:
        raise argparse.ArgumentTypeError(f"no ε values in {text!r}")
    return values


def load_image_for(model: Any, path: str | os.PathLike[str]) -> Any:
    """One image file as a (1, C, H, W) tensor the way the model takes it (its channels and input size)."""
    from camo import images

    return images.load(path, channels=model.channels, size=model.input_size)


def write_text(text: str, path: Path, *, protect: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """Write UTF-8 text atomically, never onto one of the ``protect`` files (the job's inputs)."""
    from camo.images import refuse_inputs, write_bytes_atomic

    refuse_inputs(path, protect)
    return write_bytes_atomic(text.encode("utf-8"), path)


def write_json(result: Result, path: Path) -> Path:
    """A result's ``to_dict()`` as JSON: what ``camo report`` reads back."""
    return write_text(json.dumps(result.to_dict(), indent=2) + "\n", path)


def add_report_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report", type=Path, metavar="FILE.html",
                        help="also write a self-contained HTML report (figures embedded) to this file")


def write_report_if_asked(args: argparse.Namespace, results: Sequence[Result],
                          protect: Sequence[str | os.PathLike[str]] = ()) -> None:
    """Write the ``--report FILE.html`` page for these results, when the option was given (never onto an input)."""
    if not args.report:
        return
    from camo.analysis.report import write_report
    from camo.images import refuse_inputs

    refuse_inputs(args.report, protect)
    write_report(list(results), args.report)


def console() -> Any:
    """The console tables and messages go to: stderr; at full width when stderr is not a terminal (a log keeps
    whole file names instead of ``p2/obama.j…`` cut at 80 columns)."""
    from camo.commands.display import stderr_console

    return stderr_console()
