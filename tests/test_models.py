"""Models: the Classifier wrapper, labels, the built-in models' accuracy, loading user models."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

import camo
from camo.errors import LabelError, ModelError
from camo.models.zoo import MnistRecipe, mnist_digits, train_mnist
from tests.support import read_mnist_test, shared, small_cnn, torch_threads


def test_classifier_adopts_the_networks_mode() -> None:
    net = small_cnn()
    assert not camo.Classifier(net).training
    assert camo.Classifier(net.train()).training


def test_labels_resolve_names_synonyms_and_numbers() -> None:
    labels = ["tench, Tinca tinca", "hog, pig, grunter", "golden_retriever"]
    model = camo.Classifier(small_cnn(classes=3), labels=labels)
    assert model.label_index("hog") == 1 and model.label_index("pig") == 1 and model.label_index("Pig") == 1
    assert model.label_index("golden retriever") == 2 and model.label_index("2") == 2 and model.label_index(0) == 0
    assert model.label_name(1) == "hog"
    with pytest.raises(LabelError, match="did you mean 'hog'"):
        model.label_index("hogg")
    with pytest.raises(LabelError, match="out of range"):
        model.label_index(7)


def test_bad_wrapper_settings_raise() -> None:
    with pytest.raises(camo.InputError, match="min < max"):
        camo.Classifier(small_cnn(), bounds=(1, 0))
    with pytest.raises(camo.InputError, match="both mean and std"):
        camo.Classifier(small_cnn(), mean=(0.5,))


def test_mnist_model_is_accurate_on_the_full_test_set(mnist_model: camo.Classifier) -> None:
    x, y = read_mnist_test()
    with torch.no_grad():
        predicted = torch.cat([mnist_model(x[i : i + 2000]).argmax(1) for i in range(0, len(x), 2000)])
    assert float((predicted == y).float().mean()) >= 0.96
    _, _, x_held, y_held = mnist_digits()
    with torch.no_grad():
        assert float((mnist_model(x_held).argmax(1) == y_held).float().mean()) >= 0.96


def test_pgd_40_at_eps_03_breaks_the_mnist_model(mnist_model: camo.Classifier) -> None:
    x, y = read_mnist_test()
    x, y = x[:300], y[:300]
    x_adv = camo.pgd(mnist_model, x, y, 0.3, steps=40, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert float((mnist_model(x_adv).argmax(1) == y).float().mean()) < 0.01


def test_mnist_cache_key_changes_with_the_recipe() -> None:
    assert MnistRecipe().key() == MnistRecipe().key()
    assert MnistRecipe(epochs=3).key() != MnistRecipe().key()


def test_imagenet_model_knows_the_hen(imagenet_model: camo.Classifier) -> None:
    hen = shared("imagenet_samples", "n01514859_hen.JPEG")
    x = camo.images.load(hen, size=imagenet_model.input_size)
    with torch.no_grad():
        assert imagenet_model.label_name(int(imagenet_model(x).argmax())) == "hen"
    assert imagenet_model.label_index("hog") == 341 and imagenet_model.label_index("cock") == 7


def test_exported_program_with_sidecar(tmp_path: Path) -> None:
    net = small_cnn(classes=3)
    path = tmp_path / "net.pt2"
    batch = torch.export.Dim("batch")
    torch.export.save(torch.export.export(net, (torch.rand(2, 1, 12, 12),), dynamic_shapes=({0: batch},)), path)
    (tmp_path / "net.json").write_text(json.dumps({"mean": [0.5], "std": [0.5], "labels": ["a", "b", "c"],
                                                    "input_size": [12, 12], "channels": 1}))
    model = camo.load_model(path)
    x = torch.rand(3, 1, 12, 12)
    assert model.labels == ("a", "b", "c") and model.input_size == (12, 12) and model.channels == 1
    assert torch.allclose(model(x), net((x - 0.5) / 0.5), atol=1e-6)
    x_adv = camo.pgd(model, x, None, 0.1, steps=2)
    assert 0 < float((x_adv - x).abs().max()) <= 0.1 + 1e-6


def test_torchscript_file(tmp_path: Path) -> None:
    net = small_cnn(classes=3)
    path = tmp_path / "net.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # deprecated in torch 2.13, still what users have
        torch.jit.script(net).save(str(path))
    x = torch.rand(2, 1, 12, 12)
    assert torch.allclose(camo.load_model(path)(x), net(x), atol=1e-6)


def test_factory_with_state_dict(tmp_path: Path) -> None:
    net = small_cnn(seed=3)
    torch.save(net.state_dict(), tmp_path / "w.pt")
    model = camo.load_model("tests.support:small_cnn", weights=tmp_path / "w.pt", labels=[str(i) for i in range(10)])
    x = torch.rand(2, 1, 12, 12)
    assert torch.equal(model(x), net(x))


@pytest.mark.parametrize(("spec", "message"), [
    ("resnet9000", "unknown model"),
    ("no_such_module:make", "cannot import"),
    ("tests.support:REPO", "not a torch.nn.Module|failed"),
])
def test_unknown_or_broken_models_raise(spec: str, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        camo.load_model(spec)


def test_a_non_model_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "junk.pt"
    path.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a TorchScript model"):
        camo.load_model(path)


def test_training_gives_the_same_weights_whatever_the_callers_thread_count() -> None:
    """The cache key names a recipe: training must not depend on how many threads the caller happened to use."""
    def tiny() -> torch.nn.Module:
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))

    weights = []
    for threads in (1, 2):
        with torch_threads(threads):
            net = train_mnist(MnistRecipe(epochs=1), network=tiny)
            assert torch.get_num_threads() == threads  # the caller's setting is restored
        weights.append(net.state_dict())
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_a_config_next_to_weights_cannot_name_an_arbitrary_factory(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A .pt + .json pair from elsewhere must not run code: only camo's own builders may be named in a config."""
    weights = tmp_path / "m.pt"
    torch.save(small_cnn().state_dict(), weights)
    (tmp_path / "m.json").write_text(json.dumps({"factory": "builtins:print",
                                                 "factory_kwargs": {"end": "FACTORY RAN\n"}}))
    with pytest.raises(ModelError, match="may name only camo's own"):
        camo.load_model(weights)
    assert "FACTORY RAN" not in capsys.readouterr().out
