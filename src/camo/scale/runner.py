"""Run a photo job resumably: skip what the output folder's manifest records as done, cloak the rest here or on a
Ray cluster, and record each photo the moment its output is in place.

Exactly once, in effect: an output is written atomically (a temporary file renamed into place) before its record is
appended, and only the driver writes into the output folder (Ray workers return bytes). A crash between the two
leaves an output without a record; the re-run writes the same bytes again (every photo has its own seed), so no photo
is ever half-written, and none is recorded twice or lost.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from camo.errors import CamoError, InputError
from camo.scale.manifest import FileDigest, Manifest, digest
from camo.scale.options import Finished, RayOptions, Task
from camo.scale.photos import CloakJob, PhotoWorker

if TYPE_CHECKING:
    from camo.face.cloak import CloakedPhoto, DecoyChooser
    from camo.face.recognizers.base import FaceRecognizer

__all__ = ["UNPROTECTED_DIR", "Finished", "JobReport", "PhotoOutcome", "RayOptions", "Task", "refuse_ray_decoys",
           "run_cloak_job"]

#: Where a job with ``keep_apart`` moves photos that a recognizer still matches, inside the output folder: never
#: beside the protected ones, so that uploading the folder's photos uploads only protected ones.
UNPROTECTED_DIR = "not-protected"

#: Called with (photos settled, photos to do) in this run: once before the first photo, then after each one; photos
#: done by an earlier run are not counted (so that a resumed run's time estimate holds).
JobProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class PhotoOutcome:
    """What became of one photo of the job.

    Attributes:
        source, target: the input and where its output goes.
        summary: the photo's record as JSON data (``CloakedPhoto.to_dict()``, or the manifest's for a skipped one).
        record: the full record when the photo was cloaked in this run and results are kept (see
            :func:`run_cloak_job`); None otherwise.
        skipped: done by an earlier run (recorded in the manifest, output unchanged).
        error: why the photo failed (None when it did not).
        retries: how often it went to a worker again because a worker process died under it.
    """

    source: Path
    target: Path
    summary: dict[str, Any] | None
    record: CloakedPhoto | None = None
    skipped: bool = False
    error: str | None = None
    retries: int = 0


@dataclass(frozen=True)
class JobReport:
    """A whole job, in input order."""

    outcomes: tuple[PhotoOutcome, ...]
    seconds: float
    workers: int

    @property
    def done(self) -> int:
        """Photos settled in this run (cloaked, or found to have no face)."""
        return sum(o.summary is not None and not o.skipped for o in self.outcomes)

    @property
    def skipped(self) -> int:
        return sum(o.skipped for o in self.outcomes)

    @property
    def failed(self) -> int:
        return sum(o.error is not None for o in self.outcomes)

    @property
    def retried(self) -> int:
        """Photos that went to a worker more than once because a worker died."""
        return sum(o.retries > 0 for o in self.outcomes)

    def counts(self) -> dict[str, int]:
        return {"photos": len(self.outcomes), "done": self.done, "skipped": self.skipped, "failed": self.failed,
                "retried": self.retried, "workers": self.workers}


def _relative(path: Path, out: Path) -> str:
    try:
        return str(path.resolve().relative_to(out.resolve()))
    except ValueError:
        return str(path.resolve())


def refuse_ray_decoys(ray: RayOptions | None, *, per_person: bool) -> None:
    """Decoy mode's per-person decoy needs one process to see a person's photos in order: refused on Ray.

    Raises:
        InputError: ``ray`` is given and the decoy is chosen per person.
    """
    if ray is not None and per_person:
        raise InputError("--ray cannot choose one decoy per person (that choice depends on the order photos are "
                         "cloaked in): give --decoy PHOTO, or run without --ray")


def run_cloak_job(
    pairs: Sequence[tuple[Path, Path]],
    job: CloakJob,
    *,
    out: Path,
    ray: RayOptions | None = None,
    members: Sequence[FaceRecognizer] | None = None,
    decoys: DecoyChooser | None = None,
    callback: JobProgress | None = None,
    keep_results: bool = True,
    worker_class: type[PhotoWorker] = PhotoWorker,
) -> JobReport:
    """Cloak every (input, output) pair that the manifest in ``out`` does not record as done, and record each.

    Args:
        pairs: inputs and their outputs (outputs inside ``out``); the inputs are never written.
        job: the settings; a manifest record counts only under the same settings.
        out: the output folder, which holds the manifest.
        ray: run on Ray with these options (None: one photo after the other in this process).
        members: the loaded ensemble for a serial run (default: loaded from ``job``).
        decoys: serial decoy mode: one decoy identity per person across the photos of this run.
        callback: progress, see :data:`JobProgress`.
        keep_results: keep each photo's full record (its pixels, for a report) in the outcome; without, only its
            JSON record (what a table and cloak.json need) is kept and, on Ray, sent back.
        worker_class: what each worker runs (a subclass of :class:`PhotoWorker`).

    Returns:
        The outcome of every photo, in the order of ``pairs``.

    Raises:
        InputError: another run holds ``out``; decoy mode with a per-person decoy on Ray (it depends on the order
            in which photos are seen); a Ray cluster that cannot be reached.
        KeyboardInterrupt: passed on; every photo finished before it is recorded and the rest is not.
    """
    refuse_ray_decoys(ray, per_person=decoys is not None)
    start = time.perf_counter()
    fingerprint = job.fingerprint()
    protect = [source for source, _ in pairs]
    outcomes: list[PhotoOutcome | None] = [None] * len(pairs)
    with Manifest(out) as manifest:
        known = {entry.get("input"): FileDigest.from_dict(entry["input_digest"])
                 for entry in manifest if "input_digest" in entry}
        # An output no record names cannot be done: its input is hashed only when it is recorded, so that a first
        # run over a large library starts at once instead of reading every photo first.
        named = {str(entry["key"]).split(":", 2)[-1] for entry in manifest}
        keys: list[str | None] = []
        digests: list[FileDigest | None] = []
        tasks = []
        for index, (source, target) in enumerate(pairs):
            if _relative(target, out) not in named:
                keys.append(None)
                digests.append(None)
                tasks.append(Task(index, source, target))
                continue
            given = digest(source, known.get(str(source.resolve())))
            key = f"{fingerprint}:{given.sha256}:{_relative(target, out)}"
            keys.append(key)
            digests.append(given)
            entry = manifest.get(key)
            if entry is not None and _still_done(entry, out):
                outcomes[index] = PhotoOutcome(source=source, target=target, summary=entry["record"], skipped=True)
            else:
                tasks.append(Task(index, source, target))
        settled = 0
        if callback is not None:
            callback(settled, len(tasks))

        def finished(task: Task, summary: dict[str, Any] | None, record: CloakedPhoto | None, data: bytes | None,
                     error: str | None, retries: int) -> None:
            nonlocal settled
            given = digests[task.index] or digest(task.source)
            entry: dict[str, Any] = {"key": keys[task.index] or f"{fingerprint}:{given.sha256}:"
                                                                  f"{_relative(task.target, out)}",
                                     "settings": fingerprint, "input": str(task.source.resolve()),
                                     "input_digest": given.to_dict(),
                                     "output": None, "output_digest": None, "retries": retries}
            if summary is None:
                manifest.append({**entry, "status": "failed", "error": error})
                outcomes[task.index] = PhotoOutcome(source=task.source, target=task.target, summary=None,
                                                    error=error, retries=retries)
            else:
                if data is not None:  # a Ray worker's output: written here, by the driver alone
                    from camo.images import refuse_inputs, write_bytes_atomic

                    refuse_inputs(task.target, protect)
                    write_bytes_atomic(data, task.target)
                output = None if summary["output"] is None else task.target
                if output is not None and job.keep_apart and summary["status"] == "not protected":
                    output = _move_apart(output, out, protect)
                summary = {**summary, "source": str(task.source), "output": None if output is None else str(output)}
                if record is not None:
                    record = replace(record, source=task.source, output=output)
                if output is not None:
                    entry["output"] = _relative(output, out)
                    entry["output_digest"] = digest(output).to_dict()
                manifest.append({**entry, "status": summary["status"], "record": summary})
                outcomes[task.index] = PhotoOutcome(source=task.source, target=task.target, summary=summary,
                                                    record=record, retries=retries)
            settled += 1
            if callback is not None:
                callback(settled, len(tasks))

        if ray is None:
            workers = 1
            if tasks:
                worker = worker_class(job, members)
                for task in tasks:
                    cpu = time.process_time()
                    try:
                        record = worker.cloak(task.source, task.target, protect=protect, decoys=decoys)
                    except CamoError as err:
                        finished(task, None, None, None, f"{type(err).__name__}: {err}", 0)
                    else:
                        summary = {**record.to_dict(), "cpu_seconds": round(time.process_time() - cpu, 3)}
                        finished(task, summary, record if keep_results else None, None, None, 0)
        else:
            from camo.scale.ray_runner import run_on_ray

            workers = run_on_ray(tasks, job, ray, finished, keep_results=keep_results, worker_class=worker_class)
    done = tuple(o for o in outcomes if o is not None)
    if len(done) != len(pairs):  # every task reports exactly once; anything else is a bug, not a user error
        raise RuntimeError(f"{len(pairs) - len(done)} photos were neither done, skipped nor failed")
    return JobReport(outcomes=done, seconds=time.perf_counter() - start, workers=workers)


def _move_apart(output: Path, out: Path, protect: Sequence[Path]) -> Path:
    """Move a cloaked photo that a recognizer still matches from ``out/REL`` to ``out/not-protected/REL`` (one
    atomic rename inside the output folder), so that the folder's photos outside it are all protected."""
    from camo.images import refuse_inputs

    moved = out / UNPROTECTED_DIR / output.resolve().relative_to(out.resolve())
    refuse_inputs(moved, protect)
    moved.parent.mkdir(parents=True, exist_ok=True)
    os.replace(output, moved)
    return moved


def _still_done(entry: dict[str, Any], out: Path) -> bool:
    """Whether a manifest record still stands: not a failure, and its output (if any) unchanged on disk where the
    record says it went."""
    if entry.get("status") == "failed" or "record" not in entry:
        return False
    if entry.get("output") is None:
        return True  # a photo without a face: nothing was written, nothing to check
    target = out / entry["output"]
    if not target.is_file():
        return False
    recorded = FileDigest.from_dict(entry["output_digest"])
    return digest(target, recorded).sha256 == recorded.sha256
