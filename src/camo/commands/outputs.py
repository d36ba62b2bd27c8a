"""Where commands write, checked before any work: one rule and one error for every command.

The rule (also in the README): every command that writes files has ``--out``. It is **required** when the files
are what you asked for — adversarial images, cloaked photos, patches, a video, trained weights (``attack``,
``cloak``, ``video``, ``patch grow|train|apply``, ``train``). It **defaults** to ``./camo-<command>`` when the
answer is printed and the files are its record — figures and JSON (``sweep``, ``grid``, ``best-eps``, ``evaluate``,
``faces``, ``patch eval``, ``demo``; ``report`` writes one page, ``camo-report.html``).

Before a model loads or an image is read, :func:`check_outputs` makes sure the output folder is a folder or can be
made, that no named output file is a folder or an input, and that the place is writable, so a bad ``--out`` costs
a second, not the whole run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from camo.errors import InputError


def _existing_ancestor(path: Path) -> Path:
    """The nearest of ``path`` and its parents that exists (``.`` at worst)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def check_folder(folder: Path, *, option: str = "--out", given: Path | None = None) -> None:
    """Raise :class:`InputError` unless ``folder`` is a folder, or can be made and written into.

    ``given`` is what the user wrote when ``folder`` is derived from it (the folder of an output file).

    Raises:
        InputError: a file is there or above it, or the nearest existing folder is not writable.
    """
    shown = folder if given is None else given
    if given is None and folder.exists() and not folder.is_dir():
        raise InputError(f"{option} {folder}: a file of that name exists; it must name a folder. "
                         f"Choose another {option}")
    ancestor = _existing_ancestor(folder)
    if not ancestor.is_dir():
        raise InputError(f"{option} {shown}: {ancestor} is a file, so the folder cannot be made there. "
                         f"Choose another {option}")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputError(f"{option} {shown}: no permission to write in {ancestor}")


def check_outputs(folder: Path | None = None, files: Iterable[Path] = (), *,
                  protect: Iterable[str | os.PathLike[str]] = (), option: str = "--out") -> None:
    """Check a command's outputs before it does any work (see the module docstring).

    Args:
        folder: the output folder (``--out`` for most commands), if the command writes into one.
        files: output files the command will write (in ``folder`` or elsewhere, e.g. ``--report FILE.html``).
        protect: the job's inputs, never written over.
        option: the option to name in messages.

    Raises:
        InputError: an output that cannot be written; nothing has been done yet.
    """
    if folder is not None:
        check_folder(folder, option=option)
    inputs = {Path(p).resolve() for p in protect}
    for path in files:
        if path.is_dir():
            raise InputError(f"{path}: a folder of that name exists where camo would write a file. "
                             f"Choose another {option}")
        check_folder(path.parent, option=option, given=path)
        if path.resolve() in inputs:  # as camo.images.refuse_inputs says it, without importing torch for it
            raise InputError(f"{path}: refusing to overwrite an input file; choose another output folder")
