"""What a person watches: before | after side by side with captions, and the preview GIF's frames."""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from camo.attack_record import Prediction
from camo.video.encode import even_sides

#: The GIF is a preview: at most this many frames per second, this many frames and this width.
GIF_FPS, GIF_MAX_FRAMES, GIF_WIDTH = 10.0, 200, 480

#: Each half of the before|after video is enlarged (pixel-exact) to at least this height, or shrunk to this width.
DISPLAY_MIN_HEIGHT, DISPLAY_MAX_WIDTH = 240, 1280


@functools.lru_cache(maxsize=64)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def caption(pred: Prediction, *, title: str, fooled: bool | None) -> str:
    """'before: hen 93%' or 'after: goose 71% · fooled'."""
    verdict = "" if fooled is None else (" · fooled" if fooled else " · not fooled")
    return f"{title}: {pred.label} {pred.confidence:.0%}{verdict}"


def side_by_side(before: np.ndarray, after: np.ndarray, before_text: str, after_text: str, *,
                 fooled: bool) -> np.ndarray:
    """The seed's look: before | after, each half captioned underneath, enlarged (pixel-exact) if tiny.

    Shape: (H, W, 3) uint8 twice -> (H', 2·W' + gap, 3) uint8 with even sides.
    """
    height, width = before.shape[:2]
    if height < DISPLAY_MIN_HEIGHT:
        factor = math.ceil(DISPLAY_MIN_HEIGHT / height)
        shown_w, shown_h, resample = width * factor, height * factor, Image.Resampling.NEAREST
    elif width > DISPLAY_MAX_WIDTH:
        shown_w, shown_h, resample = DISPLAY_MAX_WIDTH, round(height * DISPLAY_MAX_WIDTH / width), \
            Image.Resampling.BOX
    else:
        shown_w, shown_h, resample = width, height, Image.Resampling.NEAREST
    band = max(22, shown_h // 9)
    gap = 4
    canvas = Image.new("RGB", (2 * shown_w + gap, shown_h + band), (20, 20, 20))
    for i, arr in enumerate((before, after)):
        img = Image.fromarray(arr)
        if (shown_w, shown_h) != (width, height):
            img = img.resize((shown_w, shown_h), resample)
        canvas.paste(img, (i * (shown_w + gap), 0))
    draw = ImageDraw.Draw(canvas)
    colour_after = (255, 110, 90) if fooled else (140, 230, 140)
    for i, (text, colour) in enumerate(((before_text, (235, 235, 235)), (after_text, colour_after))):
        size = max(8, int(band * 0.6))
        while size > 8 and draw.textlength(text, font=_font(size)) > shown_w - 8:  # fit the half it captions
            size -= 1
        draw.text((i * (shown_w + gap) + 4, shown_h + band // 2), text, fill=colour, font=_font(size), anchor="lm")
    return even_sides(np.asarray(canvas))


def gif_frame(composed: np.ndarray) -> Image.Image:
    img = Image.fromarray(composed)
    if img.width > GIF_WIDTH:
        img = img.resize((GIF_WIDTH, max(2, round(img.height * GIF_WIDTH / img.width))), Image.Resampling.BOX)
    return img.quantize(colors=256, method=Image.Quantize.FASTOCTREE)  # median cut: 50× slower per frame


def gif_bytes(frames: Sequence[Image.Image], duration_ms: float) -> bytes:
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=list(frames[1:]), loop=0,
                   duration=max(20, round(duration_ms)), disposal=1)
    return buffer.getvalue()
