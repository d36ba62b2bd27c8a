"""One photo job's settings as plain data, and the worker that cloaks photos with them.

:class:`CloakJob` is what travels to every worker (a Ray actor on another machine, or this process): names of
recognizers rather than loaded networks, so that each worker loads its models once, itself. :class:`PhotoWorker`
is the same code in both places: the serial run calls it on the real paths; a Ray actor calls it on a private copy
of the photo's bytes and returns the output's bytes, which the driver alone writes into the output folder.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from camo.face.cloak import CloakConfig, CloakedPhoto, DecoyChooser
    from camo.face.recognizers.base import FaceRecognizer

__all__ = ["CloakJob", "PhotoWorker"]


@dataclass(frozen=True)
class CloakJob:
    """Everything that decides a cloaked photo, as plain data (it is pickled to every worker).

    Attributes:
        config: the cloak's first setting (its ``seed`` is every photo's own seed: results do not depend on which
            worker takes a photo, nor in which order).
        recognizers: the ensemble by name (``dlib,facenet,sface``; see ``camo.face.recognizers.get_recognizers``).
        onnx_files: users' ONNX recognizers added to the ensemble (each worker reads the file at this path).
        ensure: retry a still-matched photo with stronger presets.
        quality: JPEG quality of JPEG outputs; ``jpeg_check``: also verify a JPEG re-encode at this quality.
        copy_unprotected: write a photo without a face as a plain copy (metadata stripped).
        keep_apart: move a cloaked photo that a recognizer still matches under ``not-protected/`` in the output
            folder (``camo.scale.runner.UNPROTECTED_DIR``).
        threads: torch threads per worker.
    """

    config: CloakConfig
    recognizers: str = "dlib,facenet,sface"
    onnx_files: tuple[str, ...] = ()
    ensure: bool = True
    quality: int = 90
    jpeg_check: int | None = None
    copy_unprotected: bool = False
    keep_apart: bool = False
    threads: int = 1

    def settings(self) -> dict[str, Any]:
        """The settings that decide the outputs (not ``threads``), as JSON-ready data."""
        config = self.config.to_dict()
        config["decoy"] = None if self.config.decoy is None else [round(v, 9) for v in self.config.decoy]
        return {"config": config, "recognizers": self.recognizers, "onnx_files": list(self.onnx_files),
                "ensure": self.ensure, "quality": self.quality, "jpeg_check": self.jpeg_check,
                "copy_unprotected": self.copy_unprotected, "keep_apart": self.keep_apart}

    def fingerprint(self) -> str:
        """A short hash of :meth:`settings`: a manifest's records count only for the same fingerprint."""
        text = json.dumps(self.settings(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def members(self) -> list[FaceRecognizer]:
        """Load the ensemble (each call loads the networks anew: call it once per worker).

        Raises:
            InputError: an unknown or repeated name, or no recognizer at all; ModelError: a missing ONNX file.
        """
        from camo.errors import InputError
        from camo.face.recognizers import get_recognizer, get_recognizers

        members = get_recognizers(self.recognizers) if self.recognizers.strip() else []
        members += [get_recognizer(path) for path in self.onnx_files]
        if not members:
            raise InputError("no recognizer to cloak against: give --recognizers or --recognizer FILE.onnx")
        if len({m.name for m in members}) != len(members):
            raise InputError("a recognizer is named twice in --recognizers/--recognizer")
        return members


class PhotoWorker:
    """Cloaks photos one after the other with one job's settings; loads the models once.

    Args:
        job: the settings.
        members: the loaded ensemble, when the caller has it already (default: ``job.members()``).
    """

    def __init__(self, job: CloakJob, members: Sequence[FaceRecognizer] | None = None) -> None:
        import torch

        torch.set_num_threads(job.threads)
        self.job = job
        self.members = list(members) if members is not None else job.members()
        for member in self.members:
            member.network  # noqa: B018 -- load the weights now: once per worker, and a missing file fails here

    def cloak(self, source: Path, target: Path, *, protect: Sequence[Path] = (),
              decoys: DecoyChooser | None = None) -> CloakedPhoto:
        """Cloak ``source`` into ``target`` (written atomically; nothing is written for a photo without a face,
        unless the job copies those).

        Raises:
            CamoError: an unreadable photo or an unwritable output (see ``camo.face.cloak.cloak_photo``).
        """
        from camo.face.cloak import CloakedPhoto, cloak_photo
        from camo.images import save, to_rgb_uint8

        job = self.job
        record = cloak_photo(source, target, recognizers=self.members, config=job.config, ensure=job.ensure,
                             quality=job.quality, jpeg_check=job.jpeg_check, protect=protect, decoys=decoys)
        if record.status == "no face" and job.copy_unprotected:
            save(to_rgb_uint8(source), target, quality=job.quality, protect=[*protect, source])
            record = CloakedPhoto(source=source, output=target, status="no face", preset=record.preset,
                                  attempts=record.attempts, seconds=record.seconds,
                                  notes=("copied without a cloak (--copy-unprotected)",))
        return record

    def cloak_bytes(self, name: str, data: bytes, output_name: str, *,
                    keep_result: bool = True) -> tuple[dict[str, Any], CloakedPhoto | None, bytes | None]:
        """Cloak a photo given as its file's bytes (``name``: its path, for messages; its suffix may matter to decoding)
        in a private folder.

        Returns:
            The record as JSON data (with ``cpu_seconds``: this process's CPU time for the photo), the record
            itself (None unless ``keep_result``: it holds the photo's pixels twice, heavy to send back and to keep
            for thousands of photos) and the output file's bytes (None when nothing was written). Paths in the
            records are ``name`` and ``output_name``: the caller puts its own.

        Raises:
            CamoError: as :meth:`cloak`.
        """
        from camo.errors import CamoError

        with tempfile.TemporaryDirectory(prefix="camo-worker-") as folder:
            source = Path(folder) / "in" / Path(name).name
            target = Path(folder) / "out" / Path(output_name).name
            source.parent.mkdir()
            target.parent.mkdir()
            source.write_bytes(data)
            cpu = time.process_time()
            try:
                record = self.cloak(source, target)
            except CamoError as err:  # the message names the private copy: name the photo instead
                raise type(err)(str(err).replace(str(source), name)) from None
            cpu = time.process_time() - cpu
            written = target.read_bytes() if record.output is not None and target.exists() else None
        record = replace(record, source=Path(name), output=None if written is None else Path(output_name))
        return {**record.to_dict(), "cpu_seconds": round(cpu, 3)}, record if keep_result else None, written

    def ready(self) -> bool:
        """True once the models are loaded (a Ray actor answers this only after its constructor finished)."""
        return True
