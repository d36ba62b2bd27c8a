"""One self-contained HTML page from result objects: every figure embedded as a data URI, every table inline.

The page references nothing outside itself (no scripts, fonts, style sheets or image files), so it can be mailed,
archived or opened offline. Results come from the analysis functions or from their JSON (``to_dict``) files.
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from camo.analysis.best_eps import BestEpsResult
from camo.analysis.evaluate import EvaluationResult
from camo.analysis.sweep import SweepResult
from camo.errors import InputError
from camo.images import write_bytes_atomic

AnyResult = Any  # SweepResult | BestEpsResult | EvaluationResult | GridResult | AttackResults

_STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;"
    "color:#222}h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}"
    "table{border-collapse:collapse;margin:1em 0;font-size:.92em}td,th{border:1px solid #ccc;padding:.25em .6em;"
    "text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}"
    "img{max-width:100%;height:auto;border:1px solid #eee;margin:.4em 0;display:block}"
    ".note{color:#555;font-size:.92em}"
)


def result_from_dict(data: dict[str, Any]) -> AnyResult:
    """Rebuild a result object from its ``to_dict()``.

    Raises:
        InputError: the dictionary is not a camo result.
    """
    from camo.analysis.grid import GridResult

    kinds: dict[str, Any] = {"sweep": SweepResult, "best_eps": BestEpsResult, "evaluation": EvaluationResult,
                             "grid": GridResult}
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in kinds:
        from camo.analysis.result_kinds import REPORTED, what_wrote

        readable = ", ".join(REPORTED.values())
        written_by = what_wrote(data)
        if written_by is not None:
            raise InputError(f"{written_by}. camo report makes pages from the results of {readable}")
        raise InputError(f"not a camo result (its 'kind' is {kind!r}; camo report reads the results of {readable})")
    try:
        return kinds[kind].from_dict(data)
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"a {kind} result with missing or malformed fields ({err!r})") from None


def load_result(path: str | os.PathLike[str]) -> AnyResult:
    """Read a result JSON file written by ``camo sweep/best-eps/evaluate/grid`` (or their ``--json``), or the
    ``results.json`` of ``camo attack``.

    Raises:
        InputError: missing file, not JSON, or not a camo result.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: not a JSON file ({err})") from None
    from camo.analysis.attack_report import AttackResults, is_attack_results

    if is_attack_results(data):  # camo attack's results.json: its figures are read from beside it
        return AttackResults.from_file(path, data)
    try:
        return result_from_dict(data)
    except InputError as err:
        raise InputError(f"{path}: {err}") from None


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _img(png: bytes, alt: str) -> str:
    return f"<img src='{data_uri(png)}' alt='{html.escape(alt, quote=True)}'>"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _sweep_section(r: SweepResult) -> str:
    from camo.analysis.plots import sweep_figure

    rows = []
    for c in r.curves:
        neg = max((p for p, e in zip(c.probabilities, r.eps, strict=True) if e < 0), default=None)
        pos = max((p for p, e in zip(c.probabilities, r.eps, strict=True) if e > 0), default=None)
        rows.append([c.name + (" (L)" if c.index == r.label else ""),
                     "-" if neg is None else f"{neg:.3f}", "-" if pos is None else f"{pos:.3f}",
                     "-" if c.fit is None else f"{c.fit.r2:.3f}",
                     "-" if c.fit_negative is None else f"{c.fit_negative.r2:.3f}",
                     "-" if c.fit_positive is None else f"{c.fit_positive.r2:.3f}"])
    return (f"<h2>Sweep: {html.escape(r.source or 'image')} along L = {html.escape(r.label_name)} "
            f"({html.escape(r.model)})</h2>"
            f"<p class='note'>{html.escape(r.convention)}. Clean prediction: {html.escape(r.original_name)}; "
            f"ε from {r.eps[0] * 255:.3g}/255 to {r.eps[-1] * 255:.3g}/255 ({len(r.eps)} values).</p>"
            + _img(sweep_figure(r), "probability and logits against signed ε")
            + _table(["class", "max p (ε < 0)", "max p (ε > 0)", "logit R² (all ε)", "R² (ε ≤ 0)", "R² (ε ≥ 0)"],
                     rows))


def _best_eps_section(r: BestEpsResult) -> str:
    from camo.analysis.plots import best_eps_figure

    smallest = "not reached" if r.smallest_eps is None else f"{r.smallest_eps:.4g} ({r.smallest_eps * 255:.3g}/255)"
    rows = [["smallest ε predicting " + r.target_name, smallest],
            ["resolution", f"{r.resolution * 255:.3g}/255 ({r.search})"],
            ["ε maximising p(" + r.target_name + ")", f"{r.best_eps * 255:.3g}/255 (p = {r.best_probability:.3f})"],
            ["clean prediction", r.original_name], ["ε evaluated", str(len(r.points))]]
    return (f"<h2>Best ε: {html.escape(r.source or 'image')} towards {html.escape(r.target_name)} "
            f"({html.escape(r.model)}, {html.escape(r.method)})</h2>"
            + _img(best_eps_figure(r), "target probability against ε") + _table(["", "value"], rows))


def _evaluation_section(r: EvaluationResult) -> str:
    from camo.analysis.plots import accuracy_figure, confusion_figure

    rows = [[row.method, f"{row.eps:.3g}", f"{row.eps * 255:.3g}", f"{row.accuracy:.2%}",
             "-" if row.success_rate is None else f"{row.success_rate:.2%}", f"{row.mean_confidence:.3f}",
             f"{row.mean_linf:.3g}", f"{row.mean_l2:.3g}"] for row in r.rows]
    parts = [f"<h2>Robustness: {html.escape(r.model)} on {html.escape(r.data)}</h2>",
             f"<p class='note'>{r.count} images, clean accuracy {r.clean_accuracy:.2%}; untargeted attacks against "
             "the true labels. Success rate: share of the correctly classified images that the attack makes wrong. "
             f"Computed in {r.seconds:.0f} s.</p>",
             _img(accuracy_figure(r), "accuracy against ε"),
             _table(["method", "ε", "ε×255", "accuracy", "success rate", "mean confidence", "mean L∞", "mean L2"],
                    rows)]
    for method, _ in r.confusions:
        parts.append(_img(confusion_figure(r, method), f"confusion matrix of {method}"))
    return "".join(parts)


def _grid_section(r: Any) -> str:
    from camo.analysis.plots import grid_figure

    rows = [[c.target_name, c.predicted_name, f"{c.probability:.1%}", f"{c.target_probability:.1%}",
             "yes" if c.predicted == c.target else "no"] for c in r.cells]
    return (f"<h2>Grid: {html.escape(r.source or 'image')} towards every class ({html.escape(r.model)}, "
            f"{html.escape(r.method)}, ε = {r.eps * 255:.3g}/255)</h2>"
            + _img(grid_figure(r), "the image pushed towards every class")
            + _table(["target", "predicted", "p(predicted)", "p(target)", "reached"], rows))


def _comparison_section(results: Sequence[EvaluationResult]) -> str:
    """The side-by-side section (:mod:`camo.analysis.robustness`): the figure and the table; the other sections
    follow."""
    from camo.analysis.robustness import comparison_figure, comparison_rows

    header, rows = comparison_rows(results)
    data = sorted({f"{r.data} ({r.count} images)" for r in results})
    return ("<h2>Robustness side by side: " + html.escape(", ".join(r.model for r in results)) + "</h2>"
            f"<p class='note'>Accuracy on adversarial images, untargeted attacks against the true labels, on "
            f"{html.escape('; '.join(data))}. PGD × N: N random starts, an image counts as robust only if it "
            "survives every one.</p>"
            + _img(comparison_figure(results), "accuracy against ε for each model and attack")
            + _table(header, rows))


def report_html(results: Sequence[AnyResult], *, title: str = "camo report") -> str:
    """The whole page as a string.

    Raises:
        InputError: no results, or an object that is not a camo result.
    """
    from camo.analysis.attack_report import AttackResults, attack_section
    from camo.analysis.grid import GridResult

    if not results:
        raise InputError("a report needs at least one result")
    sections = []
    evaluations = [r for r in results if isinstance(r, EvaluationResult)]
    if len(evaluations) > 1:  # several models (or settings) evaluated: compare them first
        sections.append(_comparison_section(evaluations))
    for r in results:
        if isinstance(r, SweepResult):
            sections.append(_sweep_section(r))
        elif isinstance(r, BestEpsResult):
            sections.append(_best_eps_section(r))
        elif isinstance(r, EvaluationResult):
            sections.append(_evaluation_section(r))
        elif isinstance(r, GridResult):
            sections.append(_grid_section(r))
        elif isinstance(r, AttackResults):
            sections.append(attack_section(r, _img, _table))
        else:
            raise InputError(f"cannot report a {type(r).__name__}")
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            "<p class='note'>ε is in pixel units of images in [0, 1]; ε×255 is in grey levels of an 8-bit image.</p>"
            + "".join(sections) + "</body></html>\n")


def write_report(results: Sequence[AnyResult], path: str | os.PathLike[str], *, title: str = "camo report") -> Path:
    """Write :func:`report_html` to ``path`` atomically and return the path."""
    return write_bytes_atomic(report_html(results, title=title).encode("utf-8"), path)
