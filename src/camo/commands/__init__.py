"""CLI commands that live in their own module: each has ``register(sub, common)`` (see ``camo.cli``).

This package also holds what those commands share: ε lists and ranges, image loading for a model, progress bars
and writing result files.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from camo.cli import parse_eps
from camo.commands.progress import progress_bar as progress_bar


class Result(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


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
