"""How visible each cloak preset is: the same face at 1:1 pixels, original and every preset, in one figure.

Run from the repository root (writes docs/cloak-presets.png and prints each preset's SSIM and verdicts)::

    OMP_NUM_THREADS=1 PYTHONPATH=src:. python bench/cloak_visibility.py

The face is matplotlib's bundled Grace Hopper portrait (public domain, installed with matplotlib; no file of
../shared is used), cloaked with the default ensemble at each preset and at the default with ``--grey``
(brightness only). Each panel is a
crop at 1:1 (no resampling) around the face, so what you see is what the saved file holds at 100 % zoom.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "cloak-presets.png"
CROP = 200  # px, the side of each 1:1 panel


def main() -> None:
    import matplotlib.cbook
    import torch

    from camo.choices import DEFAULT_PRESET
    from camo.face.cloak import PRESETS, cloak_ensured
    from camo.face.cloak_config import preset_name
    from camo.face.cloak_report import native_crops
    from camo.face.recognizers import get_recognizers
    from camo.images import to_rgb_uint8

    torch.set_num_threads(1)
    photo = to_rgb_uint8(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    members = get_recognizers("dlib,facenet,sface")
    panels: list[tuple[str, np.ndarray]] = []
    settings = [*PRESETS.items(), (f"{DEFAULT_PRESET} --grey", replace(PRESETS[DEFAULT_PRESET], grey=True))]
    for name, config in settings:
        # What a user gets: with low's margin, --ensure may cloak the face again at a stronger preset; then the
        # first attempt is shown too (what --margin 0 gives).
        attempts = cloak_ensured(photo, recognizers=members, config=config)
        first, result = attempts[0], attempts[-1]
        if len(attempts) > 1:
            assert first.verification is not None
            original, first_crop = native_crops(first, CROP)
            if not panels:
                panels.append(("original", original))
            panels.append((f"{name}, 1st try: SSIM {first.verification.ssim:.3f} / face "
                           f"{first.verification.face_ssim:.3f}", first_crop))
            name = f"{name} -> {preset_name(result.config)}"
        verification = result.verification
        assert verification is not None
        before, after = native_crops(result, CROP)
        if not panels:
            panels.append(("original", before))
        verdict = "protected" if verification.protected else "NOT protected"
        label = f"{name}: SSIM {verification.ssim:.3f} / face {verification.face_ssim:.3f}"
        panels.append((label, after))
        print(f"{name}: eps {config.eps * 255:.3g}/255, {config.steps} steps, smooth {config.smooth}, grey "
              f"{config.grey}, min_ssim {config.min_ssim}, features {config.features}, dropout {config.dropout}: "
              f"{verdict}, "
              f"SSIM photo {verification.ssim:.4f}, face region {verification.face_ssim:.4f}, "
              f"PSNR {verification.psnr:.1f} dB", file=sys.stderr)
    caption = 28
    width = sum(p.shape[1] for _, p in panels) + 8 * (len(panels) - 1)
    height = max(p.shape[0] for _, p in panels) + caption
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    x = 0
    for label, pixels in panels:
        canvas.paste(Image.fromarray(pixels), (x, caption))
        draw.text((x + 2, 6), label, fill="black")
        x += pixels.shape[1] + 8
    OUT.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(OUT)
    print(f"wrote {OUT.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
