"""Iterative attacks: BIM, PGD (L∞ / L2) and MI-FGSM — the FGSM step repeated with a projection.

Papers: Kurakin, Goodfellow, Bengio, "Adversarial examples in the physical world" (BIM), 2017;
Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks" (PGD), ICLR 2018;
Dong et al., "Boosting Adversarial Attacks with Momentum" (MI-FGSM), CVPR 2018.
"""

from __future__ import annotations

import torch

from camo.attacks.core import Loss, Model, Norm, Schedule, StepCallback, run


def bim(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor | None,
    eps: float,
    *,
    targeted: bool = False,
    steps: int = 10,
    step_size: float | None = None,
    loss: Loss | None = None,
    callback: StepCallback | None = None,
) -> torch.Tensor:
    """Basic iterative method (iterative FGSM, L∞): ``steps`` FGSM steps from x, each projected to the ε-ball.

    Args: as :func:`~camo.fgsm`, plus ``steps``, ``step_size`` (default 2.5·ε/steps, enough to reach the boundary
    with room to turn) and ``callback(step, steps)`` for progress.

    Returns:
        Adversarial images, detached; ‖x_adv − x‖∞ ≤ ε.

    Shape: (N, C, H, W) -> (N, C, H, W).
    """
    size = 2.5 * eps / steps if step_size is None else step_size
    return run(model, x, y, eps, Schedule(steps=steps, step_size=size), targeted=targeted, loss=loss,
               callback=callback)


def pgd(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor | None,
    eps: float,
    *,
    targeted: bool = False,
    norm: Norm = "linf",
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = True,
    generator: torch.Generator | None = None,
    loss: Loss | None = None,
    callback: StepCallback | None = None,
    restarts: int = 1,
    rerun_fooled: bool = True,
) -> torch.Tensor:
    """Projected gradient descent: a random start in the ε-ball, then ``steps`` projected steps.

    Args: as :func:`bim`, plus ``norm`` ("linf" or "l2"), ``random_start`` and a ``generator`` for reproducible
    starts; ``restarts`` runs the attack from that many random starts and keeps each example's worst case
    (untargeted: a start that fools the model, then the highest loss; targeted: the first start that reaches the
    target), so an example counts as robust only if it survives every start. ``rerun_fooled=False`` skips the
    examples already fooled in later starts: the same accuracy, less work, but not the highest loss.
    ``callback(step, steps · restarts)`` counts the steps of every start.

    Returns:
        Adversarial images, detached; ‖x_adv − x‖ ≤ ε in the chosen norm.

    Shape: (N, C, H, W) -> (N, C, H, W).

    Raises:
        InputError: as :func:`~camo.fgsm`, or ``restarts`` < 1, or restarts without a random start.

    Example:
        >>> x_adv = camo.pgd(model, x, y, 0.3, steps=40, generator=torch.Generator().manual_seed(0))
        >>> x_adv = camo.pgd(model, x, y, 0.3, steps=50, step_size=0.01, restarts=10)  # the papers' evaluation
    """
    size = 2.5 * eps / steps if step_size is None else step_size
    schedule = Schedule(steps=steps, step_size=size, norm=norm, random_start=random_start)
    return run(model, x, y, eps, schedule, targeted=targeted, loss=loss, generator=generator, callback=callback,
               restarts=restarts, rerun_fooled=rerun_fooled)


def mifgsm(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor | None,
    eps: float,
    *,
    targeted: bool = False,
    steps: int = 10,
    step_size: float | None = None,
    decay: float = 1.0,
    loss: Loss | None = None,
    callback: StepCallback | None = None,
) -> torch.Tensor:
    """Momentum iterative FGSM (L∞): steps along the sign of a decaying sum of L1-normalised gradients.

    Args: as :func:`bim`, with ``step_size`` defaulting to ε/steps (the paper's) and ``decay`` the momentum μ.

    Returns:
        Adversarial images, detached; ‖x_adv − x‖∞ ≤ ε.

    Shape: (N, C, H, W) -> (N, C, H, W).
    """
    size = eps / steps if step_size is None else step_size
    schedule = Schedule(steps=steps, step_size=size, momentum=decay)
    return run(model, x, y, eps, schedule, targeted=targeted, loss=loss, callback=callback)
