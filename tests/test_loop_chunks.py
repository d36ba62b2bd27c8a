"""The shared loop's chunked gradients: the same adversarial images, bit for bit, as one whole-batch gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import camo
from camo.attacks import core
from tests.support import small_cnn, torch_threads


@pytest.fixture(scope="module")
def model() -> camo.Classifier:
    return camo.Classifier(small_cnn(seed=5), labels=[str(i) for i in range(10)], channels=1)


def _batch(n: int = 45) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand((n, 1, 12, 12), generator=torch.Generator().manual_seed(4))
    y = torch.randint(0, 10, (n,), generator=torch.Generator().manual_seed(5))
    return x, y


ATTACKS = {
    "fgsm": lambda m, x, y: camo.fgsm(m, x, y, 0.1),
    "fgm": lambda m, x, y: camo.fgm(m, x, y, 1.0),
    "bim": lambda m, x, y: camo.bim(m, x, y, 0.1, steps=4),
    "mifgsm": lambda m, x, y: camo.mifgsm(m, x, y, 0.1, steps=4),
    "pgd-restarts": lambda m, x, y: camo.pgd(m, x, y, 0.1, steps=4, step_size=0.03, restarts=3, rerun_fooled=False,
                                             generator=torch.Generator().manual_seed(9)),
    "pgd-l2-targeted": lambda m, x, y: camo.pgd(m, x, y, 1.0, norm="l2", targeted=True, steps=3, restarts=2,
                                                generator=torch.Generator().manual_seed(9)),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_chunked_gradients_give_the_whole_batch_result_bit_for_bit(
    model: camo.Classifier, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = _batch()
    with torch_threads(1):
        monkeypatch.setattr(core, "GRADIENT_CHUNK", 10_000)
        whole = ATTACKS[name](model, x, y)
        monkeypatch.setattr(core, "GRADIENT_CHUNK", 16)  # 45 images: chunks of 16, 16 and 13
        chunked = ATTACKS[name](model, x, y)
    assert torch.equal(whole, chunked)


def test_the_loop_really_chunks_the_default_loss(model: camo.Classifier, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real = core.input_gradient

    def spy(m: core.Model, x: torch.Tensor, y: torch.Tensor, loss: core.Loss) -> torch.Tensor:
        seen.append(len(x))
        return real(m, x, y, loss)

    monkeypatch.setattr(core, "input_gradient", spy)
    monkeypatch.setattr(core, "GRADIENT_CHUNK", 16)
    x, y = _batch()
    camo.bim(model, x, y, 0.1, steps=2)
    assert seen == [16, 16, 13] * 2


def test_a_custom_loss_sees_the_whole_batch(model: camo.Classifier, monkeypatch: pytest.MonkeyPatch) -> None:
    """A custom loss may couple the examples (a mean of pairwise terms, say): it is never split."""
    sizes: list[int] = []

    def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        sizes.append(len(logits))
        return F.cross_entropy(logits, y)

    monkeypatch.setattr(core, "GRADIENT_CHUNK", 16)
    x, y = _batch()
    camo.bim(model, x, y, 0.1, steps=2, loss=loss)
    assert sizes == [45, 45]
