"""``camo demo``: run camo's main jobs on data bundled with installed packages and write an HTML gallery."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from camo.commands import emit_json
from camo.commands.outputs import check_folder


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("demo", parents=[common], help="run camo on built-in data and write an HTML gallery",
                            epilog="example:\n  camo demo --out demo-output && xdg-open demo-output/index.html",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", "-o", type=Path, default=Path("camo-demo"),
                        help="output folder (default: camo-demo)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_folder(args.out)  # before torch loads: a bad --out costs a second
    from camo.demo import run_demo

    index = run_demo(args.out, progress=lambda text: print(text, file=sys.stderr))
    if args.json:
        emit_json({"index": str(index)})
    else:
        print(f"demo written: open {index}")
    return 0
