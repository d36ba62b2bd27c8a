"""``camo report``: one self-contained HTML page from result JSON files."""

from __future__ import annotations

import argparse
from pathlib import Path

from camo.commands import emit_json

EPILOG = """examples:
  camo report camo-evaluate/evaluation.json --out robustness.html
  camo report camo-sweep/digit.sweep.json best/digit.best-eps.json --out digit.html --title "digit 7"
  camo report adv/results.json --out attack.html

RESULT.json files are written by camo sweep, best-eps, evaluate and grid (or are their --json output), and camo
attack's results.json (its figures are read from beside it). Other camo JSON files get a message naming what
shows them.
The page embeds every figure (base64 data URIs): one file, no external references.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("report", parents=[common], help="one self-contained HTML page from result JSON files",
                            description="Read result JSON files and write one HTML page with their figures "
                                        "(embedded) and tables.",
                            epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", type=Path, metavar="RESULT.json", help="result files")
    parser.add_argument("--out", "-o", type=Path, default=Path("camo-report.html"),
                        help="the HTML file to write (default: camo-report.html)")
    parser.add_argument("--title", default="camo report", help="page title")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from camo.commands.outputs import check_outputs

    check_outputs(files=[args.out], protect=args.results)
    from camo.analysis.report import load_result, write_report

    results = [load_result(path) for path in args.results]
    path = write_report(results, args.out, title=args.title)
    if args.json:
        emit_json({"report": str(path), "sections": len(results)})
    else:
        print(f"report written: {path}")
    return 0
