"""What ``camo video`` runs and what it found: plain data (settings, per-frame records, the summary, the CSV)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from camo.attack_record import Prediction
from camo.choices import SURVIVAL_CRFS


@dataclass(frozen=True)


class VideoSettings:
    """What ``camo video`` runs. ε is an L∞ budget in pixel units of the frame."""

    method: str = "fgsm"
    eps: float = 2 / 255
    target: str | None = None          # label name or number; None = untargeted
    steps: int = 10                    # iterative methods
    seed: int = 0                      # PGD's random start
    batch_size: int = 8                # frames attacked at once (smaller for large frames)
    window: int = 1                    # frames sharing one perturbation (1 = per frame); a window is one batch
    window_fit: int | None = None      # frames of each window the shared perturbation is made on (None = all)
    patch: str | None = None           # a patch PNG pasted on every frame instead of an ε attack
    place: str = "fixed"               # patch placement: fixed, or track (follows the scene's motion)
    at: tuple[int, int] | None = None  # patch's top-left (x, y) in frame pixels; default centre of the model's view
    crf: int = 18                      # quality of the attacked MP4 written
    survival_crfs: tuple[int, ...] = SURVIVAL_CRFS
    fps: float | None = None           # frame rate of a frame folder (or override a file's)
    gif: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)


class FrameRecord:
    """One frame: what the model said before, on the attacked float frame, on the 8-bit frame written, and after
    the MP4 round trip at each CRF."""

    index: int
    time: float                       # seconds from the start
    clean: Prediction
    adversarial: Prediction           # the float frame the attack returned
    saved: Prediction                 # the 8-bit frame, as written into the video (before lossy coding)
    fooled_in_memory: bool
    fooled: bool                      # the 8-bit frame fools the model (or hits the target)
    linf: float                       # ‖8-bit frame − input frame‖∞, pixel units
    patch_at: tuple[int, int] | None = None
    encoded: dict[int, Prediction] = field(default_factory=dict)   # by CRF, after decoding the MP4
    fooled_encoded: dict[int, bool] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def row(self, crfs: Sequence[int]) -> dict[str, Any]:
        row: dict[str, Any] = {
            "frame": self.index, "time_s": round(self.time, 4),
            "clean_label": self.clean.label, "clean_confidence": round(self.clean.confidence, 4),
            "adversarial_label": self.adversarial.label,
            "adversarial_confidence": round(self.adversarial.confidence, 4),
            "saved_label": self.saved.label, "saved_confidence": round(self.saved.confidence, 4),
            "fooled_in_memory": self.fooled_in_memory, "fooled": self.fooled, "linf_255": round(self.linf * 255, 3),
        }
        for crf in crfs:
            pred = self.encoded.get(crf)
            row[f"crf{crf}_label"] = pred.label if pred else ""
            row[f"crf{crf}_confidence"] = round(pred.confidence, 4) if pred else ""
            row[f"crf{crf}_fooled"] = self.fooled_encoded.get(crf, "")
        return row


@dataclass(frozen=True)


class VideoResult:
    """The whole run: per-frame records and the summary (fooled counts, survival by CRF, speed, outputs)."""

    model: str
    source: dict[str, Any]
    settings: dict[str, Any]
    target: str | None
    frames: list[FrameRecord]
    fooled_in_memory: int
    fooled: int
    survival: dict[int, int]          # CRF -> frames still fooled after decoding the MP4 at that quality
    seconds: float                    # wall time of the attack pass (decode, attack, compose, encode)
    attack_seconds: float             # of which in the attack itself
    survival_seconds: float
    outputs: dict[str, str]

    @property
    def count(self) -> int:
        return len(self.frames)

    def summary(self) -> dict[str, Any]:
        n = max(self.count, 1)
        return {
            "model": self.model, "source": self.source, "settings": self.settings, "target": self.target,
            "frames": self.count, "fooled_in_memory": self.fooled_in_memory, "fooled": self.fooled,
            "fooled_rate": self.fooled / n,
            "survival": {str(crf): {"fooled": k, "rate": k / n} for crf, k in sorted(self.survival.items())},
            "seconds": round(self.seconds, 3), "frames_per_second": round(self.count / max(self.seconds, 1e-9), 3),
            "attack_frames_per_second": round(self.count / max(self.attack_seconds, 1e-9), 3),
            "survival_seconds": round(self.survival_seconds, 3), "outputs": self.outputs,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "per_frame": [f.to_dict() for f in self.frames]}


def frames_csv(records: Sequence[FrameRecord], crfs: Sequence[int]) -> bytes:
    buffer = io.StringIO()
    rows = [r.row(crfs) for r in records]
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["frame"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()
