"""The Attack lab: one image, one model, one attack, answered with the seeds' figure and a signed-ε sweep.

Everything runs through the library: :func:`camo.attack_files.attack_images` attacks, saves the 8-bit file,
reads it back, re-classifies it and draws "original + perturbation = adversarial"; :func:`camo.analysis.sweep.sweep`
and :func:`camo.analysis.plots.sweep_figure` draw the class probabilities along a signed ε axis (negative = towards
the label, the seeds' "negative epsilon").
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from camo.errors import InputError

#: Models the lab offers (built in: nothing is downloaded).
LAB_MODELS = ("mnist", "imagenet")

#: Default budget per model and method family, as text the page shows (ε in pixel units; fgm: an L2 length).
DEFAULT_EPS = {"mnist": "0.2", "imagenet": "2/255"}


def _digit(number: int) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from camo.models.zoo import mnist_digits

        _, _, x_held, y_held = mnist_digits()
        index = int((y_held == number).nonzero()[0, 0])  # a held-out digit: never seen in training
        return np.round(x_held[index, 0].numpy() * 255).astype(np.uint8)

    return load


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from skimage import data

        pixels: np.ndarray = getattr(data, name)()
        return pixels

    return load


#: Images bundled with installed packages (public domain / BSD): name -> (model it suits, loader).
BUNDLED: dict[str, tuple[str, Callable[[], np.ndarray]]] = {
    **{f"digit-{n}": ("mnist", _digit(n)) for n in range(10)},
    **{name: ("imagenet", _skimage(name)) for name in ("chelsea", "coffee", "rocket", "astronaut")},
}


def bundled_image(name: str) -> np.ndarray:
    """A bundled image's pixels (grey (H, W) or RGB (H, W, 3) uint8).

    Raises:
        InputError: an unknown name.
    """
    if name not in BUNDLED:
        raise InputError(f"unknown bundled image {name!r}; choose one of {', '.join(BUNDLED)}")
    return BUNDLED[name][1]()


def parse_eps(text: str) -> float:
    """ε as ``8/255`` or ``0.03`` (pixel units).

    Raises:
        InputError: not a finite number or fraction.
    """
    from camo.eps_grid import fraction

    try:
        value = fraction(text)
    except ValueError:
        raise InputError(f"ε must be a number like 8/255 or 0.03; got {text[:40]!r}") from None
    if not math.isfinite(value):
        raise InputError(f"ε must be finite; got {text[:40]!r}")
    return value


class Models:
    """The lab's models, loaded once on first use (mnist trains on first use when not cached yet)."""

    def __init__(self) -> None:
        self._models: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Any:
        if name not in LAB_MODELS:
            raise InputError(f"unknown model {name!r}; the lab offers {', '.join(LAB_MODELS)}")
        with self._lock:
            if name not in self._models:
                from camo.models import load_model

                self._models[name] = load_model(name)
            return self._models[name]


@dataclass(frozen=True)
class LabRequest:
    """One attack: model, method, budget, optional target label, steps of iterative methods."""

    model: str = "mnist"
    method: str = "fgsm"
    eps: float = 0.2
    target: str | None = None
    steps: int = 10

    def __post_init__(self) -> None:
        from camo.attacks import METHODS

        if self.model not in LAB_MODELS:
            raise InputError(f"unknown model {self.model!r}; the lab offers {', '.join(LAB_MODELS)}")
        if self.method not in METHODS:
            raise InputError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if not 1 <= self.steps <= 200:
            raise InputError(f"steps must be in 1..200; got {self.steps}")


def _prediction(p: Any) -> dict[str, Any]:
    return {"index": p.index, "label": p.label, "confidence": round(p.confidence, 4)}


def sweep_values(eps: float, method: str) -> tuple[float, ...]:
    """41 signed ε values over ±3ε (L∞: within the pixel range), the clean image (ε = 0) among them."""
    from camo.eps_grid import eps_range

    span = 3 * eps if eps > 0 else 8 / 255
    if method != "fgm":
        span = min(span, 1.0)
    return eps_range(-span, span, span / 20)


def run_attack(model: Any, image: Path, folder: Path, request: LabRequest, *, shown_name: str) -> dict[str, Any]:
    """Attack ``image`` and sweep it; files go to ``folder``. Returns the page's data with the files written.

    Returns:
        ``original``, ``adversarial`` (the float result), ``saved`` (the 8-bit file read back) predictions,
        ``success`` (the saved file meets the goal), ``in_memory_success`` (the float result did), ``lost_by``
        (what undid it in the file, or None), ``linf_255``, the sweep's label, and ``files``:
        key -> (path, download name).

    Raises:
        InputError, LabelError, ImageError: bad settings, unknown target, unreadable image.
    """
    from camo import images
    from camo.analysis.plots import sweep_figure
    from camo.analysis.sweep import sweep
    from camo.attack_files import AttackSettings, attack_images

    settings = AttackSettings(method=request.method, eps=request.eps, target=request.target, steps=request.steps)
    out = folder / "out"
    record = attack_images(model, [image], out, settings)[0]
    x = images.load(image, channels=model.channels, size=model.input_size)
    label = model.label_index(request.target) if request.target is not None else record.original.index
    result = sweep(model, x, label, sweep_values(request.eps, request.method),
                   norm="l2" if request.method == "fgm" else "linf", source=shown_name)
    sweep_path = images.write_bytes_atomic(sweep_figure(result), out / "sweep.png")
    stem = image.stem
    return {
        "model": model.name, "method": request.method, "eps": request.eps, "target": record.target,
        "steps": request.steps, "original": _prediction(record.original),
        "adversarial": _prediction(record.adversarial), "saved": _prediction(record.saved),
        "success": record.success, "in_memory_success": record.in_memory_success, "lost_by": record.lost_by,
        "linf_255": round(record.linf * 255, 3),
        "sweep": {"label": result.label_name, "eps_min_255": round(result.eps[0] * 255, 3),
                  "eps_max_255": round(result.eps[-1] * 255, 3), "points": len(result.eps)},
        "files": {"figure": (Path(record.figure), f"{stem}.figure.png"),
                  "adversarial": (Path(record.output), f"{stem}.adversarial.png"),
                  "sweep": (sweep_path, f"{stem}.sweep.png")},
    }
