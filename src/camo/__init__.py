"""camo: FGSM and its family for any PyTorch classifier, and face-photo cloaking against real recognizers.

Importing camo loads no model, touches no file and imports nothing heavy: each public name is imported on first
use (so ``camo --help`` answers without loading torch).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from camo.errors import CamoError, ImageError, InputError, LabelError, ModelError, NoFaceError

if TYPE_CHECKING:
    from camo import images
    from camo.attacks import apply_patch, bim, fgm, fgsm, grow_patch, mifgsm, pgd, train_patch
    from camo.face.cloak import cloak
    from camo.models import Classifier, load_model

__version__ = "0.1.0"

#: Where each lazily imported public name lives.
_LAZY = {
    "images": "camo.images",
    **dict.fromkeys(("apply_patch", "bim", "fgm", "fgsm", "grow_patch", "mifgsm", "pgd", "train_patch"),
                    "camo.attacks"),
    "cloak": "camo.face.cloak",
    "Classifier": "camo.models",
    "load_model": "camo.models",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'camo' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    value = module if name == "images" else getattr(module, name)
    globals()[name] = value  # later lookups skip this function
    return value


__all__ = [
    "CamoError",
    "Classifier",
    "ImageError",
    "InputError",
    "LabelError",
    "ModelError",
    "NoFaceError",
    "__version__",
    "apply_patch",
    "bim",
    "cloak",
    "fgm",
    "fgsm",
    "grow_patch",
    "images",
    "load_model",
    "mifgsm",
    "pgd",
    "train_patch",
]
