"""Jobs: a private folder each, a bounded queue, worker threads, an event log that pages follow live.

Every job gets a random id (128 bits) and a folder ``<root>/<id>`` inside one private temporary folder (mode 0700)
made at start-up; nothing is written anywhere else. Finished jobs are deleted after ``keep_seconds``, the oldest
first when more than ``max_jobs`` are kept, and all of them when the store closes. The queue is bounded: a job that
does not fit is refused with HTTP 429 ("busy, retry") before its upload is read.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camo.errors import CamoError
from camo.serve.rejected import Rejected
from camo.serve.settings import ServeSettings

log = logging.getLogger("camo")

#: How often the page's event stream says it is still alive while a job works quietly.
KEEPALIVE_SECONDS = 15.0


class Cancelled(Exception):
    """Raised inside a job's progress callback when the job was deleted or the server is closing."""


@dataclass
class Job:
    """One piece of work and everything it produced.

    Attributes:
        id: 32 hex digits, random.
        kind: ``cloak`` or ``lab``.
        folder: the job's private folder.
        state: ``queued``, ``running``, ``done`` or ``failed``.
        events: what happened so far, in order (the page's event stream replays them, then follows).
        files: downloadable outputs by key (``0-cloaked``, ``zip``...): key -> (path, download name, media type).
        summary: the job's result as plain data, filled in as it goes.
        error: why the job failed.
    """

    id: str
    kind: str
    folder: Path
    created: float = field(default_factory=time.monotonic)
    state: str = "queued"
    events: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, tuple[Path, str, str]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    finished: float | None = None
    cancelled: bool = False
    waiters: list[asyncio.Future[None]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "state": self.state, "error": self.error,
                "summary": self.summary, "files": sorted(self.files)}


Work = Callable[[Job], None]


class JobStore:
    """The jobs of one server: folders, the bounded queue, the worker threads and the event streams.

    Call :meth:`start` from the event loop that serves requests (it runs the workers) and :meth:`close` at shutdown.
    """

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.root = Path(tempfile.mkdtemp(prefix="camo-serve-", dir=settings.root))  # mode 0700
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[Job, Work] | None] = queue.Queue(maxsize=settings.queue_size)
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closing = False

    # -- life cycle -------------------------------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the worker threads; events are delivered to streams on ``loop``."""
        self._loop = loop
        for number in range(self.settings.workers):
            thread = threading.Thread(target=self._work, name=f"camo-serve-worker-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def close(self, *, timeout: float = 10.0) -> None:
        """Cancel running jobs, stop the workers and delete every job's files (the whole private folder)."""
        self.closing = True
        with self._lock:
            for job in self._jobs.values():
                job.cancelled = True
        while True:  # drop queued work: its folders go with the root below
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        shutil.rmtree(self.root, ignore_errors=True)

    # -- jobs -------------------------------------------------------------------------------------------------------

    def reserve(self, kind: str) -> Job:
        """A new job with its empty folder, refused with 429 when the queue is full (check before reading uploads).

        Raises:
            Rejected: 429 when the queue or the store is full, 503 while closing.
        """
        if self.closing:
            raise Rejected(503, "the server is shutting down")
        self.expire()
        if kind == "cloak" and self._queue.full():
            raise Rejected(429, "busy: the queue of cloak jobs is full; retry in a minute", retry_after=30)
        with self._lock:
            if len(self._jobs) >= self.settings.max_jobs:
                done = sorted((j for j in self._jobs.values() if j.finished is not None), key=lambda j: j.created)
                if not done:
                    raise Rejected(429, "busy: too many jobs at once; retry in a minute", retry_after=30)
                self._delete_locked(done[0])
            job = Job(id=secrets.token_hex(16), kind=kind, folder=self.root / "pending")
            job.folder = self.root / job.id
            job.folder.mkdir(mode=0o700)
            self._jobs[job.id] = job
        return job

    def submit(self, job: Job, work: Work) -> None:
        """Queue ``work(job)`` for a worker thread.

        Raises:
            Rejected: 429 when the queue filled up meanwhile (the job is deleted).
        """
        try:
            self._queue.put_nowait((job, work))
        except queue.Full:
            self.delete(job.id)
            raise Rejected(429, "busy: the queue of cloak jobs is full; retry in a minute", retry_after=30) from None
        self.publish(job, {"type": "queued", "position": self._queue.qsize()})

    def get(self, job_id: str) -> Job:
        """The job with this id.

        Raises:
            Rejected: 404 for an unknown (or expired) id.
        """
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise Rejected(404, "no such job (finished jobs are deleted after a while)")
        return job

    def delete(self, job_id: str) -> None:
        """Cancel a job if it runs and delete its files."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                self._delete_locked(job)

    def _delete_locked(self, job: Job) -> None:
        job.cancelled = True
        self._jobs.pop(job.id, None)
        if job.state != "running":  # a running job's folder goes when its worker lets go of it
            shutil.rmtree(job.folder, ignore_errors=True)

    def expire(self) -> None:
        """Delete the jobs that finished more than ``keep_seconds`` ago."""
        limit = time.monotonic() - self.settings.keep_seconds
        with self._lock:
            for job in [j for j in self._jobs.values() if j.finished is not None and j.finished < limit]:
                self._delete_locked(job)

    def counts(self) -> dict[str, int]:
        with self._lock:
            states = [j.state for j in self._jobs.values()]
        return {"jobs": len(states), "queued": states.count("queued"), "running": states.count("running"),
                "queue_free": self.settings.queue_size - self._queue.qsize()}

    # -- events -----------------------------------------------------------------------------------------------------

    def publish(self, job: Job, event: dict[str, Any], *, final: bool = False) -> None:
        """Append an event to the job's log and wake its streams (from any thread); ``final`` ends the job in the
        same step, so a stream never sees a finished job without its last event."""
        with self._lock:
            job.events.append(event)
            if final:
                job.finished = time.monotonic()
            waiters, job.waiters = job.waiters, []
        if self._loop is not None and not self._loop.is_closed():
            for waiter in waiters:
                self._loop.call_soon_threadsafe(_wake, waiter)

    async def follow(self, job: Job) -> AsyncIterator[dict[str, Any] | None]:
        """The job's events from the first, then new ones as they come, until the job ends; None = keep-alive."""
        index = 0
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                batch = job.events[index:]
                ended = job.finished is not None
                waiter: asyncio.Future[None] | None = None
                if not batch and not ended:
                    waiter = loop.create_future()
                    job.waiters.append(waiter)
            for event in batch:
                yield event
            index += len(batch)
            if ended and not batch:
                return
            if waiter is not None:
                done, _ = await asyncio.wait({waiter}, timeout=KEEPALIVE_SECONDS)
                if not done:
                    yield None

    # -- workers ----------------------------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            job, work = item
            with self._lock:  # with delete(): a job is either deleted while queued or runs with its folder
                cancelled = job.cancelled
                if not cancelled:
                    job.state = "running"
            if cancelled:
                self._end(job, "failed", "cancelled")
                continue
            self.publish(job, {"type": "running"})
            try:
                work(job)
            except Cancelled:
                self._end(job, "failed", "cancelled")
            except CamoError as err:
                self._end(job, "failed", str(err))
            except Exception as err:  # a server outlives a bug in one job: logged with its traceback, job failed
                log.exception("job %s failed", job.id)
                self._end(job, "failed", f"internal error ({type(err).__name__}); see the server's log")
            else:
                self._end(job, "done", None)

    def _end(self, job: Job, state: str, error: str | None) -> None:
        job.state, job.error = state, error
        self.publish(job, {"type": "end", "state": state, "error": error, "summary": job.summary}, final=True)
        with self._lock:
            gone = job.id not in self._jobs
        if gone:
            shutil.rmtree(job.folder, ignore_errors=True)

    def run_now(self, job: Job, work: Work) -> None:
        """Run ``work(job)`` in the calling thread (the attack lab: short, answered in the same request)."""
        job.state = "running"
        try:
            work(job)
        except BaseException as err:
            self._end(job, "failed", str(err) if isinstance(err, CamoError) else type(err).__name__)
            raise
        self._end(job, "done", None)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
