"""The side-by-side robustness section: built from evaluation results, shown first in a report of several."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import camo
from camo.analysis.evaluate import EvaluationResult, evaluate
from camo.analysis.report import report_html
from camo.analysis.robustness import attack_label, comparison_rows
from tests.support import small_cnn

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def results() -> list[EvaluationResult]:
    x = torch.rand(20, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    out = []
    for seed, name in ((0, "plain"), (1, "hardened")):
        model = camo.Classifier(small_cnn(seed=seed), labels=[str(i) for i in range(10)], channels=1, name=name)
        with torch.no_grad():
            y = model(x).argmax(1)
        out.append(evaluate(model, x, y, [0.0, 0.05, 0.1], ["fgsm", "pgd"], steps=3, step_size=0.02, restarts=2))
    return out


def test_labels_say_how_pgd_ran(results: list[EvaluationResult]) -> None:
    assert attack_label(results[0], "pgd") == "PGD-3 × 2 (step 0.02)"
    assert attack_label(results[0], "fgsm") == "FGSM"
    assert results[0].restarts == 2 and results[0].step_size == 0.02
    again = EvaluationResult.from_dict(results[0].to_dict())
    assert (again.steps, again.step_size, again.restarts) == (3, 0.02, 2)


def test_table_has_a_row_per_eps_and_a_column_per_model_and_attack(results: list[EvaluationResult]) -> None:
    header, rows = comparison_rows(results)
    assert header[2:] == ["plain: FGSM", "plain: PGD-3 × 2 (step 0.02)", "hardened: FGSM",
                          "hardened: PGD-3 × 2 (step 0.02)"]
    assert [r[0] for r in rows] == ["clean", "0", "0.05", "0.1"]
    assert rows[0][2:] == ["100.00%"] * 4  # labels are the models' own predictions
    pgd_plain = results[0].row("pgd", 0.1).accuracy
    assert rows[3][3] == f"{pgd_plain:.2%}"


def test_a_report_of_several_evaluations_compares_them_first(results: list[EvaluationResult]) -> None:
    page = report_html(results)
    assert page.index("Robustness side by side") < page.index("Robustness: plain")
    assert "hardened: PGD-3 × 2" in page
    single = report_html(results[:1])
    assert "side by side" not in single


def test_a_comparison_needs_two_results(results: list[EvaluationResult]) -> None:
    with pytest.raises(camo.InputError, match="two"):
        comparison_rows(results[:1])
    renamed = dataclasses.replace(results[0], model="again")
    assert len(comparison_rows([results[0], renamed])[0]) == 6


def test_models_measured_on_different_counts_say_so(results: list[EvaluationResult]) -> None:
    fewer = dataclasses.replace(results[1], count=10)
    header, _ = comparison_rows([results[0], fewer])
    assert header[2].startswith("plain (20): ") and header[4].startswith("hardened (10): ")
