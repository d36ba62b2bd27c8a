"""The Cloak tab's job: cloak each uploaded photo with the library, keep what the page shows and the downloads.

Per photo: the cloaked file (8-bit, no metadata, full size), before/after previews of the *saved* file, the
amplified perturbation, the verdict of each recognizer on the saved file and SSIM. Per job: a zip of the cloaked
files and the HTML report. Verdicts are read from the library's plain-data results generically (a list or mapping
of per-recognizer verdicts when the library gives one, else its single verdict), so more recognizers show up here
as the library gains them.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from camo.choices import DEFAULT_PRESET
from camo.errors import CamoError, InputError
from camo.images import save, to_rgb_uint8, write_bytes_atomic
from camo.serve.jobs import Cancelled, Job
from camo.serve.uploads import Upload

Emit = Callable[[dict[str, Any]], None]

#: Zip entries get this fixed date, so a download says nothing about when it was made.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)

MODES = ("dodge", "decoy")
FORMATS = {"png": ".png", "jpeg": ".jpg"}


@dataclass(frozen=True)
class CloakOptions:
    """The page's settings for a batch: a preset and mode as in ``camo cloak``, retrying stronger, the format, and
    the ensemble of recognizers (``camo cloak``'s default: dlib, FaceNet, SFace)."""

    preset: str = DEFAULT_PRESET
    mode: str = "dodge"
    ensure: bool = True
    image_format: str = "png"
    quality: int = 90
    recognizers: tuple[str, ...] = ("dlib", "facenet", "sface")

    def __post_init__(self) -> None:
        from camo.face.cloak import PRESETS

        if self.preset not in PRESETS:
            raise InputError(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        if self.mode not in MODES:
            raise InputError(f"unknown mode {self.mode!r}; choose dodge or decoy")
        if self.image_format not in FORMATS:
            raise InputError(f"unknown format {self.image_format!r}; choose png or jpeg")
        if not 1 <= self.quality <= 100:
            raise InputError(f"JPEG quality must be in 1..100; got {self.quality}")
        from camo.face.recognizers import BUILTIN_RECOGNIZERS

        unknown = [name for name in self.recognizers if name not in BUILTIN_RECOGNIZERS]
        if unknown or not self.recognizers:
            raise InputError(f"recognizers must be some of {', '.join(BUILTIN_RECOGNIZERS)}; got "
                             f"{', '.join(self.recognizers) or 'none'}")

    def config(self) -> Any:
        from camo.face.cloak import preset

        return preset(self.preset, self.mode)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        config = self.config()
        return {"preset": self.preset, "mode": self.mode, "ensure": self.ensure, "format": self.image_format,
                "eps_255": round(config.eps * 255, 3), "steps": config.steps, "min_ssim": config.min_ssim,
                "photo_ssim": config.photo_ssim, "features": config.features, "dropout": config.dropout,
                "member_dropout": dict(config.member_dropout), "margin": config.margin,
                "recognizers": list(self.recognizers)}


def recognizer_verdicts(verification: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """One verdict per recognizer from a verification's plain data (``to_dict()``).

    A list or mapping of per-recognizer verdicts under ``recognizers`` (or ``verdicts``) is used as given; a
    verification without one is a single recognizer's (dlib's, today). Each verdict: ``recognizer``, ``protected``,
    ``distance`` (None when no face was found), ``threshold``, ``verdict`` (a sentence, when given).
    """
    if verification is None:
        return []
    for key in ("recognizers", "verdicts"):
        found = verification.get(key)
        if isinstance(found, Mapping):
            return [_verdict({"recognizer": name, **item}) for name, item in found.items() if isinstance(item, Mapping)]
        if isinstance(found, Sequence) and not isinstance(found, str):
            return [_verdict(item) for item in found if isinstance(item, Mapping)]
    return [_verdict({"recognizer": verification.get("recognizer", "dlib"), **verification})]


def _verdict(item: Mapping[str, Any]) -> dict[str, Any]:
    distance = item.get("min_distance", item.get("distance"))
    threshold = item.get("tolerance", item.get("threshold"))
    return {"recognizer": str(item.get("recognizer") or item.get("name") or "recognizer"),
            "protected": bool(item.get("protected")),
            "distance": None if distance is None else float(distance),
            "threshold": None if threshold is None else float(threshold),
            "verdict": item.get("verdict")}


def _preview(pixels: np.ndarray, side: int) -> np.ndarray:
    img = Image.fromarray(pixels)
    img.thumbnail((side, side), Image.Resampling.LANCZOS)
    return np.asarray(img)


def amplified_perturbation(original: np.ndarray, cloaked: np.ndarray) -> tuple[np.ndarray, float]:
    """The change, amplified so that ±L∞ shows as ±127 around mid-grey (the report's picture), and the gain.

    Shape: (H, W, 3) uint8, (H, W, 3) uint8 -> (H, W, 3) uint8.
    """
    from camo.face.cloak_report import perturbation_image

    linf = int(np.abs(cloaked.astype(np.int16) - original.astype(np.int16)).max(initial=0))
    gain = 127.0 / max(1, linf)
    return perturbation_image(original, cloaked, gain=gain), gain


def _unique(name: str, taken: set[str]) -> str:
    stem, dot, suffix = name.rpartition(".")
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{stem}-{number}{dot}{suffix}", number + 1
    taken.add(candidate)
    return candidate


def run_cloak_job(job: Job, uploads: Sequence[Upload], options: CloakOptions, *, emit: Emit,
                  preview_side: int = 1024, closing: Callable[[], bool] = lambda: False) -> None:
    """Cloak every upload of a job; fills ``job.summary`` and ``job.files`` and emits events as it goes.

    Events: ``progress`` (photo, photos, step, steps, fraction) after each attack step, ``photo`` (the photo's
    entry of the summary) after each photo, ``zip`` when the downloads are ready.

    Raises:
        Cancelled: the job was deleted or the server is closing.
        InputError: bad options (before any photo is cloaked).
    """
    from camo.face.cloak import DecoyChooser, cloak_photo
    from camo.face.cloak_report import write_report
    from camo.face.recognizers import get_recognizer

    config = options.config()
    members = [get_recognizer(name) for name in options.recognizers]
    decoys = DecoyChooser() if options.mode == "decoy" else None  # one identity per person across the batch
    protect = [u.path for u in uploads]
    suffix = FORMATS[options.image_format]
    taken: set[str] = set()
    records = []
    photos: list[dict[str, Any]] = []
    job.summary = {"settings": options.to_dict(), "photos": photos, "protected": 0, "cloaked": 0,
                   "total": len(uploads)}
    done = [0.0]  # the bar never goes back, also when a photo is retried stronger (ensure) from step 1
    for upload in uploads:
        number = upload.index

        def progress(step: int, steps: int, number: int = number) -> None:
            if job.cancelled or closing():
                raise Cancelled
            done[0] = max(done[0], round((number + min(1.0, step / max(1, steps))) / len(uploads), 4))
            emit({"type": "progress", "photo": number, "photos": len(uploads), "step": step, "steps": steps,
                  "fraction": done[0]})

        out_dir = upload.path.parent  # output names hold a dot in the stem: an upload's clean name never does
        download = _unique(f"{upload.stem}.cloaked{suffix}", taken)
        entry: dict[str, Any] = {"index": number, "name": upload.stem, "download": download}
        try:
            record = cloak_photo(upload.path, out_dir / f"out.cloaked{suffix}", recognizers=members, config=config,
                                 ensure=options.ensure,
                                 quality=options.quality, protect=protect, callback=progress, decoys=decoys)
        except CamoError as err:
            entry.update(status="error", protected=False, error=str(err).replace(str(upload.path), upload.stem))
            photos.append(entry)
            emit({"type": "photo", "photo": entry})
            continue
        records.append(record)
        data = record.to_dict()
        verification = data.get("verification")
        entry.update(status=record.status, protected=record.protected, verdict=record.verdict(),
                     recognizers=recognizer_verdicts(verification), attempts=record.attempts, preset=record.preset,
                     seconds=round(record.seconds, 2), notes=list(record.notes))
        if verification is not None:
            entry.update(ssim=verification.get("ssim"), face_ssim=verification.get("face_ssim"),
                         psnr=verification.get("psnr"))
        if record.output is not None and record.result is not None:
            original = record.result.original
            saved = to_rgb_uint8(record.output)  # the file the user downloads, read back
            perturbation, gain = amplified_perturbation(original, saved)
            entry.update(faces=len(record.result.faces), gain=round(gain, 2),
                         linf_255=int(np.abs(saved.astype(np.int16) - original.astype(np.int16)).max(initial=0)),
                         width=int(original.shape[1]), height=int(original.shape[0]))
            media = "image/png" if suffix == ".png" else "image/jpeg"
            job.files[f"{number}-cloaked"] = (record.output, download, media)
            for kind, pixels in (("before", original), ("after", saved), ("perturbation", perturbation)):
                path = save(_preview(pixels, preview_side), out_dir / f"out.{kind}.png", protect=protect, png_level=1)
                job.files[f"{number}-{kind}"] = (path, f"{upload.stem}.{kind}.png", "image/png")
            job.summary["cloaked"] += 1
            job.summary["protected"] += int(record.protected)
        entry["files"] = sorted(key.split("-", 1)[1] for key in job.files if key.startswith(f"{number}-"))
        photos.append(entry)
        emit({"type": "photo", "photo": entry})
    if records:
        write_report(records, job.folder / "report.html")
        job.files["report"] = (job.folder / "report.html", "cloak-report.html", "text/html")
    cloaked = [job.files[key] for key in sorted(job.files, key=_key_order) if key.endswith("-cloaked")]
    if cloaked:
        write_bytes_atomic(zip_files([(path, name) for path, name, _ in cloaked]), job.folder / "cloaked.zip")
        job.files["zip"] = (job.folder / "cloaked.zip", "cloaked-photos.zip", "application/zip")
    emit({"type": "zip", "files": sorted(job.files)})


def _key_order(key: str) -> tuple[int, str]:
    head, _, tail = key.partition("-")
    return (int(head), tail) if head.isdigit() else (-1, key)


def zip_files(entries: Sequence[tuple[Path, str]]) -> bytes:
    """A zip of files under the given names, stored (photos are compressed already), dated 1980-01-01."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for path, name in entries:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()
