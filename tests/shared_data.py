"""Where the shared public benchmark files are: `../shared/benchmarks` beside the project (read in place,
never copied in), or wherever SHARED_BENCHMARKS points."""

from __future__ import annotations

import os
from pathlib import Path

from promptopt.env import BASE_DIR

BENCHMARKS = Path(os.environ.get("SHARED_BENCHMARKS") or BASE_DIR.parent / "shared" / "benchmarks")
