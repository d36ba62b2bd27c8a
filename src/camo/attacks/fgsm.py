"""One-step attacks: FGSM (L∞) and FGM (L2).

Paper: Goodfellow, Shlens, Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015.
"""

from __future__ import annotations

import torch

from camo.attacks.core import Loss, Model, Schedule, run


def fgsm(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor | None,
    eps: float,
    *,
    targeted: bool = False,
    loss: Loss | None = None,
) -> torch.Tensor:
    """Fast gradient sign method: x + ε·sign(∇x J(x, y)), clipped to the model's bounds.

    With ``targeted=True``, y holds the *target* labels and the step goes down their loss:
    x − ε·sign(∇x J(x, target)) — the seeds' "negative epsilon". ε itself is never negative.

    Args:
        model: a :class:`~camo.Classifier` (or any module taking pixel-space input; bounds default to [0, 1]).
        x: clean images in the model's bounds.
        y: true labels (untargeted), target labels (targeted), or None to use the model's predictions.
        eps: L∞ budget in pixel units, e.g. ``8/255``.
        targeted: move towards y instead of away from it.
        loss: ``loss(output, y) -> scalar`` to increase; default mean cross-entropy.

    Returns:
        Adversarial images, detached; ‖x_adv − x‖∞ ≤ ε.

    Shape: (N, C, H, W) -> (N, C, H, W); y is (N,).

    Raises:
        InputError: negative/non-finite ε, x outside the bounds or not (N, C, H, W), targeted without y.

    Example:
        >>> x_adv = camo.fgsm(model, x, None, 8 / 255)
        >>> x_hen = camo.fgsm(model, x, torch.tensor([8]), 4 / 255, targeted=True)
    """
    return run(model, x, y, eps, Schedule(steps=1, step_size=eps, norm="linf"), targeted=targeted, loss=loss)


def fgm(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor | None,
    eps: float,
    *,
    targeted: bool = False,
    loss: Loss | None = None,
) -> torch.Tensor:
    """Fast gradient method, L2: x + ε·∇/‖∇‖₂ per image, clipped to the model's bounds.

    Args: as :func:`fgsm`, with ε an L2 radius in pixel units (over all C·H·W values of an image).

    Returns:
        Adversarial images, detached; ‖x_adv − x‖₂ ≤ ε per image.

    Shape: (N, C, H, W) -> (N, C, H, W).
    """
    return run(model, x, y, eps, Schedule(steps=1, step_size=eps, norm="l2"), targeted=targeted, loss=loss)
