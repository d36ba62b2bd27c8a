"""Adversarial training: FGSM with a random start (the default), N-FGSM, PGD or none, on any Classifier.

Example:
    >>> from camo.train import TrainConfig, mnist_data, save_model, train
    >>> result = train(model, mnist_data(), TrainConfig(method="fgsm-rs", eps=0.3, epochs=10))
    >>> save_model(model, "robust.pt", factory="camo.models.networks:small_cnn")
"""

from camo.train.data import TrainData, image_folder, mnist_data
from camo.train.loop import EpochReport, TrainConfig, TrainResult, cyclic_lr, held_out_check, train
from camo.train.methods import METHODS, adversarial_batch
from camo.train.saving import save_model, sidecar_path

__all__ = [
    "METHODS",
    "EpochReport",
    "TrainConfig",
    "TrainData",
    "TrainResult",
    "adversarial_batch",
    "cyclic_lr",
    "held_out_check",
    "image_folder",
    "mnist_data",
    "save_model",
    "sidecar_path",
    "train",
]
