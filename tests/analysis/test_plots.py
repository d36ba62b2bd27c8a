"""Figures camo writes carry no metadata: matplotlib's "Software" text chunk is left out like EXIF is elsewhere."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
from PIL import Image

from camo.analysis.plots import png_bytes


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
