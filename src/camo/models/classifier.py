"""The model wrapper every attack talks to: pixel-space input, normalisation inside, bounds and label names."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from camo.errors import InputError, LabelError


class Classifier(nn.Module):
    """A classifier whose forward takes *pixel-space* images and returns logits.

    Normalisation lives here and only here: attacks see pixels in ``bounds`` and ε in pixel units, so
    ``fgsm(model, x, y, 8/255)`` means 8 grey levels whatever the network's preprocessing.

    Args:
        module: any ``nn.Module`` (or TorchScript module) mapping normalised input to logits.
        mean: per-channel mean subtracted before ``module`` (pixel units), or None.
        std: per-channel standard deviation divided by before ``module``, or None.
        bounds: the (min, max) pixel values inputs live in; attacks clip to them.
        labels: class names, index i naming logit i.
        input_size: (height, width) the network expects, used when loading image files; None = any size.
        channels: number of input channels (1 grey, 3 RGB).
        name: a short name for reports.

    Shape: (N, C, H, W) pixel-space input -> (N, K) logits.

    Example:
        >>> model = Classifier(net, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
        >>> x_adv = camo.fgsm(model, x, y, 8 / 255)
    """

    mean: torch.Tensor | None
    std: torch.Tensor | None

    def __init__(
        self,
        module: nn.Module,
        *,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        bounds: tuple[float, float] = (0.0, 1.0),
        labels: Sequence[str] | None = None,
        input_size: tuple[int, int] | None = None,
        channels: int = 3,
        name: str = "model",
    ) -> None:
        super().__init__()
        lo, hi = float(bounds[0]), float(bounds[1])
        if not lo < hi:
            raise InputError(f"bounds must be (min, max) with min < max; got {bounds}")
        if (mean is None) != (std is None):
            raise InputError("give both mean and std, or neither")
        self.module = module
        self.bounds = (lo, hi)
        self.labels: tuple[str, ...] | None = tuple(labels) if labels is not None else None
        self.input_size = (int(input_size[0]), int(input_size[1])) if input_size is not None else None
        self.channels = channels
        self.name = name
        # A fresh nn.Module is in training mode; adopt the wrapped network's mode instead, so that a model loaded
        # in eval mode stays there (BatchNorm in training mode on a single image gives garbage and updates stats).
        self.train(module.training)
        if mean is not None and std is not None:
            mean_t = torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)
            std_t = torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)
            if bool((std_t <= 0).any()):
                raise InputError(f"std must be positive; got {list(std)}")
            self.register_buffer("mean", mean_t)
            self.register_buffer("std", std_t)
        else:
            self.mean = None
            self.std = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mean is not None and self.std is not None:
            x = (x - self.mean) / self.std
        out: torch.Tensor = self.module(x)
        return out

    @property
    def num_classes(self) -> int | None:
        return len(self.labels) if self.labels is not None else None

    def label_name(self, index: int) -> str:
        """The short name of class ``index``: its first synonym ('hog' for 'hog, pig, grunter, ...'), or its number."""
        if self.labels is None or not 0 <= index < len(self.labels):
            return str(index)
        return self.labels[index].split(",")[0].strip()

    def label_index(self, label: str | int) -> int:
        """The class index for a name, a synonym (ImageNet names hold several, comma-separated) or a number.

        Raises:
            LabelError: the model has no such class; the message suggests close names.
        """
        if isinstance(label, int) or (isinstance(label, str) and label.strip().isdigit()):
            index = int(label)
            if self.labels is not None and not 0 <= index < len(self.labels):
                raise LabelError(f"class index {index} is out of range for {self.name} (0..{len(self.labels) - 1})")
            return index
        if self.labels is None:
            raise LabelError(f"{self.name} has no class names; give the target as a class number")
        wanted = _normalise(label)
        for i, name in enumerate(self.labels):
            if _normalise(name) == wanted:
                return i
        for i, name in enumerate(self.labels):
            if wanted in (_normalise(part) for part in name.split(",")):
                return i
        from camo.names import label_hint

        raise LabelError(f"unknown label {label!r} for {self.name}{label_hint(self.labels, label)}")


def _normalise(name: str) -> str:
    return " ".join(name.replace("_", " ").lower().split())
