"""Progress of long CLI work on stderr: a rich bar on a terminal, plain lines in a log.

On a terminal the bar redraws in place and disappears when the work ends. When stderr is a file or a pipe (a job's
log, ``2> run.log``) a bar would print nothing at all, so the same ``update`` calls become a start line, a line
every ``CAMO_PROGRESS_SECONDS`` (default 15) while the work runs — even when the library reports nothing, so a long
silent step still shows that it is alive — and a closing line with the time taken. The start line waits for the
first count or a second of work, whichever comes first: a bad setting the library refuses at once stays one
``error:`` line.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

#: Environment variable: seconds between two plain progress lines (0: a line at every update).
INTERVAL_VARIABLE = "CAMO_PROGRESS_SECONDS"
DEFAULT_INTERVAL = 15.0
#: Seconds of work after which the start line is printed even without a count.
START_AFTER = 1.0


def format_duration(seconds: float) -> str:
    """``7 s``, ``3 min 05 s``, ``1 h 04 min``: durations the way a person reads them in a log."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def interval_from_environment() -> float:
    """Seconds between plain progress lines: ``$CAMO_PROGRESS_SECONDS`` when it is a number ≥ 0, else 15."""
    text = os.environ.get(INTERVAL_VARIABLE, "")
    try:
        value = float(text)
    except ValueError:
        return DEFAULT_INTERVAL
    return value if math.isfinite(value) and value >= 0 else DEFAULT_INTERVAL


class Update:
    """What a command passes to the library as its progress callback.

    ``update(done, total, value=None)``: ``done`` of ``total`` units (``total`` None or ≤ 0 when unknown), ``value``
    a number or short text shown beside the count (p(target) so far, frames per second).
    ``update.describe(text)``: a new description (a new stage of the same work).
    """

    def __init__(self, sink: Callable[[int, int | None, float | str | None], None],
                 describe: Callable[[str], None]) -> None:
        self._sink = sink
        self.describe = describe

    def __call__(self, done: int, total: int | None, value: float | str | None = None) -> None:
        self._sink(done, total, value)


def _ignore_update(done: int, total: int | None, value: float | str | None = None) -> None:
    """Progress nobody shows (``--json``, ``--quiet``)."""


def _ignore_text(text: str) -> None:
    """A description nobody shows."""


def _value_text(value: float | str | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else f"{value:.2f}"


class PlainProgress:
    """Plain progress lines for a log: a start line, a line per ``interval`` seconds, a closing line.

    ``tick(now)`` prints a line when ``interval`` seconds have passed since the last one; :func:`progress_bar` calls
    it at every update and from a background timer, so a line comes even while the library is silent. The clock is
    a parameter so that what is printed when can be tested without waiting.
    """

    def __init__(self, description: str, *, stream: TextIO, interval: float, unit: str = "",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.description = description
        self.unit = f" {unit}" if unit else ""
        self.stream = stream
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self.last_line = self.started
        self.done = 0
        self.total: int | None = None
        self.value: float | str | None = None
        self.started_line = False
        self._lock = threading.Lock()

    def start(self) -> None:
        """Print the start line, once."""
        with self._lock:
            if self.started_line:
                return
            self.started_line = True
        self._print(f"{self.description}: started")

    def update(self, done: int, total: int | None, value: float | str | None = None) -> None:
        self.start()
        with self._lock:
            self.done, self.total, self.value = done, total if total is not None and total > 0 else None, value
        self.tick(self.clock())

    def describe(self, text: str) -> None:
        with self._lock:
            changed = text != self.description
            self.description = text
        if changed:
            self.tick(self.clock(), force=True)

    def tick(self, now: float, *, force: bool = False) -> None:
        """Print the state when ``interval`` seconds have passed since the last line (or when forced)."""
        with self._lock:
            if not force and now - self.last_line < self.interval:
                return
            self.last_line = now
            line = self.state_line(now)
        self._print(line)

    def state_line(self, now: float) -> str:
        elapsed = now - self.started
        parts: list[str] = []
        if self.total is not None:
            share = self.done / self.total
            parts.append(f"{self.done}/{self.total}{self.unit} ({share:.0%})")
        elif self.done:
            parts.append(f"{self.done}{self.unit or ' done'}")
        else:
            parts.append("working")
        value = _value_text(self.value)
        if value:
            parts.append(value)
        parts.append(f"{format_duration(elapsed)} elapsed")
        if self.total is not None and 0 < self.done < self.total:
            parts.append(f"about {format_duration(elapsed * (self.total - self.done) / self.done)} left")
        return f"{self.description}: {', '.join(parts)}"

    def finish(self) -> None:
        self.start()
        self._print(f"{self.description}: done in {format_duration(self.clock() - self.started)}")

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)


@contextmanager
def progress_bar(description: str, *, disable: bool, unit: str = "",
                 stream: TextIO | None = None) -> Iterator[Update]:
    """Progress of one piece of long work on stderr; yields an :class:`Update` to pass to the library.

    A rich bar when ``stream`` (default: stderr) is a terminal; plain lines otherwise (module docstring), where
    ``unit`` names what is counted ("images", "ε tried"); nothing when ``disable`` (``--json``, ``--quiet``). With
    plain lines the closing line comes only when the work ends normally.
    """
    stream = sys.stderr if stream is None else stream
    if disable:
        yield Update(_ignore_update, _ignore_text)
        return
    if not stream.isatty():
        with _plain(description, stream, unit) as update:
            yield update
        return
    with _rich(description, stream) as update:
        yield update


@contextmanager
def _plain(description: str, stream: TextIO, unit: str) -> Iterator[Update]:
    interval = interval_from_environment()
    plain = PlainProgress(description, stream=stream, interval=interval, unit=unit)
    stop = threading.Event()
    timer: threading.Thread | None = None
    if interval > 0:
        def beat() -> None:
            if stop.wait(min(START_AFTER, interval)):
                return
            plain.start()
            while not stop.wait(interval / 4):
                plain.tick(plain.clock())

        timer = threading.Thread(target=beat, name="camo-progress", daemon=True)
        timer.start()
    try:
        yield Update(plain.update, plain.describe)
    finally:
        stop.set()
        if timer is not None:
            timer.join()
    plain.finish()


@contextmanager
def _rich(description: str, stream: TextIO) -> Iterator[Update]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[value]}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(file=stream), transient=True) as progress:
        task = progress.add_task(description, total=None, value="")

        def update(done: int, total: int | None, value: float | str | None = None) -> None:
            progress.update(task, completed=done, total=total if total is not None and total > 0 else None,
                            value=_value_text(value))

        def describe(text: str) -> None:
            progress.update(task, description=text)

        yield Update(update, describe)

