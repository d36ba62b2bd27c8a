"""Architectures camo trains: small CNNs sized by keyword, so that a JSON sidecar can rebuild them by name."""

from __future__ import annotations

from torch import nn


def small_cnn(
    *, channels: int = 1, classes: int = 10, input_size: tuple[int, int] | list[int] = (28, 28), width: int = 16,
    hidden: int = 100,
) -> nn.Module:
    """Two stride-2 4×4 convolutions and two linear layers: the MNIST network of Wong, Rice & Kolter 2020 ("Fast is
    better than free") at the defaults, about 0.17 M parameters and fast enough to train adversarially on a CPU.

    Args:
        channels: input channels (1 grey, 3 RGB).
        classes: number of outputs.
        input_size: (height, width) of the input; each is quartered by the two convolutions.
        width: channels of the first convolution (the second has twice as many).
        hidden: units of the hidden linear layer.

    Shape: (N, channels, H, W) -> (N, classes).
    """
    height, wide = (int(v) for v in input_size)
    out_h, out_w = height // 2 // 2, wide // 2 // 2
    return nn.Sequential(
        nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(2 * width * out_h * out_w, hidden), nn.ReLU(),
        nn.Linear(hidden, classes),
    )
