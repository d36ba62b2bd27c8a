"""``camo attack``'s ``results.json`` as report sections: the verdict on each saved file, with its figure.

The JSON is read as written (no import of the attack code); the figures ``<stem>.figure.png`` are read from the
JSON's own folder, so a results folder moved elsewhere still reports. Whether the goal was met is judged on the
saved file's prediction — what the user gets — with the in-memory result beside it. A folder attacked several times
holds the records of several runs (:mod:`camo.attack_results`), each with its run's model and settings: one section
per model and settings, in the order they first appear (records written before they carried them take the file's).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from camo.errors import InputError


def is_attack_results(data: Any) -> bool:
    """Whether ``data`` has the shape of ``camo attack``'s ``results.json``."""
    return (isinstance(data, dict) and isinstance(data.get("settings"), dict)
            and isinstance(data.get("results"), list)
            and all(isinstance(r, dict) and "adversarial" in r and "saved" in r for r in data["results"]))


@dataclass(frozen=True)
class AttackRow:
    """One attacked image as the report shows it."""

    source: str
    original: str
    in_memory: str
    saved: str
    goal_met: bool          # by the saved file: away from the original label, or onto the target
    in_memory_met: bool
    lost_by: str | None     # what undid an in-memory success in the file (results written before it: None)
    linf: float
    figure: bytes | None    # the PNG beside the JSON, None when it is missing


@dataclass(frozen=True)
class AttackRun:
    """The records of one model and settings in a ``results.json``."""

    model: str
    method: str
    eps: float
    target: str | None
    image_format: str
    rows: tuple[AttackRow, ...]


@dataclass(frozen=True)
class AttackResults:
    """``results.json`` of ``camo attack`` (one run, or several into the same folder), with its figures."""

    path: str
    runs: tuple[AttackRun, ...]

    @classmethod
    def from_file(cls, path: Path, data: dict[str, Any]) -> AttackResults:
        """Build from the parsed JSON at ``path``.

        Raises:
            InputError: missing or malformed fields.
        """
        try:
            groups: dict[str, tuple[AttackRun, list[AttackRow]]] = {}
            for r in data["results"]:
                model, settings = r.get("model", data.get("model", "?")), r.get("settings", data["settings"])
                original, adversarial, saved = r["original"], r["adversarial"], r["saved"]
                target = r.get("target")

                def met(prediction: dict[str, Any], target: Any = target, original: Any = original) -> bool:
                    if target is not None:
                        return bool(prediction["label"] == target)
                    return bool(prediction["index"] != original["index"])

                figure = path.parent / Path(str(r["figure"])).name
                key = json.dumps([model, settings], sort_keys=True)
                if key not in groups:
                    groups[key] = (_run(model, settings), [])
                groups[key][1].append(AttackRow(
                    source=str(r["source"]), original=_shown(original), in_memory=_shown(adversarial),
                    saved=_shown(saved), goal_met=met(saved), in_memory_met=met(adversarial),
                    lost_by=None if r.get("lost_by") is None else str(r["lost_by"]),
                    linf=float(r["linf"]), figure=figure.read_bytes() if figure.is_file() else None))
            if not groups:  # no records: still the run that wrote the file, with nothing in it
                groups[""] = (_run(data.get("model", "?"), data["settings"]), [])
            return cls(path=str(path), runs=tuple(replace(run, rows=tuple(rows)) for run, rows in groups.values()))
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"{path}: camo attack results with missing or malformed fields ({err!r})") from None


def _run(model: Any, settings: dict[str, Any]) -> AttackRun:
    """A run's heading from its model and settings; its rows come after."""
    return AttackRun(model=str(model), method=str(settings["method"]), eps=float(settings["eps"]),
                     target=settings.get("target"), image_format=str(settings.get("image_format", "png")), rows=())


def _verdict(row: AttackRow) -> str:
    if row.goal_met:
        return "yes"
    return f"NO, lost by {row.lost_by}" if row.lost_by else "NO"


def _shown(prediction: dict[str, Any]) -> str:
    return f"{prediction['label']} {float(prediction['confidence']):.0%}"


def attack_section(result: AttackResults, img: Any, table: Any) -> str:
    """The HTML sections, one per run; ``img(png, alt)`` and ``table(header, rows)`` are the page's own helpers."""
    return "".join(_run_section(run, result.path, img, table) for run in result.runs)


def _run_section(result: AttackRun, path: str, img: Any, table: Any) -> str:
    goal = f"towards {result.target}" if result.target is not None else "away from the clean label"
    met = sum(r.goal_met for r in result.rows)
    rows = [[Path(r.source).name, r.original, r.in_memory, r.saved, _verdict(r),
             "yes" if r.in_memory_met else "no", f"{r.linf * 255:.3g}/255"] for r in result.rows]
    budget = f"L2 ε = {result.eps:.3g}" if result.method == "fgm" else f"ε = {result.eps * 255:.3g}/255"
    parts = [f"<h2>Attack: {html.escape(result.model)}, {html.escape(result.method)}, {budget}, "
             f"{html.escape(goal)}</h2>",
             f"<p class='note'>{met} of {len(result.rows)} saved {html.escape(result.image_format.upper())} files "
             "meet the goal, judged on each file read back from disk; the in-memory result is beside it. "
             f"From {html.escape(path)}.</p>",
             table(["image", "original", "in memory", "saved file", "goal met (saved file)", "in memory",
                    "saved change L∞"], rows)]
    for r in result.rows:
        if r.figure is not None:
            parts.append(img(r.figure, f"{Path(r.source).name}: original, perturbation, adversarial"))
        else:
            parts.append(f"<p class='note'>{html.escape(Path(r.source).name)}: its figure is not beside the "
                         "JSON any more.</p>")
    return "".join(parts)
