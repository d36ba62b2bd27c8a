"""Finding things by name the way people type them: class labels by a word, built-in models whatever the case.

``search_labels(labels, "cat")`` finds 'tiger cat', 'Persian cat', 'Egyptian cat' (whole words first, then labels
that merely contain the text, such as 'wildcat'); :func:`builtin_name` maps ``ImageNet`` to ``imagenet`` and says
"did you mean" for a near miss. Importable without torch, so that ``camo labels`` answers at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from camo.errors import ModelError


def normalise(name: str) -> str:
    """Lower case, underscores as spaces, single spaces: how two spellings of a label are compared."""
    return " ".join(name.replace("_", " ").lower().split())


def search_labels(labels: Sequence[str], query: str) -> list[tuple[int, str]]:
    """The (index, label) pairs whose label holds ``query`` (case-insensitive): labels where it is a whole word
    first, then labels where it is part of a word; each group in class order. An empty query matches every label.
    """
    wanted = normalise(query)
    if not wanted:
        return list(enumerate(labels))
    whole: list[tuple[int, str]] = []
    part: list[tuple[int, str]] = []
    for index, label in enumerate(labels):
        text = normalise(label)
        if wanted not in text:
            continue
        words = " ".join(text.replace(",", " ").replace("'", " ").split())
        (whole if f" {wanted} " in f" {words} " else part).append((index, label))
    return whole + part


def label_hint(labels: Sequence[str], query: str, *, limit: int = 5) -> str:
    """``; labels with 'cat': 'tiger cat', ...`` or ``; did you mean 'crate'?`` for an unknown label, or ''."""
    found = search_labels(labels, query)
    if found:
        shown = ", ".join(repr(label.split(",")[0]) for _, label in found[:limit])
        more = f" and {len(found) - limit} more" if len(found) > limit else ""
        return f"; labels with {normalise(query)!r}: {shown}{more}"
    names = [normalise(part) for label in labels for part in label.split(",")]
    close = difflib.get_close_matches(normalise(query), names, n=3)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def builtin_name(spec: str, builtins: Iterable[str]) -> str | None:
    """The built-in model ``spec`` names, ignoring case and ``_``/``-`` (``ImageNet``, ``MNIST_robust``); None when
    it names none."""
    key = spec.strip().lower().replace("_", "-")
    return next((name for name in builtins if name == key), None)


def unknown_model(spec: str, builtins: Sequence[str]) -> ModelError:
    """The error for a model that is neither built in, a file, nor a factory, with the closest built-in names."""
    close = difflib.get_close_matches(spec.strip().lower().replace("_", "-"), list(builtins), n=2, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return ModelError(f"unknown model {spec!r}: not a built-in ({', '.join(builtins)}), not a file, not "
                      f"'package.module:factory'.{hint}")
