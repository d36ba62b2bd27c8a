"""Train mnist-robust (or a variant of its recipe) and print every epoch's held-out check and the training time.

Usage: OMP_NUM_THREADS=1 PYTHONPATH=src python bench/defend/train_robust.py [--set field=value ...] [--save PATH.pt]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time

import torch

from camo.train.builtin import FACTORY, RobustRecipe, train_mnist_robust
from camo.train.loop import EpochReport
from camo.train.saving import save_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--set", action="append", default=[], help="recipe field=value (JSON value)")
    parser.add_argument("--save", help="write the weights (and sidecar) here")
    args = parser.parse_args()
    changes = {k: json.loads(v) if v[:1] in "0123456789-[{tf" else v
               for k, v in (item.split("=", 1) for item in args.set)}
    recipe = dataclasses.replace(RobustRecipe(), **changes)
    print(f"recipe {dataclasses.asdict(recipe)}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.machine()}", flush=True)

    def show(e: EpochReport) -> None:
        print(f"epoch {e.epoch}/{e.epochs} ε {e.eps:.3f} loss {e.loss:.3f} train {e.train_accuracy:.1%} | held-out "
              f"clean {e.clean_accuracy:.1%} fgsm {e.fgsm_accuracy:.1%} pgd {e.pgd_accuracy:.1%} "
              f"({e.seconds:.1f} s){' COLLAPSED' if e.collapsed else ''}", flush=True)

    start = time.perf_counter()
    model, result = train_mnist_robust(recipe, on_epoch=show)
    print(f"trained in {time.perf_counter() - start:.0f} s; kept epoch {result.kept_epoch}; notes {result.notes}")
    if args.save:
        save_model(model, args.save, factory=FACTORY, factory_kwargs=recipe.factory_kwargs(),
                   training={"recipe": dataclasses.asdict(recipe), "seconds": round(result.seconds, 1)})


if __name__ == "__main__":
    main()
