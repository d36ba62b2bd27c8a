"""Plain and hardened models side by side: clean, FGSM and PGD accuracy against ε, from evaluation results.

Reads :class:`~camo.analysis.evaluate.EvaluationResult` objects (``camo evaluate`` output), runs nothing. Models are
compared on the ε values and methods they share; each column says how its PGD was run (steps × restarts).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from camo.analysis.evaluate import EvaluationResult
from camo.errors import InputError


def attack_label(result: EvaluationResult, method: str) -> str:
    """A method's name with its settings: ``PGD-50 × 10`` for 50 steps and 10 restarts, ``FGSM`` for one step."""
    if method in ("fgsm", "fgm"):
        return method.upper()
    name = f"{method.upper()}-{result.steps}"
    if method == "pgd" and result.restarts > 1:
        name += f" × {result.restarts}"
    if result.step_size is not None:
        name += f" (step {result.step_size:g})"
    return name


def _model_label(result: EvaluationResult, results: Sequence[EvaluationResult]) -> str:
    """The model's name, with its image count when the results were measured on different numbers of images."""
    return result.model if len({r.count for r in results}) == 1 else f"{result.model} ({result.count})"


def comparison_rows(results: Sequence[EvaluationResult]) -> tuple[list[str], list[list[str]]]:
    """The side-by-side table: one row per ε (clean first), a column per model and attack.

    Raises:
        InputError: fewer than two results.
    """
    if len(results) < 2:
        raise InputError("a comparison needs at least two evaluation results")
    grid = sorted({e for r in results for e in r.eps})
    header = ["ε", "ε×255"]
    for r in results:
        header += [f"{_model_label(r, results)}: {attack_label(r, m)}" for m in r.methods]
    rows = [["clean", "0"] + [f"{r.clean_accuracy:.2%}" for r in results for _ in r.methods]]
    for eps in grid:
        row = [f"{eps:.3g}", f"{eps * 255:.3g}"]
        for r in results:
            for method in r.methods:
                match = [x for x in r.rows_for(method) if math.isclose(x.eps, eps, rel_tol=1e-9, abs_tol=1e-12)]
                row.append(f"{match[0].accuracy:.2%}" if match else "-")
        rows.append(row)
    return header, rows


def comparison_figure(results: Sequence[EvaluationResult]) -> bytes:
    """Accuracy against ε, one colour per model, one line style per attack; each model's clean accuracy dotted."""
    import matplotlib.pyplot as plt

    from camo.analysis.render import png_bytes

    styles = ["-", "--", "-.", ":"]
    fig, ax = plt.subplots(figsize=(9, 5))
    for index, r in enumerate(results):
        colour = f"C{index % 10}"
        ax.axhline(100 * r.clean_accuracy, color=colour, linestyle=":", linewidth=1)
        for m_index, method in enumerate(r.methods):
            rows = sorted(r.rows_for(method), key=lambda x: x.eps)
            ax.plot([x.eps for x in rows], [100 * x.accuracy for x in rows], marker="o", color=colour,
                    linestyle=styles[m_index % len(styles)],
                    label=f"{_model_label(r, results)}: {attack_label(r, method)}")
    ax.set_xlabel("ε (L∞ budget, pixel units of images in [0, 1])")
    ax.set_ylabel("accuracy on adversarial images (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best", title="model: attack (dotted: clean accuracy)")
    counts = sorted({r.count for r in results})
    ax.set_title(f"robustness side by side ({' / '.join(str(c) for c in counts)} images)", fontsize=10)
    fig.tight_layout()
    return png_bytes(fig)
