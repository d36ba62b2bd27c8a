"""PGD with random restarts: never weaker than one start, worst case kept per example, the shared loop reused."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import camo
from tests.support import small_cnn, torch_threads


@pytest.fixture(scope="module")
def model() -> camo.Classifier:
    return camo.Classifier(small_cnn(seed=3), labels=[str(i) for i in range(10)], channels=1)


def _batch(seed: int, n: int = 24) -> torch.Tensor:
    return torch.rand((n, 1, 12, 12), generator=torch.Generator().manual_seed(seed))


def _loss(model: camo.Classifier, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return F.cross_entropy(model(x), y, reduction="none")


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000), eps=st.sampled_from([0.02, 0.05, 0.1]), restarts=st.integers(2, 4),
       rerun_fooled=st.booleans())
def test_restarts_are_never_weaker_than_one_start(
    model: camo.Classifier, seed: int, eps: float, restarts: int, rerun_fooled: bool
) -> None:
    x = _batch(seed)
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    with torch_threads(1):
        once = camo.pgd(model, x, y, eps, steps=3, generator=torch.Generator().manual_seed(seed))
        many = camo.pgd(model, x, y, eps, steps=3, restarts=restarts, rerun_fooled=rerun_fooled,
                        generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        fooled_once = model(once).argmax(dim=1) != y
        fooled_many = model(many).argmax(dim=1) != y
    # every example one start fools, the restarts fool too (the first restart *is* that start)
    assert bool((fooled_many | ~fooled_once).all())
    # an example no start fooled keeps the highest loss: at least the single start's
    survivors = ~fooled_many
    assert bool((_loss(model, many, y)[survivors] >= _loss(model, once, y)[survivors] - 1e-5).all())
    if rerun_fooled:  # highest loss for everyone among those fooled by the first start as well
        both = fooled_once & fooled_many
        assert bool((_loss(model, many, y)[both] >= _loss(model, once, y)[both] - 1e-5).all())
    assert float((many - x).abs().max()) <= eps + 1e-6
    assert float(many.min()) >= 0.0 and float(many.max()) <= 1.0


def test_restarts_find_more_than_one_start_on_a_batch(model: camo.Classifier) -> None:
    x = _batch(7, n=200)
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    with torch_threads(1):
        once = camo.pgd(model, x, y, 0.03, steps=2, generator=torch.Generator().manual_seed(1))
        many = camo.pgd(model, x, y, 0.03, steps=2, restarts=8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        fooled_once = int((model(once).argmax(dim=1) != y).sum())
        fooled_many = int((model(many).argmax(dim=1) != y).sum())
    assert fooled_many >= fooled_once
    assert float(_loss(model, many, y).mean()) > float(_loss(model, once, y).mean())


def test_targeted_restarts_keep_the_first_success(model: camo.Classifier) -> None:
    x = _batch(11, n=40)
    target = torch.full((40,), 4)
    with torch_threads(1):
        once = camo.pgd(model, x, target, 0.1, targeted=True, steps=3, generator=torch.Generator().manual_seed(2))
        many = camo.pgd(model, x, target, 0.1, targeted=True, steps=3, restarts=4,
                        generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        hit_once = model(once).argmax(dim=1) == target
        hit_many = model(many).argmax(dim=1) == target
    assert bool((hit_many | ~hit_once).all())
    # a success of the first start is kept as it was
    assert torch.equal(many[hit_once], once[hit_once])
    # the misses end no higher on the target's loss than the single start
    missed = ~hit_many
    assert bool((_loss(model, many, target)[missed] <= _loss(model, once, target)[missed] + 1e-5).all())


def test_restarts_count_every_step_in_the_callback(model: camo.Classifier) -> None:
    seen: list[tuple[int, int]] = []
    x = _batch(0, n=4)
    camo.pgd(model, x, None, 0.05, steps=3, restarts=2, generator=torch.Generator().manual_seed(0),
             callback=lambda done, total: seen.append((done, total)))
    assert seen == [(i, 6) for i in range(1, 7)]


def test_a_custom_loss_is_scored_per_example(model: camo.Classifier) -> None:
    x = _batch(5, n=6)
    y = torch.zeros(6, dtype=torch.int64)
    calls: list[int] = []

    def margin(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        calls.append(len(logits))
        return -logits.gather(1, labels[:, None]).mean()

    out = camo.pgd(model, x, y, 0.05, steps=2, restarts=2, loss=margin, generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert 1 in calls  # scored one example at a time


@pytest.mark.parametrize("restarts", [0, -1, 1.5, True])
def test_bad_restarts_are_refused(model: camo.Classifier, restarts: object) -> None:
    with pytest.raises(camo.InputError, match="restarts"):
        camo.pgd(model, _batch(0, n=2), None, 0.1, restarts=restarts)  # type: ignore[arg-type]


def test_restarts_need_a_random_start(model: camo.Classifier) -> None:
    with pytest.raises(camo.InputError, match="random start"):
        camo.pgd(model, _batch(0, n=2), None, 0.1, restarts=3, random_start=False)
