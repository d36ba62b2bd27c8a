"""The built-in mnist-robust: trained on first use, cached by recipe, listed by ``camo models``; a tiny recipe here
(the real one trains for minutes and runs only with ``-m slow``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import camo
import camo.train.builtin as builtin
from camo.train import held_out_check, mnist_data

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = builtin.RobustRecipe(width=4, hidden=16, epochs=1, warmup_epochs=0, pgd_steps=1, augment=False)


def test_trained_once_then_loaded_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMO_CACHE_DIR", str(tmp_path))
    model = builtin.load_mnist_robust(recipe=TINY)
    path = builtin.weights_path(TINY)
    assert path.exists() and path.parent == tmp_path / "models" and TINY.key() in path.name
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["factory"] == builtin.FACTORY and sidecar["training"]["recipe"]["epochs"] == 1

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("trained again instead of using the cache")

    monkeypatch.setattr(builtin, "train_mnist_robust", no_training)
    again = builtin.load_mnist_robust(recipe=TINY)
    assert again.name == "mnist-robust" and again.channels == 1 and again.input_size == (28, 28)
    for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        assert bool((a == b).all())
    # the cached file is an ordinary camo model file too
    assert camo.load_model(path).labels == tuple(str(d) for d in range(10))


def test_a_different_recipe_is_a_different_cache_file() -> None:
    assert builtin.weights_path(TINY) != builtin.weights_path(builtin.RobustRecipe())
    assert builtin.RobustRecipe().key() == builtin.RobustRecipe().key()


@pytest.mark.slow
def test_the_real_mnist_robust_is_robust(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMO_CACHE_DIR", str(tmp_path))
    model = camo.load_model("mnist-robust")
    data = mnist_data()
    clean, fgsm_acc, pgd_acc = held_out_check(model, data.x_held, data.y_held, 0.3)
    assert clean > 0.93 and fgsm_acc > 0.7 and pgd_acc > 0.6
