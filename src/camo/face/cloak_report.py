"""A self-contained HTML report of a cloaking run: original / amplified perturbation / cloaked, with each
recognizer's verdict, and the face at 1:1 pixels before and after (how visible the cloak is).

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

__all__ = ["native_crops", "perturbation_image", "report_html", "triptych", "write_report"]

_THUMB = 320  # px: the longest side of each panel
_NATIVE = 256  # px: the side of the 1:1 crops (no resampling)


def perturbation_image(original: np.ndarray, cloaked: np.ndarray, *, gain: float) -> np.ndarray:
    """The change made, amplified and centred on mid-grey: ``clip(128 + gain · (cloaked − original))``.

    Shape: (H, W, 3) uint8, (H, W, 3) uint8 -> (H, W, 3) uint8.
    """
    delta = cloaked.astype(np.float64) - original.astype(np.float64)
    return np.clip(np.round(128.0 + gain * delta), 0, 255).astype(np.uint8)


def _png_data(pixels: np.ndarray, *, shrink: bool = True) -> str:
    img = Image.fromarray(pixels)
    if shrink:
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


def native_crops(result: CloakResult, size: int = _NATIVE) -> tuple[np.ndarray, np.ndarray]:
    """The same ``size``-pixel square of the original and the cloaked photo around the largest face's centre, at
    1:1 (no resampling): how the cloak looks on skin, which shrunk panels hide.

    Shape: -> two (h, w, 3) uint8 arrays, h, w ≤ size.
    """
    height, width = result.original.shape[:2]
    if result.faces:
        left, top, right, bottom = result.faces[0].box
        cx, cy = (left + right) // 2, (top + bottom) // 2
    else:
        cx, cy = width // 2, height // 2
    x0 = int(min(max(0, cx - size // 2), max(0, width - size)))
    y0 = int(min(max(0, cy - size // 2), max(0, height - size)))
    window = (slice(y0, y0 + size), slice(x0, x0 + size))
    return result.original[window], result.pixels[window]


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
        ".yes{color:#060}img{border:1px solid #eee}img.native{image-rendering:pixelated}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p><b>{protected} of {len(cloaked)}</b> cloaked photos are no longer matched by any recognizer of the "
        "ensemble, checked on each <em>saved file</em> read back by each recognizer's own runtime (dlib; OpenCV for "
        "FaceNet and SFace; onnxruntime for an ONNX file): shared detection, the recognizer's own alignment and "
        "descriptor; a face counts as matched when its descriptor lies within the recognizer's threshold of the "
        "original face's. A photo counts as protected only when every recognizer agrees.</p>",
        "<p><b>What this protects against:</b> matching by the recognizers listed below against galleries of your "
        "clean photos (dodge mode), and a dlib-based recognizer enrolled with your cloaked photos (decoy mode). "
        "<b>Not guaranteed:</b> recognizers outside the ensemble (commercial services, other networks): transfer "
        "to an unseen recognizer was measured, not promised (bench/ENSEMBLE_RESULTS.md). Strong re-compression or "
        "resizing beyond what was verified may weaken it; no cloak survives a tracker that retrains against it.</p>",
        "<table><tr><th>photo</th><th>faces</th><th>verdict</th><th>recognizer</th><th>distance</th>"
        "<th>threshold</th><th>PSNR dB</th><th>SSIM</th><th>face SSIM</th><th>ε (/255)</th><th>steps</th>"
        "<th>time s</th></tr>",
    ]
    for r in records:
        v = r.verification
        if v is None or r.result is None:
            parts.append(f"<tr><td>{html.escape(r.source.name)}</td><td>0</td><td colspan='10'>"
                         f"{html.escape(r.verdict())}</td></tr>")
            continue
        klass = "yes" if r.protected else "no"
        psnr = "-" if v.psnr is None else f"{v.psnr:.1f}"
        rows = max(1, len(v.recognizers))
        head = (f"<td rowspan='{rows}'>{html.escape(r.source.name)}</td><td rowspan='{rows}'>{len(r.result.faces)}"
                f"</td><td rowspan='{rows}' class='{klass}'>{html.escape(r.verdict())}</td>")
        tail = (f"<td rowspan='{rows}'>{psnr}</td><td rowspan='{rows}'>{v.ssim:.4f}</td>"
                f"<td rowspan='{rows}'>{v.face_ssim:.4f}</td><td rowspan='{rows}'>{r.result.config.eps * 255:.3g}</td>"
                f"<td rowspan='{rows}'>{r.result.config.steps}</td><td rowspan='{rows}'>{r.seconds:.2f}</td>")
        for i, member in enumerate(v.recognizers):
            distance = "-" if member.min_distance is None else f"{member.min_distance:.3f}"
            word = "yes" if member.protected else "no"
            cells = (f"<td>{html.escape(member.recognizer)}</td><td class='{word}'>{distance}</td>"
                     f"<td>{member.threshold:g}</td>")
            parts.append("<tr>" + (head + cells + tail if i == 0 else cells) + "</tr>")
    parts.append("</table>")
    for r in records:
        if r.result is None:
            continue
        parts.append(f"<h2>{html.escape(r.source.name)}</h2><p>{html.escape(r.verdict())}</p>")
        for caption, pixels in _panels(r.result):
            parts.append(f"<figure><img src='{_png_data(pixels)}' alt='{html.escape(caption)}'>"
                         f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        before, after = native_crops(r.result)
        parts.append("<div class='native'>")
        for caption, pixels in (("original, 1:1 pixels", before), ("cloaked, 1:1 pixels", after)):
            # width/height in CSS pixels = image pixels: shown at its own size, never smoothed by the browser.
            parts.append(f"<figure><img class='native' src='{_png_data(pixels, shrink=False)}' "
                         f"width='{pixels.shape[1]}' height='{pixels.shape[0]}' alt='{html.escape(caption)}'>"
                         f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(records: Sequence[CloakedPhoto], path: str | Path) -> Path:
    """Write :func:`report_html` atomically to ``path``."""
    return write_bytes_atomic(report_html(records).encode("utf-8"), path)
