"""Which camo command wrote a JSON file, for the files ``camo report`` does not turn into a page.

``camo report`` makes pages from sweep, best-eps, evaluate, grid and attack results. Every other JSON file camo
writes already comes with its own figures or report; :func:`what_wrote` names the command and says where to look,
so that ``camo report cloak.json`` answers "camo cloak's summary: its report comes from --report" instead of "not a
camo result".
"""

from __future__ import annotations

from typing import Any

#: The result kinds ``camo report`` turns into page sections, and the commands that write them (``camo attack``'s
#: results.json is recognised by its shape: see :mod:`camo.analysis.attack_report`).
REPORTED = {"sweep": "camo sweep", "best_eps": "camo best-eps", "evaluation": "camo evaluate", "grid": "camo grid",
            "attack": "camo attack (results.json)"}


def _has(data: dict[str, Any], *keys: str) -> bool:
    return all(key in data for key in keys)


def what_wrote(data: Any) -> str | None:
    """A sentence naming the camo command that wrote ``data`` and what shows it, or None when it is not camo's."""
    if not isinstance(data, dict):
        return None
    kind = data.get("kind")
    if kind == "training":
        return ("camo train's training record (OUT.training.json); evaluate the trained model with "
                "'camo evaluate --model OUT.pt --report FILE.html'")
    if kind in ("grown", "universal") or _has(data, "png", "target_index"):
        return ("a patch record from camo patch grow/train; measure the patch with 'camo patch eval PATCH.png', "
                "which writes <patch>.eval.png and .eval.json")
    if _has(data, "patch", "evaluations"):
        return "camo patch eval's result; its figures are <patch>.eval.png and <patch>.eval-examples.png beside it"
    if _has(data, "config", "recognizers", "photos"):
        return "camo cloak's summary (cloak.json); its HTML report comes from 'camo cloak ... --report FILE.html'"
    if _has(data, "recognizer", "distances") or (_has(data, "recognizers") and isinstance(data["recognizers"], list)
                                                 and all(isinstance(r, dict) and "distances" in r
                                                         for r in data["recognizers"])):
        return "camo faces' result (faces.json); its outlined photos <stem>.faces.png are in the same folder"
    if _has(data, "frames", "survival") or _has(data, "per_frame"):
        return ("camo video's summary or per-frame record; its before|after video and GIF are in the same folder "
                "(<stem>.before_after.mp4)")
    if _has(data, "factory") or _has(data, "mean", "std") or _has(data, "labels", "input_size"):
        return "a model's sidecar (<model>.json), read by --model <model>.pt"
    return None
