"""Image inputs of a command: folders expanded to their images, and output names that never collide.

Commands that take several images (``faces``, ``patch apply``, ``classify``) accept files and folders alike, as
``cloak`` does. Their outputs go into one folder, named after each input's stem; when two inputs share a stem
(``obama.jpg`` beside ``cloaked/obama.png``), the name takes as many parent folders as it needs to be unique
(``obama`` and ``cloaked_obama``: folders below the ones they share), and for the same stem in the same folder, the
suffix too (``a-jpg``, ``a-png``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from camo.errors import InputError


def expand_images(inputs: Sequence[Path], *, recursive: bool = False) -> list[Path]:
    """Files as given, folders replaced by their image files (sorted; hidden files skipped), duplicates dropped.

    Raises:
        InputError: a missing input, or a folder with no images in it.
    """
    paths: list[Path] = []
    seen: set[Path] = set()
    for item in inputs:
        if item.is_dir():
            from camo.images import image_files  # only for folders: a list of files answers without torch

            found = image_files(item, recursive=recursive)
            if not found:
                raise InputError(f"{item}: a folder with no image files in it")
        elif item.is_file():
            found = [item]
        else:
            raise InputError(f"{item}: no such file or folder")
        for path in found:
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                paths.append(path)
    return paths


def output_names(paths: Sequence[Path]) -> list[str]:
    """One name per input, unique among them: the stem, lengthened only where stems collide (module docstring).

    Raises:
        InputError: two inputs that still share a name (the same file reached by two spellings is dropped by
            :func:`expand_images` before this).
    """
    resolved = [path.resolve() for path in paths]
    names = [path.stem for path in paths]
    for stem in {name for name in names if names.count(name) > 1}:
        group = [i for i, name in enumerate(names) if name == stem]
        common = Path(os.path.commonpath([resolved[i].parent for i in group]))
        candidates = {i: "_".join([*resolved[i].parent.relative_to(common).parts, stem]) for i in group}
        if len(set(candidates.values())) != len(group):  # the same stem in the same folder: a.jpg, a.png
            candidates = {i: f"{candidates[i]}-{resolved[i].suffix.lstrip('.').lower()}" for i in group}
        for i, name in candidates.items():
            names[i] = name
    if len(set(names)) != len(names):
        twice = next(name for name in names if names.count(name) > 1)
        clash = [str(p) for p, name in zip(paths, names, strict=True) if name == twice]
        raise InputError(f"{' and '.join(clash)} would write outputs of the same name {twice!r}; rename one")
    return names
