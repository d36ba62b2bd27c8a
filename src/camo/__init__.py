"""camo: FGSM and its family for any PyTorch classifier, and face-photo cloaking against real recognizers.

Importing camo loads no model and touches no file.
"""

from camo import images
from camo.attacks import apply_patch, bim, fgm, fgsm, grow_patch, mifgsm, pgd, train_patch
from camo.errors import CamoError, ImageError, InputError, LabelError, ModelError, NoFaceError
from camo.face.cloak import cloak
from camo.models import Classifier, load_model

__version__ = "0.1.0"

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
