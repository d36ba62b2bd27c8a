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
from tests.support import read_mnist_test


@pytest.fixture(scope="module")
def digits(mnist_model: camo.Classifier) -> tuple[torch.Tensor, list[int]]:
    """The first 20 MNIST test digits and, for each, its runner-up class (a target FGSM can often reach)."""
    x, _ = read_mnist_test()
    x = x[:20]
    with torch.no_grad():
        runner_up = mnist_model(x).argsort(dim=1, descending=True)[:, 1]
    return x, [int(t) for t in runner_up]


def _agree(a: float | None, b: float | None, step: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= step + 1e-9


@pytest.mark.parametrize(("method", "eps_max", "step", "count"), [
    ("fgsm", 0.5, 1 / 255, 20),
    ("pgd", 0.3, 0.03, 5),
    pytest.param("pgd", 0.3, 0.03, 20, marks=pytest.mark.slow),
])
def test_bisection_agrees_with_the_scan_on_20_digits(mnist_model: camo.Classifier,
                                                     digits: tuple[torch.Tensor, list[int]],
                                                     method: str, eps_max: float, step: float, count: int) -> None:
    """FGSM brackets from its grid, then bisects; PGD bisects [0, eps_max] with no grid at all (the real test)."""
    x, targets = digits
    reached = 0
    for i, target in enumerate(targets[:count]):
        kwargs = {"method": method, "eps_max": eps_max, "step_size": step}
        fast = best_eps(mnist_model, x[i : i + 1], target, **kwargs)  # type: ignore[arg-type]
        brute = best_eps(mnist_model, x[i : i + 1], target, scan=True, **kwargs)  # type: ignore[arg-type]
        assert fast.search == "bisection" and brute.search == "scan"
        assert _agree(fast.smallest_eps, brute.smallest_eps, step), (i, fast.smallest_eps, brute.smallest_eps)
        reached += brute.smallest_eps is not None
        if method == "pgd":  # the bisection of an iterative attack needs far fewer attacks than the scan
            assert len(fast.points) < len(brute.points)
    assert reached >= count // 2, f"only {reached} of {count} digits reached their target: too weak a comparison"


def test_smallest_eps_reaches_the_target_and_just_below_does_not(mnist_model: camo.Classifier,
                                                                  digits: tuple[torch.Tensor, list[int]]) -> None:
    x, targets = digits
    result = best_eps(mnist_model, x[:1], targets[0], eps_max=0.5, tolerance=1e-4)
    assert result.smallest_eps is not None and 0 < result.smallest_eps < 0.5
    y = torch.tensor([targets[0]])
    with torch.no_grad():
        at = mnist_model(camo.fgsm(mnist_model, x[:1], y, result.smallest_eps, targeted=True)).argmax(1)
        below = mnist_model(camo.fgsm(mnist_model, x[:1], y, result.smallest_eps - 2e-4, targeted=True)).argmax(1)
    assert int(at) == targets[0] and int(below) != targets[0]
    # The ε maximising p(target) is the best of every point evaluated, and at least as good as at smallest_eps.
    assert result.best_probability == max(p.probability for p in result.points)
    assert result.best_probability >= next(p.probability for p in result.points if p.eps == result.smallest_eps)


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
