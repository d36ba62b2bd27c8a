"""The published "Fast is better than free" MNIST models, loaded through camo's user-model path (a factory and a
state dict): a real third-party model, robust by training, measured the way its authors measure it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import camo
from camo.train import held_out_check
from tests.support import SHARED_DATA, read_mnist_test

REFERENCE = SHARED_DATA.parent / "models" / "third_party" / "fast_adversarial"

pytestmark = pytest.mark.usefixtures("one_thread")


def _reference(name: str) -> camo.Classifier:
    path = REFERENCE / name
    if not path.exists():
        pytest.skip(f"needs {path} (the shared reference models are not on this machine)")
    return camo.load_model("camo.models.networks:small_cnn", weights=path, channels=1, input_size=(28, 28),
                           labels=[str(d) for d in range(10)])


@pytest.mark.parametrize("name", ["fgsm.pth", "pgd_madry.pth"])
def test_reference_models_load_and_are_robust_where_a_plain_model_is_not(name: str) -> None:
    model = _reference(name)
    x, y = read_mnist_test()
    x, y = x[:300], y[:300]
    clean, fgsm_acc, pgd_acc = held_out_check(model, x, y, 0.3, steps=10)
    assert clean > 0.95
    assert pgd_acc > 0.7  # the authors report close to 90 % under a far stronger PGD
    assert fgsm_acc >= pgd_acc - 0.05


def test_restarts_lower_the_reference_models_accuracy_or_keep_it(tmp_path: Path) -> None:
    model = _reference("fgsm.pth")
    x, y = read_mnist_test()
    x, y = x[:200], y[:200]
    one = camo.pgd(model, x, y, 0.3, steps=10, step_size=0.03, generator=torch.Generator().manual_seed(0))
    four = camo.pgd(model, x, y, 0.3, steps=10, step_size=0.03, restarts=4, rerun_fooled=False,
                    generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        survived_one = model(one).argmax(1) == y
        survived_four = model(four).argmax(1) == y
    assert bool((survived_one | ~survived_four).all())  # what survives four starts survived the first
    assert int(survived_four.sum()) <= int(survived_one.sum())
