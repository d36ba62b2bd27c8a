"""Models: the :class:`Classifier` wrapper, the built-in zoo and loading user models."""

from camo.models.classifier import Classifier
from camo.models.loading import load_model
from camo.models.zoo import BUILTIN, IMAGENET_MEAN, IMAGENET_STD, MnistRecipe, load_imagenet, load_mnist

__all__ = [
    "BUILTIN",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Classifier",
    "MnistRecipe",
    "load_imagenet",
    "load_mnist",
    "load_model",
]
