"""``camo evaluate --ray``: the data set's batches on a pool of Ray actors, each holding the model once.

The model travels once (``ray.put``) and each actor keeps it; batches go out one per idle actor and come back in
any order, and are handed to :func:`camo.analysis.evaluate.evaluate` in batch order. Each batch is seeded by its
index and the sums are taken in batch order, so the result equals the serial one. A batch is pure computation (it
writes nothing), so a worker that dies is simply restarted by Ray and its batch run again (``max_task_retries``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from camo.analysis.evaluate import BatchMap, BatchTally, EvalSettings, evaluate_batch
from camo.scale.options import RayOptions
from camo.scale.ray_runner import connect, import_ray

__all__ = ["BatchWorker", "ray_batch_map"]


class BatchWorker:
    """One worker process: holds the model, evaluates batches (one torch thread per CPU share)."""

    def __init__(self, model: Any, threads: int = 1) -> None:
        torch.set_num_threads(threads)
        self.model = model

    def run(self, xb: torch.Tensor, yb: torch.Tensor, index: int, settings: EvalSettings) -> BatchTally:
        return evaluate_batch(self.model, xb, yb, index, settings)


def ray_batch_map(options: RayOptions, *, threads: int = 1) -> BatchMap:
    """A :data:`~camo.analysis.evaluate.BatchMap` that runs the batches on Ray as ``options`` say.

    Raises (when called):
        InputError: Ray is missing or no cluster answers at the address.
    """

    def run(model: Any, settings: EvalSettings, batches: Sequence[tuple[int, torch.Tensor, torch.Tensor]],
            progress: Callable[[int], None]) -> Iterator[BatchTally]:
        ray = import_ray()
        started = connect(options, threads)
        actors: list[Any] = []
        try:
            cpus = float(ray.cluster_resources().get("CPU", 1))
            workers = min(options.workers or max(1, int(cpus // threads)), len(batches))
            remote_class = ray.remote(num_cpus=threads, max_restarts=-1,
                                      max_task_retries=options.retries)(BatchWorker)
            shared = ray.put(model)
            actors = [remote_class.remote(shared, threads) for _ in range(workers)]
            work_per_image = 1 + len(settings.methods) * len(settings.eps)
            queue = list(reversed(batches))
            running: dict[Any, tuple[Any, int, int]] = {}
            arrived: dict[int, BatchTally] = {}
            idle = list(actors)
            following = 0  # the next batch index to hand back
            while queue or running:
                while queue and idle:
                    actor = idle.pop()
                    index, xb, yb = queue.pop()
                    running[actor.run.remote(xb, yb, index, settings)] = (actor, index, len(xb))
                (reference,), _ = ray.wait(list(running), num_returns=1)
                actor, index, size = running.pop(reference)
                arrived[index] = ray.get(reference)  # a batch's own error (a bug) is raised here as it is
                idle.append(actor)
                progress(size * work_per_image)
                while following in arrived:
                    yield arrived.pop(following)
                    following += 1
        finally:
            for actor in actors:
                ray.kill(actor, no_restart=True)
            if started:
                ray.shutdown()

    return run
