"""The smallest ε that makes a model predict a chosen label, and the ε that maximises that label's probability.

Two searches over the targeted attack's budget ε ∈ [0, eps_max]:

* **bisection** (default): keeps an interval whose lower end does not reach the target and whose upper end does,
  halving it until it is shorter than ``tolerance``: about log2(eps_max / tolerance) attacks. For iterative
  attacks the interval starts as [0, eps_max] (or [0, eps_max/2^k] when eps_max misses). One-step FGSM overshoots
  (p(target) rises, then falls: the seeds' bell shape), so its interval is the first bracket of a grid of forward
  passes, then bisected.
* **scan** (the seeds' brute force): attack at every grid point 0, step, 2·step, ... eps_max and take the first hit.

**What each answer promises.** Reaching the target is *not* monotone in ε, not even for PGD: a larger budget
changes the whole optimisation path, and a digit reached at ε = 0.21 may be missed at 0.24 and reached again at
0.27. So the two searches can disagree and both be right:

* bisection returns an ε that reaches the target together with an evaluated ε at most ``tolerance`` below it that
  does not — a crossing, not necessarily the first one;
* scan returns the first grid point that reaches the target: every grid point below it misses; between grid
  points nothing is known.

Every verdict is about the image as an 8-bit file would hold it (``quantized``, the default for models with bounds
[0, 1]): what a user saves is what is judged.

For FGSM the gradient of the target's loss is computed once; every ε is then a forward pass (see
:mod:`camo.analysis.sweep`), so the grid of p(target) is always evaluated too and gives the ε that maximises it.
Iterative methods run the attack (``camo.pgd`` etc.) at each evaluated ε, with the same seed every time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch

from camo.analysis.sweep import label_names, signed_step
from camo.attacks import METHODS, bim, mifgsm, pgd
from camo.attacks.core import Model, check_inputs, cross_entropy, frozen, input_gradient
from camo.choices import LINF_METHODS
from camo.eps_grid import eps_range
from camo.errors import InputError, LabelError
from camo.images import quantize

Search = Literal["bisection", "scan"]

#: Methods best_eps searches over (L∞ attacks; their ε is comparable with FGSM's).
BEST_EPS_METHODS = LINF_METHODS


@dataclass(frozen=True)
class EpsPoint:
    """The attack at one ε: the target's probability and the predicted class."""

    eps: float
    probability: float
    predicted: int


@dataclass(frozen=True)
class BestEpsResult:
    """Outcome of a best-ε search for one image and one target."""

    model: str
    source: str
    method: str
    target: int
    target_name: str
    original: int
    original_name: str
    search: str                 # "bisection" or "scan"
    eps_max: float
    resolution: float           # bisection tolerance, or the scan's grid step
    smallest_eps: float | None  # None: the target is not reached at any evaluated ε ≤ eps_max
    best_eps: float             # the evaluated ε with the highest p(target)
    best_probability: float
    points: tuple[EpsPoint, ...]  # every ε evaluated, ascending
    quantized: bool = False     # each attacked image was judged as an 8-bit file holds it

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = "best_eps"
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BestEpsResult:
        fields = {k: v for k, v in data.items() if k not in ("kind", "points")}
        return cls(**fields, points=tuple(EpsPoint(**p) for p in data["points"]))


def best_eps(
    model: Model,
    x: torch.Tensor,
    target: int,
    *,
    method: str = "fgsm",
    eps_max: float = 64 / 255,
    step_size: float = 1 / 255,
    tolerance: float | None = None,
    scan: bool = False,
    steps: int = 10,
    seed: int = 0,
    quantized: bool | None = None,
    source: str = "",
    callback: Callable[[int], None] | None = None,
) -> BestEpsResult:
    """Find the smallest ε for which a targeted attack makes the model predict ``target``.

    Args:
        model: a :class:`~camo.Classifier` (or any module taking pixel-space input).
        x: one clean image in the model's bounds.
        target: the class index to reach.
        method: "fgsm" (default), "bim", "pgd" or "mifgsm"; all targeted, L∞.
        eps_max: the largest ε searched (pixel units).
        step_size: grid step of the scan (and of FGSM's p(target) grid).
        tolerance: bisection stops when the bracket is shorter than this; default step_size / 8.
        scan: brute-force scan of the grid instead of bisection: the *first* grid point that reaches the target
            (bisection finds a crossing, which need not be the first: success is not monotone in ε).
        steps, seed: iterative methods' steps and random-start seed (the same start at every ε).
        quantized: judge each attacked image as an 8-bit file holds it (default: True when the model's bounds
            are [0, 1], False otherwise).
        source: where x came from, for reports.
        callback: progress, ``callback(evaluated)`` with the number of ε attacked so far (the search decides how
            many it needs as it goes).

    Returns:
        A :class:`BestEpsResult`; ``smallest_eps`` is 0 when the clean image is already predicted as the target.
        With bisection, ``points`` holds an ε within ``resolution`` below ``smallest_eps`` that misses the target;
        with a scan, every grid point below ``smallest_eps`` misses it.

    Shape: x (1, C, H, W).

    Raises:
        InputError: unknown method, x not one image in bounds, bad eps_max/step/tolerance/steps.
        LabelError: the target is not a class of the model.
    """
    if method not in BEST_EPS_METHODS:
        raise InputError(f"unknown method {method!r} for best-eps; choose one of {', '.join(BEST_EPS_METHODS)}")
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[0] != 1:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise InputError(f"best_eps takes one image shaped (1, C, H, W); got {shape}")
    bounds = check_inputs(model, x, eps_max)
    if eps_max <= 0:
        raise InputError(f"eps_max must be > 0; got {eps_max:g}")
    if not 0 < step_size <= eps_max:
        raise InputError(f"step_size must be in (0, eps_max={eps_max:g}]; got {step_size:g}")
    tol = step_size / 8 if tolerance is None else tolerance
    if not tol > 0:
        raise InputError(f"tolerance must be > 0; got {tol:g}")
    if steps < 1:
        raise InputError(f"steps must be ≥ 1; got {steps}")
    if quantized is None:
        quantized = bounds == (0.0, 1.0)
    elif quantized and bounds != (0.0, 1.0):
        raise InputError(f"quantized=True needs a model with bounds [0, 1]; got {list(bounds)}")
    x = x.detach()
    with frozen(model), torch.no_grad():
        clean = model(x)
    num_classes = int(clean.shape[1])
    if not 0 <= target < num_classes:
        raise LabelError(f"target {target} is out of range for a model with {num_classes} classes")
    names = label_names(model, num_classes)
    y = torch.tensor([target], device=x.device)
    grad = input_gradient(model, x, y, cross_entropy) if method == "fgsm" else None
    cache: dict[float, EpsPoint] = {}

    def probe(values: Sequence[float]) -> list[EpsPoint]:
        todo = [e for e in values if e not in cache]
        if todo:
            with frozen(model), torch.no_grad():
                batch = torch.cat([_attack(model, x, y, e, method, grad, bounds, steps, seed) for e in todo])
                if quantized:
                    batch = quantize(batch)
                probs = model(batch).float().softmax(dim=1)
            for e, p in zip(todo, probs, strict=True):
                cache[e] = EpsPoint(float(e), float(p[target]), int(p.argmax()))
            if callback is not None:
                callback(len(cache))
        return [cache[e] for e in values]

    grid = list(eps_range(0.0, eps_max, step_size))
    if grid[-1] < eps_max:
        grid.append(eps_max)

    def reaches(e: float) -> bool:
        return probe([e])[0].predicted == target

    if method == "fgsm":
        probe(grid)  # forward passes only; they also give the ε that maximises p(target)
    smallest: float | None
    if scan:
        smallest = next((p.eps for p in probe(grid) if p.predicted == target), None)
    elif reaches(0.0):
        smallest = 0.0
    else:
        if method == "fgsm":
            # One-step attacks overshoot (p(target) rises, then falls as ε grows), so "reaches" is not monotone
            # over [0, eps_max]; the grid costs forward passes only and brackets the first crossing.
            first = next((i for i, p in enumerate(probe(grid)) if p.predicted == target), None)
            bracket = (grid[first - 1], grid[first]) if first is not None else None
        else:
            bracket = _bracket(reaches, eps_max, step_size)
        smallest = _bisect(reaches, *bracket, tol) if bracket is not None else None
    points = tuple(sorted(cache.values(), key=lambda p: p.eps))
    best = max(points, key=lambda p: (p.probability, -p.eps))
    original = int(clean.argmax(dim=1))
    return BestEpsResult(
        model=getattr(model, "name", type(model).__name__), source=source, method=method, target=target,
        target_name=names[target], original=original, original_name=names[original],
        search="scan" if scan else "bisection", eps_max=eps_max, resolution=step_size if scan else tol,
        smallest_eps=smallest, best_eps=best.eps, best_probability=best.probability, points=points,
        quantized=quantized,
    )


def _bracket(reaches: Callable[[float], bool], eps_max: float, step_size: float) -> tuple[float, float] | None:
    """(lo, hi) with reaches(lo) False and reaches(hi) True, hi being eps_max or eps_max/2, eps_max/4, ...

    Halving covers the iterative attacks whose success fades at large ε only rarely; None when even eps_max and
    its halves down to ``step_size`` miss.
    """
    hi = eps_max
    while not reaches(hi):
        hi /= 2
        if hi < step_size:
            return None
    return 0.0, hi


def _bisect(reaches: Callable[[float], bool], lo: float, hi: float, tolerance: float) -> float:
    """Shrink [lo, hi] (reaches(lo) False, reaches(hi) True) below ``tolerance``; return the reaching end."""
    while hi - lo > tolerance:
        mid = (lo + hi) / 2
        if reaches(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _attack(
    model: Model, x: torch.Tensor, y: torch.Tensor, eps: float, method: str, grad: torch.Tensor | None,
    bounds: tuple[float, float], steps: int, seed: int,
) -> torch.Tensor:
    """The targeted attack at one ε; FGSM reuses the one gradient (towards the target = negative signed ε)."""
    if grad is not None:  # fgsm
        return signed_step(x, grad, -eps, bounds=bounds)
    if method == "pgd":
        return pgd(model, x, y, eps, targeted=True, steps=steps, generator=torch.Generator().manual_seed(seed))
    if method == "bim":
        return bim(model, x, y, eps, targeted=True, steps=steps)
    if method == "mifgsm":
        return mifgsm(model, x, y, eps, targeted=True, steps=steps)
    raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
