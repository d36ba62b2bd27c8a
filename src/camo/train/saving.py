"""Saving a trained classifier as a state dict and a JSON sidecar that :func:`camo.load_model` reads back.

``model.pt`` holds the network's state dict; ``model.json`` holds how to rebuild it (``factory``: an importable
``package.module:function``, and its keyword arguments) and the preprocessing every command needs (bounds, labels,
input size, channels, mean/std), plus a summary of the training run.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from camo.errors import InputError
from camo.images import write_bytes_atomic
from camo.models.classifier import Classifier


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """Where the sidecar of a weights file lives: ``model.pt`` -> ``model.json``."""
    return Path(path).with_suffix(".json")


def save_model(
    model: Classifier,
    path: str | os.PathLike[str],
    *,
    factory: str,
    factory_kwargs: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model``'s network weights to ``path`` and its sidecar beside it, each atomically.

    Args:
        model: the classifier; its module's state dict is saved (mean/std go to the sidecar).
        path: the weights file, ending in ``.pt``.
        factory: ``package.module:function`` that builds the network (called with ``factory_kwargs``).
        factory_kwargs: JSON-serialisable keyword arguments of the factory.
        training: a summary of how it was trained, kept in the sidecar for the record.

    Returns:
        The weights path.

    Raises:
        InputError: a path not ending in ``.pt``, or a factory spec without ``:``.
    """
    target = Path(path)
    if target.suffix != ".pt":
        raise InputError(f"{target}: the weights file must end in .pt (its sidecar is the same name in .json)")
    if ":" not in factory:
        raise InputError(f"factory must be 'package.module:function'; got {factory!r}")
    sidecar: dict[str, Any] = {"factory": factory, "factory_kwargs": dict(factory_kwargs or {}),
                               "bounds": list(model.bounds), "channels": model.channels, "name": model.name}
    if model.labels is not None:
        sidecar["labels"] = list(model.labels)
    if model.input_size is not None:
        sidecar["input_size"] = list(model.input_size)
    if model.mean is not None and model.std is not None:
        sidecar["mean"] = model.mean.flatten().tolist()
        sidecar["std"] = model.std.flatten().tolist()
    if training is not None:
        sidecar["training"] = dict(training)
    buffer = io.BytesIO()
    torch.save(model.module.state_dict(), buffer)
    write_bytes_atomic(buffer.getvalue(), target)
    write_bytes_atomic((json.dumps(sidecar, indent=2) + "\n").encode("utf-8"), sidecar_path(target))
    return target
