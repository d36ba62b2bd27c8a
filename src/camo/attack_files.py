"""Attack image files end to end: load, classify, attack, save 8-bit, reload, re-classify, draw the figure.

This is what ``camo attack``, ``camo demo`` and the web app's lab call. Every input is read and checked before
anything is written, so a bad file among many leaves no partial output.

Where this module sits: it is a *job* — it reads files, runs attacks, saves outputs and asks for figures — so it
lives at camo's top level beside the other jobs, :mod:`camo.demo` and :mod:`camo.video` (which also reuses
:func:`predict`, :func:`validate` and :func:`attack_one`), above the layers it uses and below the commands and the
web app that call it. Its results are :mod:`camo.attack_record` (plain data) and the figure is drawn by
:mod:`camo.analysis.figures`, which reads records and knows nothing of this module: records ← figures ← this job.
Neither ``camo.attacks`` (pure functions on tensors) nor ``camo.analysis`` (draws results, never runs an attack)
would be a home for something that writes files.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from camo import images
from camo.attack_record import AttackRecord, Prediction, exceeds_eps, output_files
from camo.attack_results import RESULTS_FILE, earlier_to_keep, read_entries, results_data
from camo.attacks import METHODS, bim, fgm, fgsm, mifgsm, pgd
from camo.errors import InputError
from camo.models import Classifier
from camo.models.view import full_resolution

log = logging.getLogger("camo")


@dataclass(frozen=True)
class AttackSettings:
    """What ``camo attack`` runs: the method and its budget, in pixel units."""

    method: str = "fgsm"
    eps: float = 8 / 255
    target: str | None = None   # a label name or number; None = untargeted
    steps: int = 10             # iterative methods only
    seed: int = 0               # PGD's random start
    image_format: str = "png"   # png (lossless) or jpeg
    quality: int = 95           # JPEG only
    crop: bool = False          # attack and save the model's resized, centre-cropped view, not the image as it is


def predict(model: Classifier, x: torch.Tensor) -> list[Prediction]:
    """Top-1 class and softmax confidence for each image of a batch."""
    with torch.no_grad():
        probs = model(x).softmax(dim=1)
    conf, idx = probs.max(dim=1)
    return [Prediction(int(i), model.label_name(int(i)), float(c)) for i, c in zip(idx, conf, strict=True)]


def _fooled(pred: Prediction, original: Prediction, target: int | None) -> bool:
    return pred.index == target if target is not None else pred.index != original.index


def attack_one(
    model: Classifier, x: torch.Tensor, settings: AttackSettings, target: int | None,
    *, labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """Run the chosen attack on a batch of images (N, C, H, W) with the settings' budget (one target for all).

    ``labels``: untargeted only, the labels to move away from when the caller already has the model's predictions
    (saves a forward pass); default: the attack predicts them.
    """
    y = torch.full((x.shape[0],), target, dtype=torch.long) if target is not None else labels
    targeted = target is not None
    if settings.method == "fgsm":
        return fgsm(model, x, y, settings.eps, targeted=targeted)
    if settings.method == "fgm":
        return fgm(model, x, y, settings.eps, targeted=targeted)
    if settings.method == "pgd":
        gen = torch.Generator().manual_seed(settings.seed)
        return pgd(model, x, y, settings.eps, targeted=targeted, steps=settings.steps, generator=gen)
    if settings.method == "bim":
        return bim(model, x, y, settings.eps, targeted=targeted, steps=settings.steps)
    return mifgsm(model, x, y, settings.eps, targeted=targeted, steps=settings.steps)


def validate(model: Classifier, settings: AttackSettings) -> int | None:
    """Check the settings against the model before any work; return the target's class index (or None).

    Raises:
        InputError: unknown method, bad ε, steps or format. LabelError: unknown target.
    """
    if settings.method not in METHODS:
        raise InputError(f"unknown method {settings.method!r}; choose one of {', '.join(METHODS)}")
    lo, hi = model.bounds
    if settings.eps < 0:
        raise InputError(f"eps must be ≥ 0; got {settings.eps:g}. To move towards a label, use --target LABEL")
    if settings.method != "fgm" and settings.eps > hi - lo:
        raise InputError(f"eps={settings.eps:g} is larger than the pixel range [{lo:g}, {hi:g}]; "
                         f"did you mean {settings.eps:g}/255?")
    if settings.steps < 1:
        raise InputError(f"steps must be ≥ 1; got {settings.steps}")
    if settings.image_format not in ("png", "jpeg"):
        raise InputError(f"format must be png or jpeg; got {settings.image_format!r}")
    if settings.image_format == "jpeg" and not 1 <= settings.quality <= 100:
        raise InputError(f"JPEG quality must be in 1..100; got {settings.quality}")
    return model.label_index(settings.target) if settings.target is not None else None


def attack_images(
    model: Classifier,
    paths: Sequence[str | Path],
    out_dir: str | Path,
    settings: AttackSettings = AttackSettings(),
    *,
    names: Sequence[str] | None = None,
    on_image: Callable[[AttackRecord], None] | None = None,
) -> list[AttackRecord]:
    """Attack image files and write, per image, the adversarial file and the seeds' figure; plus ``results.json``,
    which keeps the records of earlier runs into the same folder whose files are still there
    (:mod:`camo.attack_results`).

    Each saved file is read back from disk and classified again: a record's ``success`` is about that file, what
    the user gets; the float result before saving is ``in_memory_success``. When the two differ, ``lost_by`` (or
    ``gained_by``) names the step that made the difference: the 8-bit image without the JPEG step is classified too,
    so the cause is "8-bit rounding" or "JPEG q<quality>".

    Images keep their own resolution: the model sees each through its usual resize and centre crop, done inside the
    attack (:func:`camo.models.view.full_resolution`), so the adversarial file is the photo, not a thumbnail, and
    its verdict is the one ``camo classify`` gives for it. ``settings.crop`` attacks and saves the model's
    resized, centre-cropped view instead.

    Args:
        model: the classifier.
        paths: input image files (never modified).
        out_dir: output folder, created if needed; outputs are ``<name>.adv.png`` and ``<name>.figure.png``.
        settings: method, ε, target, steps...
        names: the output name of each input (unique; see :func:`camo.commands.inputs.output_names`); default:
            each input's stem, which must then be unique.
        on_image: called after each image (for progress).

    Returns:
        One record per input, in order.

    Raises:
        ImageError: an input cannot be read (nothing is written then). InputError / LabelError: bad settings, two
            inputs with the same output name, a ``results.json`` in ``out_dir`` that is not camo attack's (nothing
            is written then either).
    """
    from camo.analysis.figures import save_attack_figure

    target = validate(model, settings)
    results_path = Path(out_dir) / RESULTS_FILE
    earlier = read_entries(results_path)
    channels = model.channels
    loaded = [(Path(p), images.load(p, channels=channels, size=model.input_size, keep_size=not settings.crop))
              for p in paths]
    view = model if settings.crop else full_resolution(model)
    if not settings.crop and model.input_size is not None:
        for path, x in loaded:
            if tuple(x.shape[-2:]) != model.input_size:
                log.info("%s: attacked at its own %d×%d; %s sees it resized and centre-cropped to %d×%d",
                         path.name, x.shape[-1], x.shape[-2], model.name, model.input_size[1], model.input_size[0])
    if names is None:
        images.check_unique_stems(p for p, _ in loaded)
        names = [p.stem for p, _ in loaded]
    elif len(names) != len(loaded) or len(set(names)) != len(names):
        raise InputError(f"one unique output name per input is needed; got {len(names)} names for "
                         f"{len(loaded)} inputs")
    records: list[AttackRecord] = []
    for (path, x), name in zip(loaded, names, strict=True):
        original = predict(view, x)[0]
        x_adv = attack_one(view, x, settings, target)
        adversarial = predict(view, x_adv)[0]
        adv_path, figure = output_files(out_dir, name, settings.image_format)
        output = images.save(x_adv, adv_path, quality=settings.quality, protect=paths)
        x_saved = images.load(output, channels=channels)
        saved = predict(view, x_saved)[0]
        success = _fooled(saved, original, target)
        in_memory = _fooled(adversarial, original, target)
        cause = None if success == in_memory else _cause(view, x_adv, original, target, settings, success)
        change = x_saved - x
        linf, l2 = float(change.abs().max()), float(change.norm())
        record = AttackRecord(
            source=str(path), output=str(output), figure=str(figure), method=settings.method, eps=settings.eps,
            target=model.label_name(target) if target is not None else None,
            original=original, adversarial=adversarial, saved=saved,
            success=success, in_memory_success=in_memory,
            lost_by=cause if in_memory else None, gained_by=cause if success else None,
            linf=linf, l2=l2,
            saved_change_exceeds_eps=exceeds_eps(settings.method, settings.eps, linf, l2, x.numel()),
        )
        save_attack_figure(x, x_saved, record, figure, protect=paths)
        records.append(record)
        if on_image is not None:
            on_image(record)
    kept = earlier_to_keep(earlier, Path(out_dir), [Path(p) for r in records for p in (r.output, r.figure)])
    summary = results_data(model.name, asdict(settings), [r.to_dict() for r in records], kept)
    images.write_bytes_atomic(json.dumps(summary, indent=2).encode(), results_path)
    return records


def _cause(model: Classifier, x_adv: torch.Tensor, original: Prediction, target: int | None,
           settings: AttackSettings, file_met: bool) -> str:
    """Which step of saving made the file's verdict differ from the in-memory one: "8-bit rounding" when the
    8-bit image alone (no file, no JPEG) already agrees with the file, else the JPEG step."""
    if settings.image_format == "png":
        return "8-bit rounding"
    rounded_met = _fooled(predict(model, images.quantize(x_adv))[0], original, target)
    return "8-bit rounding" if rounded_met == file_met else f"JPEG q{settings.quality}"
