"""What a photo job's runners share: where to run (:class:`RayOptions`), one photo to do (:class:`Task`) and how a
runner reports it (:data:`Finished`). Plain data, so that the serial runner and the Ray runner need not import each
other."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from camo.errors import InputError

if TYPE_CHECKING:
    from camo.face.cloak import CloakedPhoto

__all__ = ["Finished", "RayOptions", "Task"]


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide to run on Ray.

    Attributes:
        address: ``local`` (a private Ray instance on this machine, shut down at the end), ``auto`` (the cluster
            ``ray start`` runs on this machine) or a cluster's address (``10.0.0.5:6379``, ``ray://host:10001``).
        workers: worker processes (each loads the models once); None = as many as the cluster's CPUs allow.
        retries: how often a photo is given to a worker again after the worker process died under it; a photo
            whose worker dies more often than that is reported as failed, not retried forever.
    """

    address: str = "local"
    workers: int | None = None
    retries: int = 2

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise InputError(f"--workers must be >= 1; got {self.workers}")
        if self.retries < 0:
            raise InputError(f"retries must be >= 0; got {self.retries}")


@dataclass(frozen=True)
class Task:
    """One photo still to do: its position in the job, input and output."""

    index: int
    source: Path
    target: Path


#: What a runner reports for one task: (task, the record as JSON data or None, the record or None, output bytes or
#: None, error or None, retries). Serial runs write the output themselves (bytes None); Ray runs return the bytes
#: for the driver to write. A failed photo has no record and an error.
Finished = Callable[["Task", "dict[str, Any] | None", "CloakedPhoto | None", "bytes | None", "str | None", int],
                    None]
