"""Match thresholds that light modules need without loading a recognizer (no torch, no dlib).

:mod:`camo.face.cloak_config` sets its default tolerance from here, so its presets answer (the web page's options, a
job's settings checked) without importing torch; the recognizers import the same constant.
"""

from __future__ import annotations

__all__ = ["DEFAULT_TOLERANCE"]

DEFAULT_TOLERANCE = 0.6
"""dlib's and face_recognition's threshold: descriptors closer than this belong to the same person."""
