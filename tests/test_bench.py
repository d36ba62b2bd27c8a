"""The benchmark harness (bench/): runs end to end on a tiny model, and its equality check tells differences apart."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.attacks import CAMO, LIMIT, Settings
from bench.models import Workload, resnet18_cifar, tiny_classifier
from bench.run import (
    ROUNDING,
    Measurement,
    ModelResult,
    RunInfo,
    bench_model,
    compare,
    extra_operators,
    fixed_overhead,
    load_raw,
    render,
    run_noise,
    save_plot,
    save_raw,
    summary_table,
)


def test_compare_tells_identical_rounding_and_direction_apart() -> None:
    x = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    assert compare(x, x.clone()).equal
    assert compare(x, x.clone()).describe() == "identical (torch.equal)"

    rounded = x.clone()
    rounded[0, 0, 0, 0] = torch.nextafter(rounded[0, 0, 0, 0], torch.tensor(2.0))
    flipped = rounded.clone()
    flipped[1, 2, 3, 3] += 2 * 8 / 255
    result = compare(x, flipped)
    assert not result.equal
    assert (result.total, result.differing, result.rounding) == (x.numel(), 2, 1)
    assert result.max_abs == pytest.approx(16 / 255, rel=1e-5)
    assert "1 by float rounding" in result.describe() and "1 by a step in another direction" in result.describe()
    assert 0 < abs(float(rounded[0, 0, 0, 0] - x[0, 0, 0, 0])) < ROUNDING


def _timed(seconds: dict[str, float]) -> ModelResult:
    """A model result with one FGSM repetition per library at the given times (no model is run)."""
    workload = Workload("toy", "toy", tiny_classifier, batch=4, shape=(3, 8, 8), fgsm_reps=1, pgd_reps=1)
    measurements = {("FGSM", lib): Measurement("toy", "FGSM", lib, 4, seconds=[t]) for lib, t in seconds.items()}
    return ModelResult(workload, "toy", measurements, {}, {"FGSM": 1})


def test_summary_says_tie_only_within_the_noise_the_run_measured() -> None:
    # torchattacks measured 0.90× the limit: nothing does less work than the limit, so this run's noise is 10 %
    noisy = _timed({LIMIT: 1.0, CAMO: 0.98, "torchattacks": 0.90, "ART": 1.5})
    assert run_noise([noisy]) == pytest.approx(0.10)
    row = summary_table([noisy])[-1]
    assert "| 0.98 ok |" in row                  # camo ≤ 1.05× the limit
    assert "| 0.92 tie (noise ±10%) |" in row    # torchattacks ÷ camo = 0.918 ≥ 1 − 0.10
    assert "| 1.53 MISSED |" in row              # ART ÷ camo far below 3
    # with nothing measured below the limit there is no noise to allow: the same ratios are plain misses
    quiet = _timed({LIMIT: 0.85, CAMO: 0.98, "torchattacks": 0.90})
    assert run_noise([quiet]) == 0.0
    assert summary_table([quiet])[-1] == "| toy | FGSM | 1.15 MISSED | 0.92 MISSED |"


@pytest.mark.usefixtures("one_thread")
def test_harness_runs_on_a_tiny_model_and_finds_fgsm_identical(tmp_path: Path) -> None:
    # ART and foolbox are left out: importing them alone takes seconds; torchattacks is installed by `make test`
    libraries = (LIMIT, CAMO, "torchattacks")
    workload = Workload("tiny", "tiny CNN", tiny_classifier, batch=4, shape=(3, 8, 8), fgsm_reps=1, pgd_reps=1)
    result = bench_model(workload, Settings(), libraries=libraries, measure_memory=True, log=False)
    measured = {library for _, library in result.measurements}
    assert {LIMIT, CAMO} <= measured
    assert measured | set(result.missing) == set(libraries)
    for (attack, library), m in result.measurements.items():
        assert len(m.seconds) == 1 and m.seconds[0] > 0, (attack, library)
        assert m.equality is not None
    # the bare limit is FGSM by definition, and camo must equal it bit for bit
    assert result.measurements[("FGSM", LIMIT)].equality.equal  # type: ignore[union-attr]
    if "torchattacks" in measured:
        assert result.measurements[("FGSM", "torchattacks")].equality.equal  # type: ignore[union-attr]

    overhead = fixed_overhead(Settings(), libraries, calls=3)
    assert set(overhead) == measured and all(v > 0 for v in overhead.values())
    info = RunInfo("python -m bench.run --quick --threads 1", "now", 1.0, (1.0, 2.0), True, "a machine", "versions",
                   overhead)
    extra = extra_operators(Settings(), libraries)
    # camo adds only the input check to the bare loop: one aminmax pass over the batch, no copies
    assert extra["FGSM"][CAMO].get("aten::aminmax") == 1 and "aten::copy_" not in extra["FGSM"][CAMO]
    report = render([result], info, settings=Settings(), plot="plot.png", extra_ops=extra)
    assert "| FGSM | camo |" in report and "| PGD-10 | limit |" in report and "µs per call" in report
    assert "- `--threads 1`: torch limited to 1" in report
    assert any(line.startswith("| tiny | FGSM |") for line in summary_table([result]))
    save_plot([result], tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 1000
    save_raw([result], info, tmp_path / "raw.json")
    again, info_again = load_raw([tmp_path / "raw.json"])
    assert render(again, info_again, settings=Settings(), plot="plot.png", extra_ops=extra) == report


@pytest.mark.usefixtures("one_thread")
def test_resnet18_cifar_has_resnet18_shape() -> None:
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        net = resnet18_cifar()
    assert sum(p.numel() for p in net.parameters()) == pytest.approx(11.17e6, rel=0.01)
    assert resnet18_cifar(width=8)(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
