"""Photos as Ray tasks on a pool of actors: the only module of camo that imports Ray.

Each actor is one worker process that loads the ensemble once (:class:`~camo.scale.photos.PhotoWorker`) with torch
set to its share of CPUs. The driver sends each photo's bytes to an idle actor and gets back the record and the
output's bytes, so that workers need no access to the photos' folders; it writes and records each output as it
arrives (in order of completion).

Faults: an actor whose process dies is restarted by Ray (``max_restarts=-1``), and the photo it held goes back to
the front of the queue for whichever worker is free next, at most ``retries`` times; a photo whose task raises a
:class:`~camo.errors.CamoError` (an unreadable photo) fails once and is reported, never retried. Any other exception
in a task is a bug and stops the run (what was finished stays recorded).
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from camo.errors import CamoError, InputError, ModelError
from camo.scale.photos import CloakJob, PhotoWorker

if TYPE_CHECKING:
    from camo.scale.options import Finished, RayOptions, Task

__all__ = ["connect", "import_ray", "run_on_ray"]

log = logging.getLogger(__name__)

#: An actor whose restarts fail this often in a row is left out (its photos go to the others).
_RESTARTS_IN_A_ROW = 3
#: Seconds a restarting worker may take to answer again before it counts as failed (model loading included).
_RESTART_WAIT = 300.0


def import_ray() -> Any:
    """The ray module, or one clear error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs Ray, which is not installed: pip install 'camo[ray]' (or ray==2.60.0)") from None
    return ray


def connect(options: RayOptions, threads: int) -> bool:
    """Start or join Ray as ``options.address`` says; True when this call started it (and must shut it down).

    An already initialised Ray (a program that called ``ray.init`` itself) is used as it is.

    Raises:
        InputError: no cluster at the address.
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    if options.address == "local":
        workers = options.workers or max(1, (os.cpu_count() or 1) // threads)
        ray.init(address="local", num_cpus=workers * threads, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING)
        return True
    try:
        ray.init(address=options.address, log_to_driver=False, logging_level=logging.WARNING)
    except ConnectionError as err:
        raise InputError(f"cannot reach a Ray cluster at {options.address!r}: {err} (start one with `ray start "
                         "--head`, or give --ray alone for a private one on this machine)") from None
    return True


def run_on_ray(tasks: Sequence[Task], job: CloakJob, options: RayOptions, finished: Finished, *,
               keep_results: bool = True, worker_class: type[PhotoWorker] = PhotoWorker) -> int:
    """Cloak ``tasks`` on a pool of Ray actors, calling ``finished`` once per task as results arrive.

    Returns:
        The number of workers used.

    Raises:
        InputError: no Ray cluster at the address; ModelError: a worker could not load the models.
        KeyboardInterrupt: passed on after the workers are stopped (finished photos are recorded by then).
    """
    ray = import_ray()
    from ray.exceptions import ActorUnavailableError, RayError, RayTaskError

    if not tasks:
        return 0
    started = connect(options, job.threads)
    actors: list[Any] = []
    try:
        cpus = float(ray.cluster_resources().get("CPU", 1))
        workers = options.workers or max(1, int(cpus // job.threads))
        workers = min(workers, len(tasks))
        remote_class = ray.remote(num_cpus=job.threads, max_restarts=-1, max_task_retries=0)(worker_class)
        actors = [remote_class.remote(job) for _ in range(workers)]
        try:
            ray.get([actor.ready.remote() for actor in actors])
        except RayTaskError as err:
            raise ModelError(f"a Ray worker could not load the models: {err.cause}") from None
        except RayError as err:
            raise ModelError(f"a Ray worker could not start: {err}") from None
        queue = deque(tasks)
        retries = {task.index: 0 for task in tasks}
        running: dict[Any, tuple[Any, Task | None]] = {}  # a photo in flight, or a ping to a restarting actor
        idle = list(actors)
        deaths: dict[int, int] = {}  # failures in a row per actor
        restarting: dict[int, float] = {}  # since when a pinged actor has answered "restarting"
        left = len(tasks)
        while left:
            while queue and idle:
                actor, photo = idle.pop(), queue.popleft()
                reference = actor.cloak_bytes.remote(str(photo.source), photo.source.read_bytes(), photo.target.name,
                                                     keep_result=keep_results)
                running[reference] = (actor, photo)
            if not running:  # every actor is gone for good and photos are left
                raise ModelError(f"no Ray worker is left to cloak the last {left} photos")
            (reference,), _ = ray.wait(list(running), num_returns=1)
            actor, task = running.pop(reference)
            try:
                result = ray.get(reference)
            except RayTaskError as err:
                if task is None or not isinstance(err.cause, CamoError):
                    raise err.cause from None
                finished(task, None, None, None, f"{type(err.cause).__name__}: {err.cause}", retries[task.index])
                left -= 1
                idle.append(actor)
            except RayError as err:  # the worker process died (killed, out of memory, its node lost)
                if task is None and isinstance(err, ActorUnavailableError):
                    # Ray is still restarting it (slow on a busy machine): not a new failure; ask again shortly,
                    # giving up only after _RESTART_WAIT seconds.
                    since = restarting.setdefault(id(actor), time.monotonic())
                    if time.monotonic() - since < _RESTART_WAIT:
                        time.sleep(0.2)
                        running[actor.ready.remote()] = (actor, None)
                        continue
                restarting.pop(id(actor), None)
                deaths[id(actor)] = deaths.get(id(actor), 0) + 1
                if task is None and deaths[id(actor)] > _RESTARTS_IN_A_ROW:
                    log.warning("a worker failed to restart %d times; going on without it", _RESTARTS_IN_A_ROW)
                    continue
                # Back to work only once Ray has restarted it: a ping answers then.
                running[actor.ready.remote()] = (actor, None)
                if task is None:
                    continue
                log.warning("a worker died while cloaking %s (%s); %s", task.source, type(err).__name__,
                            "giving it to another worker" if retries[task.index] < options.retries else "giving up")
                if retries[task.index] < options.retries:
                    retries[task.index] += 1
                    queue.appendleft(task)
                else:
                    finished(task, None, None, None, f"a worker process died on this photo {retries[task.index] + 1} "
                             "times (it may crash the decoder or exhaust memory)", retries[task.index])
                    left -= 1
            else:
                idle.append(actor)
                deaths[id(actor)] = 0
                restarting.pop(id(actor), None)
                if task is not None:
                    summary, record, data = result
                    finished(task, summary, record, data, None, retries[task.index])
                    left -= 1
        return workers
    finally:
        for actor in actors:
            ray.kill(actor, no_restart=True)
        if started:
            ray.shutdown()
