"""The robustness report of bench/defend/RESULTS.md: every evaluation in bench/defend/raw side by side (HTML), and
the Markdown table of clean / FGSM / PGD-50 × 10 accuracy per model and ε.

Usage: PYTHONPATH=src python bench/defend/report.py [RESULT.json ...] [--out bench/defend/robustness.html]
(default: every bench/defend/raw/*/evaluation.json). Reference models are named after their weights file.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

from camo.analysis.evaluate import EvaluationResult
from camo.analysis.report import load_result, write_report

RAW = Path(__file__).parent / "raw"
NAMES = {"fgsm": "reference FGSM (Wong et al.)", "pgd_madry": "reference PGD (Madry)",
         "ref-fgsm": "reference FGSM (Wong et al.)", "ref-pgd_madry": "reference PGD (Madry)"}


def named(path: Path) -> EvaluationResult:
    result = load_result(path)
    assert isinstance(result, EvaluationResult), path
    # MODEL-LIMIT[-epsEPS] (evaluate_all.sh, evaluate_slices.py) or ref-MODEL-10k: the model's name alone.
    stem = re.sub(r"-(\d+k?)(-eps[\d._]+)?$", "", path.parent.name)
    return dataclasses.replace(result, model=NAMES.get(stem, result.model))


def markdown(results: list[EvaluationResult]) -> str:
    lines = ["| model | digits | ε | clean | FGSM | PGD-50 × 10 |", "|---|---|---|---|---|---|"]
    for r in results:
        for eps in r.eps:
            lines.append(f"| {r.model} | {r.count} | {eps:g} | {r.clean_accuracy:.2%} | "
                         f"{r.row('fgsm', eps).accuracy:.2%} | {r.row('pgd', eps).accuracy:.2%} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "robustness.html")
    args = parser.parse_args()
    paths = args.results or sorted(RAW.glob("*/evaluation.json"))
    results = [named(p) for p in paths]
    write_report(results, args.out, title="camo: plain and hardened MNIST models side by side")
    print(markdown(results))
    print(f"\nreport: {args.out}")


if __name__ == "__main__":
    main()
