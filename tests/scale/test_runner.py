"""Resumable photo jobs without Ray: skip what is done, record each photo once, survive Ctrl-C, report bad photos."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from camo.scale.manifest import MANIFEST_NAME
from camo.scale.runner import run_cloak_job
from tests.scale.conftest import copy_photos, pairs_for
from tests.support import REPO


def _lines(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]


def test_interrupted_run_resumes_with_the_same_outputs(tmp_path: Path, cheap_job: Any) -> None:
    photos = copy_photos(tmp_path / "in")
    whole = tmp_path / "whole"
    reference = run_cloak_job(pairs_for(photos, whole), cheap_job, out=whole)
    assert reference.counts()["done"] == len(photos) and reference.failed == 0

    out = tmp_path / "out"

    def stop_after_two(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt  # what Ctrl-C raises in the driver

    with pytest.raises(KeyboardInterrupt):
        run_cloak_job(pairs_for(photos, out), cheap_job, out=out, callback=stop_after_two)
    recorded = _lines(out)
    assert len(recorded) == 2 and len({r["key"] for r in recorded}) == 2
    assert all((out / r["output"]).is_file() for r in recorded)  # every record's output is in place
    assert len(list(out.glob("*.png"))) == 2  # and nothing else was written

    progress: list[tuple[int, int]] = []
    resumed = run_cloak_job(pairs_for(photos, out), cheap_job, out=out,
                            callback=lambda done, total: progress.append((done, total)))
    assert (resumed.skipped, resumed.done, resumed.failed) == (2, len(photos) - 2, 0)
    rest = len(photos) - 2
    assert progress == [(n, rest) for n in range(rest + 1)]  # only this run's work counts towards the estimate
    assert len(_lines(out)) == len(photos)  # each photo recorded exactly once
    for photo in photos:
        name = f"{photo.stem}.png"
        assert (out / name).read_bytes() == (whole / name).read_bytes(), name
    skipped = [o for o in resumed.outcomes if o.skipped]
    assert all(o.summary is not None and o.summary["verification"] is not None for o in skipped)

    again = run_cloak_job(pairs_for(photos, out), cheap_job, out=out)
    assert (again.skipped, again.done) == (len(photos), 0)


def test_changed_output_changed_input_or_settings_are_done_again(tmp_path: Path, cheap_job: Any) -> None:
    from dataclasses import replace

    photos = copy_photos(tmp_path / "in")[:2]
    out = tmp_path / "out"
    run_cloak_job(pairs_for(photos, out), cheap_job, out=out)
    (out / f"{photos[0].stem}.png").unlink()  # an output deleted by the user
    report = run_cloak_job(pairs_for(photos, out), cheap_job, out=out)
    assert (report.skipped, report.done) == (1, 1)
    stronger = replace(cheap_job, config=replace(cheap_job.config, steps=2))
    assert run_cloak_job(pairs_for(photos, out), stronger, out=out).done == 2
    # The same photos from another folder: recognised by content, nothing to do.
    (tmp_path / "moved").mkdir()
    moved = [Path(shutil.copy(p, tmp_path / "moved" / p.name)) for p in photos]
    assert run_cloak_job(pairs_for(moved, out), stronger, out=out).skipped == 2
    # A photo replaced under the same name is done again.
    photos[0].write_bytes(photos[1].read_bytes())
    report = run_cloak_job(pairs_for(photos, out), stronger, out=out)
    assert (report.skipped, report.done) == (1, 1)


def test_a_poisoned_photo_is_reported_once_and_the_rest_is_done(tmp_path: Path, cheap_job: Any) -> None:
    photos = copy_photos(tmp_path / "in")[:2]
    bad = tmp_path / "in" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    out = tmp_path / "out"
    report = run_cloak_job(pairs_for([*photos, bad], out), cheap_job, out=out)
    assert (report.done, report.failed, report.retried) == (2, 1, 0)
    failure = report.outcomes[2]
    assert failure.error is not None and "ImageError" in failure.error and not (out / "broken.png").exists()
    assert [r["status"] for r in _lines(out)].count("failed") == 1
    # A failed photo is tried again by the next run (it may have been fixed), never taken as done.
    retry = run_cloak_job(pairs_for([*photos, bad], out), cheap_job, out=out)
    assert (retry.skipped, retry.failed) == (2, 1)


def test_camo_cloak_without_ray_never_imports_ray(tmp_path: Path) -> None:
    pytest.importorskip("dlib", reason="camo cloak needs dlib (dlib-bin)")
    from PIL import Image

    wall = tmp_path / "wall.png"
    Image.new("RGB", (64, 48), "white").save(wall)
    code = ("import sys; from camo.cli import main; "
            f"status = main(['cloak', {str(wall)!r}, '--out', {str(tmp_path / 'out')!r}, '--recognizers', 'dlib', "
            "'--json']); "
            "print('RAY' if 'ray' in sys.modules else 'NO-RAY', status)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300,
                          env={**__import__("os").environ, "PYTHONPATH": str(REPO / "src")}, check=False)
    assert done.stdout.strip().splitlines()[-1] == "NO-RAY 0", done.stderr


def test_a_per_person_decoy_is_refused_on_ray_only(tmp_path: Path) -> None:
    from camo.errors import InputError
    from camo.scale.photos import CloakJob
    from camo.scale.runner import RayOptions, refuse_ray_decoys

    refuse_ray_decoys(None, per_person=True)
    refuse_ray_decoys(RayOptions(), per_person=False)
    with pytest.raises(InputError, match="one decoy per person"):
        refuse_ray_decoys(RayOptions(), per_person=True)
    # The job refuses it too, before it touches the output folder or starts Ray.
    from camo.face.cloak_config import PRESETS
    from camo.face.decoys import DecoyChooser

    with pytest.raises(InputError, match="one decoy per person"):
        run_cloak_job([], CloakJob(config=PRESETS["mid"]), out=tmp_path / "out", ray=RayOptions(),
                      decoys=DecoyChooser())
    assert not (tmp_path / "out").exists()


def test_ray_options_are_checked_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from camo.cli import main

    photo = tmp_path / "me.jpg"
    photo.write_bytes(b"never read")
    assert main(["cloak", str(photo), "--out", str(tmp_path / "out"), "--workers", "2"]) == 1
    assert "--workers is for --ray" in capsys.readouterr().err
    assert main(["cloak", str(photo), "--out", str(tmp_path / "out"), "--mode", "decoy", "--ray"]) == 1
    assert "--ray cannot choose one decoy per person" in capsys.readouterr().err
    assert main(["cloak", str(photo), "--out", str(tmp_path / "out"), "--ray", "--workers", "0"]) == 1
    assert "--workers must be >= 1" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
