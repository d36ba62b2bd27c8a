"""Photo jobs on a local Ray instance: the serial run's results, a killed worker retried, a poisoned photo reported
once, an interrupted run resumed. One Ray instance (2 CPUs, no dashboard) serves the module and is shut down."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from camo.scale.manifest import MANIFEST_NAME
from camo.scale.runner import JobReport, RayOptions, run_cloak_job
from tests.scale.conftest import copy_photos, pairs_for
from tests.scale.workers import DiesAlways, DiesOnce, marker

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'camo[ray]')")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return copy_photos(tmp_path_factory.mktemp("in"))[:3]


@pytest.fixture(scope="module")
def serial(photos: list[Path], cheap_job: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, JobReport]:
    out = tmp_path_factory.mktemp("serial")
    return out, run_cloak_job(pairs_for(photos, out), cheap_job, out=out)


def _records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]


def _verdicts(report: JobReport) -> dict[str, Any]:
    """Each photo's verification (distances, thresholds, SSIM), by file name: what must not depend on where it ran."""
    return {o.source.name: o.summary["verification"] for o in report.outcomes if o.summary is not None}


def _same_outputs(out: Path, reference: Path, names: list[str]) -> None:
    for name in names:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), f"{name} differs from the serial run"


def test_ray_run_gives_the_serial_results(local_ray: None, photos: list[Path], serial: tuple[Path, JobReport],
                                          cheap_job: Any, tmp_path: Path) -> None:
    reference, serial_report = serial
    out = tmp_path / "out"
    report = run_cloak_job(pairs_for(photos, out), cheap_job, out=out, ray=RayOptions(workers=2))
    assert report.counts() == {"photos": 3, "done": 3, "skipped": 0, "failed": 0, "retried": 0, "workers": 2}
    assert _verdicts(report) == _verdicts(serial_report)
    assert len(_verdicts(report)) == 3 and all(v is not None for v in _verdicts(report).values())
    _same_outputs(out, reference, [f"{p.stem}.png" for p in photos])
    assert [r["output"] for r in _records(out)] and all(r["output"] for r in _records(out))
    assert [o.summary["output"] for o in report.outcomes] == [str(target) for _, target in pairs_for(photos, out)]
    assert ray.is_initialized()  # a Ray the caller started is left running for the caller


def test_a_killed_worker_is_replaced_and_its_photo_done_once(local_ray: None, photos: list[Path],
                                                            serial: tuple[Path, JobReport], cheap_job: Any,
                                                            tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    folder = tmp_path / "in"
    folder.mkdir()
    victim = folder / f"kill-{token}.jpg"
    shutil.copyfile(photos[0], victim)
    others = [shutil.copyfile(p, folder / p.name) for p in photos[1:]]
    out = tmp_path / "out"
    try:
        report = run_cloak_job(pairs_for([victim, *others], out), cheap_job, out=out,
                               ray=RayOptions(workers=2), worker_class=DiesOnce)
        assert marker(token).exists(), "the worker was never killed: the test tested nothing"
    finally:
        marker(token).unlink(missing_ok=True)
    assert report.counts() == {"photos": 3, "done": 3, "skipped": 0, "failed": 0, "retried": 1, "workers": 2}
    assert report.outcomes[0].retries == 1
    records = _records(out)
    assert len(records) == 3 and len({r["key"] for r in records}) == 3  # none lost, none twice
    reference = serial[0]
    assert (out / f"{victim.stem}.png").read_bytes() == (reference / f"{photos[0].stem}.png").read_bytes()
    _same_outputs(out, reference, [f"{Path(p).stem}.png" for p in others])


def test_poisoned_photos_are_reported_once_not_retried_forever(local_ray: None, photos: list[Path],
                                                              cheap_job: Any, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    good = Path(shutil.copyfile(photos[0], folder / photos[0].name))
    unreadable = folder / "broken.jpg"
    unreadable.write_bytes(b"\xff\xd8\xff\xe0 not a JPEG at all")
    crasher = Path(shutil.copyfile(photos[1], folder / "crash.jpg"))  # kills every worker that takes it
    out = tmp_path / "out"
    report = run_cloak_job(pairs_for([good, unreadable, crasher], out), cheap_job, out=out,
                           ray=RayOptions(workers=1, retries=2), worker_class=DiesAlways)
    assert report.counts() == {"photos": 3, "done": 1, "skipped": 0, "failed": 2, "retried": 1, "workers": 1}
    broken, crashed = report.outcomes[1], report.outcomes[2]
    assert broken.error is not None and "ImageError" in broken.error and broken.retries == 0
    assert str(unreadable) in broken.error and "camo-worker-" not in broken.error  # the user's path, not the copy
    assert crashed.error is not None and "died on this photo 3 times" in crashed.error and crashed.retries == 2
    assert [r["status"] for r in _records(out)].count("failed") == 2
    assert sorted(p.name for p in out.iterdir()) == sorted([MANIFEST_NAME, f"{good.stem}.png"])


@pytest.mark.slow
def test_an_interrupted_ray_run_leaves_a_consistent_manifest_and_resumes(local_ray: None, photos: list[Path],
                                                                         serial: tuple[Path, JobReport],
                                                                         cheap_job: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"

    def stop_after_one(done: int, total: int) -> None:
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_cloak_job(pairs_for(photos, out), cheap_job, out=out, ray=RayOptions(workers=2),
                      callback=stop_after_one)
    records = _records(out)
    assert len(records) == 1 and (out / records[0]["output"]).is_file()
    assert len(list(out.glob("*.png"))) == 1
    resumed = run_cloak_job(pairs_for(photos, out), cheap_job, out=out, ray=RayOptions(workers=2))
    assert (resumed.skipped, resumed.done, resumed.failed) == (1, 2, 0)
    assert len(_records(out)) == 3
    _same_outputs(out, serial[0], [f"{p.stem}.png" for p in photos])


def test_evaluate_on_ray_equals_the_serial_evaluation(local_ray: None) -> None:
    import torch

    from camo.analysis.evaluate import evaluate
    from camo.scale.evaluate import ray_batch_map
    from tests.support import small_cnn

    model = small_cnn(seed=3)
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(40, 1, 12, 12, generator=generator)
    y = torch.randint(0, 10, (40,), generator=generator)
    settings: dict[str, Any] = {"batch_size": 10, "steps": 2, "restarts": 2, "seed": 5}
    serial = evaluate(model, x, y, [0.0, 0.1, 0.3], ["fgsm", "pgd"], **settings).to_dict()
    seen: list[tuple[int, int]] = []
    spread = evaluate(model, x, y, [0.0, 0.1, 0.3], ["fgsm", "pgd"], **settings,
                      batch_map=ray_batch_map(RayOptions(workers=2)),
                      callback=lambda done, total: seen.append((done, total))).to_dict()
    serial.pop("seconds")
    spread.pop("seconds")
    assert spread == serial  # PGD's random starts included: seeded per batch, summed in batch order
    assert seen[-1] == (40 * 7, 40 * 7) and len(seen) == 4
