"""Attacks: pure functions ``f(model, x, y, eps, *, targeted=False, ...) -> x_adv`` over one shared step."""

from camo.attacks.core import Schedule, cross_entropy, input_gradient, project, run, step
from camo.attacks.fgsm import fgm, fgsm
from camo.attacks.iterative import bim, mifgsm, pgd
from camo.attacks.patch import apply_patch, grow_patch, train_patch

#: Attack functions by the name the CLI uses.
METHODS = {"fgsm": fgsm, "fgm": fgm, "bim": bim, "pgd": pgd, "mifgsm": mifgsm}

__all__ = [
    "METHODS",
    "Schedule",
    "apply_patch",
    "bim",
    "cross_entropy",
    "fgm",
    "fgsm",
    "grow_patch",
    "input_gradient",
    "mifgsm",
    "pgd",
    "project",
    "run",
    "step",
    "train_patch",
]
