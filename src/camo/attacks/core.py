"""The one step every attack shares, its projections, and the checks on what attacks are given.

Every attack in camo is this loop with different settings::

    x_adv = x (or a random point in the ε-ball)
    repeat steps times:
        g = ∇x loss(model(x_adv), y)                     # input gradient only, parameters frozen
        x_adv = x_adv + direction · step_size · unit(g)  # direction = −1 when targeted: step *down* the loss
        x_adv = project to the ε-ball around x, then clip to the model's bounds

FGSM is one step of size ε from x with unit = sign (Goodfellow et al. 2015, "Explaining and Harnessing
Adversarial Examples"); the seeds' "negative epsilon" is ``targeted=True``: x − ε·sign(∇x J(x, target)).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from camo.errors import InputError

Norm = Literal["linf", "l2"]

#: A loss maps the model's output and the labels (or reference descriptors) to a scalar to *increase*.
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: Called after each step with (step number from 1, steps).
StepCallback = Callable[[int, int], None]

#: Anything that maps a batch to outputs: a Classifier, any nn.Module, a function.
Model = Callable[[torch.Tensor], torch.Tensor]

_TINY = 1e-12  # keeps L2 normalisation finite where a gradient is exactly zero

#: Images per gradient computation inside the loop, on the CPU with the default loss. A 500-image batch of the
#: mnist CNN spills its activations (~50 MB a layer) out of the caches: in chunks of 128 the same gradients
#: (bit for bit) cost 40 % less there (bench/defend/RESULTS.md, "Evaluation cost").
GRADIENT_CHUNK = 128


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy: the default loss, the same one torchattacks and cleverhans use (so outputs match)."""
    return F.cross_entropy(logits, y)


def model_bounds(model: Model) -> tuple[float, float]:
    """The pixel bounds a model declares (a :class:`~camo.Classifier` does), else [0, 1]."""
    bounds = getattr(model, "bounds", (0.0, 1.0))
    return float(bounds[0]), float(bounds[1])


def check_inputs(model: Model, x: torch.Tensor, eps: float, *, norm: Norm = "linf") -> tuple[float, float]:
    """Reject what would silently give wrong results; return the model's bounds.

    Raises:
        InputError: x is not a float (N, C, H, W) tensor inside the bounds, or ε is negative, not finite or larger
            than the whole pixel range.
    """
    if not isinstance(x, torch.Tensor):
        raise InputError(f"x must be a torch.Tensor; got {type(x).__name__}")
    if x.dim() != 4:
        raise InputError(f"x must be a batch of images shaped (N, C, H, W); got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise InputError(f"x must be a floating-point tensor; got {x.dtype}. Convert uint8 images with x / 255")
    lo, hi = model_bounds(model)
    if x.numel():
        lo_t, hi_t = torch.aminmax(x)  # one pass over the batch, not two
        x_min, x_max = float(lo_t), float(hi_t)
        if math.isnan(x_min) or math.isnan(x_max):
            raise InputError("x contains NaN")
        slack = 1e-6 * (hi - lo)
        if x_min < lo - slack or x_max > hi + slack:
            raise InputError(
                f"image values must lie in the model's bounds [{lo:g}, {hi:g}]; got min={x_min:.3g}, "
                f"max={x_max:.3g}. Did you pass normalised tensors? Give raw pixels and put mean/std in Classifier"
            )
    if not isinstance(eps, int | float) or isinstance(eps, bool) or not math.isfinite(eps):
        raise InputError(f"eps must be a finite number; got {eps!r}")
    if eps < 0:
        raise InputError(
            f"eps must be ≥ 0; got {eps:g}. For the 'negative epsilon' trick (move towards a label) "
            "pass the label as y with targeted=True (CLI: --target LABEL)"
        )
    if norm == "linf" and eps > hi - lo:
        raise InputError(
            f"eps={eps:g} is larger than the whole pixel range [{lo:g}, {hi:g}]; did you mean {eps:g}/255?"
        )
    if norm not in ("linf", "l2"):
        raise InputError(f"norm must be 'linf' or 'l2'; got {norm!r}")
    return lo, hi


def resolve_labels(model: Model, x: torch.Tensor, y: torch.Tensor | None, *, targeted: bool) -> torch.Tensor:
    """The labels to attack: those given, or — untargeted only — the model's own predictions.

    Using predictions rather than true labels avoids "label leaking" (Kurakin et al. 2017): the attack then moves
    away from what the model actually says.

    Raises:
        InputError: a targeted attack without targets, or labels of the wrong length.
    """
    if y is None:
        if targeted:
            raise InputError("a targeted attack needs the target labels as y")
        with torch.no_grad(), frozen(model):
            predicted: torch.Tensor = model(x).argmax(dim=1)
        return predicted
    if not isinstance(y, torch.Tensor):
        raise InputError(f"y must be a torch.Tensor; got {type(y).__name__}")
    if y.shape[0] != x.shape[0]:
        raise InputError(f"y has {y.shape[0]} entries for a batch of {x.shape[0]} images")
    return y.to(x.device)


@contextlib.contextmanager
def frozen(model: Model) -> Iterator[None]:
    """Eval mode and no parameter gradients for the duration; the caller's settings come back afterwards.

    Freezing parameters is what makes an attack step cost one forward and one input-only backward pass.
    """
    if not isinstance(model, nn.Module):
        yield
        return
    # Touch only what needs changing: walking a large network's modules costs about a millisecond.
    was_training = model.training
    thawed = [p for p in model.parameters() if p.requires_grad]
    if was_training:
        model.eval()
    for p in thawed:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in thawed:
            p.requires_grad_(True)
        if was_training:
            model.train(True)


def input_gradient(model: Model, x: torch.Tensor, y: torch.Tensor, loss: Loss) -> torch.Tensor:
    """∇x loss(model(x), y), computed without touching parameter gradients and returned detached.

    Shape: same as x.
    """
    with torch.enable_grad():
        x_req = x.detach().requires_grad_(True)
        value = loss(model(x_req), y)
        grad: torch.Tensor = torch.autograd.grad(value, x_req)[0]
    return grad.detach()


def _loop_gradient(model: Model, x: torch.Tensor, labels: torch.Tensor, loss: Loss) -> torch.Tensor:
    """:func:`input_gradient` for the shared loop: in chunks of :data:`GRADIENT_CHUNK` images when that is exact.

    Exact when the loss is the default (a mean of per-example cross-entropies: each chunk contributes its *sum*
    divided by the whole batch's size, so every example's gradient is the full batch's, bit for bit) and the model
    is a module (its examples do not interact in eval mode). On an accelerator, or with a custom loss (which may
    couple the examples), the batch goes through whole.

    Shape: same as x.
    """
    n = len(x)
    if loss is not cross_entropy or n <= GRADIENT_CHUNK or x.device.type != "cpu" or not isinstance(model, nn.Module):
        return input_gradient(model, x, labels, loss)

    def chunk_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, y, reduction="sum") / n

    return torch.cat([input_gradient(model, x[i : i + GRADIENT_CHUNK], labels[i : i + GRADIENT_CHUNK], chunk_loss)
                      for i in range(0, n, GRADIENT_CHUNK)])


def _per_sample_norm(t: torch.Tensor) -> torch.Tensor:
    """‖t_i‖₂ of each image, shaped to broadcast against t. Shape: (N, ...) -> (N, 1, 1, 1)."""
    norms: torch.Tensor = torch.linalg.vector_norm(t.flatten(1), dim=1)
    return norms.clamp_min(_TINY).view(-1, *([1] * (t.dim() - 1)))


def step(x_adv: torch.Tensor, grad: torch.Tensor, step_size: float, *, norm: Norm, targeted: bool) -> torch.Tensor:
    """The one signed step of every attack: up the loss, or down it towards a target.

    L∞ moves every pixel by ``step_size`` along sign(g); L2 moves by ``step_size`` along g/‖g‖₂ per image.
    """
    # The single place that decides the sign: a targeted attack descends the target's loss.
    direction = -1.0 if targeted else 1.0
    unit = grad.sign() if norm == "linf" else grad / _per_sample_norm(grad)
    return x_adv + (direction * step_size) * unit


def project(
    x_adv: torch.Tensor, x: torch.Tensor, eps: float, *, norm: Norm, bounds: tuple[float, float]
) -> torch.Tensor:
    """Bring x_adv back into the ε-ball around x (L∞ or L2), then into the pixel bounds."""
    delta = x_adv - x
    delta = delta.clamp(-eps, eps) if norm == "linf" else delta * (eps / _per_sample_norm(delta)).clamp(max=1.0)
    return (x + delta).clamp(*bounds)


def random_start(
    x: torch.Tensor, eps: float, *, norm: Norm, bounds: tuple[float, float], generator: torch.Generator | None
) -> torch.Tensor:
    """A uniformly random point of the ε-ball around x (L∞: uniform per pixel; L2: uniform in the ball), clipped."""
    if norm == "linf":
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=generator.device if generator else None)
        delta = (noise.to(x.device) * 2 - 1) * eps
    else:
        gauss = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=generator.device if generator else None)
        gauss = gauss.to(x.device)
        radius = torch.rand(x.shape[0], generator=generator, dtype=x.dtype,
                            device=generator.device if generator else None).to(x.device)
        radius = radius ** (1.0 / x[0].numel())
        delta = gauss / _per_sample_norm(gauss) * (eps * radius).view(-1, *([1] * (x.dim() - 1)))
    return (x + delta).clamp(*bounds)


@dataclass(frozen=True)
class Schedule:
    """How the shared loop runs: the only thing that differs between FGSM, FGM, BIM, PGD and MI-FGSM."""

    steps: int
    step_size: float
    norm: Norm = "linf"
    random_start: bool = False
    momentum: float | None = None  # MI-FGSM's decay μ; None = plain gradient
    start_radius: float | None = None  # radius of the random start; None = ε (N-FGSM starts from 2ε)


def run(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor | None,
    eps: float,
    schedule: Schedule,
    *,
    targeted: bool,
    loss: Loss | None,
    generator: torch.Generator | None = None,
    callback: StepCallback | None = None,
    restarts: int = 1,
    rerun_fooled: bool = True,
) -> torch.Tensor:
    """Run the shared attack loop; every public attack is a thin call to this.

    With ``restarts`` > 1 the loop runs again from new random starts and each example keeps its worst case:
    untargeted, a start that changes the prediction beats one that does not, then the highest loss wins (so an
    example survives only if it survives every start, the way robust accuracy is reported in papers); targeted,
    the first start that reaches the target is kept, else the one lowest on the target's loss. Later starts attack
    only the examples still unbroken when ``rerun_fooled`` is False (or the attack is targeted): the same robust
    accuracy for a fraction of the work.

    Returns:
        Adversarial images, detached, inside the ε-ball around x and inside the model's bounds.

    Shape: (N, C, H, W) -> (N, C, H, W).
    """
    bounds = check_inputs(model, x, eps, norm=schedule.norm)
    if schedule.steps < 1:
        raise InputError(f"steps must be ≥ 1; got {schedule.steps}")
    if not schedule.step_size >= 0:
        raise InputError(f"step_size must be ≥ 0; got {schedule.step_size}")
    if isinstance(restarts, bool) or not isinstance(restarts, int) or restarts < 1:
        raise InputError(f"restarts must be an integer ≥ 1; got {restarts!r}")
    if restarts > 1 and not schedule.random_start:
        raise InputError("restarts need a random start (every start without one is the same attack)")
    loss_fn = loss if loss is not None else cross_entropy
    x = x.detach()
    with frozen(model):
        labels = resolve_labels(model, x, y, targeted=targeted)
        if eps == 0:
            return x.clone()
        total = schedule.steps * restarts
        best = _descend(model, x, labels, eps, schedule, bounds, targeted=targeted, loss_fn=loss_fn,
                        generator=generator, callback=callback, done=0, total=total)
        if restarts == 1:
            return best.detach()
        broken, score = _outcome(model, best, labels, loss_fn, targeted=targeted)
        for restart in range(1, restarts):
            active = torch.ones_like(broken) if (not targeted and rerun_fooled) else ~broken
            if not bool(active.any()):
                if callback is not None:
                    callback(total, total)
                break
            idx = active.nonzero().flatten()
            candidate = _descend(model, x[idx], labels[idx], eps, schedule, bounds, targeted=targeted,
                                 loss_fn=loss_fn, generator=generator, callback=callback,
                                 done=restart * schedule.steps, total=total)
            new_broken, new_score = _outcome(model, candidate, labels[idx], loss_fn, targeted=targeted)
            old_broken = broken[idx]
            # Breaking beats not breaking; a targeted success, once found, is final; otherwise the worse loss wins.
            better = (new_broken & ~old_broken) | ((new_broken == old_broken) & (new_score > score[idx]))
            if targeted:
                better &= ~old_broken
            take = idx[better]
            best[take] = candidate[better]
            broken[take] = new_broken[better]
            score[take] = new_score[better]
    return best.detach()


def _descend(
    model: Model, x: torch.Tensor, labels: torch.Tensor, eps: float, schedule: Schedule,
    bounds: tuple[float, float], *, targeted: bool, loss_fn: Loss, generator: torch.Generator | None,
    callback: StepCallback | None, done: int, total: int,
) -> torch.Tensor:
    """The loop itself, from one start: the step, the momentum and the projection (the caller froze the model)."""
    if schedule.random_start:
        radius = eps if schedule.start_radius is None else schedule.start_radius
        x_adv = random_start(x, radius, norm=schedule.norm, bounds=bounds, generator=generator)
    else:
        x_adv = x
    # A single step of size ≤ ε from x cannot leave the ball; skipping the projection keeps FGSM exactly
    # x + ε·sign(g) (bit-identical to the peers) instead of x + ((x + ε·s) − x) after a round trip.
    needs_projection = schedule.steps > 1 or schedule.random_start or schedule.step_size > eps
    velocity: torch.Tensor | None = None
    for i in range(schedule.steps):
        grad = _loop_gradient(model, x_adv, labels, loss_fn)
        if schedule.momentum is not None:
            # MI-FGSM: accumulate L1-normalised gradients so the direction is stable across steps.
            l1 = grad.abs().flatten(1).mean(dim=1).clamp_min(_TINY).view(-1, *([1] * (grad.dim() - 1)))
            velocity = grad / l1 if velocity is None else schedule.momentum * velocity + grad / l1
            grad = velocity
        x_adv = step(x_adv, grad, schedule.step_size, norm=schedule.norm, targeted=targeted)
        x_adv = project(x_adv, x, eps, norm=schedule.norm, bounds=bounds) if needs_projection \
            else x_adv.clamp(*bounds)
        if callback is not None:
            callback(done + i + 1, total)
    return x_adv.detach()


def _outcome(
    model: Model, x_adv: torch.Tensor, labels: torch.Tensor, loss_fn: Loss, *, targeted: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per example: whether the attack broke it (prediction off the label, or on the target) and a score that
    grows as the attack gets stronger (the loss, or minus the target's loss).

    Shape: (N, ...) -> (N,), (N,).
    """
    with torch.no_grad():
        out = model(x_adv)
        if loss_fn is cross_entropy:
            losses = F.cross_entropy(out, labels, reduction="none")
        else:  # a custom loss is a mean over the batch: score each example on its own
            losses = torch.stack([loss_fn(out[i : i + 1], labels[i : i + 1]) for i in range(len(out))])
    classes = out.dim() == 2 and labels.dim() == 1 and not labels.is_floating_point()
    if classes:
        hit = out.argmax(dim=1) == labels
        broken = hit if targeted else ~hit
    else:
        broken = torch.zeros(len(out), dtype=torch.bool, device=out.device)
    score = -losses if targeted else losses
    return broken, score.detach().float()
