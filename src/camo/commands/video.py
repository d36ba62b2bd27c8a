"""``camo video``: attack a video frame by frame and write the before|after video, per-frame results and survival."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from camo.commands import add_model_options, console, emit_json, load_model_from_args, parse_eps, progress_bar
from camo.commands.display import format_eps
from camo.commands.outputs import check_folder
from camo.errors import InputError

EPILOG = """examples:
  camo video clip.mp4 --model imagenet --eps 2/255 --out attacked/
  camo video clip.mp4 --model imagenet --target hen --method pgd --eps 4/255 --out attacked/
  camo video clip.mp4 --model imagenet --window 8 --window-fit 1 --out attacked/   (one perturbation per 8 frames)
  camo video clip.mp4 --model imagenet --patch patches/hen.png --place track --out attacked/
  camo video frames/ --fps 10 --model mnist --eps 0.2 --out attacked/

INPUT: an MP4 (H.264), WebM, MOV, animated GIF, or a folder of frames (sorted by name). Writes into --out:
  <stem>.before_after.mp4  the input | the attacked frames, captioned with label and confidence (input frame rate)
  <stem>.before_after.gif  the same as a preview (at most 10 frames/s, 200 frames, 480 px wide)
  <stem>.attacked.mp4      the attacked frames alone, full resolution, H.264 at --crf
  <stem>.frames.json/.csv  per frame: clean, attacked and written labels, confidence, fooled, L∞, after each CRF
  <stem>.summary.json      frames fooled, survival through the MP4 at each CRF, frames per second
Survival: the attacked frames are encoded as H.264 at each --survival-crfs quality, decoded and classified again.
Outputs appear only when everything succeeded; the input is never modified. Not copied: the input's audio, its
metadata (title, location, dates) and a phone's rotation flag; a variable frame rate becomes its average.
"""


def _crfs(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected CRFs like 18,23,28, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"no CRF values in {text!r}")
    return values


def _position(text: str) -> tuple[int, int]:
    try:
        x, y = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X,Y in frame pixels like 40,30, got {text!r}") from None
    return x, y


@contextmanager
def _frames_progress(what: str, *, disable: bool) -> Iterator[Callable[[str, int, int | None], None]]:
    """The shared progress (a bar on a terminal, plain lines in a log) with the stage ("attack", "CRF 23 check")
    and frames per second."""
    with progress_bar(what, disable=disable, unit="frames") as bar:
        started: dict[str, float] = {}

        def update(stage: str, done: int, total: int | None) -> None:
            start = started.setdefault(stage, time.perf_counter() - 1e-9)
            bar.describe(what if stage == "attack" else f"re-classifying the MP4 at {stage.upper()}")
            bar(done, total, f"{done / (time.perf_counter() - start):.1f} frames/s")

        yield update


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    from camo.choices import LINF_METHODS as METHODS
    from camo.choices import PATCH_PLACES as PLACES
    from camo.choices import SURVIVAL_CRFS

    parser = sub.add_parser(
        "video", parents=[common], help="attack a video: before|after MP4 and GIF, survival through H.264",
        description="Attack every frame of INPUT (in batches, streaming), write a captioned before|after video, "
                    "the attacked video, per-frame JSON/CSV, and measure how many frames still fool the model "
                    "after the attacked video is encoded as H.264 and decoded again.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", type=Path, metavar="INPUT", help="video file or folder of frames (never modified)")
    add_model_options(parser)
    parser.add_argument("--target", help="move every frame towards this label (name or number)")
    parser.add_argument("--method", choices=METHODS, default=None, help="attack (default: fgsm)")
    parser.add_argument("--eps", type=parse_eps, default=2 / 255, help="L∞ budget in pixels (default: 2/255)")
    parser.add_argument("--steps", type=int, default=10, help="steps of iterative methods (default: 10)")
    parser.add_argument("--seed", type=int, default=0, help="random start of pgd (default: 0)")
    parser.add_argument("--window", type=int, default=1,
                        help="frames sharing one perturbation, universal over the window (default: 1 = per frame)")
    parser.add_argument("--window-fit", type=int, metavar="N",
                        help="make each window's perturbation on N evenly spaced frames of it (default: all)")
    parser.add_argument("--patch", type=Path, metavar="PATCH.png",
                        help="paste this patch (from 'camo patch') on every frame instead of an ε attack; the target "
                             "comes from --target or PATCH.json")
    parser.add_argument("--place", choices=PLACES, default="fixed",
                        help="patch placement: fixed, or track (moves with the scene, translation only; stays put "
                             "across a cut and inside what the model sees)")
    parser.add_argument("--at", type=_position, metavar="X,Y",
                        help="the patch's top-left corner in frame pixels (default: centre of what the model sees)")
    parser.add_argument("--batch-size", type=int, default=8, help="frames attacked at once (default: 8)")
    parser.add_argument("--crf", type=int, default=18, help="H.264 quality of the attacked MP4 (default: 18)")
    parser.add_argument("--survival-crfs", type=_crfs, default=SURVIVAL_CRFS, metavar="LIST",
                        help="CRFs at which survival is measured (default: 18,23,28)")
    parser.add_argument("--fps", type=float, help="frame rate of a folder of frames (default: 25)")
    parser.add_argument("--no-gif", action="store_true", help="skip the GIF preview")
    parser.add_argument("--out", "-o", type=Path, required=True, help="output folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_folder(args.out)  # before any heavy import
    from camo.video import VideoSettings, attack_video, open_video

    if args.patch is not None and args.method is not None:
        raise InputError("--patch replaces the ε attack; give --patch or --method, not both")
    if args.patch is None and (args.place != "fixed" or args.at is not None):
        raise InputError("--place and --at position a patch; give --patch PATCH.png too")
    settings = VideoSettings(
        method=args.method or "fgsm", eps=args.eps, target=args.target, steps=args.steps, seed=args.seed,
        batch_size=args.batch_size, window=args.window, window_fit=args.window_fit,
        patch=str(args.patch) if args.patch is not None else None, place=args.place, at=args.at, crf=args.crf,
        survival_crfs=args.survival_crfs, fps=args.fps, gif=not args.no_gif)
    open_video(args.input, fps=args.fps)  # a bad input fails in a second, before the model loads
    model = load_model_from_args(args)
    what = f"patch {args.patch.name}" if args.patch else f"{settings.method} ε = {format_eps(settings.eps)}"
    with _frames_progress(what, disable=args.json or args.quiet) as progress:
        result = attack_video(model, args.input, args.out, settings, progress=progress)
    summary = result.summary()
    if args.json:
        emit_json(summary)
        return 0
    from rich.table import Table

    n = result.count
    goal = f"towards {result.target}" if result.target else "away from the clean label"
    table = Table(title=f"{result.model}: {args.input.name}, {n} frames at {summary['source']['fps']:.3g} fps, "
                        f"{what}, {goal}")
    for column in ("", "frames fooled", "share"):
        table.add_column(column, justify="right")
    table.add_row("in memory (float)", str(result.fooled_in_memory), f"{result.fooled_in_memory / n:.0%}")
    table.add_row("8-bit frames written", str(result.fooled), f"{result.fooled / n:.0%}")
    for crf, fooled in sorted(result.survival.items()):
        table.add_row(f"after H.264 CRF {crf}", str(fooled), f"{fooled / n:.0%}")
    shown = console()
    shown.print(table)
    shown.print(f"{summary['frames_per_second']:.3g} frames/s (attack alone {summary['attack_frames_per_second']:.3g}"
                f"); wrote {', '.join(Path(p).name for p in result.outputs.values())} in {args.out}/")
    return 0
