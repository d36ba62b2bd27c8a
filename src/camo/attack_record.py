"""What attacking one image file found: plain data for tables, JSON and figures.

:mod:`camo.attack_files` produces these records and :mod:`camo.analysis.figures` draws them; both import this
module and it imports neither (nor anything else of camo), so data flows one way: records ← figures ← the job.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


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
    saved: Prediction              # of the 8-bit file read back from disk
    success: bool                  # the float adversarial fools the model (or hits the target)
    survived_quantisation: bool    # the saved file does too
    linf: float                    # ‖saved − original‖∞ in pixel units

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
