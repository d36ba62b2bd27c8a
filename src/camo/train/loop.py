"""Adversarial training of any :class:`~camo.Classifier`, with a cyclic learning rate and a watch for catastrophic
overfitting.

Catastrophic overfitting (Wong, Rice & Kolter 2020): single-step training without a random start, or with too large
a step, suddenly learns to defeat FGSM alone — FGSM accuracy soars while accuracy under PGD collapses, within an
epoch. After every epoch the trainer measures clean, FGSM and PGD accuracy on a held-out batch at the full ε. Once
ε has warmed up, an epoch has *collapsed* when its PGD accuracy falls more than ``collapse_drop`` below the best so
far, or when FGSM accuracy exceeds PGD accuracy by more than ``collapse_gap`` (the model has learnt to defeat FGSM
alone); training then stops and the weights of the last good epoch come back.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from camo.attacks.core import Schedule, check_inputs, frozen, run
from camo.errors import InputError
from camo.models.classifier import Classifier
from camo.train.data import TrainData
from camo.train.methods import adversarial_batch, check_method, default_alpha


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (ε and α in pixel units of images in [0, 1])."""

    method: str = "fgsm-rs"       # see camo.train.methods.METHODS
    eps: float = 0.3              # the training budget (L∞)
    alpha: float | None = None    # the attack's step; None = the method's default (fgsm-rs: 1.25 ε)
    pgd_steps: int = 10           # steps of the pgd method
    epochs: int = 10
    batch_size: int = 128
    max_lr: float = 5e-3          # peak of the cyclic (triangular) learning rate: 0 → max at 2/5 → 0
    weight_decay: float = 0.0
    warmup_epochs: int = 0        # ε grows linearly from 0 over these epochs (0: full ε from the start)
    seed: int = 0
    check_size: int = 500         # held-out images checked after every epoch
    check_steps: int = 10         # PGD steps of that check (step 2.5 ε / steps, one random start)
    collapse_drop: float = 0.2    # a fall of PGD accuracy this far below its best = catastrophic overfitting
    collapse_gap: float = 0.4     # FGSM accuracy this far above PGD accuracy = catastrophic overfitting
    stop_on_collapse: bool = True

    def resolved_alpha(self) -> float:
        return default_alpha(self.method, self.eps, self.pgd_steps) if self.alpha is None else self.alpha

    def check(self) -> None:
        """Raises InputError for settings that cannot train."""
        check_method(self.method)
        if not (math.isfinite(self.eps) and 0 <= self.eps <= 1):
            raise InputError(f"eps must be in [0, 1] (pixel units); got {self.eps}")
        if self.alpha is not None and not (math.isfinite(self.alpha) and self.alpha > 0):
            raise InputError(f"alpha must be a positive number; got {self.alpha}")
        for name in ("pgd_steps", "epochs", "batch_size", "check_size", "check_steps"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be ≥ 1; got {getattr(self, name)}")
        if not (math.isfinite(self.max_lr) and self.max_lr > 0):
            raise InputError(f"max_lr must be a positive number; got {self.max_lr}")
        if not (0 < self.collapse_drop <= 1 and 0 < self.collapse_gap <= 1):
            raise InputError(f"collapse_drop and collapse_gap must be in (0, 1]; got {self.collapse_drop} and "
                             f"{self.collapse_gap}")


@dataclass(frozen=True)
class EpochReport:
    """One epoch: the training loss and accuracy on its attacked batches, and the held-out check."""

    epoch: int
    epochs: int
    loss: float
    train_accuracy: float         # on the (attacked) training batches, as trained on
    clean_accuracy: float         # held-out batch
    fgsm_accuracy: float          # held-out batch under FGSM at ε
    pgd_accuracy: float           # held-out batch under PGD at ε (check_steps steps, one random start)
    lr: float                     # learning rate at the end of the epoch
    eps: float                    # training ε this epoch (below the target during warm-up)
    seconds: float
    collapsed: bool = False


@dataclass(frozen=True)
class TrainResult:
    """What happened: every epoch's report, whether training stopped on catastrophic overfitting, the time."""

    config: TrainConfig
    data: str
    epochs: tuple[EpochReport, ...]
    collapse_epoch: int | None    # the epoch whose PGD accuracy collapsed (None: no collapse)
    kept_epoch: int               # the epoch whose weights the model now holds
    seconds: float
    stopped: bool = False         # training stopped early because of the collapse
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def final(self) -> EpochReport | None:
        """The report of the epoch whose weights were kept (None: the initial weights were kept)."""
        return self.epochs[self.kept_epoch - 1] if self.kept_epoch else None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "training", "config": asdict(self.config), "data": self.data,
                "epochs": [asdict(e) for e in self.epochs], "collapse_epoch": self.collapse_epoch,
                "kept_epoch": self.kept_epoch, "stopped": self.stopped, "seconds": self.seconds,
                "notes": list(self.notes)}


#: Called after every epoch with its report (the CLI prints it).
EpochCallback = Callable[[EpochReport], None]

#: Called after every training batch with (batches done, batches in total).
BatchCallback = Callable[[int, int], None]


def cyclic_lr(step: int, total: int, max_lr: float) -> float:
    """The triangular one-cycle rate of Wong et al.: 0 → ``max_lr`` over the first 2/5 of training → 0."""
    peak = max(1, round(0.4 * total))
    if step <= peak:
        return max_lr * step / peak
    return max_lr * max(0.0, (total - step) / max(1, total - peak))


def held_out_check(model: Classifier, x: torch.Tensor, y: torch.Tensor, eps: float, *, steps: int = 10,
                   seed: int = 0) -> tuple[float, float, float]:
    """Clean, FGSM and PGD accuracy of ``model`` on (x, y) at ε (PGD: ``steps`` steps of 2.5 ε / steps).

    Returns:
        (clean, fgsm, pgd) accuracies in [0, 1].
    """
    def accuracy(images: torch.Tensor) -> float:
        with frozen(model), torch.no_grad():
            return float((model(images).argmax(dim=1) == y).float().mean())

    if eps == 0:
        clean = accuracy(x)
        return clean, clean, clean
    x_fgsm = run(model, x, y, eps, Schedule(steps=1, step_size=eps), targeted=False, loss=None)
    x_pgd = run(model, x, y, eps, Schedule(steps=steps, step_size=2.5 * eps / steps, random_start=True),
                targeted=False, loss=None, generator=torch.Generator().manual_seed(seed))
    return accuracy(x), accuracy(x_fgsm), accuracy(x_pgd)


def train(
    model: Classifier,
    data: TrainData,
    config: TrainConfig = TrainConfig(),
    *,
    on_epoch: EpochCallback | None = None,
    on_batch: BatchCallback | None = None,
) -> TrainResult:
    """Train ``model`` in place on adversarial examples of ``data`` made by ``config.method``.

    Every batch is attacked through the shared attack loop (:func:`camo.attacks.core.run`) with the model frozen,
    then the model takes one Adam step on the attacked batch at the cyclic learning rate. After every epoch the
    held-out check runs (see :class:`EpochReport`); on a collapse of its PGD accuracy (catastrophic overfitting)
    training stops and the weights of the last good epoch are restored, and the result says so.

    Args:
        model: any :class:`~camo.Classifier` whose module has trainable parameters; pixel-space input.
        data: training and held-out images (see :func:`~camo.train.mnist_data`, :func:`~camo.train.image_folder`).
        config: method, ε, schedule and the overfitting watch.
        on_epoch: called with each :class:`EpochReport`.
        on_batch: called with (batches done, batches in total).

    Returns:
        A :class:`TrainResult`; the model is left in eval mode with the kept weights.

    Raises:
        InputError: bad settings, data the model cannot take, no held-out images, a model without parameters.
    """
    config.check()
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise InputError(f"{model.name} has no trainable parameters (a TorchScript or exported model cannot be "
                         "trained here; give an nn.Module factory)")
    if len(data.x_held) == 0:
        raise InputError("training needs held-out images for the overfitting check; use a larger holdout")
    check_inputs(model, data.x_train[:1], config.eps)
    with frozen(model), torch.no_grad():
        classes = int(model(data.x_train[:1]).shape[1])
    if int(data.y_train.max()) >= classes:
        raise InputError(f"the data has {int(data.y_train.max()) + 1} classes; the model gives {classes} outputs")
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    alpha_at_full = config.resolved_alpha()
    x_check, y_check = data.x_held[: config.check_size], data.y_held[: config.check_size]
    optimiser = torch.optim.Adam(params, lr=0.0, weight_decay=config.weight_decay)
    n = len(data.x_train)
    per_epoch = -(-n // config.batch_size)
    total = per_epoch * config.epochs
    reports: list[EpochReport] = []
    good_state = copy.deepcopy(model.state_dict())
    kept_epoch = 0
    best_pgd = -1.0
    collapse_epoch: int | None = None
    notes: list[str] = []
    start = time.perf_counter()
    done = 0
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.perf_counter()
        ramp = min(1.0, epoch / config.warmup_epochs) if config.warmup_epochs else 1.0
        eps, alpha = config.eps * ramp, alpha_at_full * ramp
        order = torch.randperm(n, generator=generator)
        loss_sum, correct = 0.0, 0
        for begin in range(0, n, config.batch_size):
            idx = order[begin : begin + config.batch_size]
            xb, yb = data.x_train[idx], data.y_train[idx]
            if data.augment is not None:
                xb = data.augment(xb, generator).clamp(*model.bounds)
            x_adv = adversarial_batch(model, xb, yb, config.method, eps, alpha, pgd_steps=config.pgd_steps,
                                      generator=generator)
            model.train()
            logits = model(x_adv)
            loss = F.cross_entropy(logits, yb)
            done += 1
            for group in optimiser.param_groups:
                group["lr"] = cyclic_lr(done, total, config.max_lr)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.detach().argmax(dim=1) == yb).sum())
            if on_batch is not None:
                on_batch(done, total)
        model.eval()
        clean, fgsm_acc, pgd_acc = held_out_check(model, x_check, y_check, config.eps, steps=config.check_steps,
                                                  seed=config.seed)
        watched = config.method != "none" and epoch > config.warmup_epochs
        collapsed = watched and ((best_pgd >= 0 and pgd_acc < best_pgd - config.collapse_drop)
                                 or fgsm_acc - pgd_acc > config.collapse_gap)
        report = EpochReport(epoch=epoch, epochs=config.epochs, loss=loss_sum / n, train_accuracy=correct / n,
                             clean_accuracy=clean, fgsm_accuracy=fgsm_acc, pgd_accuracy=pgd_acc,
                             lr=optimiser.param_groups[0]["lr"], eps=eps, seconds=time.perf_counter() - epoch_start,
                             collapsed=collapsed)
        reports.append(report)
        if on_epoch is not None:
            on_epoch(report)
        if collapsed:
            collapse_epoch = epoch
            notes.append(f"catastrophic overfitting at epoch {epoch}: held-out PGD accuracy {pgd_acc:.1%} (best "
                         f"{max(best_pgd, 0.0):.1%}) while FGSM accuracy is {fgsm_acc:.1%}")
            if config.stop_on_collapse:
                model.load_state_dict(good_state)
                notes.append(f"stopped; kept the weights of epoch {kept_epoch}" if kept_epoch else
                             "stopped; kept the initial weights (the first epoch already collapsed)")
                break
            continue
        if watched:
            best_pgd = max(best_pgd, pgd_acc)
        good_state = copy.deepcopy(model.state_dict())
        kept_epoch = epoch
    model.eval()
    if collapse_epoch is not None and not config.stop_on_collapse:
        kept_epoch = len(reports)
    return TrainResult(config=config, data=data.description, epochs=tuple(reports), collapse_epoch=collapse_epoch,
                       kept_epoch=kept_epoch, seconds=time.perf_counter() - start,
                       stopped=collapse_epoch is not None and config.stop_on_collapse, notes=tuple(notes))
