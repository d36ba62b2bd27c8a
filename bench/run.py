"""FGSM and PGD-10 side by side: camo, torchattacks, ART, foolbox, cleverhans and the bare limit, in one process.

Usage (from the repository root; ``make bench`` runs the first form)::

    python -m bench.run                  # full run: writes bench/RESULTS.md and bench/attacks_time.png
    python -m bench.run --quick          # smaller batches and networks, 2 repetitions, prints only
    python -m bench.run --threads 1 --pgd-reps 1

How it measures: every library attacks the same model, batch, labels and settings. Repetitions are interleaved:
in repetition r every library runs once, in an order rotated by r, so load from other processes hits all alike.
The reported time is the median over repetitions of one call on the whole batch; "× limit" divides it by the
bare loop's median (forward, input-only ``torch.autograd.grad``, sign step, clamp, parameters frozen). Peak memory
is the growth of the resident set during one call (Linux VmHWM after resetting it through /proc/self/clear_refs,
minus VmRSS before, after ``malloc_trim`` so that memory glibc kept from earlier calls is not silently reused). It
counts torch's CPU allocator and NumPy alike (tracemalloc sees neither).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import ctypes
import datetime
import json
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

import camo
from bench.attacks import ATTACKS, CAMO, LIBRARIES, LIMIT, PEERS, Runner, Settings, build_runners, version
from bench.models import Workload, make_batch, tiny_classifier, workloads

HERE = Path(__file__).resolve().parent
ROUNDING = 1e-5  # differences below this are float rounding; a step taken the other way moves a pixel by ~ε


@dataclass(frozen=True)
class Equality:
    """How one library's output compares with camo's on the same batch."""

    equal: bool
    total: int
    differing: int = 0
    rounding: int = 0       # differing by less than ROUNDING: same step, different float rounding
    max_abs: float = 0.0

    def describe(self) -> str:
        if self.equal:
            return "identical (torch.equal)"
        direction = self.differing - self.rounding
        parts = []
        if self.rounding:
            parts.append(f"{self.rounding} by float rounding")
        if direction:
            parts.append(f"{direction} by a step in another direction")
        detail = "; ".join([*parts, f"max |Δ| {self.max_abs:.3g}"])
        return f"differs in {self.differing:,} of {self.total:,} values ({detail})"


def compare(reference: torch.Tensor, other: torch.Tensor) -> Equality:
    """torch.equal, and where that fails, how many values differ and by how much."""
    other = other.to(reference.dtype).reshape(reference.shape)
    if torch.equal(reference, other):
        return Equality(True, reference.numel())
    diff = (reference - other).abs()
    differing = int((diff > 0).sum())
    rounding = int(((diff > 0) & (diff < ROUNDING)).sum())
    return Equality(False, reference.numel(), differing, rounding, float(diff.max()))


@dataclass
class Measurement:
    """All repetitions of one library's attack on one model."""

    model: str
    attack: str
    library: str
    batch: int
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)  # process CPU time: less sensitive to other processes
    peak_mib: float | None = None
    equality: Equality | None = None
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def cpu_median(self) -> float | None:
        return statistics.median(self.cpu_seconds) if self.cpu_seconds else None


@dataclass
class ModelResult:
    workload: Workload
    describe: str
    measurements: dict[tuple[str, str], Measurement]
    missing: dict[str, str]
    reps: dict[str, int]
    run: RunInfo | None = None  # the run that measured it (reports may splice models from several runs)


@dataclass
class RunInfo:
    """Where and how a run happened: everything the report states besides the measurements."""

    command: str
    started: str
    elapsed: float
    load: tuple[float, float]
    memory: bool
    machine: str
    versions: str
    overhead: dict[str, float] = field(default_factory=dict)


def save_raw(results: list[ModelResult], info: RunInfo, path: Path) -> None:
    """Every timing as JSON, so that the report can be written again (``--from-raw``) without re-running."""
    models = [{
        "workload": {k: v for k, v in asdict(r.workload).items() if k != "load"},
        "describe": r.describe, "missing": r.missing, "reps": r.reps,
        "measurements": [asdict(m) for m in r.measurements.values()],
    } for r in results]
    path.write_text(json.dumps({"info": asdict(info), "models": models}, indent=1))


def load_raw(paths: Sequence[Path]) -> tuple[list[ModelResult], RunInfo]:
    """Results saved by ``--save-raw``; with several files, a model measured again in a later file replaces the
    earlier measurement (each model keeps the run that measured it). The first file's run describes the report."""
    merged: dict[str, ModelResult] = {}
    first: RunInfo | None = None
    for path in paths:
        data = json.loads(path.read_text())
        info = data["info"]
        run = RunInfo(**{**info, "load": tuple(info["load"])})
        first = first or run
        for model in data["models"]:
            spec = model["workload"]
            workload = Workload(**{**spec, "shape": tuple(spec["shape"]), "load": _unavailable})
            measurements = {}
            for item in model["measurements"]:
                equality = Equality(**item.pop("equality")) if item.get("equality") else None
                m = Measurement(**item, equality=equality)
                measurements[(m.attack, m.library)] = m
            merged[workload.name] = ModelResult(workload, model["describe"], measurements, model["missing"],
                                                model["reps"], run)
    if first is None:
        raise ValueError("no raw result files given")
    return list(merged.values()), first


def _unavailable() -> camo.Classifier:
    raise RuntimeError("a workload read back from raw results cannot load its model")


# ---------------------------------------------------------------------------------------------------------- memory

_LIBC: ctypes.CDLL | None = None
with contextlib.suppress(OSError):
    _LIBC = ctypes.CDLL("libc.so.6")


def _status_mib() -> dict[str, float]:
    values: dict[str, float] = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                values[key] = int(rest.split()[0]) / 1024
    return values


def memory_supported() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return "VmHWM" in _status_mib()
    except OSError:
        return False


@contextlib.contextmanager
def peak_memory(out: list[float]) -> Iterator[None]:
    """Append the resident-set growth (MiB) of the block to ``out``: peak during it minus the resident set before."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # resets VmHWM to the current VmRSS
    before = _status_mib()["VmRSS"]
    yield
    out.append(_status_mib()["VmHWM"] - before)


# -------------------------------------------------------------------------------------------------------- the run


def rotated(items: Sequence[Runner], shift: int) -> list[Runner]:
    shift %= max(len(items), 1)
    return [*items[shift:], *items[:shift]]


def bench_model(workload: Workload, settings: Settings, *, libraries: tuple[str, ...], measure_memory: bool,
                log: bool = True) -> ModelResult:
    """Warm up, check FGSM (and PGD) outputs against camo's, then time interleaved repetitions."""
    model = workload.load()
    x, y = make_batch(workload, model)
    num_classes = int(model(x[:1]).shape[1]) if model.num_classes is None else model.num_classes
    runners, missing = build_runners(model, settings, x, num_classes, libraries)
    reps = {"FGSM": workload.fgsm_reps, "PGD-10": workload.pgd_reps}
    results = {(r.attack, r.library): Measurement(workload.name, r.attack, r.library, workload.batch, note=r.note)
               for r in runners}
    outputs: dict[tuple[str, str], torch.Tensor] = {}

    def say(message: str) -> None:
        if log:
            print(f"[{time.strftime('%H:%M:%S')}] {workload.name}: {message}", file=sys.stderr, flush=True)

    fgsm_runners = [r for r in runners if r.attack == "FGSM"]
    say(f"batch {tuple(x.shape)}; warm-up and equality check ({len(fgsm_runners)} FGSM runs, twice)")
    for runner in fgsm_runners:
        with runner.context():
            runner.run(x, y)  # warm-up: first-call costs (allocator, oneDNN primitives, lazy imports)
            peaks: list[float] = []
            with peak_memory(peaks) if measure_memory else contextlib.nullcontext():
                outputs[("FGSM", runner.library)] = runner.run(x, y)
        if peaks:
            results[("FGSM", runner.library)].peak_mib = peaks[0]

    for rep in range(max(reps.values())):
        for attack in ATTACKS:
            if rep >= reps[attack]:
                continue
            group = [r for r in runners if r.attack == attack]
            for runner in rotated(group, rep):
                result = results[(attack, runner.library)]
                peaks = []
                # PGD-10 calls are long: resetting the heap before them costs < 1 %, so their peak is measured here
                track = measure_memory and attack != "FGSM"
                with runner.context(), peak_memory(peaks) if track else contextlib.nullcontext():
                    start, cpu = time.perf_counter(), time.process_time()
                    out = runner.run(x, y)
                    result.seconds.append(time.perf_counter() - start)
                    result.cpu_seconds.append(time.process_time() - cpu)
                if peaks:
                    result.peak_mib = max(result.peak_mib or 0.0, peaks[0])
                outputs.setdefault((attack, runner.library), out)
            times = ", ".join(f"{r.library} {results[(attack, r.library)].seconds[-1]:.2f}s" for r in group)
            say(f"rep {rep + 1}/{reps[attack]} {attack}: {times}")

    for (attack, library), out in outputs.items():
        reference = outputs.get((attack, CAMO))
        if reference is not None:
            results[(attack, library)].equality = compare(reference, out)
    return ModelResult(workload, workload.describe, results, missing, reps)


def fixed_overhead(settings: Settings, libraries: tuple[str, ...], *, calls: int = 200) -> dict[str, float]:
    """Median µs per FGSM call on a toy model and a batch of 4: what each library adds besides the arithmetic."""
    model = tiny_classifier()
    x = torch.rand((4, 3, 8, 8), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    runners, _ = build_runners(model, settings, x, 5, libraries)
    runners = [r for r in runners if r.attack == "FGSM"]
    times: dict[str, list[float]] = {r.library: [] for r in runners}
    for call in range(calls + 5):
        for runner in rotated(runners, call):
            with runner.context():
                start = time.perf_counter()
                runner.run(x, y)
                elapsed = time.perf_counter() - start
            if call >= 5:  # the first calls warm up
                times[runner.library].append(elapsed)
    return {library: 1e6 * statistics.median(values) for library, values in times.items()}


def extra_operators(settings: Settings, libraries: tuple[str, ...]) -> dict[str, dict[str, dict[str, int]]]:
    """Per attack and library, the aten operators one call dispatches beyond the bare limit's (toy model; counts
    are deterministic, not timings). Shows exactly what a library adds to the loop."""
    from torch.profiler import ProfilerActivity, profile

    model = tiny_classifier()
    x = torch.rand((4, 3, 8, 8), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    runners, _ = build_runners(model, settings, x, 5, tuple(lib for lib in (LIMIT, CAMO, "torchattacks")
                                                             if lib in libraries))
    counts: dict[tuple[str, str], collections.Counter[str]] = {}
    for runner in runners:
        with runner.context():
            runner.run(x, y)
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                runner.run(x, y)
        counts[(runner.attack, runner.library)] = collections.Counter(
            e.name for e in prof.events() if e.name.startswith("aten::"))
    extra: dict[str, dict[str, dict[str, int]]] = {}
    for (attack, library), count in counts.items():
        base = counts.get((attack, LIMIT))
        if library == LIMIT or base is None:
            continue
        diff = {op: count[op] - base[op] for op in sorted(set(count) | set(base)) if count[op] != base[op]}
        extra.setdefault(attack, {})[library] = diff
    return extra


# ----------------------------------------------------------------------------------------------------- reporting


def _ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}×" if denominator > 0 else "–"


def _rate(images_per_second: float) -> str:
    return f"{images_per_second:,.0f}" if images_per_second >= 100 else f"{images_per_second:.3g}"


def _paired(result: ModelResult, attack: str, library: str, reference: str) -> float | None:
    """Median over repetitions of time(library) / time(reference) in the same repetition."""
    a = result.measurements.get((attack, library))
    b = result.measurements.get((attack, reference))
    if a is None or b is None:
        return None
    return statistics.median(t / u for t, u in zip(a.seconds, b.seconds, strict=True))


def model_table(result: ModelResult) -> list[str]:
    lines = [
        "| attack | library | median s/batch | min–max s | images/s | × limit | × limit, paired | CPU s/batch |"
        " CPU × limit | camo faster by | peak RSS growth MiB | output vs camo |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for attack in ATTACKS:
        limit = result.measurements.get((attack, LIMIT))
        mine = result.measurements.get((attack, CAMO))
        for library in LIBRARIES:
            m = result.measurements.get((attack, library))
            if m is None:
                continue
            paired = _paired(result, attack, library, LIMIT)
            memory = f"{m.peak_mib:.0f}" if m.peak_mib is not None else "–"
            faster = _ratio(m.median, mine.median) if mine is not None and library not in (LIMIT, CAMO) else ""
            same = m.equality.describe() if m.equality is not None and library != CAMO else ""
            cpu, cpu_limit = m.cpu_median, limit.cpu_median if limit else None
            lines.append(
                f"| {attack} | {library} | {m.median:.3f} | {min(m.seconds):.3f}–{max(m.seconds):.3f} | "
                f"{_rate(m.batch / m.median)} | {_ratio(m.median, limit.median) if limit else '–'} | "
                f"{f'{paired:.2f}×' if paired is not None else '–'} | {f'{cpu:.3f}' if cpu else '–'} | "
                f"{_ratio(cpu, cpu_limit) if cpu and cpu_limit else '–'} | {faster} | {memory} | {same} |"
            )
    return lines


def below_limit(results: list[ModelResult]) -> list[tuple[str, float]]:
    """Every (description, ratio) of a library measured more than 5 % faster than the bare loop. Nothing does less
    work than the limit, so these show how far the run's timing noise reaches."""
    return [(f"{r.workload.name} {attack} {lib}", m.median / limit.median)
            for r in results for attack in ATTACKS
            if (limit := r.measurements.get((attack, LIMIT))) is not None
            for (a, lib), m in r.measurements.items() if a == attack and m.median < 0.95 * limit.median]


def run_noise(results: list[ModelResult]) -> float:
    """How far below the limit anything was measured (0.08 for 0.92×; 0 if nothing was): the run's own timing noise."""
    return max([0.0, *(1 - m.median / limit.median for r in results for attack in ATTACKS
                       if (limit := r.measurements.get((attack, LIMIT))) is not None
                       for (a, _), m in r.measurements.items() if a == attack)])


def verdict(ok: bool, within_noise: bool, noise: float) -> str:
    """'ok', 'tie' (missed by less than the run's measured noise) or 'MISSED'."""
    return "ok" if ok else f"tie (noise ±{noise:.0%})" if within_noise else "MISSED"


def summary_table(results: list[ModelResult]) -> list[str]:
    """camo against the limit and each peer, with the issue's targets checked.

    A target missed by less than the run's measured noise (:func:`run_noise`) reads 'tie', not 'MISSED'.
    """
    noise = run_noise(results)
    peers = [p for p in PEERS if any((a, p) in r.measurements for r in results for a in ATTACKS)]
    lines = ["| model | attack | camo × limit (≤ 1.05) | " + " | ".join(
        f"{p} ÷ camo{' (≥ 1)' if p == 'torchattacks' else ' (≥ 3)' if p == 'ART' else ''}" for p in peers) + " |",
        "|---|---|---:|" + "---:|" * len(peers)]
    for result in results:
        for attack in ATTACKS:
            mine = result.measurements.get((attack, CAMO))
            limit = result.measurements.get((attack, LIMIT))
            if mine is None or limit is None:
                continue
            ratio = mine.median / limit.median
            per_rep = [t / u for t, u in zip(mine.seconds, limit.seconds, strict=True)]
            spread = f" ({min(per_rep):.2f}–{max(per_rep):.2f})" if len(per_rep) > 1 else ""
            cpu = f"; CPU {mine.cpu_median / limit.cpu_median:.2f}" if mine.cpu_median and limit.cpu_median else ""
            cells = [f"{ratio:.2f}{spread}{cpu} {verdict(ratio <= 1.05, ratio <= 1 + noise, noise)}"]
            for peer in peers:
                m = result.measurements.get((attack, peer))
                if m is None:
                    cells.append("–")
                    continue
                speedup = m.median / mine.median
                target = 1.0 if peer == "torchattacks" else 3.0 if peer == "ART" else None
                checked = "" if target is None else " " + verdict(speedup >= target, speedup >= target * (1 - noise),
                                                                   noise)
                cpu = f" (CPU {m.cpu_median / mine.cpu_median:.2f})" if m.cpu_median and mine.cpu_median else ""
                cells.append(f"{speedup:.2f}{cpu}{checked}")
            lines.append(f"| {result.workload.name} | {attack} | " + " | ".join(cells) + " |")
    return lines


def notes(results: list[ModelResult], overhead: dict[str, float],
          extra_ops: dict[str, dict[str, dict[str, int]]] | None = None) -> list[str]:
    """What the numbers mean for the targets, computed from them."""
    lines = ["## Reading the numbers", ""]
    if extra_ops:
        lines += [
            "**Work beyond the limit, operator by operator** (aten operators one call dispatches in addition to "
            "the bare loop's, counted with `torch.profiler` on a toy network; negative = fewer). `detach` and `to` "
            "on a tensor already on the device are free views; `min` and `max` are one pass each over the input "
            "batch (`empty`/`fill_` make their scalar results, `item`/`_local_scalar_dense` read them back); "
            "`clone` (`empty_strided` + `copy_`) copies the whole batch:",
            "",
            "| attack | library | operators beyond the limit's |",
            "|---|---|---|",
            *(f"| {attack} | {library} | {', '.join(f'{n:+d} {op[6:]}' for op, n in ops.items()) or 'none'} |"
              for attack, by_library in extra_ops.items() for library, ops in by_library.items()),
            "",
        ]
    camo_cost = overhead.get(CAMO)
    limit_cost = overhead.get(LIMIT)
    if overhead:
        lines += [
            "**Fixed cost per call** (FGSM on a toy network, batch 4 × 3×8×8, median of 200 interleaved calls; "
            "this is what each library spends besides the model's arithmetic):",
            "",
            "| library | µs per call |",
            "|---|---:|",
            *(f"| {library} | {overhead[library]:,.0f} |" for library in LIBRARIES if library in overhead),
            "",
        ]
    if camo_cost is not None and limit_cost is not None:
        smallest = min((m.median for r in results for (a, lib), m in r.measurements.items() if lib == CAMO),
                       default=None)
        share = f" ≤ {100 * (camo_cost - limit_cost) * 1e-6 / smallest:.2g} % of the fastest camo call above" \
            if smallest else ""
        lines += [
            f"camo's own bookkeeping (input checks, switching the model to eval and freezing its parameters and back, "
            f"the projection) costs {camo_cost - limit_cost:,.0f} µs per call more than the bare loop{share}; "
            "every other difference between camo and the limit in the tables is timing noise from the shared CPU. "
            "A 'tie' in the summary is a target missed by less than this run's noise (below): camo and the limit, "
            "or camo and torchattacks, compute the same operations (their outputs are bit-identical), so only "
            "timing noise can separate them there.",
            "",
        ]
    below = [f"{name} {ratio:.2f}×" for name, ratio in below_limit(results)]
    if below:
        lines += [
            "**Noise check:** nothing does less work than the limit, so a library measured well below it shows how "
            "far this run's noise reaches: " + ", ".join(below) + f" (±{run_noise(results):.0%}, the margin the "
            "summary's 'tie' allows). Read single-repetition figures with that in mind.",
            "",
        ]
    bounds = []
    for result in results:
        for attack in ATTACKS:
            art = result.measurements.get((attack, "ART"))
            limit = result.measurements.get((attack, LIMIT))
            if art is not None and limit is not None:
                bounds.append(f"{result.workload.name} {attack} {art.median / limit.median:.2f}×")
    if bounds:
        lines += [
            "**Why ≥ 3× faster than ART is out of reach on a CPU:** no library can be faster than the limit, so the "
            "largest possible speed-up over ART is ART's time ÷ the limit's: " + ", ".join(bounds) + ". ART's extra "
            "cost is arithmetic, not overhead: `loss.backward()` also computes every parameter gradient (about one "
            "more input-gradient's worth of convolution work), and it always computes a success rate for its log "
            "(FGSM: 2 more forward passes, on the adversarial and the clean batch; PGD: 4, two of them to keep only "
            "successful examples); NumPy round trips and clipping are cheap by comparison. The published 4–8× gaps "
            "(torchattacks README: RTX 2080, 50 CIFAR images) come from a GPU, where ART's host↔device copies and "
            "per-batch Python dominate a few-millisecond step. foolbox and cleverhans also call `backward()` on "
            "the whole model (parameter gradients included, accumulating in the user's model) and cleverhans's "
            "PGD re-checks its inputs; torchattacks, like camo, asks autograd for the input gradient only.",
            "",
        ]
    return lines


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    memory = ""
    with contextlib.suppress(OSError, StopIteration), open("/proc/meminfo") as info:
        kib = int(next(line for line in info if line.startswith("MemTotal")).split()[1])
        memory = f", {kib / 2**20:.0f} GiB RAM"
    gpu = "CUDA available" if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} CPU cores{memory}, {gpu}; Linux {platform.release()}; "
            f"Python {platform.python_version()}, torch {torch.__version__} with {torch.get_num_threads()} "
            f"intra-op thread(s)")


def versions() -> str:
    return ", ".join(f"{lib} {version(lib)}" for lib in (CAMO, *PEERS))


def _runs(results: list[ModelResult], info: RunInfo) -> list[tuple[RunInfo, list[str]]]:
    """Each distinct run behind the results, with the models it measured, in order."""
    runs: list[tuple[RunInfo, list[str]]] = []
    for result in results:
        run = result.run or info
        for known, models in runs:
            if known is run or (known.command, known.started) == (run.command, run.started):
                models.append(result.workload.name)
                break
        else:
            runs.append((run, [result.workload.name]))
    return runs or [(info, [])]


def load_note(worst: float) -> str:
    """What the machine's load means for the numbers, from the highest 1-minute load average the runs saw."""
    cores = os.cpu_count() or 1
    if worst <= 0.5:
        return f"**Load:** the machine was quiet (1-minute load average at most {worst:.2f})."
    shared = ("other work shared the cores" if worst > 1.5 else
              "other work used up to about one core's worth of time")
    return (f"**Load:** the machine has {cores} cores and {shared} during these runs (1-minute load average up to "
            f"{worst:.2f}), so absolute times are somewhat inflated. Ratios come from interleaved repetitions and "
            "CPU times (one torch thread: the work done, whatever else runs) and suffer far less.")


def render(results: list[ModelResult], info: RunInfo, *, settings: Settings, plot: str | None,
           rendered_by: str | None = None, extra_ops: dict[str, dict[str, dict[str, int]]] | None = None) -> str:
    memory = info.memory
    runs = _runs(results, info)
    header: list[str] = []
    for run, models in runs:
        which = f" — measured {', '.join(models)}" if len(runs) > 1 else ""
        header += [
            f"Command (from the repository root): `{run.command}`{which}  ",
            f"Run {run.started}, {run.elapsed / 60:.1f} minutes in all; 1-minute load average {run.load[0]:.2f} at "
            f"the start, {run.load[1]:.2f} at the end.",
            "",
        ]
        departures = deviations(run.command)
        if departures:
            header += ["This run departs from the standard one (`python -m bench.run`):", "",
                       *(f"- {d}" for d in departures), ""]
    if rendered_by:
        header += [f"Report written from the saved timings of those runs by `{rendered_by}`.", ""]
    lines = [
        "# Attack speed: camo against the peers and the hardware limit",
        "",
        *header,
        f"**Machine:** {info.machine}. Versions: {info.versions}.",
        "",
        load_note(max(max(run.load) for run, _ in runs)),
        "",
        f"**Settings (the same for every library):** L∞, untargeted, ε = {settings.eps * 255:g}/255, mean "
        f"cross-entropy, labels = the model's own predictions on the clean batch, pixels in [0, 1] with "
        f"normalisation inside the model. FGSM: one step of size ε. PGD-10: {settings.steps} steps of "
        f"{settings.step_size * 255:g}/255, **no random start** (so outputs are comparable), projection to the "
        "ε-ball and the bounds after each step.",
        "",
        "**How it is measured:** all libraries in one process on the same model object and batch; after a warm-up "
        "call each, repetitions are interleaved (each repetition runs every library once, in an order rotated per "
        "repetition). *median s/batch*: median over repetitions of one call on the whole batch. *× limit*: ratio "
        "of medians to the bare loop (forward, input-only `torch.autograd.grad`, sign step, clamp, parameters "
        "frozen outside the timer, written inline in `bench/attacks.py`); *paired*: the median of the per-"
        "repetition ratios. *CPU s/batch*: median process CPU time of the call (`time.process_time`; with one "
        "torch thread this is the work done, whatever else runs on the machine). *camo faster by*: peer median "
        "÷ camo median. "
        + ("*Peak RSS growth*: the resident set's peak during one call minus the resident set before it (Linux "
           "VmHWM reset through /proc/self/clear_refs, after `malloc_trim(0)`), which counts torch's CPU allocator "
           "and NumPy alike; FGSM: a separate untimed call after the warm-up; PGD-10: the largest over the timed "
           "calls (the heap reset before each costs them < 1 %). It includes parameter-gradient buffers that "
           "`backward()`-based peers allocate on their first call in a process."
           if memory else "Peak memory was not measured (no /proc/self/clear_refs here)."),
        "",
        "**Peers as called** (public APIs only): torchattacks `FGSM(model, eps)`, `PGD(model, eps, alpha, steps, "
        "random_start=False)`; ART `PyTorchClassifier` + `FastGradientMethod` / `ProjectedGradientDescent` "
        "(`num_random_init=0`, `batch_size` = the whole batch instead of the default 32, NumPy in and out, "
        "which includes ART's own success-rate forward pass that it always runs for its log); foolbox "
        "`PyTorchModel` + `FGSM().run` / `LinfPGD(abs_stepsize, steps, random_start=False).run` (`run` skips the "
        "extra forward pass that `attack(...)` spends on success flags); cleverhans `fast_gradient_method` / "
        "`projected_gradient_descent(rand_init=False)` with their default checks, outputs detached.",
        "",
        "## Summary: camo against the targets",
        "",
        "camo × limit: camo's median ÷ the limit's (target ≤ 1.05), in brackets the range of the per-repetition "
        "ratios, then the same ratio of median CPU times (process time, which other processes disturb far less "
        "than wall time). Peer ÷ camo: how many times longer the peer "
        "takes than camo (torchattacks target ≥ 1, ART ≥ 3; foolbox and cleverhans reported).",
        "",
        *summary_table(results),
        "",
    ]
    for result in results:
        w = result.workload
        reps = ", ".join(f"{attack} {n}" for attack, n in result.reps.items())
        lines += [
            f"## {w.name}: {result.describe}, batch {w.batch} × {'×'.join(map(str, w.shape))}",
            "",
            f"Repetitions (interleaved): {reps}.",
            "",
            *model_table(result),
            "",
        ]
        for library, reason in result.missing.items():
            lines += [f"{library} not measured: {reason}", ""]
    if plot:
        lines += ["## Time per batch", "", f"![median time per batch per library]({plot})", ""]
    lines += notes(results, info.overhead, extra_ops)
    lines += [
        "## Face recognition and cloaking", "",
        "`make bench` runs `bench/face_bench.py` after this file is written (when `../shared/data/faces` is there): "
        "[FACE_RESULTS.md](FACE_RESULTS.md) has the per-chip forward and forward + backward of camo's PyTorch twin "
        "of dlib's recognizer against dlib's own encoding, and per-photo detect + align + encode times. Per-photo "
        "cloak times per preset, with peak memory, are in [CLOAK_RESULTS.md](CLOAK_RESULTS.md) "
        "(`bench/cloak_bench.py`).", "",
    ]
    return "\n".join(lines)


def save_plot(results: list[ModelResult], path: Path) -> None:
    """One panel per model and attack: median seconds per batch per library, min–max whiskers, limit dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(ATTACKS), len(results), figsize=(4.2 * len(results), 2.2 + 1.6 * len(ATTACKS)),
                             squeeze=False)
    colours = {LIMIT: "0.55", CAMO: "tab:green", "torchattacks": "tab:blue", "ART": "tab:red",
               "foolbox": "tab:orange", "cleverhans": "tab:purple"}
    for column, result in enumerate(results):
        for row, attack in enumerate(ATTACKS):
            ax = axes[row][column]
            rows = [result.measurements[(attack, lib)] for lib in LIBRARIES if (attack, lib) in result.measurements]
            medians = [m.median for m in rows]
            low = [m.median - min(m.seconds) for m in rows]
            high = [max(m.seconds) - m.median for m in rows]
            ax.barh(range(len(rows)), medians, xerr=[low, high], color=[colours[m.library] for m in rows],
                    capsize=3)
            ax.set_yticks(range(len(rows)), [m.library for m in rows])
            ax.invert_yaxis()
            limit = result.measurements.get((attack, LIMIT))
            if limit is not None:
                ax.axvline(limit.median, color="0.3", linestyle="--", linewidth=1)
            ax.set_title(f"{result.workload.name}, {attack}, batch {result.workload.batch}", fontsize=10)
            ax.set_xlabel("seconds per batch (median; whiskers min–max)")
    fig.suptitle("Time per batch per library (dashed: the bare limit)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small batches and networks, 2 repetitions; prints the report instead of writing it")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per model (default: per model)")
    parser.add_argument("--pgd-reps", type=int, default=None, help="repetitions of PGD-10 (default: as --reps)")
    parser.add_argument("--resnet-width", type=int, default=None,
                        help="base width of the ResNet-18 (default 64, the real one; 16 with --quick)")
    parser.add_argument("--models", default=None, help="comma-separated subset: mnist,resnet18-cifar,...")
    parser.add_argument("--libraries", default=",".join(LIBRARIES), help="comma-separated subset of "
                        + ",".join(LIBRARIES))
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--out", type=Path, default=None,
                        help="report path (default bench/RESULTS.md; with --quick: print only)")
    parser.add_argument("--save-raw", type=Path, default=None, help="also write every timing to this JSON file")
    parser.add_argument("--from-raw", type=Path, nargs="+", default=None,
                        help="measure nothing: write the report (and plot) again from --save-raw files; a model "
                        "in a later file replaces the same model from an earlier one")
    return parser


def deviations(command: str) -> list[str]:
    """How a run's command departs from the standard ``python -m bench.run``, in words for the report."""
    args = build_parser().parse_args(shlex.split(command)[3:])
    found = []
    if args.quick:
        found.append("`--quick`: smaller batches and networks; not the benchmark's numbers.")
    if args.threads is not None:
        found.append(
            f"`--threads {args.threads}`: torch limited to {args.threads} intra-op thread(s). With torch's default "
            "2 threads on this 2-core machine, any other busy process makes every call several times slower and far "
            "noisier (OpenMP threads waiting for each other at each barrier), for every library alike.")
    if args.resnet_width is not None and args.resnet_width != 64 and not args.quick:
        found.append(
            f"`--resnet-width {args.resnet_width}`: the ResNet-18 at base width {args.resnet_width} instead of 64 "
            f"(same depth and structure, about {(64 / args.resnet_width) ** 2:.0f}× less arithmetic per image), so "
            "that the run fits its time budget on the loaded machine.")
    if args.reps is not None:
        found.append(f"`--reps {args.reps}`: {args.reps} repetition(s) per model instead of 5 / 3 / 3.")
    if args.pgd_reps is not None:
        found.append(
            f"`--pgd-reps {args.pgd_reps}`: PGD-10 repeated {args.pgd_reps} time(s) per model instead of 5 / 3 / 2, "
            "to fit the time budget. "
            + ("Each PGD-10 figure is then one call (itself 10 steps), made in the same interleaved round as the "
               "others'; its 'median' is that call." if args.pgd_reps == 1 else ""))
    if args.models:
        found.append(f"`--models {args.models}`: only these models.")
    if args.libraries != ",".join(LIBRARIES):
        found.append(f"`--libraries {args.libraries}`: only these libraries.")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    libraries = tuple(lib for lib in args.libraries.split(",") if lib)
    unknown = set(libraries) - set(LIBRARIES)
    if unknown or CAMO not in libraries:
        parser.error(f"--libraries must include camo and name only {', '.join(LIBRARIES)}; got {args.libraries}")
    plan = workloads(quick=args.quick, reps=args.reps, pgd_reps=args.pgd_reps, resnet_width=args.resnet_width)
    if args.models:
        wanted = args.models.split(",")
        plan = [w for w in plan if w.name in wanted]
        if not plan:
            parser.error(f"no model matches {args.models!r}")
    out = args.out if args.out is not None else (None if args.quick else HERE / "RESULTS.md")
    command = shlex.join(["python", "-m", "bench.run", *(sys.argv[1:] if argv is None else argv)])

    settings = Settings()
    if args.from_raw is not None:
        results, info = load_raw(args.from_raw)
    else:
        measure_memory = memory_supported()
        started = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        load_start = os.getloadavg()[0]
        clock = time.perf_counter()
        results = [bench_model(w, settings, libraries=libraries, measure_memory=measure_memory) for w in plan]
        overhead = fixed_overhead(settings, libraries)
        info = RunInfo(command, started, time.perf_counter() - clock, (load_start, os.getloadavg()[0]),
                       measure_memory, machine(), versions(), overhead)
        for result in results:
            result.run = info
        if args.save_raw is not None:
            save_raw(results, info, args.save_raw)
    plot = None
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        plot_path = out.with_name("attacks_time.png")
        save_plot(results, plot_path)
        plot = plot_path.name
    # operator counts are deterministic, so they are taken now even when the timings come from saved runs
    report = render(results, info, settings=settings, plot=plot, extra_ops=extra_operators(settings, libraries),
                    rendered_by=command if args.from_raw is not None else None)
    if out is None:
        print(report)
    else:
        out.write_text(report)
        print(f"wrote {out} and {plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
