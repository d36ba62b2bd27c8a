"""ε grids: plain arithmetic, importable without torch (the command line parses ε lists before loading anything)."""

from __future__ import annotations

import math

from camo.errors import InputError


def fraction(text: str) -> float:
    """A number written ``8/255`` or ``0.03`` (how camo's users write ε).

    Raises:
        ValueError: neither a number nor a fraction of two numbers (a zero denominator included).
    """
    if "/" in text:
        num, den = text.split("/", 1)
        try:
            return float(num) / float(den)
        except ZeroDivisionError:
            raise ValueError(f"zero denominator in {text!r}") from None
    return float(text)


#: Most ε values one sweep accepts (a typo such as a step of 1e-6 would otherwise run for hours).
MAX_POINTS = 10_001


def eps_range(start: float, stop: float, step_size: float) -> tuple[float, ...]:
    """The values start, start + step, ..., stop (stop included when it lies on the grid), in pixel units.

    Raises:
        InputError: a step that is not positive, stop < start, or more than :data:`MAX_POINTS` values.
    """
    if not (math.isfinite(start) and math.isfinite(stop) and math.isfinite(step_size)):
        raise InputError(f"ε range needs finite numbers; got {start:g}:{stop:g}:{step_size:g}")
    if step_size <= 0:
        raise InputError(f"the ε step must be > 0; got {step_size:g}")
    if stop < start:
        raise InputError(f"the ε range must go up: start {start:g} is above stop {stop:g}")
    count = math.floor((stop - start) / step_size + 1e-9) + 1
    if count > MAX_POINTS:
        raise InputError(f"{start:g}:{stop:g}:{step_size:g} gives {count} values of ε; at most {MAX_POINTS}")
    # Snap values within rounding of zero to exactly 0, so ε = 0 (the clean image) is on the grid when it should be.
    values = (start + i * step_size for i in range(count))
    return tuple(0.0 if abs(v) < 1e-9 * step_size else v for v in values)
