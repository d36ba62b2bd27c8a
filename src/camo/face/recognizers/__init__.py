"""Face recognizers behind one interface (see :mod:`camo.face.recognizers.base`)."""
