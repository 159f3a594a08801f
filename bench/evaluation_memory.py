"""Evaluation memory: peak resident memory evaluating a 100,000-row dataset vs a 1,000-row one (scripted provider).

Target (issue 3, Performance): examples are read and predictions written in bounded chunks, so evaluating a
100,000-row dataset with a fast scripted provider peaks at no more than twice the resident memory of a
1,000-row one.

For each size the parent process generates a CSV in a temporary directory and starts fresh child processes
(`ru_maxrss` is a per-process high-water mark, so sizes and phases must not share a process):
  1. an import child: a fresh SQLite database (migrated), a team and a prompt, then the CSV imported
     through `dataset_version_import`, the service behind `manage.py import_dataset`;
  2. one evaluation child per repetition: `evaluation_create(enqueue=False)` + `evaluation_execute` over
     every row, with `workflows.evaluation_runner.provider_build` monkeypatched (in the child only) to a
     provider defined here that answers instantly. Each repetition uses another seed, which is part of the
     cache key, so every run starts with a cold response cache and does the same work.
Import and evaluation run in separate children because the import service parses a whole file at once:
in one process its peak would be the figure measured, not the evaluation's. The import peaks are
reported too, for information.

Run: .venv/bin/python bench/evaluation_memory.py [--repeat 3] [--sizes 1000 100000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _support import benchmark_actor, django_setup, invocation, machine_header, median, table

TARGET_RATIO = 2.0
TEMPLATE = "Review: {{text}}\nSentiment:"


class InstantProvider:
    """A scripted provider: answers every request at once from the text, with no model behind it."""

    name = "local"
    model_name = "bench-instant"

    def generate(self, requests: Sequence[Any]) -> list[Any]:
        from workflows.gateway.types import Generation

        # Half the answers right, half wrong (by the row's parity word), so scores vary as real ones do and
        # the bootstrap interval runs as it would on a real evaluation.
        return [
            Generation(
                text="positive" if "good" in request.prompt.completion_text else "negative",
                input_tokens=12,
                output_tokens=1,
                latency_ms=0,
            )
            for request in requests
        ]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports kilobytes


def current_rss_mb() -> float:
    # Resident pages now (second field of statm), for the baseline before the evaluation starts.
    pages = int(Path("/proc/self/statm").read_text(encoding="ascii").split()[1])
    return pages * resource.getpagesize() / (1024 * 1024)


def write_csv(path: Path, rows: int) -> None:
    # Distinct rows (the importer refuses duplicates), every one in the test split, so all are evaluated.
    with path.open("w", encoding="utf-8") as out:
        out.write("text,target,split\n")
        for i in range(rows):
            word, label = "good" if i % 2 else "bad", "positive" if i % 3 else "negative"
            out.write(f"review {i} of a {word} film,{label},test\n")


def child_import(data_dir: Path, csv_path: Path) -> dict[str, Any]:
    django_setup(data_dir)
    from django.conf import settings

    from accounts.services import team_create
    from prompts.content import PromptContent
    from prompts.importers import ImportOptions
    from prompts.models import Layout
    from prompts.services import dataset_version_import, prompt_create

    team = team_create(name="Bench memory", slug="bench", actor=benchmark_actor())
    prompt_create(
        team=team,
        name="Sentiment",
        slug="sentiment",
        actor=benchmark_actor(),
        first_version=PromptContent(template=TEMPLATE, layout=Layout.COMPLETION, max_tokens=4),
    )
    started = time.perf_counter()
    imported = dataset_version_import(
        team=team,
        dataset_name="Reviews",
        file_name=csv_path.name,
        content=csv_path.read_bytes(),
        options=ImportOptions(max_bytes=settings.DATASET_MAX_BYTES, max_rows=settings.DATASET_MAX_ROWS),
        actor=benchmark_actor(),
    )
    return {
        "rows": imported.version.row_count,
        "seconds": time.perf_counter() - started,
        "peak_mb": peak_rss_mb(),
    }


def child_evaluate(data_dir: Path, seed: int) -> dict[str, Any]:
    # The import child created and migrated the database; loading migrations here would only add to the baseline.
    django_setup(data_dir, migrate=False)
    import workflows.evaluation_runner as runner
    from accounts.models import Team
    from prompts.models import DatasetVersion, PromptVersion
    from prompts.splits import Split
    from workflows.services import evaluation_create

    instant = InstantProvider()
    # In this child process only: the runner gets the scripted provider instead of building the local model.
    runner.provider_build = lambda **kwargs: instant

    team = Team.objects.get(slug="bench")
    version = PromptVersion.objects.get(prompt__team=team, prompt__slug="sentiment")
    dataset_version = DatasetVersion.objects.get(dataset__team=team)
    baseline_mb = current_rss_mb()
    started = time.perf_counter()
    evaluation = evaluation_create(
        team=team,
        version=version,
        dataset_version=dataset_version,
        split=Split.TEST,
        config={"metric": {"name": "exact_match"}, "seed": seed},
        actor=benchmark_actor(),
        enqueue=False,
    )
    outcome = runner.evaluation_execute(evaluation_id=evaluation.pk)
    seconds = time.perf_counter() - started
    if outcome is None:
        raise SystemExit(f"evaluation {evaluation.pk} was not claimed")
    result = outcome.evaluation
    return {
        "status": result.status,
        "scored": result.scored_count,
        "calls": result.calls,
        "seconds": seconds,
        "baseline_mb": baseline_mb,
        "peak_mb": peak_rss_mb(),
    }


def run_child(*arguments: str) -> dict[str, Any]:
    # The same interpreter and this same script, with fixed arguments built here (no shell, no outside input).
    completed = subprocess.run(  # noqa: S603
        [sys.executable, __file__, *arguments], check=True, capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def parent(args: argparse.Namespace) -> None:
    imports: dict[int, dict[str, Any]] = {}
    evaluations: dict[int, list[dict[str, Any]]] = {}
    for size in args.sizes:
        with tempfile.TemporaryDirectory(prefix=f"promptopt-bench-memory-{size}-") as tmp:
            data_dir, csv_path = Path(tmp) / "data", Path(tmp) / f"reviews-{size}.csv"
            write_csv(csv_path, size)
            imports[size] = run_child("--child", "import", "--data-dir", str(data_dir), "--csv", str(csv_path))
            evaluations[size] = [
                run_child("--child", "evaluate", "--data-dir", str(data_dir), "--seed", str(seed))
                for seed in range(1, args.repeat + 1)
            ]
            for run in evaluations[size]:
                if run["scored"] != size or run["status"] != "succeeded":
                    raise SystemExit(f"{size} rows: evaluation {run['status']} with {run['scored']} scored")

    print(machine_header(invocation()))
    print(f"workload: CSV of N distinct rows, all in the test split, instant scripted provider; {args.repeat} runs\n")
    rows = []
    for size in args.sizes:
        runs = evaluations[size]
        rows.append(
            (
                f"{size:,}",
                f"{median([run['baseline_mb'] for run in runs]):.1f}",
                f"{median([run['peak_mb'] for run in runs]):.1f}",
                f"{min(run['peak_mb'] for run in runs):.1f}-{max(run['peak_mb'] for run in runs):.1f}",
                f"{median([run['seconds'] for run in runs]):.2f}",
                f"{size / median([run['seconds'] for run in runs]):,.0f}",
                f"{imports[size]['peak_mb']:.1f}",
                f"{imports[size]['seconds']:.2f}",
            )
        )
    print(
        table(
            [
                "rows",
                "eval RSS before MB",
                "eval peak MB (median)",
                "eval peak range",
                "eval s",
                "rows/s",
                "import peak MB",
                "import s",
            ],
            rows,
        )
    )
    small, large = min(args.sizes), max(args.sizes)
    small_peak = median([run["peak_mb"] for run in evaluations[small]])
    large_peak = median([run["peak_mb"] for run in evaluations[large]])
    ratio = large_peak / small_peak
    print()
    print(
        f"evaluation peak ratio {large:,} / {small:,} rows: {ratio:.2f} (medians of {args.repeat} runs); "
        f"target <= {TARGET_RATIO:.1f}: {'met' if ratio <= TARGET_RATIO else 'MISSED'}"
    )
    print(f"import peak ratio (information): {imports[large]['peak_mb'] / imports[small]['peak_mb']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="evaluation runs per size (default 3)")
    parser.add_argument("--sizes", type=int, nargs=2, default=[1000, 100_000], help="small and large row counts")
    # Internal: how the parent starts its children.
    parser.add_argument("--child", choices=["import", "evaluate"], help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child == "import":
        print(json.dumps(child_import(args.data_dir, args.csv)))
    elif args.child == "evaluate":
        print(json.dumps(child_evaluate(args.data_dir, args.seed)))
    else:
        parent(args)


if __name__ == "__main__":
    main()
