"""``load_model``: a built-in name, a ``torch.export`` (.pt2) or TorchScript file, or ``package.module:factory``
(with an optional state dict).

Preprocessing for user models (mean, std, bounds, labels, input size) comes from keyword options or from a JSON
sidecar next to the model file (``model.pt`` -> ``model.json``, or ``--config FILE``), for example::

    {"mean": [0.4914, 0.4822, 0.4465], "std": [0.247, 0.243, 0.261], "bounds": [0, 1],
     "labels": ["airplane", "automobile", ...], "input_size": [32, 32], "channels": 3}

A sidecar with ``"factory": "package.module:function"`` (and optional ``"factory_kwargs"``) makes the model file a
*state dict* for the network that factory builds: what ``camo train`` writes.
"""

from __future__ import annotations

import importlib
import json
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from camo.errors import ModelError
from camo.models.classifier import Classifier
from camo.models.zoo import BUILTIN, TrainProgress, load_imagenet, load_mnist

_SIDECAR_KEYS = {"mean", "std", "bounds", "labels", "input_size", "channels", "name", "factory", "factory_kwargs",
                 "training"}


def load_model(
    name_or_path: str | os.PathLike[str],
    *,
    weights: str | os.PathLike[str] | None = None,
    config: str | os.PathLike[str] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    bounds: tuple[float, float] | None = None,
    labels: Sequence[str] | None = None,
    input_size: tuple[int, int] | None = None,
    channels: int | None = None,
    retrain: bool = False,
    progress: TrainProgress | None = None,
) -> Classifier:
    """Load a model as a :class:`Classifier` in eval mode on the CPU.

    Args:
        name_or_path: ``"mnist"``, ``"mnist-robust"``, ``"imagenet"`` (in any case), a ``.pt2`` (torch.export) or
            TorchScript file, or ``"package.module:factory"``.
        weights: a state-dict file for a ``package.module:factory`` model.
        config: a JSON sidecar with mean/std/bounds/labels/input_size/channels (default: ``<model>.json`` if present).
        mean, std, bounds, labels, input_size, channels: override the sidecar.
        retrain: built-in ``mnist`` and ``mnist-robust`` only: train again instead of using the cache.
        progress: built-in ``mnist`` and ``mnist-robust`` only: called after each training epoch.

    Raises:
        ModelError: unknown name, unreadable file, factory that cannot be imported or called.
    """
    from camo.names import builtin_name, unknown_model

    spec = str(name_or_path)
    path = Path(spec)
    if spec not in BUILTIN and not path.exists():
        spec = builtin_name(spec, BUILTIN) or spec  # ImageNet, MNIST: the built-in, whatever the case
    if spec in BUILTIN:
        if spec == "mnist":
            return load_mnist(retrain=retrain, progress=progress)
        if spec == "mnist-robust":
            from camo.train.builtin import load_mnist_robust  # imported here: camo.train builds on camo.models

            return load_mnist_robust(retrain=retrain, progress=progress)
        return load_imagenet()
    options = _read_sidecar(Path(config) if config else path.with_suffix(".json"), required=config is not None)
    if path.is_file() and options.get("factory"):
        module = _load_factory(str(options["factory"]), path, options.get("factory_kwargs") or {})
    elif path.is_file():
        module = _load_file(path)
    elif ":" in spec and not path.exists():
        module = _load_factory(spec, weights)
    else:
        raise unknown_model(spec, list(BUILTIN))
    overrides = {"mean": mean, "std": std, "bounds": bounds, "labels": labels,
                 "input_size": input_size, "channels": channels}
    options.update({key: value for key, value in overrides.items() if value is not None})
    module.eval()
    return Classifier(
        module,
        mean=options.get("mean"),
        std=options.get("std"),
        bounds=tuple(options.get("bounds", (0.0, 1.0))),  # type: ignore[arg-type]
        labels=options.get("labels"),
        input_size=tuple(options["input_size"]) if options.get("input_size") else None,  # type: ignore[arg-type]
        channels=int(options.get("channels", 3)),
        name=str(options.get("name", path.stem if path.is_file() else spec)),
    )


def _read_sidecar(path: Path, *, required: bool) -> dict[str, Any]:
    if not path.is_file():
        if required:
            raise ModelError(f"model config {path} does not exist")
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelError(f"model config {path} is not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ModelError(f"model config {path} must hold a JSON object")
    unknown = set(data) - _SIDECAR_KEYS
    if unknown:
        raise ModelError(f"model config {path}: unknown keys {sorted(unknown)}; allowed: {sorted(_SIDECAR_KEYS)}")
    if not isinstance(data.get("factory_kwargs", {}), dict):
        raise ModelError(f"model config {path}: 'factory_kwargs' must be a JSON object")
    factory = data.get("factory")
    # A JSON file lying next to weights must not be able to run arbitrary code (a downloaded pair would look like
    # a safe state dict): it may name camo's own network builders only; the user's own factory is typed by them.
    if factory is not None and not str(factory).startswith("camo."):
        raise ModelError(f"model config {path} names the factory {factory!r}; a config may name only camo's own "
                         "(camo.…); give your own on the command line: --model package.module:factory --weights FILE")
    return data


class _ExportedProgram(nn.Module):
    """Holds a ``torch.export`` program's module, which refuses ``.eval()``; it has no training mode to switch."""

    def __init__(self, program: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        object.__setattr__(self, "_program", program)  # not a submodule: keeps train()/eval() away from it

    _program: Callable[[torch.Tensor], torch.Tensor]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self._program(x)
        return out


def _load_file(path: Path) -> nn.Module:
    """A ``torch.export`` program (``.pt2``) or a TorchScript file."""
    if path.suffix == ".pt2":
        try:
            program = torch.export.load(str(path)).module()
        except Exception as err:  # torch raises many types for a bad archive; all mean "cannot load"
            raise ModelError(f"{path}: not a torch.export program ({type(err).__name__}: {err})") from None
        return _ExportedProgram(program)
    try:
        with warnings.catch_warnings():
            # TorchScript is deprecated in torch 2.13 but still what many users have; loading it is deliberate.
            warnings.simplefilter("ignore", DeprecationWarning)
            module: nn.Module = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelError(
            f"{path}: not a TorchScript model ({first}). Save a model with torch.export.save(...) as .pt2, "
            "or give 'package.module:factory' with --weights"
        ) from None
    return module


def _load_factory(spec: str, weights: str | os.PathLike[str] | None,
                  kwargs: dict[str, Any] | None = None) -> nn.Module:
    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ModelError(f"cannot import {spec!r}: {err}") from None
    try:
        module = factory(**(kwargs or {}))
    except Exception as err:  # user code: report whatever it raised, with where it came from
        raise ModelError(f"calling {spec}() failed: {type(err).__name__}: {err}") from err
    if not isinstance(module, nn.Module):
        raise ModelError(f"{spec}() returned {type(module).__name__}, not a torch.nn.Module")
    if weights is not None:
        try:
            state = torch.load(weights, map_location="cpu", weights_only=True)
            module.load_state_dict(state)
        except (RuntimeError, OSError, EOFError, ValueError) as err:
            raise ModelError(f"cannot load weights {weights} into {spec}(): {err}") from None
    return module
