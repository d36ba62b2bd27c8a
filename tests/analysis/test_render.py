"""camo.analysis.render: figures carry no metadata; a signed perturbation is shown around mid-grey, never wrapped."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image

from camo.analysis.render import png_bytes, signed_to_display


def test_figure_png_has_no_text_chunks() -> None:
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    data = png_bytes(fig)
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        assert img.format == "PNG" and img.size[0] > 100
        texts = {k: v for k, v in img.info.items() if isinstance(v, str)}
        assert texts == {}, texts  # matplotlib would add {"Software": "Matplotlib version..."}
    assert b"tEXt" not in data and b"iTXt" not in data and b"zTXt" not in data


def test_signed_perturbation_is_grey_when_zero_and_saturates_at_the_scale() -> None:
    eps = 8 / 255
    delta = torch.tensor([0.0, eps, -eps, eps / 2, 3 * eps, -1 / 255]).reshape(1, 1, 2, 3)
    shown = signed_to_display(delta, eps)
    assert shown.shape == (2, 3, 1)
    np.testing.assert_allclose(shown[..., 0].ravel(), [0.5, 1.0, 0.0, 0.75, 1.0, 0.5 - 1 / 16], atol=1e-6)
    # −1/255 stays just below grey (uint8 casting would wrap it to white)
    assert signed_to_display(delta[0], 0.0).shape == (2, 3, 1)  # a zero scale cannot divide by zero
