"""What the patch optimisers and evaluations share: the progress callback, the target class, the model's labels."""

from __future__ import annotations

from collections.abc import Callable

import torch

from camo.attacks.core import Model, frozen
from camo.errors import LabelError

#: Called after each step with (step number from 1, steps, p(target) or batch success so far).
PatchCallback = Callable[[int, int, float], None]


def target_index(model: Model, target: int | str) -> tuple[int, str]:
    """The target's class index and name, by the model's labels when it has them, else a class number.

    Raises:
        LabelError: an unknown label, or a name for a model without class names.
    """
    label_index = getattr(model, "label_index", None)
    if label_index is not None:
        index = int(label_index(target))
        return index, str(model.label_name(index))  # type: ignore[attr-defined]
    if isinstance(target, int) or (isinstance(target, str) and target.strip().isdigit()):
        return int(target), str(int(target))
    raise LabelError(f"this model has no class names; give the target as a class number, not {target!r}")


def predicted_labels(model: Model, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """The model's class for every image, in batches. Shape: (N, C, H, W) -> (N,)."""
    with torch.no_grad(), frozen(model):
        return torch.cat([model(images[i : i + batch_size]).argmax(1) for i in range(0, len(images), batch_size)])
