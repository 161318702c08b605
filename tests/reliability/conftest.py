"""Generated cases are the same on every run (CI must not flake on a new draw); set
WORKBENCH_EXPLORE=1 to draw new ones (``--hypothesis-seed=N`` repeats a draw)."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("workbench", derandomize=not os.environ.get("WORKBENCH_EXPLORE"))
settings.load_profile("workbench")
