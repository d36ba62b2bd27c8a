"""How far feature dropout moves each member's descriptor of a clean face: the calibration of the dropout rates.

A cloak with feature dropout sees random *ghosts* of its members (camo.face.surrogate). A ghost is useful only while
it still recognises the person: its descriptor of the clean face must stay well inside the member's own match
boundary. For each member and each rate p this prints the median, over photos and draws, of

    distance(ghost's descriptor of the clean face, the member's own descriptor) ÷ the member's threshold

and the largest p of the grid whose median is at most ``--limit`` (0.5: halfway to the boundary). Only the members
are used: no cloak is made and no recognizer outside the ensemble is consulted.

    OMP_NUM_THREADS=1 PYTHONPATH=src:. python bench/ghost_calibration.py            # the table
    OMP_NUM_THREADS=1 PYTHONPATH=src:. python bench/ghost_calibration.py --members dlib --rates 0.01,0.02
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
KNN = ROOT.parent / "shared" / "data" / "faces" / "face_recognition_examples" / "examples" / "knn_examples" / "train"
RATES = (0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1)


def photos(count: int) -> list[Path]:
    """The first ``count`` knn training photos, in a fixed order (the photos round 5 calibrated on)."""
    found = sorted(p for person in sorted(KNN.iterdir()) if person.is_dir() for p in sorted(person.iterdir()))
    return found[:count]


def ghost_distances(member_name: str, rates: list[float], paths: list[Path], draws: int,
                    seed: int) -> dict[float, float]:
    """Median ghost distance ÷ threshold per rate for one member."""
    from camo.face.recognizers import get_recognizers, locate_faces
    from camo.face.recognizers.base import crop_tensor
    from camo.face.surrogate import surrogate
    from camo.images import to_rgb_uint8

    member = get_recognizers(member_name)[0]
    chips = []
    for path in paths:
        pixels = to_rgb_uint8(path)
        located = locate_faces(pixels, upsample=1, landmarks68=member.needs_landmarks68)
        if located:
            chips.append((crop_tensor(pixels), member.geometry(located[0])))
    if not chips:
        raise SystemExit(f"no face found in {len(paths)} photos under {KNN}")
    medians: dict[float, float] = {}
    for rate in rates:
        ratios = []
        for index, (x, geometry) in enumerate(chips):
            with torch.no_grad():
                own = member.descriptor(x, geometry)
            # Dropout acts only in passes with gradients, as in a cloak's step.
            with surrogate(dropout=rate, seed=seed + index), torch.enable_grad():
                ghosts = [member.descriptor(x, geometry).detach() for _ in range(draws)]
            ratios += [float(member.torch_distance(g, own)[0]) / member.threshold for g in ghosts]
        medians[rate] = statistics.median(ratios)
    return medians


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", default="dlib,facenet,sface")
    parser.add_argument("--rates", default=",".join(f"{r:g}" for r in RATES))
    parser.add_argument("--photos", type=int, default=6)
    parser.add_argument("--draws", type=int, default=4)
    parser.add_argument("--limit", type=float, default=0.5, help="largest median ghost distance ÷ threshold")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not KNN.is_dir():
        print(f"needs the shared photos: {KNN} is missing", file=sys.stderr)
        return 2
    torch.manual_seed(args.seed)
    rates = [float(r) for r in args.rates.split(",")]
    members = [m.strip() for m in args.members.split(",")]
    paths = photos(args.photos)
    table = {name: ghost_distances(name, rates, paths, args.draws, args.seed) for name in members}
    print(f"median ghost distance ÷ threshold ({len(paths)} photos × {args.draws} draws)")
    print("| p | " + " | ".join(members) + " |")
    print("|---|" + "---|" * len(members))
    for rate in rates:
        print(f"| {rate:g} | " + " | ".join(f"{table[name][rate]:.2f}" for name in members) + " |")
    chosen = {name: max([r for r in rates if table[name][r] <= args.limit], default=None) for name in members}
    print("largest rate within " + f"{args.limit:g}: " + ", ".join(f"{n} {'none' if r is None else f'{r:g}'}"
                                                                   for n, r in chosen.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
