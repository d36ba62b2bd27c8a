"""Which camo command wrote a JSON file that ``camo report`` does not page (camo.analysis.result_kinds)."""

from __future__ import annotations

from typing import Any

import pytest

from camo.analysis.result_kinds import what_wrote


@pytest.mark.parametrize(("data", "names"), [
    ({"kind": "training", "config": {}, "epochs": []}, "camo train's training record"),
    ({"png": "3.png", "kind": "grown", "target_index": 3}, "a patch record from camo patch grow/train"),
    ({"patch": "p.png", "model": "mnist", "evaluations": []}, "camo patch eval's result"),
    ({"out": "c", "config": {}, "recognizers": ["dlib"], "photos": []}, "camo cloak's summary"),
    ({"recognizer": "dlib", "labels": [], "distances": []}, "camo faces' result"),
    ({"recognizers": [{"recognizer": "dlib", "distances": []}]}, "camo faces' result"),
    ({"model": "imagenet", "frames": 3, "survival": {}}, "camo video's summary"),
    ({"factory": "camo.models.networks:small_cnn", "labels": ["a"]}, "a model's sidecar"),
])
def test_each_camo_json_names_its_command(data: dict[str, Any], names: str) -> None:
    found = what_wrote(data)
    assert found is not None and found.startswith(names)


@pytest.mark.parametrize("data", [{}, [], {"kind": "mystery"}, "text", {"recognizers": "dlib"}])
def test_other_json_is_not_claimed(data: Any) -> None:
    assert what_wrote(data) is None
