"""Decoy mode with the ensemble, in Fawkes' threat model, scored by every recognizer and the validation recognizer.

Run from the repository root::

    OMP_NUM_THREADS=1 PYTHONPATH=src:. python bench/ensemble_knn.py --preset mid --seed 0
    OMP_NUM_THREADS=1 PYTHONPATH=src:. python bench/ensemble_knn.py --preset mid --smooth 2 --eps 16 --steps 10

The experiment of bench/CLOAK_RESULTS.md ("Decoy mode: the Fawkes threat model"), with the cloak made on the
ensemble (dlib + FaceNet + SFace) and the 1-nearest-neighbour recognizer built from each scorer in turn: dlib,
FaceNet, SFace (members of the ensemble) and EdgeFace-XXS (the validation recognizer: never in the ensemble, never
used to choose a setting). For each person of ``knn_examples/train``, the scorer's gallery holds that person's
**cloaked** training photos and everyone else's clean ones; the queries are every other clean face of the face
sets that the scorer's clean gallery identifies as that person within its threshold. Success = a query is *not*
identified as them. Worst margin = the smallest (distance to the nearest cloaked photo of them − distance to the
nearest photo of anyone else) over the queries (> 0: safe). Both modes run: decoy (towards another identity) and
dodge (away from oneself).

Raw results: bench/raw/ensemble/knn-NAME.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.cloak_bench import KNN, SUFFIXES, photos
from bench.ensemble_bench import RAW, evaluators, reference


def main() -> None:
    import torch

    from camo.face.cloak import DecoyChooser, cloak, preset
    from camo.face.recognizers import descriptor_distance, get_recognizers
    from camo.images import to_rgb_uint8

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="mid")
    parser.add_argument("--recognizers", default="dlib,facenet,sface")
    parser.add_argument("--eps", type=float, help="in /255")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--smooth", type=float)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", help="default: PRESET-seedSEED")
    args = parser.parse_args()
    torch.set_num_threads(1)
    scorers = evaluators()
    members = get_recognizers(args.recognizers)
    train = {person.name: sorted(p for p in person.iterdir() if p.suffix.lower() in SUFFIXES)
             for person in sorted((KNN / "train").iterdir()) if person.is_dir()}
    train_files = {p for files in train.values() for p in files}
    clean_train = {}
    for name, files in train.items():
        clean_train[name] = {scorer: [] for scorer in scorers}
        for path in files:
            _, found = reference(scorers, to_rgb_uint8(path))
            for scorer, descriptors in found.items():
                clean_train[name][scorer] += descriptors[:1]
    # Every clean face of the face sets that is not a training photo: candidate queries, per scorer.
    query_faces: dict[str, list[np.ndarray]] = {scorer: [] for scorer in scorers}
    for path in photos():
        if path in train_files or "aligned" in str(path):
            continue
        _, found = reference(scorers, to_rgb_uint8(path))
        for scorer, descriptors in found.items():
            query_faces[scorer] += descriptors
    out: dict[str, Any] = {"command": " ".join(sys.argv), "recognizers": [m.name for m in members],
                           "load_before": round(os.getloadavg()[0], 2)}
    for mode in ("decoy", "dodge"):
        config = replace(preset(args.preset, mode), seed=args.seed)
        changes = {k: v for k, v in (("eps", None if args.eps is None else args.eps / 255), ("steps", args.steps),
                                      ("smooth", args.smooth)) if v is not None}
        config = replace(config, **changes)
        out.setdefault("configs", {})[mode] = config.to_dict()
        decoys = DecoyChooser() if mode == "decoy" else None
        cloaked: dict[str, dict[str, list[np.ndarray]]] = {}
        chosen: dict[str, list[str]] = {}
        start = time.perf_counter()
        for name, files in train.items():
            cloaked[name] = {scorer: [] for scorer in scorers}
            for path in files:
                result = cloak(path, recognizers=members, config=config, verify_result=False, decoys=decoys)
                chosen.setdefault(name, []).extend(f.decoy for f in result.faces if f.decoy is not None)
                _, found = reference(scorers, result.pixels)
                for scorer, descriptors in found.items():
                    cloaked[name][scorer] += descriptors[:1]
        seconds = time.perf_counter() - start
        per_scorer = {}
        for scorer, recognizer in scorers.items():
            metric, threshold = recognizer.metric, recognizer.threshold

            def dist(a: np.ndarray, b: np.ndarray, metric: str = metric) -> float:
                return float(descriptor_distance(a, b, metric))

            clean = [(n, g) for n, gs in clean_train.items() for g in gs[scorer]]
            # Queries: faces the clean gallery identifies as an enrolled person within the threshold.
            queries = []
            for d in query_faces[scorer]:
                who, how_far = min(((n, dist(d, g)) for n, g in clean), key=lambda t: t[1])
                if how_far <= threshold:
                    queries.append((who, d))
            people = {}
            for name in train:
                gallery = [(n, g) for n, g in clean if n != name] + [(name, c) for c in cloaked[name][scorer]]
                own = [d for q, d in queries if q == name]
                identified = sum(min(gallery, key=lambda item: dist(item[1], d))[0] == name for d in own)
                margins = [min((dist(c, d) for c in cloaked[name][scorer]), default=float("inf"))
                           - min(dist(g, d) for n, g in gallery if n != name) for d in own]
                people[name] = {"queries": len(own), "identified_as_them": identified,
                                "worst_margin": round(min(margins), 4) if margins else None}
            total = sum(p["queries"] for p in people.values())
            missed = sum(p["queries"] - p["identified_as_them"] for p in people.values())
            margins = [p["worst_margin"] for p in people.values() if p["worst_margin"] is not None]
            per_scorer[scorer] = {"queries": total, "not_identified": missed,
                                  "worst_margin": min(margins) if margins else None, "people": people}
            print(f"{mode} {scorer}: {missed}/{total} not identified, worst margin "
                  f"{per_scorer[scorer]['worst_margin']}", file=sys.stderr, flush=True)
        out[mode] = {"scorers": per_scorer, "decoys": {n: sorted(set(c)) for n, c in chosen.items()},
                     "cloak_seconds": round(seconds, 1)}
    out["load_after"] = round(os.getloadavg()[0], 2)
    name = args.name or f"{args.preset}-seed{args.seed}"
    RAW.mkdir(parents=True, exist_ok=True)
    path = RAW / f"knn-{name}.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}", file=sys.stderr)


if __name__ == "__main__":
    main()
