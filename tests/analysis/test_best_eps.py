"""Best-ε search: bisection against the seeds' brute-force scan, and the ε it returns really reaches the target."""

from __future__ import annotations

import io
import json

import pytest
import torch
from PIL import Image

import camo
from camo.analysis.best_eps import BestEpsResult, best_eps
from camo.analysis.plots import best_eps_figure
from camo.errors import InputError, LabelError
from camo.images import quantize
from tests.support import read_mnist_test


@pytest.fixture(scope="module")
def digits(mnist_model: camo.Classifier) -> tuple[torch.Tensor, list[int]]:
    """The first 20 MNIST test digits and, for each, its runner-up class (a target FGSM can often reach)."""
    x, _ = read_mnist_test()
    x = x[:20]
    with torch.no_grad():
        runner_up = mnist_model(x).argsort(dim=1, descending=True)[:, 1]
    return x, [int(t) for t in runner_up]


def _saved_prediction(model: camo.Classifier, x: torch.Tensor, target: int, eps: float, method: str) -> int:
    """What the model says about the 8-bit file of the targeted attack at ε, run afresh (not from the search)."""
    y = torch.tensor([target])
    if method == "fgsm":
        x_adv = camo.fgsm(model, x, y, eps, targeted=True)
    else:
        x_adv = camo.pgd(model, x, y, eps, targeted=True, steps=10, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return int(model(quantize(x_adv)).argmax())


@pytest.mark.parametrize(("method", "eps_max", "step", "count"), [
    ("fgsm", 0.5, 1 / 255, 20),
    ("pgd", 0.3, 0.03, 5),
    pytest.param("pgd", 0.3, 0.03, 20, marks=pytest.mark.slow),
])
def test_each_search_keeps_its_promise_on_20_digits(mnist_model: camo.Classifier,
                                                    digits: tuple[torch.Tensor, list[int]],
                                                    method: str, eps_max: float, step: float, count: int) -> None:
    """Success is not monotone in ε (a fresh mnist model once had PGD reach digit 1's target at 0.206 and 0.27 but
    miss it at 0.21 and 0.30), so bisection and scan may both be right and disagree. What each promises holds for
    any model: the returned ε reaches the target on the 8-bit image; bisection evaluated an ε at most its resolution
    below that misses; the scan's grid points below its answer all miss; bisection needs fewer attacks than a scan.
    """
    x, targets = digits
    reached = 0
    for i, target in enumerate(targets[:count]):
        kwargs = {"method": method, "eps_max": eps_max, "step_size": step}
        fast = best_eps(mnist_model, x[i : i + 1], target, **kwargs)  # type: ignore[arg-type]
        brute = best_eps(mnist_model, x[i : i + 1], target, scan=True, **kwargs)  # type: ignore[arg-type]
        assert fast.search == "bisection" and brute.search == "scan" and fast.quantized and brute.quantized
        for found in (fast, brute):
            eps = found.smallest_eps
            if eps is None:
                assert all(p.predicted != target for p in found.points), (i, found.search)
                continue
            assert 0 < eps <= eps_max
            assert _saved_prediction(mnist_model, x[i : i + 1], target, eps, method) == target, (i, found.search, eps)
        if fast.smallest_eps is not None:
            below = [p for p in fast.points if fast.smallest_eps - fast.resolution - 1e-12 <= p.eps < fast.smallest_eps]
            assert any(p.predicted != target for p in below), (i, fast.smallest_eps, below)
        if brute.smallest_eps is not None:
            assert all(p.predicted != target for p in brute.points if p.eps < brute.smallest_eps), i
        if method == "fgsm":  # both bisect / scan the same first grid bracket, so they agree within one step
            assert (fast.smallest_eps is None) == (brute.smallest_eps is None), i
            if fast.smallest_eps is not None and brute.smallest_eps is not None:
                assert brute.smallest_eps - step - 1e-9 <= fast.smallest_eps <= brute.smallest_eps + 1e-9, i
        else:  # the bisection of an iterative attack needs far fewer attacks than the scan
            assert len(fast.points) < len(brute.points)
        reached += brute.smallest_eps is not None
    assert reached >= count // 2, f"only {reached} of {count} digits reached their target: too weak a comparison"


def test_smallest_eps_reaches_the_target_and_just_below_does_not(mnist_model: camo.Classifier,
                                                                  digits: tuple[torch.Tensor, list[int]]) -> None:
    x, targets = digits
    result = best_eps(mnist_model, x[:1], targets[0], eps_max=0.5, tolerance=1e-4)
    assert result.smallest_eps is not None and 0 < result.smallest_eps < 0.5
    assert _saved_prediction(mnist_model, x[:1], targets[0], result.smallest_eps, "fgsm") == targets[0]
    below = max(p.eps for p in result.points if p.eps < result.smallest_eps)
    assert result.smallest_eps - below <= 1e-4
    assert _saved_prediction(mnist_model, x[:1], targets[0], below, "fgsm") != targets[0]
    # The ε maximising p(target) is the best of every point evaluated, and at least as good as at smallest_eps.
    assert result.best_probability == max(p.probability for p in result.points)
    assert result.best_probability >= next(p.probability for p in result.points if p.eps == result.smallest_eps)


def test_unquantized_search_judges_the_float_image(mnist_model: camo.Classifier,
                                                   digits: tuple[torch.Tensor, list[int]]) -> None:
    x, targets = digits
    result = best_eps(mnist_model, x[:1], targets[0], eps_max=0.5, tolerance=1e-4, quantized=False)
    assert not result.quantized and result.smallest_eps is not None
    y = torch.tensor([targets[0]])
    with torch.no_grad():
        at = mnist_model(camo.fgsm(mnist_model, x[:1], y, result.smallest_eps, targeted=True)).argmax(1)
    assert int(at) == targets[0]


def test_already_the_target_and_never_the_target(mnist_model: camo.Classifier,
                                                 digits: tuple[torch.Tensor, list[int]]) -> None:
    x, targets = digits
    with torch.no_grad():
        clean = int(mnist_model(x[:1]).argmax())
    assert best_eps(mnist_model, x[:1], clean).smallest_eps == 0.0
    tiny = best_eps(mnist_model, x[:1], targets[0], eps_max=2 / 255, method="pgd")
    assert tiny.smallest_eps is None
    assert all(p.predicted != targets[0] for p in tiny.points)


def test_round_trip_and_figure(mnist_model: camo.Classifier, digits: tuple[torch.Tensor, list[int]]) -> None:
    x, targets = digits
    result = best_eps(mnist_model, x[:1], targets[0], eps_max=0.3, step_size=0.02, source="d.png")
    data = json.loads(json.dumps(result.to_dict()))
    assert data["kind"] == "best_eps" and BestEpsResult.from_dict(data) == result
    eps = [p.eps for p in result.points]
    assert eps == sorted(eps) and len(set(eps)) == len(eps)
    with Image.open(io.BytesIO(best_eps_figure(result))) as img:
        assert img.format == "PNG" and img.size[0] > 600


def test_bad_settings_raise(mnist_model: camo.Classifier, digits: tuple[torch.Tensor, list[int]]) -> None:
    x, _ = digits
    with pytest.raises(InputError, match="unknown method 'fgm'"):
        best_eps(mnist_model, x[:1], 3, method="fgm")
    with pytest.raises(LabelError, match="target 10"):
        best_eps(mnist_model, x[:1], 10)
    with pytest.raises(InputError, match="step_size"):
        best_eps(mnist_model, x[:1], 3, eps_max=0.1, step_size=0.2)
    with pytest.raises(InputError, match="one image"):
        best_eps(mnist_model, x[:2], 3)
