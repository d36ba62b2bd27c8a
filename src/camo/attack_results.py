"""``results.json`` of ``camo attack``: one record per adversarial file in the folder, across runs.

Several attacks into one ``--out`` (another ``--method``, other images) leave every run's files there; the folder's
``results.json`` describes all of them, so ``camo report DIR/results.json`` shows each file that is still there.
The rule, by output file:

* this run's records are written, each replacing an earlier record for the same adversarial file;
* an earlier record is kept while its adversarial file is still in the folder and this run writes over neither of
  its files (an image of the same name saved as PNG then as JPEG shares one figure, ``<name>.figure.png``: the
  earlier record would point at this run's figure, so it goes);
* the rest are dropped: a record whose file was deleted describes nothing.

Each record carries the ``model`` and ``settings`` of its own run; the top-level ``model`` and ``settings`` are the
latest run's (what files written before records carried them are read with). Files are found by name in the
JSON's own folder, as :mod:`camo.analysis.attack_report` does, so a folder moved elsewhere keeps its records.
Light: no torch, so that ``camo attack`` refuses a foreign ``results.json`` before it loads a model.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from camo.errors import InputError

__all__ = ["RESULTS_FILE", "earlier_to_keep", "read_entries", "results_data", "written_over"]

#: The file name of the results in the output folder.
RESULTS_FILE = "results.json"


def read_entries(path: Path) -> list[dict[str, Any]]:
    """The records of an existing ``results.json``, each with its run's ``model`` and ``settings``; ``[]`` when
    there is no such file.

    Raises:
        InputError: the file is not the results of ``camo attack`` (nothing is written over it then).
    """
    from camo.analysis.attack_report import is_attack_results

    if not path.is_file():
        return []
    refuse = f"{path} is there and is not the results of camo attack"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{refuse} ({err}); move it away or choose another --out") from None
    if not is_attack_results(data) or not all(isinstance(r.get("output"), str) and isinstance(r.get("figure"), str)
                                              for r in data["results"]):
        raise InputError(f"{refuse}; move it away or choose another --out")
    return [{**r, "model": r.get("model", data.get("model", "?")), "settings": r.get("settings", data["settings"])}
            for r in data["results"]]


def _files(entry: dict[str, Any]) -> set[str]:
    return {Path(entry["output"]).name, Path(entry["figure"]).name}


def written_over(entries: Iterable[dict[str, Any]], written: Iterable[Path]) -> list[dict[str, Any]]:
    """The entries one of whose files (adversarial image, figure) is among ``written``."""
    names = {Path(path).name for path in written}
    return [entry for entry in entries if _files(entry) & names]


def earlier_to_keep(entries: Iterable[dict[str, Any]], folder: Path,
                    written: Iterable[Path]) -> list[dict[str, Any]]:
    """The earlier entries to keep beside a run that writes ``written`` into ``folder`` (module docstring): the
    adversarial file still there, neither file written over."""
    names = {Path(path).name for path in written}
    return [entry for entry in entries
            if not _files(entry) & names and (folder / Path(entry["output"]).name).is_file()]


def results_data(model: str, settings: dict[str, Any], records: Sequence[dict[str, Any]],
                 kept: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The JSON of ``results.json``: the kept earlier records, then this run's, each with its run's model and
    settings."""
    this_run = [{**record, "model": model, "settings": settings} for record in records]
    return {"model": model, "settings": settings, "results": [*kept, *this_run]}
