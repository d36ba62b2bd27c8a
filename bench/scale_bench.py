"""Benchmark: ``camo cloak`` on a folder of photos, serial against ``--ray`` with 1 and 2 workers, and on a simulated
two-node cluster (Ray's ``cluster_utils.Cluster``: a head without worker CPUs, two nodes of one CPU each).

Each run is the real command in its own process, as a user types it, into its own empty output folder; the wall
time is the whole command (Python start, model loading, Ray start-up, every photo, cloak.json). The runs go back to
back, and each records the load average around it: the machine may be shared. Every run's verdicts and output bytes
are compared with the serial run's.

Run from the repository root:
  OMP_NUM_THREADS=1 PYTHONPATH=src python bench/scale_bench.py --out /tmp/camo-scale \
      --cloak-args "--recognizers dlib --preset mid" --runs serial,ray1,ray2,cluster
Ray starts its workers at nice 15 (they yield to every other process); on a shared machine set
RAY_worker_niceness=0 in the environment to compare them with a serial run at nice 0 on equal terms.
Writes bench/scale/raw.json (every run's figures); bench/SCALE.md is written from it by hand.
Needs ../shared/data/faces (the photos) and Ray (pip install 'camo[ray]').
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT.parent / "shared" / "data" / "faces"
FOLDERS = ("face_recognition_examples", "openface_examples")


def cloak(folders: list[Path], out: Path, cloak_args: list[str], extra: list[str]) -> dict[str, Any]:
    """One ``camo cloak`` command: wall and CPU time (this process's children), load average, its JSON summary."""
    command = [sys.executable, "-c", "from camo.cli import app; app()", "cloak", *map(str, folders),
               "--out", str(out), "--json", *cloak_args, *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    load_before = os.getloadavg()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    wall = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 3):
        raise SystemExit(f"{shlex.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    summary = json.loads(done.stdout)
    return {
        "command": shlex.join(["camo", *command[3:]]), "exit": done.returncode, "wall_s": round(wall, 2),
        # Only processes waited for count here: the serial command's CPU time; Ray's workers are not waited for.
        "cpu_s_waited_children": round((cpu_after.ru_utime - cpu_before.ru_utime)
                                       + (cpu_after.ru_stime - cpu_before.ru_stime), 2),
        "load_before": [round(v, 2) for v in load_before], "load_after": [round(v, 2) for v in os.getloadavg()],
        "run": summary.get("run"), "photos": summary["photos"],
    }


def interrupted(folders: list[Path], out: Path, cloak_args: list[str], after: int) -> dict[str, Any]:
    """``camo cloak ... --ray --workers 2`` stopped by a real SIGINT (Ctrl-C) once ``after`` photos are recorded,
    then the same command again: what the manifest held, and what the re-run skipped and did."""
    import signal

    command = [sys.executable, "-c", "from camo.cli import app; app()", "cloak", *map(str, folders),
               "--out", str(out), "--json", *cloak_args, "--ray", "--workers", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    manifest = out / "camo-manifest.jsonl"
    # A shell's background job ignores SIGINT, and Python then installs no KeyboardInterrupt: restore the default.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    while process.poll() is None:  # a benchmark, not a test: polling the file is how a user would watch it
        if manifest.exists() and len(manifest.read_text().splitlines()) >= after:
            process.send_signal(signal.SIGINT)
            break
        time.sleep(0.5)
    _, stderr = process.communicate()
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    intact = all((out / e["output"]).is_file() and hashlib.sha256((out / e["output"]).read_bytes()).hexdigest()
                 == e["output_digest"]["sha256"] for e in lines if e.get("output"))
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.suffix in (".png", ".jpg"))
    recorded = sorted(e["output"] for e in lines if e.get("output"))
    rerun = cloak(folders, out, cloak_args, ["--ray", "--workers", "2"])
    return {"exit_on_sigint": process.returncode,
            "message": [line for line in stderr.splitlines() if line.startswith(("interrupted", "error"))],
            "recorded_at_interrupt": len(lines), "outputs_intact": intact,
            "files_without_record": sorted(set(written) - set(recorded)), "rerun": rerun}


def digests(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and p.suffix in (".png", ".jpg")}


def verdicts(run: dict[str, Any]) -> dict[str, Any]:
    return {p["source"]: (p.get("status"), p.get("verification")) for p in run["photos"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="scratch folder for the outputs (emptied first)")
    parser.add_argument("--cloak-args", default="--recognizers dlib --preset mid",
                        help="camo cloak options shared by every run")
    parser.add_argument("--runs", default="serial,ray1,ray2,cluster,interrupt",
                        help="comma-separated, in order: serial, rayN (--ray --workers N), cluster, interrupt (ray2 "
                             "stopped by SIGINT after 10 photos, then run again); a name may repeat")
    parser.add_argument("--raw", type=Path, default=ROOT / "bench" / "scale" / "raw.json")
    args = parser.parse_args()
    folders = [FACES / name for name in FOLDERS]
    if not all(f.is_dir() for f in folders):
        raise SystemExit(f"needs the shared photos in {FACES}")
    import shutil

    shutil.rmtree(args.out, ignore_errors=True)
    cloak_args = shlex.split(args.cloak_args)
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                           "platform": platform.platform()},
                               "cloak_args": args.cloak_args,
                               "RAY_worker_niceness": os.environ.get("RAY_worker_niceness", "Ray's default, 15"),  # noqa: SIM112 -- Ray spells it so
                               "runs": {}}
    for number, name in enumerate(args.runs.split(",")):
        out = args.out / f"{number}-{name}"
        print(f"{name} ...", file=sys.stderr, flush=True)
        if name == "serial":
            run = cloak(folders, out, cloak_args, [])
        elif name.startswith("ray"):
            run = cloak(folders, out, cloak_args, ["--ray", "--workers", name[3:]])
        elif name == "cluster":
            from ray.cluster_utils import Cluster

            simulated = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
            for _ in range(2):
                simulated.add_node(num_cpus=1)
            simulated.wait_for_nodes()
            try:
                run = cloak(folders, out, cloak_args, ["--ray", simulated.address])
            finally:
                simulated.shutdown()
        elif name == "interrupt":
            report = interrupted(folders, out, cloak_args, after=10)
            run = report.pop("rerun")
            run["interrupt"] = report
        else:
            raise SystemExit(f"unknown run {name!r}")
        run["outputs"] = digests(out)
        run["photos_per_minute"] = round(60 * len(run["photos"]) / run["wall_s"], 2)
        results["runs"][f"{number}-{name}"] = run
        print(f"{name}: {len(run['photos'])} photos in {run['wall_s']} s, load {run['load_before']} -> "
              f"{run['load_after']}", file=sys.stderr, flush=True)
    serial = next((run for key, run in results["runs"].items() if key.endswith("-serial")), None)
    if serial is not None:
        for run in results["runs"].values():
            run["same_verdicts_as_serial"] = verdicts(run) == verdicts(serial)
            run["same_outputs_as_serial"] = run["outputs"] == serial["outputs"]
    for run in results["runs"].values():
        run["photo_seconds"] = {p["source"]: p.get("seconds") for p in run["photos"]}
        run["photo_cpu_seconds"] = {p["source"]: p.get("cpu_seconds") for p in run["photos"]}
        run["statuses"] = {s: sum(p.get("status") == s for p in run["photos"])
                           for s in sorted({p.get("status") for p in run["photos"]})}
        run["photos"] = len(run["photos"])
    args.raw.parent.mkdir(parents=True, exist_ok=True)
    args.raw.write_text(json.dumps(results, indent=2) + "\n")
    for name, run in results["runs"].items():
        print(f"{name:8s} {run['photos']} photos  {run['wall_s']:8.1f} s  {run['photos_per_minute']:6.2f} photos/min  "
              f"same as serial: {run.get('same_verdicts_as_serial')}/{run.get('same_outputs_as_serial')}  "
              f"load {run['load_before'][0]} -> {run['load_after'][0]}")


if __name__ == "__main__":
    main()
