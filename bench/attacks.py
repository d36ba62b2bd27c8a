"""The contestants: the bare limit, camo and the four peers, each as ``attack(x, y) -> x_adv`` with one setting.

Every runner attacks the same :class:`~camo.Classifier` (pixel space, normalisation inside), with the same ε, step
and steps, untargeted, cross-entropy, no random start, and returns a detached torch tensor. Peers are called only
through their public APIs; whatever they do besides the attack (NumPy round trips, parameter gradients, success
checks) is part of what a user of them pays, so it is timed.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

import camo

Attack = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

LIMIT = "limit"
CAMO = "camo"
PEERS = ("torchattacks", "ART", "foolbox", "cleverhans")
LIBRARIES = (LIMIT, CAMO, *PEERS)
ATTACKS = ("FGSM", "PGD-10")

#: distribution name of each library, for versions in the report
DISTRIBUTIONS = {CAMO: "camo", "torchattacks": "torchattacks", "ART": "adversarial-robustness-toolbox",
                 "foolbox": "foolbox", "cleverhans": "cleverhans"}


@dataclass(frozen=True)
class Settings:
    """The one threat model every library runs: L∞, untargeted, cross-entropy, no random start."""

    eps: float = 8 / 255
    step_size: float = 2 / 255
    steps: int = 10


@dataclass
class Runner:
    """One library's attack, plus an untimed context it runs in (the limit freezes parameters there)."""

    library: str
    attack: str
    run: Attack
    context: Callable[[], contextlib.AbstractContextManager[None]] = field(default=contextlib.nullcontext)
    note: str = ""


@contextlib.contextmanager
def frozen_parameters(model: torch.nn.Module) -> Iterator[None]:
    """requires_grad off for the duration (outside the timer: the limit pays nothing for it)."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def limit_runners(model: camo.Classifier, settings: Settings) -> list[Runner]:
    """The bare loop every attack must pay at least: forward, input-only gradient, sign step, clamp.

    Written inline on purpose (not camo's code): it is the reference camo is measured against.
    """
    lo, hi = model.bounds
    eps = settings.eps

    def gradient(x_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x_req = x_adv.detach().requires_grad_(True)
        loss = F.cross_entropy(model(x_req), y)
        (grad,) = torch.autograd.grad(loss, x_req)
        return grad

    def fgsm(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x + eps * gradient(x, y).sign()).clamp(lo, hi)

    def pgd(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x_adv = x
        for _ in range(settings.steps):
            x_adv = x_adv + settings.step_size * gradient(x_adv, y).sign()
            x_adv = (x + (x_adv - x).clamp(-eps, eps)).clamp(lo, hi)
        return x_adv

    def context() -> contextlib.AbstractContextManager[None]:
        return frozen_parameters(model)

    return [Runner(LIMIT, "FGSM", fgsm, context), Runner(LIMIT, "PGD-10", pgd, context)]


def camo_runners(model: camo.Classifier, settings: Settings) -> list[Runner]:
    def fgsm(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return camo.fgsm(model, x, y, settings.eps)

    def pgd(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return camo.pgd(model, x, y, settings.eps, steps=settings.steps, step_size=settings.step_size,
                        random_start=False)

    return [Runner(CAMO, "FGSM", fgsm), Runner(CAMO, "PGD-10", pgd)]


def torchattacks_runners(model: camo.Classifier, settings: Settings) -> list[Runner]:
    import torchattacks

    fgsm = torchattacks.FGSM(model, eps=settings.eps)
    pgd = torchattacks.PGD(model, eps=settings.eps, alpha=settings.step_size, steps=settings.steps,
                           random_start=False)
    return [Runner("torchattacks", "FGSM", fgsm), Runner("torchattacks", "PGD-10", pgd)]


def art_runners(model: camo.Classifier, settings: Settings, *, input_shape: tuple[int, ...], batch: int,
                num_classes: int) -> list[Runner]:
    import numpy as np
    from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    classifier = PyTorchClassifier(model=model, loss=torch.nn.CrossEntropyLoss(), input_shape=input_shape,
                                   nb_classes=num_classes, clip_values=model.bounds, device_type="cpu")
    # batch_size = the whole batch: ART's default of 32 would split our batches and only make it slower
    fgm = FastGradientMethod(classifier, norm=np.inf, eps=settings.eps, batch_size=batch)
    pgd = ProjectedGradientDescent(classifier, norm=np.inf, eps=settings.eps, eps_step=settings.step_size,
                                   max_iter=settings.steps, num_random_init=0, batch_size=batch, verbose=False)

    def wrap(attack: FastGradientMethod | ProjectedGradientDescent) -> Attack:
        def run(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(attack.generate(x.numpy(), y.numpy()))

        return run

    note = "NumPy in/out; batch_size set to the whole batch"
    return [Runner("ART", "FGSM", wrap(fgm), note=note), Runner("ART", "PGD-10", wrap(pgd), note=note)]


def foolbox_runners(model: camo.Classifier, settings: Settings) -> list[Runner]:
    import foolbox

    fmodel = foolbox.PyTorchModel(model, bounds=model.bounds)
    fgsm = foolbox.attacks.FGSM()
    pgd = foolbox.attacks.LinfPGD(abs_stepsize=settings.step_size, steps=settings.steps, random_start=False)

    # ``run`` returns the adversarial batch only; ``attack(...)`` would add one forward pass for its success flags
    def run_fgsm(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = fgsm.run(fmodel, x, y, epsilon=settings.eps)
        return result

    def run_pgd(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = pgd.run(fmodel, x, y, epsilon=settings.eps)
        return result

    note = "Attack.run (no success check)"
    return [Runner("foolbox", "FGSM", run_fgsm, note=note), Runner("foolbox", "PGD-10", run_pgd, note=note)]


def cleverhans_runners(model: camo.Classifier, settings: Settings) -> list[Runner]:
    import numpy as np
    from cleverhans.torch.attacks.fast_gradient_method import fast_gradient_method
    from cleverhans.torch.attacks.projected_gradient_descent import projected_gradient_descent

    lo, hi = model.bounds

    # cleverhans returns tensors still attached to its graph; detaching is what every user has to do
    def fgsm(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = fast_gradient_method(model, x, settings.eps, np.inf, clip_min=lo, clip_max=hi, y=y)
        return result.detach()

    def pgd(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = projected_gradient_descent(model, x, settings.eps, settings.step_size, settings.steps,
                                                          np.inf, clip_min=lo, clip_max=hi, y=y, rand_init=False)
        return result.detach()

    return [Runner("cleverhans", "FGSM", fgsm), Runner("cleverhans", "PGD-10", pgd)]


def version(library: str) -> str:
    """The installed version of a library, or "not installed"."""
    if library == LIMIT:
        return f"torch {torch.__version__}"
    if library == CAMO:
        return camo.__version__
    try:
        return importlib.metadata.version(DISTRIBUTIONS[library])
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def build_runners(model: camo.Classifier, settings: Settings, x: torch.Tensor, num_classes: int,
                  libraries: tuple[str, ...] = LIBRARIES) -> tuple[list[Runner], dict[str, str]]:
    """Every available library's runners, and for each missing one the reason (an ImportError's message)."""
    runners: list[Runner] = []
    missing: dict[str, str] = {}
    factories: dict[str, Callable[[], list[Runner]]] = {
        LIMIT: lambda: limit_runners(model, settings),
        CAMO: lambda: camo_runners(model, settings),
        "torchattacks": lambda: torchattacks_runners(model, settings),
        "ART": lambda: art_runners(model, settings, input_shape=tuple(x.shape[1:]), batch=x.shape[0],
                                   num_classes=num_classes),
        "foolbox": lambda: foolbox_runners(model, settings),
        "cleverhans": lambda: cleverhans_runners(model, settings),
    }
    for library in libraries:
        try:
            runners += factories[library]()
        except ImportError as err:
            missing[library] = f"{type(err).__name__}: {err}"
    return runners, missing
