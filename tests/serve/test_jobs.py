"""The job store: private folders, the bounded queue (429 when full), events in order, everything deleted."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from camo.serve.jobs import Job, JobStore
from camo.serve.rejected import Rejected
from camo.serve.settings import ServeSettings


def test_folders_are_private_and_ids_random(tmp_path: Path) -> None:
    store = JobStore(ServeSettings(root=tmp_path))
    try:
        jobs = [store.reserve("lab") for _ in range(5)]
        assert len({j.id for j in jobs}) == 5 and all(len(j.id) == 32 for j in jobs)
        assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
        assert all(j.folder.parent == store.root and stat.S_IMODE(j.folder.stat().st_mode) == 0o700 for j in jobs)
    finally:
        store.close()
    assert not store.root.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_full_queue_answers_429_before_any_upload(tmp_path: Path) -> None:
    store = JobStore(ServeSettings(root=tmp_path, queue_size=2))  # not started: nothing takes work off the queue
    try:
        for _ in range(2):
            store.submit(store.reserve("cloak"), lambda job: None)
        with pytest.raises(Rejected) as caught:
            store.reserve("cloak")
        assert caught.value.status == 429 and caught.value.retry_after
        assert store.counts()["queue_free"] == 0
    finally:
        store.close()


def test_the_oldest_finished_job_makes_room(tmp_path: Path) -> None:
    store = JobStore(ServeSettings(root=tmp_path, max_jobs=2))
    try:
        first, second = store.reserve("lab"), store.reserve("lab")
        with pytest.raises(Rejected) as caught:  # none finished: nothing may be dropped
            store.reserve("lab")
        assert caught.value.status == 429
        store.run_now(first, lambda job: None)
        store.run_now(second, lambda job: None)
        third = store.reserve("lab")
        assert not first.folder.exists() and second.folder.exists() and third.folder.exists()
        with pytest.raises(Rejected) as caught:
            store.get(first.id)
        assert caught.value.status == 404
    finally:
        store.close()


def test_expired_jobs_are_deleted(tmp_path: Path) -> None:
    store = JobStore(ServeSettings(root=tmp_path, keep_seconds=1e-9))
    try:
        job = store.reserve("lab")
        store.run_now(job, lambda job: None)
        store.expire()
        assert not job.folder.exists() and store.counts()["jobs"] == 0
    finally:
        store.close()


def test_workers_run_jobs_and_streams_see_every_event(tmp_path: Path) -> None:
    store = JobStore(ServeSettings(root=tmp_path))

    def work(job: Job) -> None:
        for i in range(3):
            store.publish(job, {"type": "progress", "step": i})

    async def scenario() -> list[dict[str, object]]:
        store.start(asyncio.get_running_loop())
        job = store.reserve("cloak")
        store.submit(job, work)
        return [event async for event in store.follow(job) if event is not None]

    try:
        events = asyncio.run(scenario())
    finally:
        store.close()
    assert [e["type"] for e in events] == ["queued", "running", "progress", "progress", "progress", "end"]
    assert events[-1]["state"] == "done"


def test_a_failing_job_fails_alone_with_its_message(tmp_path: Path) -> None:
    from camo.errors import InputError

    store = JobStore(ServeSettings(root=tmp_path))

    def bad(job: Job) -> None:
        raise InputError("this photo cannot be read")

    async def scenario() -> list[dict[str, object]]:
        store.start(asyncio.get_running_loop())
        job = store.reserve("cloak")
        store.submit(job, bad)
        return [event async for event in store.follow(job) if event is not None]

    try:
        events = asyncio.run(scenario())
    finally:
        store.close()
    assert events[-1] == {"type": "end", "state": "failed", "error": "this photo cannot be read", "summary": {}}
