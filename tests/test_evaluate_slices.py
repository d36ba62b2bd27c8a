"""bench/defend/evaluate_slices.py: an evaluation run in slices, merged, is the single run's measurement."""

from __future__ import annotations

import math

import torch

import camo
from bench.defend.evaluate_slices import merge
from camo.analysis.evaluate import evaluate
from tests.support import small_cnn, torch_threads


def test_slices_merged_give_the_single_runs_result() -> None:
    model = camo.Classifier(small_cnn(seed=2), labels=[str(i) for i in range(10)], channels=1)
    x = torch.rand((40, 1, 12, 12), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():  # labels the model mostly gets right, with a few wrong ones, so every count is non-trivial
        y = model(x).argmax(dim=1)
    y[::7] = (y[::7] + 1) % 10
    settings = {"batch_size": 10, "steps": 3, "step_size": 0.02, "restarts": 3}
    with torch_threads(1):
        whole = evaluate(model, x, y, [0.05, 0.1], ("fgsm", "pgd"), seed=0, **settings)  # type: ignore[arg-type]
        parts = [evaluate(model, x[s : s + 20], y[s : s + 20], [0.05, 0.1], ("fgsm", "pgd"), seed=s // 10,
                          **settings)  # type: ignore[arg-type]
                 for s in (0, 20)]
    merged = merge(parts)
    assert merged.count == whole.count and merged.clean_accuracy == whole.clean_accuracy
    assert merged.confusions == whole.confusions
    assert 0 < whole.row("pgd", 0.1).accuracy < whole.clean_accuracy  # the attack did something to count
    for a, b in zip(merged.rows, whole.rows, strict=True):
        assert (a.method, a.eps, a.accuracy, a.success_rate, a.count) == (b.method, b.eps, b.accuracy,
                                                                           b.success_rate, b.count)
        for field in ("mean_confidence", "mean_linf", "mean_l2"):
            assert math.isclose(getattr(a, field), getattr(b, field), rel_tol=1e-6), field
    # a different seed for the second slice would be a different measurement: the merge must not hide that
    with torch_threads(1):
        wrong = merge([parts[0], evaluate(model, x[20:], y[20:], [0.05, 0.1], ("fgsm", "pgd"), seed=0,
                                          **settings)])  # type: ignore[arg-type]
    assert any(a.mean_l2 != b.mean_l2 for a, b in zip(wrong.rows, whole.rows, strict=True) if a.method == "pgd")
