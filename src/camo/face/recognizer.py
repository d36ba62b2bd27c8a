"""dlib's recognizer under the name the cloak and older code use: :class:`Recognizer` is
:class:`~camo.face.recognizers.dlib_resnet.DlibRecognizer` (see :mod:`camo.face.recognizers` for the interface and
the other recognizers).
"""

from __future__ import annotations

from camo.face.recognizers.base import Face
from camo.face.recognizers.dlib_resnet import DEFAULT_TOLERANCE, DlibRecognizer, _dlib_encoder

__all__ = ["DEFAULT_TOLERANCE", "Face", "Recognizer", "_dlib_encoder"]

Recognizer = DlibRecognizer
"""dlib's recognizer (the cloak's surrogate today)."""
