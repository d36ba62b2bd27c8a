"""The ``camo`` command: a thin layer that parses, calls one library function, prints.

Tables and progress go to stderr; ``--json`` puts machine-readable results alone on stdout. Every error camo raises
on purpose becomes one line ``error: ...`` and exit status 1 (usage errors: status 2).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from camo.commands import (
    attack,
    best_eps,
    classify,
    cloak,
    demo,
    evaluate,
    faces,
    grid,
    labels,
    models,
    patch,
    report,
    serve,
    sweep,
    train,
    video,
)
from camo.errors import CamoError

log = logging.getLogger("camo")

#: Every command, in the order ``camo --help`` lists them: each module's ``register(sub, common)`` adds its parser
#: (see :mod:`camo.commands`). A new command is a module in ``camo/commands/``, imported above and listed here.
COMMANDS = (attack, models, demo, sweep, best_eps, grid, evaluate, report, patch, faces, cloak, serve, video, train,
            labels, classify)


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
    for command in COMMANDS:
        command.register(sub, common)
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
