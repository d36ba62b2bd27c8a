"""Short names for input files that never collide: what outputs and labels are named after.

A file is named by its stem (``obama``), or by its whole name (``obama.jpg``) where the suffix belongs in the name.
Where two inputs share that name (``obama.jpg`` beside ``cloaked/obama.jpg``), it takes as many parent folders as it
needs to be unique (``obama`` and ``cloaked_obama``: folders below the ones they share); for the same stem in the
same folder, the suffix too (``a-jpg``, ``a-png``). Commands name their output files so
(:func:`camo.commands.inputs.output_names`) and ``camo faces`` its face labels (``cloaked/obama.jpg#1``). Pure path
arithmetic: no file is read, nothing heavy is imported.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from camo.errors import InputError

__all__ = ["distinct_names"]


def distinct_names(paths: Sequence[Path], *, suffix: bool = False, sep: str = "_") -> list[str]:
    """One name per path, unique among them: the stem (``suffix``: the file name), lengthened only where names
    collide, with the parent folders that tell them apart joined by ``sep`` (module docstring).

    Raises:
        InputError: the same file given twice, or two files that still share a name.
    """
    resolved = [path.resolve() for path in paths]
    names = [path.name if suffix else path.stem for path in paths]
    for base in {name for name in names if names.count(name) > 1}:
        group = [i for i, name in enumerate(names) if name == base]
        common = Path(os.path.commonpath([resolved[i].parent for i in group]))
        candidates = {i: sep.join([*resolved[i].parent.relative_to(common).parts, base]) for i in group}
        if not suffix and len(set(candidates.values())) != len(group):  # the same stem in one folder: a.jpg, a.png
            candidates = {i: f"{candidates[i]}-{resolved[i].suffix.lstrip('.').lower()}" for i in group}
        for i, name in candidates.items():
            names[i] = name
    if len(set(names)) != len(names):
        twice = next(name for name in names if names.count(name) > 1)
        clash = [i for i, name in enumerate(names) if name == twice]
        if len({resolved[i] for i in clash}) == 1:
            raise InputError(f"{paths[clash[0]]} is given twice; give each file once")
        raise InputError(f"{' and '.join(str(paths[i]) for i in clash)} would get the same name {twice!r}; "
                         "rename one")
    return names
