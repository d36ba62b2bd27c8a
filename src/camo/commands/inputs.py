"""Image inputs of a command: folders expanded to their images, and output names that never collide.

Commands that take several images (``faces``, ``patch apply``, ``classify``) accept files and folders alike, as
``cloak`` does. Their outputs go into one folder, named after each input's stem; when two inputs share a stem
(``obama.jpg`` beside ``cloaked/obama.png``), the name takes as many parent folders as it needs to be unique
(``obama`` and ``cloaked_obama``: folders below the ones they share), and for the same stem in the same folder, the
suffix too (``a-jpg``, ``a-png``): :func:`camo.file_names.distinct_names`, which ``camo faces`` also labels faces with.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from camo.errors import InputError
from camo.file_names import distinct_names


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
    """One output name per input, unique among them: the stem, lengthened only where stems collide
    (:func:`camo.file_names.distinct_names`; the module docstring).

    Raises:
        InputError: two inputs that still share a name (the same file reached by two spellings is dropped by
            :func:`expand_images` before this).
    """
    return distinct_names(paths)
