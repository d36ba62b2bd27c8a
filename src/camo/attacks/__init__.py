"""Attacks: pure functions ``f(model, x, y, eps, *, targeted=False, ...) -> x_adv`` over one shared step."""

from camo.attacks.core import Schedule, cross_entropy, input_gradient, project, run, step
from camo.attacks.fgsm import fgm, fgsm
from camo.attacks.iterative import bim, mifgsm, pgd

#: Attack functions by the name the CLI uses.
METHODS = {"fgsm": fgsm, "fgm": fgm, "bim": bim, "pgd": pgd, "mifgsm": mifgsm}

__all__ = [
    "METHODS",
    "Schedule",
    "bim",
    "cross_entropy",
    "fgm",
    "fgsm",
    "input_gradient",
    "mifgsm",
    "pgd",
    "project",
    "run",
    "step",
]
