"""``camo serve``: a local web app to cloak photos and to try attacks, over a JSON API (see :func:`create_app`).

Nothing leaves the machine: the page, its script and its styles are served from this package (no CDN), uploads and
results live in one private temporary folder that is deleted on shutdown, and the page calls the library through
the API, never the CLI. Nothing is loaded at import.
"""

from camo.serve.app import create_app
from camo.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]
