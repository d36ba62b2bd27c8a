"""``camo cloak``: protect face photos from face recognition, and check each saved file with each recognizer's own
runtime."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from camo.choices import CLOAK_PRESETS, DEFAULT_PRESET
from camo.commands import console, emit_json, parse_eps, progress_bar

EPILOG = """examples:
  camo cloak me.jpg --out cloaked/
  camo cloak holidays/ --out cloaked/ --preset high --ensure --report cloaked/report.html
  camo cloak me.jpg --out cloaked/ --recognizers dlib,sface --recognizer my_arcface.onnx
  camo cloak me.jpg --out cloaked/ --preset mid       # the whole budget at once: faster, less of the look kept
  camo cloak me.jpg --out cloaked/ --grey             # brightness only: no colour cast, a little less transfer
  camo cloak me*.jpg --out cloaked/ --recognizers dlib --mode decoy --decoy someone_else.jpg --json
  camo cloak library/ --out cloaked/ --ray              # every CPU of this machine, one worker each
  camo cloak library/ --out cloaked/ --ray 10.0.0.5:6379 # a Ray cluster (see README: running on a cluster)

Every face in every photo is cloaked against an ensemble of recognizers at once (default dlib, FaceNet and SFace;
each through its own alignment, each member's distance divided by its own threshold so that none dominates).
Directories are searched recursively and mirrored under --out; each output keeps its input's stem. Each saved file
is read back and checked by every member's own runtime (dlib; OpenCV for FaceNet and SFace; onnxruntime for an
ONNX file): a photo counts as protected only when every recognizer agrees that no face matches the original's any
more. A photo still matched is moved to --out/not-protected/, never left beside the protected ones. Outputs are
8-bit with no metadata (no EXIF, GPS, camera), JPEG for JPEG photos and PNG otherwise (--format); inputs are never
modified; a black-and-white photo stays black and white (its cloak changes brightness only). Photos without a
face are reported and not written unless --copy-unprotected. Exit status 3 when some photo is still matched, 4 when
some photo could not be cloaked (unreadable; the others are done).

The output folder keeps a manifest (camo-manifest.jsonl) of every finished photo: running the same command again
skips them and does the rest, also after Ctrl-C or a crash. --ray spreads the photos over Ray workers (each loads
the models once) with the same results as a run without it.

What this protects against: being matched by the recognizers of the ensemble against galleries of your clean
photos (dodge), and a dlib-based recognizer enrolled with your cloaked photos (decoy). Recognizers outside the
ensemble are not guaranteed: see bench/ENSEMBLE_RESULTS.md for what transfer was measured.
"""

def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "cloak", parents=[common], help="cloak face photos against face recognition, verified on the saved file",
        description="Perturb every face (iterative FGSM through an ensemble of recognizers, robust to 8-bit "
                    "rounding, JPEG and resizing) so that none of them matches it any more, then verify each saved "
                    "file with each recognizer's own runtime.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", type=Path, metavar="PHOTO|DIR", help="photos or folders (never modified)")
    parser.add_argument("--out", "-o", type=Path, required=True, help="output folder")
    parser.add_argument("--preset", choices=CLOAK_PRESETS, default=DEFAULT_PRESET,
                        help="strength of the low-frequency cloak: low = mid's 24/255 held back by look targets "
                             "(--min-ssim 0.93 on the face, --photo-ssim 0.95 on a photo the face fills), with the "
                             "feature loss (--features 1), feature dropout (--dropout 0.02) and 16 smaller steps, "
                             "and photos whose recognizers are not 1.3 × their thresholds away retried in 20 steps, "
                             "then at mid, then high (--margin 1.3); mid 24/255 and high 32/255, 10 steps each "
                             "(default: %(default)s; docs/cloak-presets.png shows how each looks at 1:1)")
    parser.add_argument("--eps", type=parse_eps, help="L∞ budget in pixels, e.g. 24/255 (overrides the preset)")
    parser.add_argument("--texture", type=parse_eps, metavar="SIGMA",
                        help="perceptual budget: each pixel gets ε × min(1, local contrast / SIGMA), at least a "
                             "quarter of ε, so flat skin changes less than hair and edges, e.g. 8/255 (default: off, "
                             "uniform ε; see bench/ENSEMBLE_RESULTS.md for what it costs in transfer)")
    parser.add_argument("--smooth", type=float, metavar="SIGMA",
                        help="low-frequency cloak: blur the change with a Gaussian of SIGMA pixels of a 150-px face "
                             "chip before the recognizers see it: smooth at the scale of facial features, which "
                             "transfers to unseen recognizers far better per unit of visible change; 0 = off "
                             "(overrides the preset; see bench/ENSEMBLE_FINDINGS.md)")
    parser.add_argument("--grey", action="store_true",
                        help="change brightness only, the same in red, green and blue: no colour cast on skin, far "
                             "less visible at 1:1 (docs/cloak-presets.png) for equal SSIM, but a left-out recognizer "
                             "is fooled less often (86 %% vs 94 %% in bench/ENSEMBLE_FINDINGS.md)")
    parser.add_argument("--min-ssim", type=float, metavar="S",
                        help="look target: once the face region's SSIM falls below S the cloak pays for it, trading "
                             "protection for look (mid with 0.95: recognizers left out of the ensemble were fooled "
                             "on 53 %% of photos instead of 75 %%, bench/ENSEMBLE_FINDINGS.md; "
                             "0 = off; default: the preset's)")
    parser.add_argument("--photo-ssim", type=float, metavar="S",
                        help="look target over the whole photo: faces that fill most of it (portraits, profile "
                             "pictures) are held to what keeps the photo's SSIM at S, where that is stricter than "
                             "--min-ssim (0 = off; default: the preset's)")
    parser.add_argument("--features", type=float, metavar="W",
                        help="feature-level loss: also push each recognizer's middle-layer activations away from "
                             "the original's, with weight W (1 = a recognizer's activations changed as much as "
                             "between two people count about as much as its match boundary; with the look target "
                             "it raised the share of photos left-out recognizers miss from 53 %% to 57 %%, "
                             "bench/ENSEMBLE_FINDINGS.md round 4; 0 = off; default: the preset's, 1 for low)")
    parser.add_argument("--dropout", metavar="P|NAME=P,...",
                        help="feature dropout: each step sees random ghosts of the recognizers (every convolution "
                             "drops a fraction P of its outputs), so the cloak fits them less exactly and reaches "
                             "recognizers outside the ensemble more often (under the look target: 52 %% → 63 %% of "
                             "photos on average, bench/ENSEMBLE_FINDINGS.md round 5); a rate per recognizer with "
                             "e.g. dlib=0.02,facenet=0.05,sface=0.05 (the largest rates at which each one's ghosts "
                             "still know the person); verification always uses the recognizers themselves; 0 = off; "
                             "default: the preset's, 0.02 for low)")
    parser.add_argument("--steps", type=int, help="attack steps (1 = one-step FGSM; overrides the preset)")
    parser.add_argument("--recognizers", default="dlib,facenet,sface", metavar="A,B,...",
                        help="the ensemble to cloak against and verify with: dlib, facenet, sface, all "
                             "(default: dlib,facenet,sface; dlib alone is the fastest)")
    parser.add_argument("--recognizer", action="append", default=[], type=Path, metavar="FILE.onnx",
                        help="add your own ONNX recognizer to the ensemble (ArcFace 112 px alignment, "
                             "(x − 127.5)/127.5, RGB, cosine; repeatable)")
    parser.add_argument("--mode", choices=["dodge", "decoy"], default="dodge",
                        help="dodge: away from your own face (default); decoy: towards another identity")
    parser.add_argument("--decoy", type=Path, metavar="PHOTO",
                        help="decoy mode: a photo of the identity to pull towards (default: a built-in face)")
    parser.add_argument("--format", choices=["auto", "png", "jpeg"], default="auto",
                        help="output format; auto: JPEG for a JPEG photo, PNG otherwise (default: auto; every file is "
                             "verified as saved, after its own JPEG encoding)")
    parser.add_argument("--quality", type=int, default=92, help="quality of JPEG outputs (default: 92)")
    parser.add_argument("--ensure", action=argparse.BooleanOptionalAction, default=True,
                        help="retry a photo that a recognizer still matches with the next stronger preset, and say so "
                             "(default: on; --no-ensure keeps the first result)")
    parser.add_argument("--margin", type=float, metavar="M",
                        help="with --ensure, a photo is done only when every recognizer's distance from the original "
                             "is at least M × its threshold, not just beyond it; the others are cloaked again at the "
                             "next stronger preset. The farther the recognizers are pushed, the more often ones "
                             "outside the ensemble miss the photo too: low's margin 1.3 raised left-out "
                             "recognizers from 69 %% to 79 %% of photos and the validation recognizer from 67 %% to "
                             "86 %% (after JPEG 72 %% to 92 %%), at photo SSIM 0.9496 instead of 0.962, cloaking 13 "
                             "of 36 photos again "
                             "(bench/ENSEMBLE_FINDINGS.md round 6); 0 = off; default: the preset's, 1.3 for low)")
    parser.add_argument("--jpeg-check", type=int, metavar="Q",
                        help="also verify a JPEG re-encode of each saved file at quality Q (e.g. 85)")
    parser.add_argument("--copy-unprotected", action="store_true",
                        help="copy photos without a face to --out (metadata stripped) instead of skipping them")
    parser.add_argument("--report", type=Path, metavar="FILE.html",
                        help="write an HTML report: original / perturbation (amplified) / cloaked, with numbers")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default: 1; on a shared 2-core machine more threads are far slower)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the attack's randomness (default: 0)")
    parser.add_argument("--ray", nargs="?", const="local", metavar="auto|ADDRESS",
                        help="cloak on Ray: alone, a private Ray on this machine; auto, the cluster `ray start` runs "
                             "here; or a cluster's address (host:6379, ray://host:10001). Put it after the photos")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="with --ray: worker processes, each with --threads torch threads (default: as many as "
                             "the CPUs allow)")
    parser.set_defaults(func=run)


def output_suffix(path: Path, format: str) -> str:
    """The output's suffix: ``.png``/``.jpg`` for --format png/jpeg; auto keeps JPEG photos JPEG, all else PNG."""
    if format == "auto":
        return ".jpg" if path.suffix.lower() in (".jpg", ".jpeg") else ".png"
    return ".png" if format == "png" else ".jpg"


def collect(inputs: list[Path], out: Path, format: str) -> list[tuple[Path, Path]]:
    """(input, output) pairs: files as given, folders searched recursively and mirrored under ``out``; the output's
    format follows :func:`output_suffix`.

    An output folder inside an input folder is not searched: a second run must not cloak the first run's
    outputs again.

    Raises:
        InputError: a missing input, two inputs that would write the same output, or an output that would
            replace an input (all found before any photo is cloaked).
    """
    from camo.errors import InputError
    from camo.images import IMAGE_SUFFIXES, image_files

    outside = out.resolve()
    pairs: list[tuple[Path, Path]] = []
    for item in inputs:
        if item.is_dir():
            for path in image_files(item, recursive=True):
                if path.resolve().is_relative_to(outside) and outside != item.resolve():
                    continue  # an earlier run's output under this input folder
                pairs.append((path, (out / path.relative_to(item)).with_suffix(output_suffix(path, format))))
        elif item.is_file():
            pairs.append((item, out / f"{item.stem}{output_suffix(item, format)}"))
        else:
            raise InputError(f"{item}: no such file or folder")
    seen: dict[Path, Path] = {}
    sources = {source.resolve() for source, _ in pairs}
    for source, target in pairs:
        if target.resolve() in sources:
            raise InputError(f"{target}: writing {source}'s cloaked copy there would replace an input photo; "
                             "choose another --out")
        if target in seen:
            raise InputError(f"{source} and {seen[target]} would both be written to {target}; rename one")
        seen[target] = source
    if not pairs:
        raise InputError("no photos found in the inputs (looked for " + ", ".join(sorted(IMAGE_SUFFIXES)) + ")")
    return pairs


def _config(args: argparse.Namespace) -> Any:
    from dataclasses import replace

    from camo.errors import NoFaceError
    from camo.face.cloak import dlib_encode, preset
    from camo.face.cloak_config import parse_dropout
    from camo.face.recognizer import Recognizer

    config = replace(preset(args.preset, args.mode), seed=args.seed)
    if args.eps is not None:
        config = replace(config, eps=args.eps)
    if args.steps is not None:
        config = replace(config, steps=args.steps)
    if args.texture is not None:
        config = replace(config, texture=args.texture)
    if args.grey:
        config = replace(config, grey=True)
    # Given settings replace the preset's; 0 switches the preset's setting off.
    switchable = ("smooth", "min_ssim", "photo_ssim", "features", "margin")
    given: dict[str, Any] = {field: getattr(args, field) or None for field in switchable
                             if getattr(args, field) is not None}
    if args.dropout is not None:
        given["dropout"], given["member_dropout"] = parse_dropout(args.dropout)
    config = replace(config, **given)
    if args.decoy is not None:
        if args.mode != "decoy":
            from camo.errors import InputError

            raise InputError("--decoy is for --mode decoy")
        from camo.images import to_rgb_uint8

        pixels = to_rgb_uint8(args.decoy)
        located = Recognizer().locate(pixels)
        if not located:
            raise NoFaceError(f"{args.decoy}: no face found in the decoy photo")
        config = replace(config, decoy=tuple(float(v) for v in dlib_encode(pixels, [located[0][0]])[0]))
    elif args.mode == "decoy":
        console().print("decoy: per person, the built-in face farthest from them (the same for all their photos)")
    return config


def _short(verdict: dict[str, Any]) -> str:
    """'protected 0.81' / 'NOT protected 0.52' / 'protected (no face found)' for one recognizer's verdict (its
    ``to_dict()``)."""
    distance = verdict["min_distance"]
    word = "protected" if verdict["protected"] else "NOT protected"
    return f"{word} (no face found)" if distance is None else f"{word} {distance:.2f}"


def recognizers_from(args: argparse.Namespace) -> list[Any]:
    """The ensemble from --recognizers and --recognizer FILE.onnx.

    Raises:
        InputError: an unknown or repeated name; ModelError: a missing ONNX file.
    """
    from camo.face.recognizers import get_recognizer, get_recognizers

    members = get_recognizers(args.recognizers) if args.recognizers.strip() else []
    members += [get_recognizer(str(path)) for path in args.recognizer]
    if not members:
        from camo.errors import InputError

        raise InputError("no recognizer to cloak against: give --recognizers or --recognizer FILE.onnx")
    if len({m.name for m in members}) != len(members):
        from camo.errors import InputError

        raise InputError("a recognizer is named twice in --recognizers/--recognizer")
    return members


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def run(args: argparse.Namespace) -> int:
    from camo.commands.outputs import check_folder

    check_folder(args.out)  # before torch loads: a bad --out costs a second
    import torch
    from rich.table import Table

    from camo.errors import InputError
    from camo.face.cloak import CloakedPhoto, DecoyChooser
    from camo.images import write_bytes_atomic
    from camo.scale.manifest import MANIFEST_NAME
    from camo.scale.photos import CloakJob
    from camo.scale.runner import UNPROTECTED_DIR, RayOptions, refuse_ray_decoys, run_cloak_job

    if args.threads < 1:
        raise InputError(f"--threads must be >= 1; got {args.threads}")
    torch.set_num_threads(args.threads)
    if args.ray is None and args.workers is not None:
        raise InputError("--workers is for --ray")
    scale = None if args.ray is None else RayOptions(address=args.ray, workers=args.workers)
    refuse_ray_decoys(scale, per_person=args.mode == "decoy" and args.decoy is None)  # before any work
    pairs = collect(args.inputs, args.out, args.format)
    config = _config(args)
    protect = [source for source, _ in pairs]
    if args.report is not None:  # before any photo is cloaked, not after
        from camo.images import refuse_inputs

        refuse_inputs(args.report, protect)
    members = recognizers_from(args)
    unknown = [name for name, _ in config.member_dropout if name not in {m.name for m in members}]
    if unknown:
        from camo.errors import InputError

        raise InputError(f"--dropout names {', '.join(unknown)}, not in the ensemble "
                         f"({', '.join(m.name for m in members)})")
    # One chooser for the whole run: every photo of a person is pulled towards the same identity.
    decoys = DecoyChooser() if args.mode == "decoy" and config.decoy is None else None
    screen = console()
    job = CloakJob(config=config, recognizers=args.recognizers, onnx_files=tuple(str(p) for p in args.recognizer),
                   ensure=args.ensure, quality=args.quality, jpeg_check=args.jpeg_check,
                   copy_unprotected=args.copy_unprotected, keep_apart=True, threads=args.threads)
    with progress_bar("cloaking", disable=args.json or args.quiet) as update:
        try:
            # Full records (two copies of each photo's pixels) only for the report: a library has thousands.
            outcome = run_cloak_job(pairs, job, out=args.out, ray=scale, members=None if scale else members,
                                    decoys=decoys, callback=update, keep_results=args.report is not None)
        except KeyboardInterrupt:
            screen.print(f"interrupted: every finished photo is recorded in {args.out / MANIFEST_NAME}; run the same "
                         "command again to do the rest")
            raise
    records: list[CloakedPhoto] = [o.record for o in outcome.outcomes if o.record is not None]
    for o in outcome.outcomes:
        if o.summary is not None and not o.skipped and o.summary["status"] == "no face" and o.summary["output"] is None:
            screen.print(f"{o.source}: no face found; nothing written (use --copy-unprotected to copy it)")
        elif o.error is not None:
            screen.print(f"{o.source}: FAILED, nothing written: {o.error}")
    if args.report is not None:
        from camo.face.cloak_report import write_report

        write_report(records, args.report)
    summary = {"out": str(args.out), "config": config.to_dict(), "recognizers": [m.name for m in members],
                "photos": [o.summary if o.summary is not None else {"source": str(o.source), "status": "failed",
                                                                    "error": o.error, "retries": o.retries}
                           for o in outcome.outcomes],
               "protected": sum(bool(o.summary and o.summary["protected"]) for o in outcome.outcomes),
               "cloaked": sum(bool(o.summary and o.summary["verification"]) for o in outcome.outcomes),
               "run": outcome.counts()}
    write_bytes_atomic(json.dumps(summary, indent=2).encode() + b"\n", args.out / "cloak.json")
    failed = summary["cloaked"] > summary["protected"]
    if args.json:
        emit_json(summary)
    else:
        names = [m.name for m in members]
        look = "" if config.min_ssim is None else f", look target SSIM {config.min_ssim:g}"
        look += "" if config.photo_ssim is None else f" (photo {config.photo_ssim:g})"
        look += "" if config.features is None else f", feature loss {config.features:g}"
        look += "" if config.dropout is None else f", feature dropout {config.dropout:g}"
        look += "".join(f", {name} dropout {rate:g}" for name, rate in config.member_dropout)
        look += "" if config.margin is None or not args.ensure else f", retried below margin {config.margin:g}"
        table = Table(title=f"cloak ({args.mode}, ε = {config.eps * 255:.3g}/255, {config.steps} steps{look}): each "
                            "recognizer's verdict on each saved file (distance to the original face; protected "
                            "only when every recognizer agrees)")
        jpeg_column = [f"after JPEG q{args.jpeg_check}"] if args.jpeg_check else []
        columns = ["photo", "faces", "verdict", *names, *jpeg_column, "PSNR dB", "SSIM", "time s"]
        for column in columns:
            table.add_column(column)
        for r in summary["photos"]:
            v = r.get("verification")
            faces = "-" if not r.get("cloak") else str(r["cloak"]["faces"])
            verdict = ("protected" if r["protected"] else "NOT protected") if v else r["status"]
            if r.get("attempts", 1) > 1:
                verdict += f" ({r['preset']} after {r['attempts']} tries)"
            cells = [_shown(Path(r["source"])), faces, verdict]
            by_name = {} if not v else {item["recognizer"]: item for item in v["recognizers"]}
            cells += [_short(by_name[name]) if name in by_name else "-" for name in names]
            if args.jpeg_check:
                jpeg = r.get("jpeg_verification")
                cells.append("-" if not jpeg else ("protected" if jpeg["protected"] else "NOT protected"))
            cells += ["-" if not v or v["psnr"] is None else f"{v['psnr']:.1f}", "-" if not v else f"{v['ssim']:.4f}",
                      "-" if "seconds" not in r else f"{r['seconds']:.2f}"]
            table.add_row(*cells)
        screen.print(table)
        if outcome.skipped:
            screen.print(f"{outcome.skipped} photos were done by an earlier run into {args.out}/: skipped, their "
                         "verdicts as recorded then" + (" (the report shows this run's photos)" if args.report else ""))
        no_face = sum(bool(o.summary and o.summary["status"] == "no face") for o in outcome.outcomes)
        line = f"{summary['protected']}/{summary['cloaked']} cloaked photos protected; outputs in {args.out}/"
        if no_face:
            line += f"; {no_face} without a face"
        screen.print(line)
        if failed:
            screen.print(f"{summary['cloaked'] - summary['protected']} still matched by a recognizer: kept apart in "
                         f"{args.out / UNPROTECTED_DIR}/ (do not upload those; try --preset high)")
        if args.report is not None:
            screen.print(f"report: {args.report}")
    return 4 if outcome.failed else 3 if failed else 0
