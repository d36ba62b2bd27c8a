"""Attacks: properties that must hold for every attack, oracles (linear models, peer libraries), errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import camo
from camo.attacks import METHODS
from tests.support import small_cnn

ATTACKS = sorted(METHODS)


def _batch(seed: int, n: int = 4, channels: int = 1, size: int = 12) -> torch.Tensor:
    return torch.rand((n, channels, size, size), generator=torch.Generator().manual_seed(seed))


def _call(name: str, model: camo.Classifier, x: torch.Tensor, y: torch.Tensor | None, eps: float,
          **kw: object) -> torch.Tensor:
    if name == "pgd":
        kw.setdefault("generator", torch.Generator().manual_seed(0))
    return METHODS[name](model, x, y, eps, **kw)  # type: ignore[operator]


@pytest.fixture(scope="module")
def model() -> camo.Classifier:
    return camo.Classifier(small_cnn(), labels=[str(i) for i in range(10)])


@pytest.mark.parametrize("name", ATTACKS)
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), eps=st.floats(0.0, 0.5), targeted=st.booleans())
def test_every_attack_stays_in_budget_and_bounds_and_leaves_input_alone(
    model: camo.Classifier, name: str, seed: int, eps: float, targeted: bool
) -> None:
    x = _batch(seed)
    before = x.clone()
    y = torch.randint(0, 10, (4,), generator=torch.Generator().manual_seed(seed)) if targeted else None
    x_adv = _call(name, model, x, y, eps, targeted=targeted)
    assert torch.equal(x, before), "the input tensor was modified"
    assert x_adv.shape == x.shape and not x_adv.requires_grad and x_adv.grad_fn is None
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    delta = (x_adv - x).flatten(1)
    if name == "fgm":
        assert float(delta.norm(dim=1).max()) <= eps * (1 + 1e-5) + 1e-6
    else:
        assert float(delta.abs().max()) <= eps + 1e-6


@pytest.mark.parametrize("name", ATTACKS)
def test_zero_eps_is_identity(model: camo.Classifier, name: str) -> None:
    x = _batch(1)
    assert torch.equal(_call(name, model, x, None, 0.0), x)


def test_pgd_l2_stays_in_the_l2_ball(model: camo.Classifier) -> None:
    x = _batch(2)
    x_adv = camo.pgd(model, x, None, 0.5, norm="l2", steps=5, generator=torch.Generator().manual_seed(0))
    assert float((x_adv - x).flatten(1).norm(dim=1).max()) <= 0.5 + 1e-5
    assert float((x_adv - x).abs().max()) > 0


class Linear2(nn.Module):
    """Two logits: 0 and w·x. The loss gradient's sign is ±sign(w), whatever x is: an exact oracle."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = (x.flatten(1) * self.w.flatten()).sum(1)
        return torch.stack([torch.zeros_like(score), score], dim=1)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), eps=st.floats(0.0, 1.0))
def test_fgsm_on_a_linear_model_is_clamp_x_plus_eps_sign_w(seed: int, eps: float) -> None:
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(1, 1, 5, 5, generator=gen)
    x = torch.rand(3, 1, 5, 5, generator=gen)
    model = camo.Classifier(Linear2(w))
    expected = (x + eps * w.sign()).clamp(0, 1)
    # Away from class 0 raises w·x; towards class 1 (targeted, the "negative epsilon") does the same.
    assert torch.equal(camo.fgsm(model, x, torch.zeros(3, dtype=torch.long), eps), expected)
    assert torch.equal(camo.fgsm(model, x, torch.ones(3, dtype=torch.long), eps, targeted=True), expected)
    # Away from class 1 lowers w·x.
    assert torch.equal(camo.fgsm(model, x, torch.ones(3, dtype=torch.long), eps), (x - eps * w.sign()).clamp(0, 1))


def test_normalisation_lives_in_the_classifier() -> None:
    net = small_cnn(channels=3)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    model = camo.Classifier(net, mean=mean, std=std)
    x = _batch(3, channels=3)
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    with torch.enable_grad():
        xr = x.clone().requires_grad_(True)
        loss = nn.functional.cross_entropy(net((xr - m) / s), net((x - m) / s).argmax(1))
        (grad,) = torch.autograd.grad(loss, xr)
    assert torch.equal(camo.fgsm(model, x, None, 0.03), (x + 0.03 * grad.sign()).clamp(0, 1))


def test_model_mode_and_parameter_flags_are_restored() -> None:
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(10))
    net(torch.rand(2, 1, 12, 12))
    model = camo.Classifier(net)
    model.train()
    net[0].weight.requires_grad_(False)
    stats = net[1].running_mean.clone()
    camo.pgd(model, _batch(4), None, 0.1, steps=3)
    assert model.training and net.training and net[1].training
    assert not net[0].weight.requires_grad and net[0].bias.requires_grad
    assert torch.equal(net[1].running_mean, stats), "an attack must not update BatchNorm statistics"
    assert all(p.grad is None for p in net.parameters()), "an attack must not compute parameter gradients"


def test_untargeted_without_labels_attacks_the_prediction(model: camo.Classifier) -> None:
    x = _batch(5)
    predicted = model(x).argmax(1)
    assert torch.equal(camo.fgsm(model, x, None, 0.1), camo.fgsm(model, x, predicted, 0.1))


def test_targeted_fgsm_moves_towards_the_target(mnist_model: camo.Classifier) -> None:
    from tests.support import read_mnist_test

    x, y = read_mnist_test()
    x, y = x[:200], y[:200]
    target = (y + 1) % 10
    before = mnist_model(x).softmax(1).gather(1, target[:, None])
    after = mnist_model(camo.fgsm(mnist_model, x, target, 0.1, targeted=True)).softmax(1).gather(1, target[:, None])
    assert float((after > before).float().mean()) > 0.9


def test_pgd_is_reproducible_with_a_generator(model: camo.Classifier) -> None:
    x = _batch(6)
    a = camo.pgd(model, x, None, 0.1, generator=torch.Generator().manual_seed(3))
    b = camo.pgd(model, x, None, 0.1, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


@pytest.mark.parametrize("targeted", [False, True])
def test_fgsm_is_bit_identical_to_torchattacks_and_cleverhans(targeted: bool) -> None:
    torchattacks = pytest.importorskip("torchattacks")
    cleverhans_fgm = pytest.importorskip("cleverhans.torch.attacks.fast_gradient_method")
    model = camo.Classifier(small_cnn(seed=7, channels=3), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    x = _batch(7, n=16, channels=3, size=16)
    y = torch.randint(0, 10, (16,), generator=torch.Generator().manual_seed(7))
    eps = 8 / 255
    ours = camo.fgsm(model, x, y, eps, targeted=targeted)

    attack = torchattacks.FGSM(model, eps=eps)
    if targeted:
        attack.set_mode_targeted_by_label(quiet=True)
    theirs = attack(x, y)
    assert torch.equal(ours, theirs)

    clever = cleverhans_fgm.fast_gradient_method(model, x, eps, float("inf"), clip_min=0.0, clip_max=1.0, y=y,
                                                 targeted=targeted)
    assert torch.equal(ours, clever.detach())
    assert float((ours - x).abs().max()) > 0


def test_fgsm_matches_peers_on_the_mnist_model(mnist_model: camo.Classifier) -> None:
    torchattacks = pytest.importorskip("torchattacks")
    from camo.models.zoo import mnist_digits

    _, _, x, y = mnist_digits()
    ours = camo.fgsm(mnist_model, x[:64], y[:64], 0.1)
    assert torch.equal(ours, torchattacks.FGSM(mnist_model, eps=0.1)(x[:64], y[:64]))


@pytest.mark.parametrize(
    ("x", "eps", "message"),
    [
        (torch.rand(2, 1, 8, 8), -0.1, "targeted=True"),
        (torch.rand(2, 1, 8, 8), 1.5, "larger than the whole pixel range"),
        (torch.rand(2, 1, 8, 8), float("nan"), "finite"),
        (torch.rand(2, 1, 8, 8) * 2 - 0.5, 0.1, "Did you pass normalised tensors"),
        (torch.rand(1, 8, 8), 0.1, "(N, C, H, W)"),
        ((torch.rand(2, 1, 8, 8) * 255).to(torch.uint8), 0.1, "floating-point"),
    ],
)
def test_bad_api_input_raises_a_clear_error(model: camo.Classifier, x: torch.Tensor, eps: float,
                                            message: str) -> None:
    with pytest.raises(camo.InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        camo.fgsm(model, x, None, eps)


def test_targeted_without_labels_is_an_error(model: camo.Classifier) -> None:
    with pytest.raises(camo.InputError, match="target labels"):
        camo.bim(model, _batch(0), None, 0.1, targeted=True)


def test_l2_fgm_moves_exactly_eps_when_unclipped() -> None:
    w = torch.randn(1, 1, 5, 5, generator=torch.Generator().manual_seed(0))
    x = torch.full((1, 1, 5, 5), 0.5)
    x_adv = camo.fgm(camo.Classifier(Linear2(w)), x, torch.zeros(1, dtype=torch.long), 0.2)
    assert torch.allclose(x_adv - x, 0.2 * w / w.norm(), atol=1e-6)
