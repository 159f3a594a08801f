"""Where the shared public benchmark files are: `../shared/benchmarks` beside the project (read in place,
never copied in), or wherever SHARED_BENCHMARKS points."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from promptopt.env import BASE_DIR

BENCHMARKS = Path(os.environ.get("SHARED_BENCHMARKS") or BASE_DIR.parent / "shared" / "benchmarks")
needs_ape_sentiment = pytest.mark.skipif(
    not (BENCHMARKS / "ape__sentiment.jsonl").exists(),
    reason="the shared benchmarks are not beside the project (set SHARED_BENCHMARKS)",
)


def ape_sentiment_sample() -> bytes:
    """APE sentiment's first 24 "induce" rows (for train and validation) and 12 "execute" rows (its test rows),
    as JSONL: a small task the embedded model can be optimized on in a test."""
    path = BENCHMARKS / "ape__sentiment.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    induce = [row for row in rows if row["meta"]["split"] == "induce"][:24]
    execute = [row for row in rows if row["meta"]["split"] == "execute"][:12]
    return "".join(json.dumps(row) + "\n" for row in induce + execute).encode()
