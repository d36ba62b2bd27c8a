"""The exceptions camo raises.

Every error a user can cause is a :class:`CamoError`; its message names the bad value and, where it helps, what to do
instead. Only the CLI catches these, prints the message on one line and exits with a non-zero status.
"""

from __future__ import annotations


class CamoError(Exception):
    """Root of every error camo raises on purpose."""


class InputError(CamoError, ValueError):
    """A value or file given by the user is unusable (wrong range, shape, format, missing file...)."""


class ImageError(InputError):
    """An image file cannot be read or written safely (corrupt, truncated, too large, would overwrite an input)."""


class ModelError(CamoError):
    """A model cannot be found, loaded or used as asked."""


class LabelError(InputError):
    """A class label is not one the model knows."""


class NoFaceError(InputError):
    """No face was found in a photo where one was needed."""
