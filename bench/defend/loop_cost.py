"""What one PGD step costs per image in the shared loop, with the gradient taken over the whole batch or in chunks
(``camo.attacks.core.GRADIENT_CHUNK``), for the built-in mnist and mnist-robust networks; and a check that both
give the same adversarial images bit for bit. CPU time (``time.process_time``), so that other processes on a shared
machine inflate it less than wall time; the best of a few repeats.

Usage (from the repository root; the figures of bench/defend/RESULTS.md, "Evaluation cost"):
    OMP_NUM_THREADS=1 PYTHONPATH=src python bench/defend/loop_cost.py [--batch 500] [--steps 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import camo
from camo.attacks import core
from camo.datasets import mnist_test

DATA = Path("../shared/data/classification/mnist_t10k")  # from the repository root, as bench/defend/*.sh


def pgd_seconds(model: camo.Classifier, x: torch.Tensor, y: torch.Tensor, steps: int, chunk: int,
                repeats: int) -> tuple[float, torch.Tensor]:
    """Best CPU seconds of ``repeats`` PGD calls (ε = 0.3, step 0.01, seeded start) and the images they gave."""
    core.GRADIENT_CHUNK = chunk
    best, out = float("inf"), x
    for _ in range(repeats):
        start = time.process_time()
        out = camo.pgd(model, x, y, 0.3, steps=steps, step_size=0.01, generator=torch.Generator().manual_seed(0))
        best = min(best, time.process_time() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    x, y = mnist_test(DATA)
    x, y = x[: args.batch], y[: args.batch]
    default_chunk = core.GRADIENT_CHUNK
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread, batch {args.batch}, PGD-{args.steps}")
    for name in ("mnist", "mnist-robust"):
        model = camo.load_model(name)
        whole, a = pgd_seconds(model, x, y, args.steps, 10**9, args.repeats)
        chunked, b = pgd_seconds(model, x, y, args.steps, default_chunk, args.repeats)
        per = 1e3 / (args.batch * args.steps)
        print(f"{name:13s} whole batch {whole * per:.3f} ms/image/step   chunks of {default_chunk} "
              f"{chunked * per:.3f} ms/image/step   ({1 - chunked / whole:.0%} less)   "
              f"identical images: {torch.equal(a, b)}")
    core.GRADIENT_CHUNK = default_chunk


if __name__ == "__main__":
    main()
