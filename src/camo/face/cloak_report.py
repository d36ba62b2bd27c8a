"""A self-contained HTML report of a cloaking run: original / amplified perturbation / cloaked, with dlib's verdicts.

The perturbation is shown honestly: ``128 + gain · (cloaked − original)`` in grey levels, clipped, with the gain
stated, never wrapped around uint8. Images are embedded as base64 PNGs (cropped to the faces and shrunk), so the
page opens anywhere without its folder.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from camo.face.cloak import CloakedPhoto, CloakResult
from camo.images import write_bytes_atomic

__all__ = ["perturbation_image", "report_html", "triptych", "write_report"]

_THUMB = 320  # px: the longest side of each panel


def perturbation_image(original: np.ndarray, cloaked: np.ndarray, *, gain: float) -> np.ndarray:
    """The change made, amplified and centred on mid-grey: ``clip(128 + gain · (cloaked − original))``.

    Shape: (H, W, 3) uint8, (H, W, 3) uint8 -> (H, W, 3) uint8.
    """
    delta = cloaked.astype(np.float64) - original.astype(np.float64)
    return np.clip(np.round(128.0 + gain * delta), 0, 255).astype(np.uint8)


def _png_data(pixels: np.ndarray) -> str:
    img = Image.fromarray(pixels)
    img.thumbnail((_THUMB, _THUMB), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _face_region(result: CloakResult) -> tuple[int, int, int, int]:
    """The union of the changed crops (left, top, right, bottom), or the whole photo."""
    height, width = result.original.shape[:2]
    crops = [face.crop for face in result.faces]
    if not crops:
        return 0, 0, width, height
    return (min(c[0] for c in crops), min(c[1] for c in crops), max(c[2] for c in crops), max(c[3] for c in crops))


def _panels(result: CloakResult) -> list[tuple[str, np.ndarray]]:
    """The seed's figure as (caption, pixels) panels, cropped to the faces; the gain is chosen so ±L∞ → ±127."""
    left, top, right, bottom = _face_region(result)
    original = result.original[top:bottom, left:right]
    cloaked = result.pixels[top:bottom, left:right]
    linf = max(1, result.linf)
    gain = 127.0 / linf
    return [("original", original),
            (f"perturbation × {gain:.1f} (±{linf}/255 shown as ±127 around grey)",
             perturbation_image(original, cloaked, gain=gain)),
            ("cloaked (saved file)", cloaked)]


def triptych(result: CloakResult) -> np.ndarray:
    """original | amplified perturbation | cloaked side by side, as one RGB uint8 image (faces' region only)."""
    panels = [pixels for _, pixels in _panels(result)]
    gap = np.full((panels[0].shape[0], 8, 3), 255, dtype=np.uint8)
    return np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1)


def report_html(records: Sequence[CloakedPhoto], *, title: str = "camo cloak report") -> str:
    """The report page for cloaked photos (photos without a face are listed, without figures)."""
    cloaked = [r for r in records if r.result is not None]
    protected = sum(r.protected for r in cloaked)
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>body{{font-family:system-ui,sans-serif;max-width:1100px;"
        "margin:2em auto;padding:0 1em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
        "padding:.3em .6em}figure{display:inline-block;margin:.3em;text-align:center}.no{color:#b00}"
        ".yes{color:#060}img{border:1px solid #eee}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p><b>{protected} of {len(cloaked)}</b> cloaked photos are no longer matched by dlib's face recognizer "
        "(the model behind face_recognition), checked on each <em>saved file</em> read back: dlib's own detector, "
        "5-point alignment and descriptor; a face counts as matched when its descriptor lies within the tolerance "
        "(0.6) of the original face's.</p>",
        "<p><b>What this protects against:</b> matching by dlib / face_recognition against galleries of your clean "
        "photos (dodge mode), and a dlib-based recognizer enrolled with your cloaked photos (decoy mode; measured "
        "with a 1-nearest-neighbour recognizer, with thin margins at the default preset). "
        "<b>Not tested against:</b> other recognizers (ArcFace, FaceNet, commercial services); a cloak made for one "
        "model often does not transfer to another. Strong re-compression or resizing beyond what was verified may "
        "weaken it.</p>",
        "<table><tr><th>photo</th><th>faces</th><th>verdict</th><th>distance</th><th>PSNR dB</th><th>SSIM</th>"
        "<th>face SSIM</th><th>ε (/255)</th><th>steps</th><th>time s</th></tr>",
    ]
    for r in records:
        v = r.verification
        if v is None or r.result is None:
            parts.append(f"<tr><td>{html.escape(r.source.name)}</td><td>0</td><td colspan='8'>"
                         f"{html.escape(r.verdict())}</td></tr>")
            continue
        klass = "yes" if r.protected else "no"
        distance = "-" if v.min_distance is None else f"{v.min_distance:.3f}"
        psnr = "-" if v.psnr is None else f"{v.psnr:.1f}"
        parts.append(
            f"<tr><td>{html.escape(r.source.name)}</td><td>{len(r.result.faces)}</td>"
            f"<td class='{klass}'>{html.escape(r.verdict())}</td><td>{distance}</td><td>{psnr}</td>"
            f"<td>{v.ssim:.4f}</td><td>{v.face_ssim:.4f}</td><td>{r.result.config.eps * 255:.3g}</td>"
            f"<td>{r.result.config.steps}</td><td>{r.seconds:.2f}</td></tr>")
    parts.append("</table>")
    for r in records:
        if r.result is None:
            continue
        parts.append(f"<h2>{html.escape(r.source.name)}</h2><p>{html.escape(r.verdict())}</p>")
        for caption, pixels in _panels(r.result):
            parts.append(f"<figure><img src='{_png_data(pixels)}' alt='{html.escape(caption)}'>"
                         f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(records: Sequence[CloakedPhoto], path: str | Path) -> Path:
    """Write :func:`report_html` atomically to ``path``."""
    return write_bytes_atomic(report_html(records).encode("utf-8"), path)
