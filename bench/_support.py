"""Shared plumbing for the benchmark scripts: import path, machine description, data loading, tables, Django setup.

The scripts are run as `.venv/bin/python bench/<name>.py`, which puts `bench/` (not the project root) on
`sys.path`; importing this module first adds the project root, so the scripts can import the project's code.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

# Benchmark data is shared between projects and read in place, never copied into this repository.
SHARED_BENCHMARKS = PROJECT_ROOT.parent / "shared" / "benchmarks"
SENTIMENT_FILE = SHARED_BENCHMARKS / "ape__sentiment.jsonl"


def cpu_model() -> str:
    """The CPU model name as lscpu reports it (read from /proc/cpuinfo, where lscpu gets it on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_header(command: str) -> str:
    """One block saying when, where and how a benchmark ran, printed before its table."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"date: {now}\n"
        f"machine: {cores} cores (nproc), {cpu_model()}, Python {platform.python_version()}\n"
        f"command: {command}"
    )


def invocation() -> str:
    """The command line that ran this script, as it would be typed from the project root."""
    script = Path(sys.argv[0]).resolve()
    try:
        shown = script.relative_to(PROJECT_ROOT)
    except ValueError:
        shown = script
    return " ".join([".venv/bin/python", str(shown), *sys.argv[1:]])


def sentiment_rows(count: int) -> list[dict[str, Any]]:
    """The first `count` rows of the APE sentiment task (short movie-review snippets), in file order."""
    rows: list[dict[str, Any]] = []
    with SENTIMENT_FILE.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                rows.append(json.loads(line))
            if len(rows) == count:
                break
    if len(rows) < count:
        raise SystemExit(f"{SENTIMENT_FILE} has only {len(rows)} rows; {count} were asked for")
    return rows


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table with right-aligned columns (Markdown-compatible, so it can be pasted into docs)."""
    cells = [[str(header) for header in headers], *[[str(cell) for cell in row] for row in rows]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)) + " |"

    separator = "|" + "|".join("-" * (width + 1) + ":" for width in widths) + "|"
    return "\n".join([line(cells[0]), separator, *(line(row) for row in cells[1:])])


def django_setup(data_dir: Path, *, migrate: bool = True) -> None:
    """Configure Django on a SQLite database inside `data_dir` and, unless told not to, create its tables.

    Must run before anything imports Django models. DATABASE_URL is set explicitly, not only DATA_DIR, so
    that a DATABASE_URL in the caller's environment can never point a benchmark at a real database.
    LOG_LEVEL=WARNING keeps the gateway's per-call INFO lines out of the printed table; cached calls log at
    DEBUG, so the level does not favour either run of a comparison.
    """
    os.environ["DJANGO_SETTINGS_MODULE"] = "promptopt.settings"
    os.environ["DATA_DIR"] = str(data_dir)
    os.environ["DATABASE_URL"] = f"sqlite:///{data_dir / 'promptopt.sqlite3'}"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ.pop("REDIS_URL", None)  # the default local-memory cache and ORM broker: nothing external

    import django
    from django.core.management import call_command

    django.setup()
    if migrate:
        call_command("migrate", verbosity=0, interactive=False)


def benchmark_actor() -> Any:
    """The system, acting for a benchmark script (imported late: Django is set up inside the scripts)."""
    from accounts.actors import Actor

    return Actor.system("benchmark")
