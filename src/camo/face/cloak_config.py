"""How hard to cloak: :class:`CloakConfig` (budget, steps, mode and the options of the step), its presets and the
recognizers of the default ensemble.

* The presets are **low-frequency cloaks** (``smooth``: the change is Gaussian-blurred at the scale of facial
  features before the members see it, which transfers to recognizers outside the ensemble far better per unit of
  visible change), with a budget that shrinks on faces smaller than the chips (``size_aware``); ``low``, the
  default, is mid's budget held back by **look targets** (``min_ssim``: the face region's SSIM shortfall below it is
  paid for in the loss; ``photo_ssim``: the same for the whole photo, held on the saved pixels) and retried stronger
  where the recognizers are not far enough beyond their thresholds (``margin``).
* ``momentum`` (MI-FGSM), a **perceptual budget** (``texture``: each pixel's ε scaled by its local contrast, so
  flat skin moves less than hair and edges), ``grey`` (brightness only) and ``blur`` (EOT) are options of
  :class:`CloakConfig`, measured in bench/ENSEMBLE_FINDINGS.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from camo.choices import DEFAULT_PRESET
from camo.errors import InputError
from camo.face.perceptual import SSIM_WINDOW
from camo.face.recognizers.dlib_resnet import DEFAULT_TOLERANCE

__all__ = ["DEFAULT_ENSEMBLE", "DEFAULT_PRESET", "PRESETS", "RUNGS", "CloakConfig", "CloakMode", "StepCallback",
           "parse_dropout", "preset", "preset_name", "stronger"]


CloakMode = Literal["dodge", "decoy"]

#: The recognizers ``camo cloak`` optimises against and verifies with by default (``--recognizers``).
DEFAULT_ENSEMBLE: tuple[str, ...] = ("dlib", "facenet", "sface")

#: Called after each attack step with (step number from 1, steps); faces run one after the other.
StepCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class CloakConfig:
    """How hard to cloak. Budgets are in pixel units of an image in [0, 1] (``6/255`` = six grey levels).

    Attributes:
        eps: L∞ budget: no pixel moves by more than this (less on small faces with ``size_aware``).
        steps: iterations of the shared FGSM step (1 = one-step FGSM of size ``eps``).
        step_size: per-step move; None = ``eps`` for one step, else ``2.5 · eps / steps`` (the PGD convention).
        mode: ``dodge`` (away from the person's own descriptor) or ``decoy`` (towards ``decoy``).
        decoy: the 128-D descriptor to pull towards in decoy mode; None = :func:`~camo.face.decoys.builtin_decoy`.
        samples: degraded copies per step (EOT); more is steadier and proportionally slower.
        noise: amplitude of the uniform noise added to each copy (models 8-bit rounding and JPEG error).
        resize: range of the random down-and-up resize factor of each copy (1 = none).
        jitter: largest random shift of each copy's face chip, in chip pixels: the verifier re-detects the cloaked
            face and its landmarks move a little, so the cloak must not depend on the exact alignment.
        tolerance: the match threshold verification uses (dlib / face_recognition: 0.6).
        push: decoy only: weight λ of the push away from the person's own descriptor (1 = only the decoy direction).
        seed: seed of the EOT randomness, so results are reproducible.
        momentum: MI-FGSM's decay μ of the shared step (None = plain gradient sign), for transfer to recognizers
            outside the ensemble (Dong et al. 2018).
        texture: perceptual budget: None = the uniform ε everywhere; a number t (in [0, 1] pixel units, e.g.
            8/255) = each pixel's budget is ε · clip(σ / t, ``floor``, 1), σ the local standard deviation of the
            original's luminance over a 5×5 window: full ε on texture, edges and hair, less on flat skin.
        floor: perceptual budget only: the smallest fraction of ε any pixel gets.
        cap: dodge only: a member's distance ÷ threshold stops counting above this (None = never), so that the
            step's effort goes to the members that still match instead of pushing one already far beyond.
        smooth: low-frequency cloak: None = the step's pattern as it is; a number s = the change is Gaussian-blurred
            with σ = s chip pixels (of the first member's chip, about a face wide) before the members see it, so
            the cloak is smooth at the scale of facial features (translation-invariant gradients, Dong et al.
            2019, as a change of variables: the step's gradient is the blurred gradient).
        blur: EOT: each degraded copy is also Gaussian-blurred with σ drawn uniformly from [0, ``blur``] chip
            pixels (0 = never), so the cloak does not live in the finest detail a recognizer may not see.
        grey: the change is the same in red, green and blue (brightness only, no colour cast on skin). A
            black-and-white photo is always cloaked so (:func:`~camo.face.cloak.cloak` turns this on for it).
        min_ssim: a look target: once the SSIM of the face's crop against the original (what the report calls the
            face-region SSIM) falls below this, the loss also pays ``ssim_weight`` × the shortfall, so the step
            trades protection for look instead of spending the whole budget (None = off; measured in
            bench/ENSEMBLE_FINDINGS.md, round 3).
        photo_ssim: a look target over the whole photo: the face crops are held to the SSIM that keeps the photo's at
            this (the photo's SSIM is the mean over its 7×7 windows, and those outside every crop are unchanged), on
            top of ``min_ssim`` where that is the stricter: it binds only on faces that fill most of the photo
            (portraits, profile pictures, 92×112 ORL photos), where the face region is the photo. Where it binds it is
            held on the crop's saved pixels (the change drawn back towards the original just enough), not only
            followed by the steps; windows across the crop's edge, counted as unchanged, can take the photo a few
            thousandths below (None = off).
        ssim_weight: the weight of that shortfall against the members' distance ÷ threshold (each member counts 1
            at its match boundary).
        features: feature-level loss: None = the members' descriptors only; a weight w = the step also pushes
            each member's activations at its middle layer away from the original's, w × Σ_m ‖φ_m(x) − φ_m(x₀)‖ /
            ‖φ_m(x₀)‖ (mid-level features are shared more between networks than descriptors are; measured in
            bench/ENSEMBLE_FINDINGS.md, round 4).
        skip_gradient: skip gradients (SGM, Wu et al. 2020): None = the members' plain gradients; a number γ in
            (0, 1] = the gradient flowing back through every residual branch of a member (dlib's ResNet, FaceNet,
            an ONNX graph's residual additions; SFace has none) is multiplied by γ, so the step follows more of what
            reaches the pixels through the shortcuts. The forward pass, and so every verdict, is unchanged.
        dropout: feature dropout (the idea of DFANet, Zhong & Deng 2020): None = the members as they are; a
            fraction p in (0, 0.5] = in each step every convolution of every member drops a random fraction p of its
            outputs, so the step sees a slightly different network each time (an ensemble of ghosts of the members);
            the cloak's references and every verification see the members themselves.
        member_dropout: per-member dropout fractions, ``(("facenet", 0.05), ...)``, each replacing ``dropout`` for
            the member of that name (members not named keep ``dropout``; names not in the ensemble are unused):
            networks differ in how far a fraction moves their descriptor, so each can get the largest rate at which
            its ghosts still recognise the person (bench/ghost_calibration.py; bench/ENSEMBLE_FINDINGS.md, round 6).
        margin: how sure ``--ensure`` must be: None = a photo is done once no member matches it; a number m ≥ 1 =
            done only once every member's distance from the original face is at least m × its threshold, else
            retried at the next stronger preset. Distance beyond the match boundary on the members is what predicts
            that recognizers outside the ensemble miss the photo too (bench/ENSEMBLE_FINDINGS.md, round 6), so
            photos that need more get more and the others keep the lighter cloak.
        size_aware: a face smaller than the recognizers' chips (each photo pixel stretched over several chip
            pixels) gets a budget scaled down with it, to two thirds of ``eps`` at most: on such faces the same ε
            moves more of the chip and shows more (measured on 92×112 ORL photos, bench/ENSEMBLE_FINDINGS.md).
    """

    eps: float = 24 / 255
    steps: int = 10
    step_size: float | None = None
    mode: CloakMode = "dodge"
    decoy: tuple[float, ...] | None = None
    samples: int = 2
    noise: float = 3 / 255
    resize: tuple[float, float] = (0.7, 1.0)
    jitter: float = 1.5
    tolerance: float = DEFAULT_TOLERANCE
    push: float = 2.0
    seed: int = 0
    momentum: float | None = None
    texture: float | None = None
    floor: float = 0.25
    cap: float | None = None
    smooth: float | None = 2.0
    blur: float = 0.0
    size_aware: bool = True
    grey: bool = False
    min_ssim: float | None = None
    photo_ssim: float | None = None
    ssim_weight: float = 100.0
    features: float | None = None
    skip_gradient: float | None = None
    dropout: float | None = None
    member_dropout: tuple[tuple[str, float], ...] = ()
    margin: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.eps) and 0 < self.eps <= 64 / 255):
            raise InputError(f"eps must be in (0, 64/255]; got {self.eps:g} (give pixel units like 6/255)")
        if self.steps < 1:
            raise InputError(f"steps must be >= 1; got {self.steps}")
        if self.step_size is not None and not self.step_size > 0:
            raise InputError(f"step_size must be > 0; got {self.step_size}")
        if self.mode not in ("dodge", "decoy"):
            raise InputError(f"mode must be 'dodge' or 'decoy'; got {self.mode!r}")
        if self.decoy is not None and len(self.decoy) != 128:
            raise InputError(f"a decoy descriptor has 128 numbers; got {len(self.decoy)}")
        if self.samples < 1 or self.noise < 0 or self.jitter < 0 or not 0 < self.resize[0] <= self.resize[1] <= 1:
            raise InputError(f"need samples >= 1, noise >= 0, jitter >= 0, 0 < resize[0] <= resize[1] <= 1; got "
                             f"samples={self.samples}, noise={self.noise:g}, jitter={self.jitter:g}, "
                             f"resize={self.resize}")
        if not self.tolerance > 0:
            raise InputError(f"tolerance must be > 0; got {self.tolerance}")
        if not (math.isfinite(self.push) and self.push >= 0):
            raise InputError(f"push must be a finite number >= 0; got {self.push}")
        if self.texture is not None and not (math.isfinite(self.texture) and self.texture > 0):
            raise InputError(f"texture must be a finite number > 0; got {self.texture}")
        if self.cap is not None and not (math.isfinite(self.cap) and self.cap > 0):
            raise InputError(f"cap must be a finite number > 0; got {self.cap}")
        if not 0 <= self.floor <= 1:
            raise InputError(f"floor must be in [0, 1]; got {self.floor}")
        if self.momentum is not None and not (math.isfinite(self.momentum) and self.momentum >= 0):
            raise InputError(f"momentum must be a finite number >= 0; got {self.momentum}")
        if self.smooth is not None and not (math.isfinite(self.smooth) and 0 < self.smooth <= 20):
            raise InputError(f"smooth must be a number in (0, 20] (chip pixels); got {self.smooth}")
        if self.min_ssim is not None and not (math.isfinite(self.min_ssim) and 0 < self.min_ssim < 1):
            raise InputError(f"min_ssim must be a number in (0, 1); got {self.min_ssim}")
        if self.photo_ssim is not None and not (math.isfinite(self.photo_ssim) and 0 < self.photo_ssim < 1):
            raise InputError(f"photo_ssim must be a number in (0, 1); got {self.photo_ssim}")
        if not (math.isfinite(self.ssim_weight) and self.ssim_weight > 0):
            raise InputError(f"ssim_weight must be a finite number > 0; got {self.ssim_weight}")
        if self.features is not None and not (math.isfinite(self.features) and self.features > 0):
            raise InputError(f"features must be a finite number > 0; got {self.features}")
        if self.skip_gradient is not None and not (math.isfinite(self.skip_gradient) and 0 < self.skip_gradient <= 1):
            raise InputError(f"skip_gradient must be a number in (0, 1]; got {self.skip_gradient}")
        if self.dropout is not None and not (math.isfinite(self.dropout) and 0 < self.dropout <= 0.5):
            raise InputError(f"dropout must be a number in (0, 0.5]; got {self.dropout}")
        names = [name for name, _ in self.member_dropout]
        if len(set(names)) != len(names) or any(not name for name in names):
            raise InputError(f"member_dropout names each member once; got {', '.join(names) or 'an empty name'}")
        for name, rate in self.member_dropout:
            if not (math.isfinite(rate) and 0 <= rate <= 0.5):
                raise InputError(f"member_dropout: {name}'s fraction must be in [0, 0.5]; got {rate}")
        if self.margin is not None and not (math.isfinite(self.margin) and 1 <= self.margin <= 3):
            raise InputError(f"margin must be a number in [1, 3] (× each recognizer's threshold); got {self.margin}")
        if not (math.isfinite(self.blur) and 0 <= self.blur <= 20):
            raise InputError(f"blur must be a number in [0, 20] (chip pixels); got {self.blur}")

    def crop_target(self, photo: tuple[int, int], crops: Sequence[tuple[int, int]]) -> float | None:
        """The SSIM each face crop is held to in a photo of ``photo`` (height, width) pixels whose faces have crops of
        ``crops`` (height, width): ``min_ssim``, raised to what ``photo_ssim`` needs where that is stricter (None =
        no look target). With N of the photo's 7×7 windows and n_i of them inside crop i, the photo keeps SSIM ≥ t
        when the crops' mean SSIM is ≥ 1 − (1 − t) · N / Σ n_i (windows across a crop's edge counted unchanged)."""
        targets = [] if self.min_ssim is None else [self.min_ssim]
        if self.photo_ssim is not None:
            inside = sum(_windows(*crop) for crop in crops)
            needed = 1.0 - (1.0 - self.photo_ssim) * _windows(*photo) / inside if inside else 0.0
            if needed > 0:
                targets.append(needed)
        return max(targets, default=None)

    def dropout_for(self, member: str) -> float | None:
        """The dropout fraction the cloak's step uses for the member of this name (None = none)."""
        return dict(self.member_dropout).get(member, self.dropout)

    @property
    def ghosts(self) -> bool:
        """Whether any member is seen through feature dropout."""
        return bool(self.dropout) or any(rate > 0 for _, rate in self.member_dropout)

    @property
    def effective_step_size(self) -> float:
        if self.step_size is not None:
            return self.step_size
        return self.eps if self.steps == 1 else 2.5 * self.eps / self.steps

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["decoy"] = None if self.decoy is None else "descriptor"
        data["eps_255"] = round(self.eps * 255, 3)
        return data


def _windows(height: int, width: int) -> int:
    """How many SSIM windows lie wholly inside an image of this size."""
    return max(height - SSIM_WINDOW + 1, 0) * max(width - SSIM_WINDOW + 1, 0)


#: Presets (dodge and decoy), weakest to strongest; "low" is the default (:data:`~camo.choices.DEFAULT_PRESET`). All
#: three are low-frequency cloaks (the change blurred at σ = 2 chip pixels), which buy far more transfer to
#: recognizers outside the ensemble per unit of visible change than a uniform ε and so can afford larger budgets;
#: faces smaller than the chips get up to a third less (``size_aware``). "low" is the look-first preset: mid's budget
#: held back by look targets (the face region's SSIM kept near 0.93; where the face fills the photo, the photo's held
#: at 0.95 on the saved pixels), with the feature-level loss, feature dropout (each step sees random ghosts of the
#: members) and 16 smaller steps, which follow the target from above; with ``--ensure`` (on by default) a photo whose
#: members are not yet 1.3 × their thresholds away (``margin``) is cloaked again in 20 steps, then at mid, then high
#: (:data:`RUNGS`; in the measurement every tiny ORL face, none of the celebrity photos): left-out recognizers fell
#: for it on 72 % of photos on average at photo SSIM 0.951, the validation recognizer on 94 %
#: (bench/ENSEMBLE_FINDINGS.md, round 8); 20 steps gave 77 % at three more seconds a photo; mid alone 75 % at photo
#: SSIM 0.913, round 4's low (target 0.95, 10 steps, no dropout) 52 %, the former low of 16/255 29 % (rounds 3–7).
#: The former uniform presets (4/255 ×6, 6/255 ×7, 10/255 ×20) left a left-out FaceNet matching 75 % of photos at mid.
PRESETS: dict[str, CloakConfig] = {
    "low": CloakConfig(eps=24 / 255, steps=16, min_ssim=0.93, photo_ssim=0.95, features=1.0, dropout=0.02,
                       margin=1.3),
    "mid": CloakConfig(eps=24 / 255, steps=10),
    "high": CloakConfig(eps=32 / 255, steps=10),
}

#: The rungs ``--ensure`` climbs, weakest first: the presets and, between low and mid, low in 20 steps — a photo that
#: low leaves too near a recognizer's threshold gets low's look once more with a quarter more steps before mid's
#: plain budget (the default was measured with this ladder, bench/ENSEMBLE_FINDINGS.md, round 8).
RUNGS: dict[str, CloakConfig] = {"low": PRESETS["low"], "low (20 steps)": replace(PRESETS["low"], steps=20),
                                 "mid": PRESETS["mid"], "high": PRESETS["high"]}

#: What sets the presets apart; every other setting of a config is the user's.
_STRENGTH = ("eps", "steps", "step_size", "min_ssim", "photo_ssim", "features", "dropout", "member_dropout")
#: Of those, the techniques a preset may carry: a value of the user's own is kept when --ensure retries stronger.
_TECHNIQUES = ("features", "dropout", "member_dropout")


def parse_dropout(text: str) -> tuple[float | None, tuple[tuple[str, float], ...]]:
    """``--dropout``'s value as (``dropout``, ``member_dropout``): ``"0.02"`` (every member),
    ``"dlib=0.02,facenet=0.05"`` (per member) or both, ``"0.02,facenet=0.05"`` (the named members their own, the rest
    the plain number). 0 is off: ``"0"`` gives (None, ()).

    Raises:
        InputError: a part that is neither a number nor NAME=number, or two plain numbers.
    """
    common: float | None = None
    members: list[tuple[str, float]] = []
    for part in (p.strip() for p in text.split(",")):
        name, _, value = part.rpartition("=")
        try:
            rate = float(value)
        except ValueError:
            raise InputError(f"--dropout takes P or NAME=P,...; cannot read {part!r}") from None
        if not name:
            if common is not None:
                raise InputError(f"--dropout takes one plain fraction (the rest NAME=P); got {text!r}")
            common = rate
        else:
            members.append((name.strip(), rate))
    return (common or None), tuple(members)


def preset(name: str, mode: CloakMode = "dodge") -> CloakConfig:
    """The preset ``name`` (low, mid, high) for a mode: :data:`PRESETS` with that mode.

    Raises:
        InputError: an unknown preset name.
    """
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return replace(PRESETS[name], mode=mode)


def _strength(config: CloakConfig) -> tuple[float, float, int]:
    """Sortable strength: ε, then how much look the target lets go (no target = all of it), then steps."""
    return (config.eps, 1.0 if config.min_ssim is None else 1.0 - config.min_ssim, config.steps)


def _rungs(mode: CloakMode) -> list[tuple[str, CloakConfig]]:
    return [(name, replace(rung, mode=mode)) for name, rung in RUNGS.items()]


def stronger(config: CloakConfig) -> CloakConfig | None:
    """The next stronger rung's strength (ε, steps, look targets, feature loss, feature dropout; :data:`RUNGS`) with
    every other setting of ``config`` kept (texture, momentum, EOT samples, decoy, seed...), or None when no rung is
    stronger. Rungs differ only in those. A feature-loss weight or dropout fraction the user chose (any other than
    that of the rung exactly as strong as ``config``) is kept too: there it is a technique the user asked for, not a
    step of strength."""
    own = [rung for _, rung in _rungs(config.mode) if _strength(rung) == _strength(config)]
    chosen = {key: getattr(config, key) for key in _TECHNIQUES
              if (getattr(config, key) != getattr(own[0], key) if own else getattr(config, key) is not None)}
    for _, candidate in _rungs(config.mode):
        if _strength(candidate) > _strength(config):
            return replace(config, **({key: getattr(candidate, key) for key in _STRENGTH} | chosen))
    return None


def preset_name(config: CloakConfig) -> str:
    """The rung whose strength (ε, steps, look targets, feature loss, feature dropout) ``config`` has (``low``,
    ``low (20 steps)``, ``mid``, ``high``), or ``custom``."""
    for name, candidate in _rungs(config.mode):
        if all(getattr(candidate, key) == getattr(config, key) for key in _STRENGTH):
            return name
    return "custom"
