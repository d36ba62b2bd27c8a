"""Signed-ε sweeps: the numbers behind the seeds' curve, checked against camo.fgsm and a linear model."""

from __future__ import annotations

import io
import itertools
import json

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from torch import nn

import camo
from camo.analysis import sweep as sweep_module
from camo.analysis.plots import sweep_figure
from camo.analysis.sweep import SweepResult, fit_line, signed_step, sweep
from camo.eps_grid import eps_range
from camo.errors import InputError, LabelError
from tests.support import read_mnist_test, small_cnn


@pytest.fixture(scope="module")
def first_seven() -> torch.Tensor:
    x, y = read_mnist_test()
    assert int(y[0]) == 7
    return x[:1]


def test_eps_range_includes_both_ends_and_zero() -> None:
    values = eps_range(-25 / 255, 25 / 255, 1 / 255)
    assert len(values) == 51
    assert values[0] == pytest.approx(-25 / 255) and values[-1] == pytest.approx(25 / 255)
    assert values[25] == 0.0  # exactly zero: the clean image is on the grid
    assert eps_range(0, 0.3, 0.05) == pytest.approx((0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3))
    assert eps_range(0, 0.29, 0.1) == pytest.approx((0, 0.1, 0.2))


@given(start=st.floats(-1, 1), length=st.floats(0, 2), step=st.floats(1e-3, 1))
def test_eps_range_properties(start: float, length: float, step: float) -> None:
    values = eps_range(start, start + length, step)
    assert values[0] == pytest.approx(start, abs=1e-9 * step)
    assert all(b - a == pytest.approx(step, rel=1e-6) for a, b in itertools.pairwise(values))
    assert values[-1] <= start + length + 1e-9 and start + length - values[-1] < step * (1 + 1e-6)


@pytest.mark.parametrize(("start", "stop", "step", "message"), [
    (0, 1, 0, "step must be > 0"), (0.3, 0, 0.1, "must go up"), (0, 1, 1e-6, "at most"),
    (0, float("nan"), 0.1, "finite"),
])
def test_eps_range_rejects_bad_ranges(start: float, stop: float, step: float, message: str) -> None:
    with pytest.raises(InputError, match=message):
        eps_range(start, stop, step)


def test_mnist_seven_towards_three_rises_only_on_the_negative_side(mnist_model: camo.Classifier,
                                                                  first_seven: torch.Tensor) -> None:
    """The seeds' picture on real numbers: p(L) rises far higher for some ε < 0 than for any ε > 0.

    Stated as a shape with margins, not as one model's numbers (a 0.5 line held for one trained model only).
    """
    result = sweep(mnist_model, first_seven, 3, eps_range(-0.5, 0.5, 0.01))
    p3 = dict(zip(result.eps, result.curve(3).probabilities, strict=True))
    negative = [p for e, p in p3.items() if e < 0]
    positive = [p for e, p in p3.items() if e > 0]
    assert result.original_name == "7" and p3[0.0] < 0.01
    assert max(negative) > 10 * p3[0.0] and max(negative) > 0.1
    assert max(negative) > 2 * max(positive)
    # Where p(3) peaks on the negative side, 3 is the model's answer whenever p(3) is a majority there.
    best, peak = max((p, e) for e, p in p3.items() if e < 0)
    if best > 0.5:
        assert result.predicted[result.eps.index(peak)] == 3


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_every_point_equals_the_public_attack(mnist_model: camo.Classifier, first_seven: torch.Tensor,
                                              norm: str) -> None:
    """Negative ε is targeted FGSM towards L with |ε|, positive ε untargeted FGSM against L (FGM for L2)."""
    eps_values = (-0.2, -0.05, 0.0, 0.1, 0.3) if norm == "linf" else (-3.0, 0.0, 2.0)
    result = sweep(mnist_model, first_seven, 3, eps_values, norm=norm)  # type: ignore[arg-type]
    attack = camo.fgsm if norm == "linf" else camo.fgm
    label = torch.tensor([3])
    for i, e in enumerate(result.eps):
        x_adv = attack(mnist_model, first_seven, label, abs(e), targeted=e < 0)
        with torch.no_grad():
            expected = mnist_model(x_adv).softmax(dim=1)[0]
        for curve in result.curves:
            assert curve.probabilities[i] == pytest.approx(float(expected[curve.index]), abs=1e-5)


def test_signed_step_is_fgsm_bit_for_bit(mnist_model: camo.Classifier, first_seven: torch.Tensor) -> None:
    from camo.attacks.core import cross_entropy, input_gradient

    label = torch.tensor([3])
    grad = input_gradient(mnist_model, first_seven, label, cross_entropy)
    assert torch.equal(signed_step(first_seven, grad, -0.1, bounds=(0, 1)),
                       camo.fgsm(mnist_model, first_seven, label, 0.1, targeted=True))
    assert torch.equal(signed_step(first_seven, grad, 0.1, bounds=(0, 1)),
                       camo.fgsm(mnist_model, first_seven, label, 0.1))


def test_one_gradient_for_the_whole_sweep(mnist_model: camo.Classifier, first_seven: torch.Tensor,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = sweep_module.input_gradient

    def counting(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sweep_module, "input_gradient", counting)
    sweep(mnist_model, first_seven, 3, eps_range(-0.3, 0.3, 0.01), batch_size=7)
    assert len(calls) == 1


def test_linear_model_logits_are_lines_with_r2_one() -> None:
    """A linear model and no clipping: logit_k(ε) = w_k·(x + ε·s) + b_k exactly, so every fitted R² is 1."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 4))
    model = camo.Classifier(net.eval(), channels=3, labels=["a", "b", "c", "d"])
    x = torch.full((1, 3, 2, 2), 0.5)
    result = sweep(model, x, 2, eps_range(-0.4, 0.4, 0.05))  # |ε| < 0.5: no pixel is clipped
    w = net[1].weight.detach().double()
    with torch.enable_grad():
        xr = x.clone().requires_grad_(True)
        g = torch.autograd.grad(nn.functional.cross_entropy(model(xr), torch.tensor([2])), xr)[0]
    s = g.sign().flatten().double()
    for curve in result.curves:
        assert curve.fit is not None and curve.fit.r2 == pytest.approx(1.0, abs=1e-9)
        assert curve.fit.slope == pytest.approx(float(w[curve.index] @ s), rel=1e-4)
    # Moving towards c raises its logit relative to every other class.
    assert result.curve(2).fit.slope < min(c.fit.slope for c in result.curves if c.index != 2)  # type: ignore[union-attr]


def test_fit_line_r2() -> None:
    fit = fit_line([0, 1, 2, 3], [1, 3, 5, 7])
    assert fit is not None and fit.slope == pytest.approx(2) and fit.r2 == pytest.approx(1)
    bent = fit_line([-2, -1, 0, 1, 2], [2, 1, 0, 1, 2])  # |x|: no linear trend at all
    assert bent is not None and bent.r2 == pytest.approx(0, abs=1e-12)
    assert fit_line([0, 1], [0, 1]) is None


def test_top_k_for_large_label_sets() -> None:
    model = camo.Classifier(small_cnn(classes=20), channels=1)
    x = torch.rand(1, 1, 12, 12, generator=torch.Generator().manual_seed(1))
    result = sweep(model, x, 4, eps_range(-0.1, 0.1, 0.02), top_k=3)
    indices = [c.index for c in result.curves]
    assert indices[0] == 4 and len(set(indices)) == len(indices)
    assert len(indices) == 3 + (1 if result.original != 4 else 0) + 1
    assert result.original in indices


def test_round_trip_json_csv_and_figure(mnist_model: camo.Classifier, first_seven: torch.Tensor) -> None:
    result = sweep(mnist_model, first_seven, 3, eps_range(-0.2, 0.2, 0.1), source="seven.png")
    data = json.loads(json.dumps(result.to_dict()))
    assert data["eps"] == pytest.approx([-0.2, -0.1, 0.0, 0.1, 0.2])
    assert set(data["probabilities"]) == {str(d) for d in range(10)}
    assert SweepResult.from_dict(data) == result
    lines = result.csv().splitlines()
    assert len(lines) == 6 and lines[0].startswith("eps,eps_255,predicted,p_3,")
    assert float(lines[3].split(",")[3]) == pytest.approx(result.curve(3).probabilities[2], rel=1e-5)
    png = sweep_figure(result)
    with Image.open(io.BytesIO(png)) as img:
        img.verify()
    with Image.open(io.BytesIO(png)) as img:
        assert img.format == "PNG" and img.size[0] >= 1000
        assert np.asarray(img.convert("L")).std() > 10  # something is drawn


def test_bad_inputs_raise(mnist_model: camo.Classifier, first_seven: torch.Tensor) -> None:
    with pytest.raises(InputError, match="one image"):
        sweep(mnist_model, first_seven.repeat(2, 1, 1, 1), 3, [0.1])
    with pytest.raises(LabelError, match="label 12"):
        sweep(mnist_model, first_seven, 12, [0.1])
    with pytest.raises(InputError, match="larger than the whole pixel range"):
        sweep(mnist_model, first_seven, 3, [-2.0, 0.0])
    with pytest.raises(InputError, match="at least one"):
        sweep(mnist_model, first_seven, 3, [])
    with pytest.raises(InputError, match="bounds"):
        sweep(mnist_model, first_seven * 255, 3, [0.1])


def test_fractions_are_read_the_way_users_write_eps() -> None:
    from camo.eps_grid import fraction

    assert fraction("8/255") == 8 / 255 and fraction("0.03") == 0.03 and fraction("-0.5") == -0.5
    for bad in ("abc", "1/0", "1/x", ""):
        with pytest.raises(ValueError):
            fraction(bad)
