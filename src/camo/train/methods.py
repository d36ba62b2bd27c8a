"""The inner attack of adversarial training, one call to the shared loop (:func:`camo.attacks.core.run`) per method.

Papers: Goodfellow et al. 2015 (FGSM training); Madry et al. 2018 (PGD training); Wong, Rice & Kolter, "Fast is
better than free: revisiting adversarial training", ICLR 2020 (FGSM from a uniform random start, α = 1.25 ε);
de Jorge et al., "Make some noise: reliable and efficient single-step adversarial training", NeurIPS 2022 (N-FGSM:
noise of 2 ε, a step of ε, no projection back to the ε-ball).
"""

from __future__ import annotations

from typing import Literal

import torch

from camo.attacks.core import Model, Schedule, model_bounds, run
from camo.choices import TRAIN_METHODS
from camo.errors import InputError

Method = Literal["fgsm-rs", "fgsm", "n-fgsm", "pgd", "none"]

METHODS = TRAIN_METHODS


def default_alpha(method: str, eps: float, pgd_steps: int) -> float:
    """The step size each method uses when none is given."""
    if method == "fgsm-rs":
        return 1.25 * eps
    if method == "pgd":
        return 2.5 * eps / pgd_steps
    return eps


def check_method(method: str) -> None:
    """Raises InputError for a method that is not one of :data:`METHODS`."""
    if method not in METHODS:
        raise InputError(f"unknown training method {method!r}; choose from {', '.join(METHODS)}")


def adversarial_batch(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    method: str,
    eps: float,
    alpha: float,
    *,
    pgd_steps: int = 10,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The training batch of a method: x itself for ``none``, else x attacked against its true labels.

    Returns:
        Detached images in the model's bounds.

    Shape: (N, C, H, W) -> (N, C, H, W).

    Raises:
        InputError: an unknown method (or what :func:`~camo.attacks.core.run` rejects).
    """
    check_method(method)
    if method == "none" or eps == 0:
        return x.detach()
    if method == "fgsm-rs":
        schedule = Schedule(steps=1, step_size=alpha, random_start=True)
        return run(model, x, y, eps, schedule, targeted=False, loss=None, generator=generator)
    if method == "fgsm":
        return run(model, x, y, eps, Schedule(steps=1, step_size=alpha), targeted=False, loss=None)
    if method == "pgd":
        schedule = Schedule(steps=pgd_steps, step_size=alpha, random_start=True)
        return run(model, x, y, eps, schedule, targeted=False, loss=None, generator=generator)
    # N-FGSM: start in the 2ε-ball and take one step of α; the ball of radius 2ε + α contains every outcome, so
    # projecting onto it changes nothing (the perturbation is deliberately not brought back within ε).
    lo, hi = model_bounds(model)
    reach = min(2 * eps + alpha, hi - lo)
    schedule = Schedule(steps=1, step_size=alpha, random_start=True, start_radius=2 * eps)
    return run(model, x, y, reach, schedule, targeted=False, loss=None, generator=generator)
