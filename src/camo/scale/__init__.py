"""Photo jobs that survive interruptions and scale out: a resumable manifest in the output folder, one worker per
process that loads the models once, and a Ray runner for a cluster.

Importing this package imports neither torch nor Ray: :mod:`camo.scale.ray_runner` is the only module that imports
Ray, and only ``--ray`` loads it.
"""

from __future__ import annotations
