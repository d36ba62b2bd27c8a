"""What attacking one image file found: plain data for tables, JSON and figures.

:mod:`camo.attack_files` produces these records and :mod:`camo.analysis.figures` draws them; both import this
module and it imports neither (nor anything else of camo), so data flows one way: records ← figures ← the job.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: The most 8-bit rounding can change one pixel, in pixel units: half a grey level.
ROUNDING = 0.5 / 255


@dataclass(frozen=True)
class Prediction:
    """A model's top class for one image."""

    index: int
    label: str
    confidence: float


@dataclass(frozen=True)
class AttackRecord:
    """The outcome for one image file; plain data for tables, JSON and figures."""

    source: str
    output: str
    figure: str
    method: str
    eps: float
    target: str | None
    original: Prediction
    adversarial: Prediction        # of the float tensor the attack returned
    saved: Prediction              # of the file read back from disk (8-bit PNG, or JPEG after its encoding)
    success: bool                  # the goal is met by the saved file: away from the original label, or the target
    in_memory_success: bool        # the goal is met by the float tensor, before saving
    lost_by: str | None            # the file misses a goal met in memory: "8-bit rounding" or "JPEG q75"
    gained_by: str | None          # the reverse: the file meets a goal missed in memory, by the same steps
    linf: float                    # ‖saved − original‖∞ in pixel units
    l2: float                      # ‖saved − original‖₂ in pixel units (fgm's budget)
    saved_change_exceeds_eps: bool  # the saved change is larger than ε by more than 8-bit rounding can add

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def output_files(out_dir: str | Path, name: str, image_format: str) -> tuple[Path, Path]:
    """Where the job writes one input's files: the adversarial image ``<name>.adv.png|.jpg`` and its figure
    ``<name>.figure.png`` (light, so that a command can check them before it imports torch)."""
    out = Path(out_dir)
    return out / f"{name}.adv{'.png' if image_format == 'png' else '.jpg'}", out / f"{name}.figure.png"


def exceeds_eps(method: str, eps: float, linf: float, l2: float, pixels: int) -> bool:
    """Whether a saved change is larger than the budget ε by more than 8-bit rounding can add.

    L∞ methods: ``linf > ε + 0.5/255``. fgm (an L2 budget): ``l2 > ε + 0.5/255 · √pixels``, the same bound in L2
    (``pixels``: the number of values, C·H·W). What is left above the bound comes from JPEG or a user's own
    pipeline, never from rounding.
    """
    if method == "fgm":
        return l2 > eps + ROUNDING * math.sqrt(pixels) + 1e-6  # float32 arithmetic aside
    return linf > eps + ROUNDING + 1e-6  # float32 arithmetic aside
