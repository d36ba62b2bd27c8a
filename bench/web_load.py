"""Load test of ``camo serve`` on localhost: concurrent cloak jobs and a burst of mixed requests, bounded.

Starts the real server (``python -m camo.cli serve``) in a subprocess on a free port, then
  1. bursts N cloak jobs of one small face photo each at once, without retrying: completed jobs, 429s ("busy,
     retry"), jobs lost (accepted but never finished), p50/p95 latency from submit to the job's last event;
  2. the same N jobs where each client retries after a 429 (honouring Retry-After, capped): all must complete;
  3. 100 concurrent mixed requests (health, foreign Host, non-image upload, unknown job): statuses and p50/p95;
and reads the server's peak resident memory (VmHWM of its process) at the end.

Run from the repository root:
  OMP_NUM_THREADS=1 PYTHONPATH=src python bench/web_load.py --jobs 12    (writes bench/WEB_RESULTS.md)
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def face_png() -> bytes:
    """skimage's astronaut cropped to her face (210×210): a small photo with one face."""
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(data.astronaut()[20:230, 120:330])).save(buffer, format="PNG")
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def peak_rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process in MB, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def one_job(url: str, photo: bytes, preset: str, *, retry: bool, deadline: float) -> dict[str, Any]:
    """Submit one cloak job and follow its events to the end; returns status, 429 count, latency."""
    rejected = 0
    start = time.perf_counter()
    with httpx.Client(base_url=url, timeout=300) as http:
        while True:
            response = http.post("/api/cloak/jobs", files={"photos": ("face.png", photo, "image/png")},
                                 data={"preset": preset, "ensure": "false"})
            if response.status_code != 429:
                break
            rejected += 1
            if not retry or time.perf_counter() > deadline:
                return {"status": 429, "rejected": rejected, "latency": None, "state": None}
            time.sleep(min(3.0, float(response.headers.get("retry-after", "1"))))
        if response.status_code != 202:
            return {"status": response.status_code, "rejected": rejected, "latency": None, "state": None}
        state = None
        with http.stream("GET", response.json()["events"]) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    event = json.loads(line[5:])
                    if event["type"] == "end":
                        state = event["state"]
                        break
    return {"status": 202, "rejected": rejected, "latency": time.perf_counter() - start, "state": state}


def burst(url: str, photo: bytes, jobs: int, preset: str, *, retry: bool, budget: float) -> dict[str, Any]:
    deadline = time.perf_counter() + budget
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(lambda _: one_job(url, photo, preset, retry=retry, deadline=deadline),
                                range(jobs)))
    latencies = [r["latency"] for r in results if r["latency"] is not None]
    accepted = [r for r in results if r["status"] == 202]
    return {"jobs": jobs, "accepted": len(accepted), "completed": sum(r["state"] == "done" for r in accepted),
            "failed": sum(r["state"] == "failed" for r in accepted),
            "lost": sum(r["state"] is None for r in accepted), "answered_429": sum(r["rejected"] for r in results),
            "never_accepted": sum(r["status"] == 429 for r in results),
            "other_status": sorted({r["status"] for r in results} - {202, 429}),
            "p50_s": percentile(latencies, 0.5), "p95_s": percentile(latencies, 0.95),
            "wall_s": time.perf_counter() - started}


def mixed(url: str, count: int = 100) -> dict[str, Any]:
    def one(i: int) -> tuple[int, float]:
        start = time.perf_counter()
        with httpx.Client(base_url=url, timeout=120) as http:
            if i % 4 == 0:
                status = http.get("/api/health", headers={"host": "evil.example"}).status_code
            elif i % 4 == 1:
                status = http.post("/api/cloak/jobs", files={"photos": ("../x.png", b"not a photo")}).status_code
            elif i % 4 == 2:
                status = http.get(f"/api/jobs/{i:032x}").status_code
            else:
                status = http.get("/api/health").status_code
        return status, time.perf_counter() - start

    with concurrent.futures.ThreadPoolExecutor(max_workers=count) as pool:
        results = list(pool.map(one, range(count)))
    statuses: dict[int, int] = {}
    for status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    times = [t for _, t in results]
    return {"count": count, "statuses": statuses, "p50_ms": 1000 * percentile(times, 0.5),
            "p95_ms": 1000 * percentile(times, 0.95)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=12, help="concurrent cloak jobs per burst (default: 12)")
    parser.add_argument("--queue", type=int, default=4, help="the server's --queue (default: 4)")
    parser.add_argument("--preset", default="low", help="cloak preset (default: low)")
    parser.add_argument("--budget", type=float, default=400, help="seconds a retrying client keeps trying")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "WEB_RESULTS.md")
    args = parser.parse_args()
    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-m", "camo.cli", "serve", "--port", str(port), "--queue", str(args.queue), "--quiet"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # the server imports torch first: give it up to a minute
            try:
                if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise SystemExit("the server did not start")
        idle_mb = peak_rss_mb(server.pid)[0]
        photo = face_png()
        first = burst(url, photo, args.jobs, args.preset, retry=False, budget=args.budget)
        second = burst(url, photo, args.jobs, args.preset, retry=True, budget=args.budget)
        many = mixed(url)
        healthy = httpx.get(url + "/api/health", timeout=10).json()
        current_mb, peak_mb = peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    lines = [
        "# `camo serve` under load (localhost)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores (shared with other work), Python "
        f"{platform.python_version()}, torch threads 1. Server: `{' '.join(['python', *command[1:]])}` "
        f"(one worker, queue {args.queue}). Photo: skimage's astronaut cropped to her face, 210×210 PNG, preset "
        f"{args.preset}, --no-ensure.",
        "",
        "Command: `OMP_NUM_THREADS=1 PYTHONPATH=src python bench/web_load.py --jobs "
        f"{args.jobs} --queue {args.queue} --preset {args.preset}`",
        "",
        "| burst | jobs | accepted | completed | failed | lost | 429 answers | never accepted | p50 s | p95 s "
        "| wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in (("all at once, no retry", first), ("all at once, retry after 429", second)):
        lines.append(f"| {name} | {r['jobs']} | {r['accepted']} | {r['completed']} | {r['failed']} | {r['lost']} | "
                     f"{r['answered_429']} | {r['never_accepted']} | {r['p50_s']:.1f} | {r['p95_s']:.1f} | "
                     f"{r['wall_s']:.1f} |")
    lines += [
        "",
        "Latency: from the first POST to the job's last server-sent event (queueing, retries and cloaking included).",
        f"Reading: one worker and a queue of {args.queue} accepted {first['accepted']} jobs of the burst (one "
        f"running, up to {args.queue} waiting) and answered the others 429 before reading their upload; "
        f"{'every accepted job completed (none lost)' if not first['lost'] + second['lost'] else 'SOME WERE LOST'}"
        f"; with retries after 429, {second['completed']} of {second['jobs']} completed.",
        "",
        f"100 concurrent mixed requests (25 each: foreign Host, non-image upload, unknown job, health): statuses "
        f"{json.dumps(many['statuses'], sort_keys=True)}; p50 {many['p50_ms']:.0f} ms, p95 {many['p95_ms']:.0f} ms.",
        f"Health afterwards: {json.dumps(healthy, sort_keys=True)}.",
        "",
        f"Server memory: {idle_mb:.0f} MB resident when idle after start, {current_mb:.0f} MB at the end, "
        f"peak {peak_mb:.0f} MB (VmHWM of the server process).",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
