"""Dataset robustness: the tallies against independent per-ε attacks, the confusion matrix, data loading."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import camo
from camo.analysis.evaluate import EvaluationResult, evaluate, load_dataset
from camo.analysis.plots import accuracy_figure, confusion_figure
from camo.errors import InputError, LabelError
from tests.support import SHARED_DATA, read_mnist_test

EPS = (0.0, 0.1, 0.2)


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor]:
    x, y = read_mnist_test()
    return x[:120], y[:120]


@pytest.fixture(scope="module")
def result(mnist_model: camo.Classifier, data: tuple[torch.Tensor, torch.Tensor]) -> EvaluationResult:
    x, y = data
    seen: list[tuple[int, int]] = []
    out = evaluate(mnist_model, x, y, EPS, ["fgsm", "pgd"], batch_size=50, steps=5, data="first 120",
                   callback=lambda done, total: seen.append((done, total)))
    dones = [d for d, _ in seen]
    assert dones == sorted(dones) and seen[-1][0] == seen[-1][1] == 120 * (1 + 2 * len(EPS))
    return out


def test_rows_match_independent_attacks(mnist_model: camo.Classifier, data: tuple[torch.Tensor, torch.Tensor],
                                        result: EvaluationResult) -> None:
    x, y = data
    with torch.no_grad():
        clean_ok = mnist_model(x).argmax(1) == y
    assert result.clean_accuracy == pytest.approx(float(clean_ok.float().mean()))
    for e in EPS:
        x_adv = torch.cat([camo.fgsm(mnist_model, x[i : i + 50], y[i : i + 50], e) for i in range(0, 120, 50)])
        with torch.no_grad():
            probs = mnist_model(x_adv).softmax(1)
        ok = probs.argmax(1) == y
        row = result.row("fgsm", e)
        assert row.accuracy == pytest.approx(float(ok.float().mean()))
        assert row.success_rate == pytest.approx(float((clean_ok & ~ok).sum() / clean_ok.sum()))
        assert row.mean_confidence == pytest.approx(float(probs.max(1).values.mean()), rel=1e-5)
        assert row.mean_linf == pytest.approx(e, abs=1e-6)  # every digit has a pixel free to move by ε
        assert row.mean_l2 == pytest.approx(float((x_adv - x).flatten(1).norm(dim=1).mean()), rel=1e-5)


def test_shape_of_the_curves(result: EvaluationResult) -> None:
    for method in ("fgsm", "pgd"):
        rows = result.rows_for(method)
        assert rows[0].accuracy == result.clean_accuracy and rows[0].success_rate == 0
        accuracies = [r.accuracy for r in rows]
        assert accuracies == sorted(accuracies, reverse=True) and accuracies[-1] < result.clean_accuracy - 0.2
        assert all(r.mean_linf <= r.eps + 1e-6 for r in rows)
    # PGD is at least as strong as FGSM at the largest ε (a few images of slack for its random start).
    assert result.row("pgd", 0.2).accuracy <= result.row("fgsm", 0.2).accuracy + 2 / 120


def test_confusion_matrix_counts(result: EvaluationResult, data: tuple[torch.Tensor, torch.Tensor]) -> None:
    _, y = data
    assert result.confusion_eps == 0.2
    for method in ("fgsm", "pgd"):
        matrix = np.asarray(result.confusion_for(method))
        assert matrix.shape == (10, 10) and matrix.sum() == 120
        assert (matrix.sum(axis=1) == np.bincount(y.numpy(), minlength=10)).all()  # rows are the true classes
        assert np.trace(matrix) == round(result.row(method, 0.2).accuracy * 120)


def test_round_trip_csv_and_figures(result: EvaluationResult) -> None:
    data = json.loads(json.dumps(result.to_dict()))
    assert data["clean_accuracy"] == result.clean_accuracy
    assert {(r["method"], r["eps"]) for r in data["results"]} == {(m, e) for m in ("fgsm", "pgd") for e in EPS}
    assert {"accuracy", "success_rate"} <= set(data["results"][0])
    assert EvaluationResult.from_dict(data) == result
    lines = result.csv().splitlines()
    assert len(lines) == 1 + 6 and lines[1].startswith("fgsm,0,0,")
    for png in (accuracy_figure(result), confusion_figure(result, "pgd")):
        with Image.open(io.BytesIO(png)) as img:
            assert img.format == "PNG" and img.size[0] > 500


def test_one_gradient_per_batch_for_fgsm(mnist_model: camo.Classifier, data: tuple[torch.Tensor, torch.Tensor],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from camo.analysis import evaluate as evaluate_module

    calls: list[int] = []
    real = evaluate_module.input_gradient

    def counting(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(evaluate_module, "input_gradient", counting)
    x, y = data
    evaluate(mnist_model, x[:20], y[:20], (0.0, 0.05, 0.1, 0.2), ["fgsm"], batch_size=10)
    assert len(calls) == 2  # two batches, four ε each: one backward pass per batch


def test_bad_settings_raise(mnist_model: camo.Classifier, data: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = data
    with pytest.raises(InputError, match="unknown method"):
        evaluate(mnist_model, x, y, [0.1], ["fgsm", "deepfool"])
    with pytest.raises(InputError, match="≥ 0"):
        evaluate(mnist_model, x, y, [-0.1, 0.1])
    with pytest.raises(InputError, match="one label per image"):
        evaluate(mnist_model, x, y[:5], [0.1])
    with pytest.raises(InputError, match=r"confusion_eps 0\.15"):
        evaluate(mnist_model, x, y, [0.1, 0.2], confusion_eps=0.15)


def test_mnist_test_without_a_root_says_where_to_get_it(mnist_model: camo.Classifier,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAMO_DATA", raising=False)
    with pytest.raises(InputError, match="CAMO_DATA"):
        load_dataset("mnist-test", mnist_model)
    root = SHARED_DATA / "classification" / "mnist_t10k"
    read_mnist_test()  # skips when the shared data is absent
    monkeypatch.setenv("CAMO_DATA", str(root))
    x, y, _ = load_dataset("mnist-test", mnist_model, limit=7)
    assert x.shape == (7, 1, 28, 28) and y.shape == (7,)


def test_folder_per_class(mnist_model: camo.Classifier, data: tuple[torch.Tensor, torch.Tensor],
                          tmp_path: Path) -> None:
    x, y = data
    root = tmp_path / "digits"
    for i in range(12):
        folder = root / str(int(y[i]))
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.round(x[i, 0].numpy() * 255).astype(np.uint8)).save(folder / f"{i}.png")
    (root / "README.txt").write_text("not a class folder")
    xs, ys, description = load_dataset(root, mnist_model)
    assert len(xs) == 12 and sorted(ys.tolist()) == sorted(y[:12].tolist()) and "12 images" in description
    assert torch.allclose(xs[ys.tolist().index(int(y[0]))], x[0], atol=0.5 / 255)
    assert len(load_dataset(root, mnist_model, limit=5)[0]) == 5
    (root / "giraffe").mkdir()
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(root / "giraffe" / "g.png")
    with pytest.raises(LabelError, match="giraffe"):
        load_dataset(root, mnist_model)
    with pytest.raises(InputError, match="not mnist, mnist-test or a folder"):
        load_dataset(root / "nope", mnist_model)
