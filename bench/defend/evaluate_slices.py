"""``camo evaluate`` on the MNIST test set in slices that are saved as they finish, merged into one result.

The same measurement as one ``camo evaluate --data mnist-test --limit N --batch-size 500 --method fgsm,pgd
--steps 50 --step-size 0.01 --restarts 10`` run: ``camo.analysis.evaluate.evaluate`` seeds PGD's random starts
with ``seed + batch index``, so the slice starting at digit s is evaluated with seed s / 500 and every 500-digit
batch gets exactly the random starts it gets in the single run; counts (accuracy, success, confusion) add up
exactly, the mean confidence and distances up to float rounding. A run cut short keeps every finished slice, and
the merged result of the finished slices is a valid evaluation of the first digits (``count`` says how many);
started again, it skips the slices already saved.

Usage (from the repository root; MODEL is a built-in name, mnist or mnist-robust):
    OMP_NUM_THREADS=1 PYTHONPATH=src python bench/defend/evaluate_slices.py MODEL EPS [--limit 10000]
        [--slice 1000] [--out bench/defend/raw/MODEL-10000-epsEPS]
Writes OUT/slice-SSSSS.json per slice and OUT/evaluation.json + evaluation.csv (the merge of the finished prefix).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import camo
from camo.analysis.evaluate import EvalRow, EvaluationResult, evaluate, load_dataset
from camo.images import write_bytes_atomic

BATCH = 500
DATA = Path("../shared/data/classification/mnist_t10k")  # from the repository root, as bench/defend/*.sh


def merge(parts: Sequence[EvaluationResult]) -> EvaluationResult:
    """One result from results on consecutive slices (same model, methods, ε and settings), as one run gives."""
    first = parts[0]
    for p in parts[1:]:
        same = (p.model, p.methods, p.eps, p.steps, p.step_size, p.restarts, p.confusion_eps)
        if same != (first.model, first.methods, first.eps, first.steps, first.step_size, first.restarts,
                    first.confusion_eps):
            raise ValueError(f"slices differ in their settings: {same}")
    n = sum(p.count for p in parts)
    clean = [round(p.clean_accuracy * p.count) for p in parts]
    rows = []
    for r0 in first.rows:
        mine = [p.row(r0.method, r0.eps) for p in parts]
        correct = sum(round(r.accuracy * p.count) for r, p in zip(mine, parts, strict=True))
        flipped = sum(round(r.success_rate * c) for r, c in zip(mine, clean, strict=True) if r.success_rate is not None)
        rows.append(EvalRow(
            method=r0.method, eps=r0.eps, accuracy=correct / n,
            success_rate=flipped / sum(clean) if sum(clean) else None,
            mean_confidence=sum(r.mean_confidence * p.count for r, p in zip(mine, parts, strict=True)) / n,
            mean_linf=sum(r.mean_linf * p.count for r, p in zip(mine, parts, strict=True)) / n,
            mean_l2=sum(r.mean_l2 * p.count for r, p in zip(mine, parts, strict=True)) / n, count=n))
    confusions = []
    for method, matrix in first.confusions:
        total = [list(row) for row in matrix]
        for p in parts[1:]:
            for i, row in enumerate(p.confusion_for(method)):
                total[i] = [a + b for a, b in zip(total[i], row, strict=True)]
        confusions.append((method, tuple(tuple(row) for row in total)))
    return EvaluationResult(
        model=first.model, data=first.data, count=n, clean_accuracy=sum(clean) / n, class_names=first.class_names,
        methods=first.methods, eps=first.eps, rows=tuple(rows), confusion_eps=first.confusion_eps,
        confusions=tuple(confusions), seconds=sum(p.seconds for p in parts), steps=first.steps,
        step_size=first.step_size, restarts=first.restarts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("eps", type=float)
    parser.add_argument("--limit", type=int, default=10_000)
    parser.add_argument("--slice", type=int, default=1000, help="digits per saved slice (a multiple of 500)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.slice % BATCH:
        parser.error(f"--slice must be a multiple of {BATCH}")
    out: Path = args.out or Path("bench/defend/raw") / f"{args.model}-{args.limit}-eps{args.eps:g}"
    out.mkdir(parents=True, exist_ok=True)
    model = camo.load_model(args.model)
    x, y, description = load_dataset("mnist-test", model, root=DATA, limit=args.limit)
    parts = []
    for start in range(0, len(x), args.slice):
        path = out / f"slice-{start:05d}.json"
        if path.exists():
            parts.append(EvaluationResult.from_dict(json.loads(path.read_text())))
            continue
        began = time.process_time()
        part = evaluate(model, x[start : start + args.slice], y[start : start + args.slice], [args.eps],
                        ("fgsm", "pgd"), batch_size=BATCH, steps=50, step_size=0.01, restarts=10,
                        seed=start // BATCH, data=description)
        write_bytes_atomic(json.dumps(part.to_dict(), indent=1).encode(), path)
        parts.append(part)
        merged = merge(parts)
        write_bytes_atomic(json.dumps(merged.to_dict(), indent=2).encode(), out / "evaluation.json")
        write_bytes_atomic(merged.csv().encode(), out / "evaluation.csv")
        pgd = merged.row("pgd", args.eps)
        print(f"{time.strftime('%H:%M:%S', time.gmtime())} UTC digits {start}..{start + part.count - 1}: "
              f"{time.process_time() - began:.0f} s CPU; first {merged.count}: clean {merged.clean_accuracy:.2%}, "
              f"FGSM {merged.row('fgsm', args.eps).accuracy:.2%}, PGD-50×10 {pgd.accuracy:.2%}", flush=True)
    merged = merge(parts)
    write_bytes_atomic(json.dumps(merged.to_dict(), indent=2).encode(), out / "evaluation.json")
    write_bytes_atomic(merged.csv().encode(), out / "evaluation.csv")


if __name__ == "__main__":
    main()
