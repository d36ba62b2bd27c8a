"""How commands write for people: the stderr console and the one way ε is shown.

ε convention: every budget a command prints is in pixel units on the 0–255 scale, ``ε = 8/255``; where the decimal
helps (MNIST's customary 0.3) it follows in parentheses, ``ε = 76.5/255 (0.3)``. Options accept either form.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

#: Width of tables written to a file or a pipe: wide enough that no name is cut, tables keep their natural width.
LOG_WIDTH = 10_000


def stderr_console(stream: TextIO | None = None) -> Any:
    """A rich console on stderr: the terminal's width on a terminal; unlimited width in a log, so that file names
    are never cut (``p2/obama.j…``) whatever ``$COLUMNS`` says."""
    from rich.console import Console

    stream = sys.stderr if stream is None else stream
    if stream.isatty():
        return Console(file=stream)
    return Console(file=stream, width=LOG_WIDTH)


def format_eps(eps: float, *, decimal: bool = False) -> str:
    """``8/255`` for an L∞ budget in pixel units; with ``decimal``, ``76.5/255 (0.3)``."""
    text = f"{eps * 255:.3g}/255"
    return f"{text} ({eps:.4g})" if decimal else text
