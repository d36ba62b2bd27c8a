"""Is the per-image bound of bench/PATCH_MNIST.md an artefact of its optimiser or of the square shape?

For the first ``--count`` MNIST test digits not of the target, each at its own random position (seed 0), a patch
is optimised for that digit alone in two independent ways:

* *library*: :func:`camo.attacks.patch.per_image_patches` (targeted FGSM steps on cross-entropy, decaying step);
* *independent*: Adam on a sigmoid-parametrised patch against a clamped logit margin, ``--restarts`` random starts,
  a digit counting as reached when any start reaches the target.

Both are quantised to 8 bits and classified by the built-in mnist model. Rectangular shapes of about the same area
(``--shapes``) use only the independent optimiser. Writes bench/PATCH_BOUND_CHECK.md.

Usage (repository root): python bench/patch_bound_check.py [--target 8] [--count 100] [--shapes 8x8,4x19,19x4]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

import camo
from camo.attacks.patch import apply_patch, per_image_patches, random_positions
from camo.datasets import mnist_test
from camo.images import quantize

HERE = Path(__file__).resolve().parent


def reached(model: camo.Classifier, x: torch.Tensor, patches: torch.Tensor, at: torch.Tensor,
            target: int) -> torch.Tensor:
    """Which digits the 8-bit patches turn into the target. Shape: (N,) bool."""
    with torch.no_grad():
        hits: torch.Tensor = model(apply_patch(x, quantize(patches), at=at)).argmax(1) == target
    return hits


def independent(model: camo.Classifier, x: torch.Tensor, at: torch.Tensor, target: int, shape: tuple[int, int],
                steps: int, restarts: int, generator: torch.Generator) -> torch.Tensor:
    """Adam on sigmoid(3w) against max_other − target logit (clamped below at −5); the union over restarts."""
    hit = torch.zeros(len(x), dtype=torch.bool)
    for _ in range(restarts):
        w = torch.randn((len(x), 1, *shape), generator=generator).requires_grad_(True)
        optimiser = torch.optim.Adam([w], lr=0.1)
        for _ in range(steps):
            logits = model(apply_patch(x, torch.sigmoid(3 * w), at=at))
            other = logits.scatter(1, torch.full((len(x), 1), target), float("-inf")).max(1).values
            loss = (other - logits[:, target]).clamp(min=-5).sum()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        hit |= reached(model, x, torch.sigmoid(3 * w.detach()), at, target)
    return hit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared/data/classification/mnist_t10k")
    parser.add_argument("--target", type=int, default=8)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--restarts", type=int, default=3, help="for the square shape; other shapes get one")
    parser.add_argument("--shapes", default="8x8,4x19,19x4,6x13,3x26", help="HxW; the first is compared with the "
                        "library's optimiser and must be square")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    model = camo.load_model("mnist")
    x_all, y_all = mnist_test(args.data)
    x = x_all[y_all != args.target][: args.count]
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    rows = []
    for k, (height, width) in enumerate(shapes):
        generator = torch.Generator().manual_seed(0)
        at = random_positions(len(x), (height, width), (28, 28), generator=generator)
        cells = [f"{height}×{width}", f"{height * width / 784:.1%}"]
        if k == 0:
            if height != width:
                parser.error("the first shape is compared with the library's square patches: give HxH")
            library = per_image_patches(model, x, args.target, side=height, at=at, steps=args.steps,
                                        generator=torch.Generator().manual_seed(0))
            cells.append(f"{reached(model, x, library, at, args.target).float().mean():.1%}")
        else:
            cells.append("–")
        restarts = args.restarts if k == 0 else 1
        hit = independent(model, x, at, args.target, (height, width), args.steps, restarts, generator)
        cells.append(f"{hit.float().mean():.1%} ({restarts} start{'s' if restarts > 1 else ''})")
        rows.append("| " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
    command = (f"python bench/patch_bound_check.py --target {args.target} --count {args.count} --steps {args.steps} "
               f"--restarts {args.restarts} --shapes {args.shapes} --threads {args.threads}")
    lines = [
        "# Per-image patch bound: another optimiser, other shapes", "",
        f"Command (repository root): `{command}`  ",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {(time.perf_counter() - start) / 60:.1f} minutes; "
        f"{platform.machine()}, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}.", "",
        f"The first {len(x)} MNIST test digits that are not {args.target}, each with a patch made for it alone at its "
        f"own random position, {args.steps} steps, 8-bit, classified by the built-in mnist model: the share that "
        f"becomes {args.target}. *library*: `per_image_patches` (targeted FGSM steps on cross-entropy). "
        "*independent*: Adam on a sigmoid-parametrised patch against a clamped logit margin; with several starts a "
        "digit counts when any start reaches the target.", "",
        "| patch (H×W) | area | library | independent |",
        "|---|---:|---:|---:|",
        *rows, "",
    ]
    (HERE / "PATCH_BOUND_CHECK.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
