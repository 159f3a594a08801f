"""Quality benchmark: the optimization engine with the embedded model on public tasks, baseline vs optimized.

For each task and seed: 50 train and 50 validation rows drawn (by seed) from the task's train pool, the task's
own test rows as the test split (APE: the 100 `execute` rows; BBH: the first 100 rows whose `opro_split` is
`test`), a plain baseline prompt, and `optimize` with the default `auto` strategy mix on the embedded model,
at most `--max-search-calls` uncached task calls for the search (the final test of baseline and winner, two
calls per test row, is counted and reported separately). Every run uses a team of its own, so it starts with
an empty call cache. Results are appended to a JSONL file as each run ends, so an interrupted benchmark can
be continued; the table is printed from that file.

    .venv/bin/python bench/optimization_quality.py [--tasks ape__sentiment,...] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _support import SHARED_BENCHMARKS, benchmark_actor, django_setup, invocation, machine_header, table

TASKS = ("ape__sentiment", "ape__antonyms", "ape__first_word_letter", "bbh__sports_understanding")

# Plain first-draft prompts, as a user would write them before optimizing: a chat instruction, free text.
BASELINE_INSTRUCTIONS = {
    "ape__sentiment": "Classify the sentiment of the sentence as positive or negative.",
    "ape__antonyms": "Write a word that means the opposite of the input word.",
    "ape__first_word_letter": "Extract the first letter of the input word.",
    "bbh__sports_understanding": "Is the following sentence plausible? Answer yes or no.",
}
TRAIN_ROWS = 50
VALIDATION_ROWS = 50
TEST_ROWS = 100


def task_rows(task: str) -> list[dict[str, Any]]:
    """The task's rows in file order, each input once: some files (BBH sports understanding) repeat a row,
    and a repeated row could land in train and test at once."""
    path = SHARED_BENCHMARKS / f"{task}.jsonl"
    with path.open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    first_by_input: dict[str, dict[str, Any]] = {}
    for row in rows:
        first_by_input.setdefault(row["input"], row)
    return list(first_by_input.values())


def split_rows(task: str, seed: int) -> list[dict[str, Any]]:
    """The task's rows labelled train / validation / test as the benchmark defines them."""
    rows = task_rows(task)
    if task.startswith("ape__"):
        test = [row for row in rows if row["meta"]["split"] == "execute"][:TEST_ROWS]
        pool = [row for row in rows if row["meta"]["split"] == "induce"]
    else:
        # BBH has no separate train file: OPRO's test rows give the test split, and the train pool is every
        # other row (OPRO's 50 train rows plus its test rows after the first 100), so 50 + 50 can be drawn.
        test = [row for row in rows if row["meta"].get("opro_split") == "test"][:TEST_ROWS]
        chosen = {id(row) for row in test}
        pool = [row for row in rows if id(row) not in chosen]
    # A small task (BBH snarks: 178 rows, 100 of them test) cannot give 50 + 50: its whole pool is split in half.
    wanted = min(TRAIN_ROWS + VALIDATION_ROWS, len(pool))
    train_rows = wanted * TRAIN_ROWS // (TRAIN_ROWS + VALIDATION_ROWS)
    drawn = random.Random(seed).sample(pool, wanted)  # noqa: S311 - sampling, not secrets
    labelled = []
    for position, row in enumerate([*drawn, *test]):
        split = "train" if position < train_rows else "validation" if position < wanted else "test"
        answers = row["meta"].get("answers") or [row["target"]]
        labelled.append({"input": row["input"], "target": row["target"], "answers": answers, "split": split})
    return labelled


def _mean(estimate: dict[str, Any] | None) -> float | None:
    return estimate["mean"] if estimate else None


def run_one(task: str, seed: int, *, max_search_calls: int, iterations: int) -> dict[str, Any]:
    from accounts.services import team_create
    from prompts.content import PromptContent
    from prompts.importers import ImportOptions
    from prompts.models import Layout, Provider
    from prompts.services import dataset_version_import, prompt_create
    from workflows.run_runner import run_execute
    from workflows.services import run_create

    rows = split_rows(task, seed)
    # A team of its own per run: the call cache is per team, so every run starts cold.
    team = team_create(name=f"bench {seed} {time.time_ns() % 10**9}", actor=benchmark_actor())
    prompt = prompt_create(
        team=team,
        name=task,
        actor=benchmark_actor(),
        first_version=PromptContent(
            system_instruction=BASELINE_INSTRUCTIONS[task],
            template="{{input}}",
            layout=Layout.CHAT,
            provider=Provider.LOCAL,
            max_tokens=32,
        ),
    )
    content = "\n".join(json.dumps(row) for row in rows).encode()
    dataset_version = dataset_version_import(
        team=team,
        dataset_name=task,
        file_name=f"{task}.jsonl",
        content=content,
        options=ImportOptions(input_fields=("input",), split_field="split", answers_field="answers"),
        actor=benchmark_actor(),
    ).version
    test_rows = sum(row["split"] == "test" for row in rows)
    run = run_create(
        team=team,
        version=prompt.versions.get(),
        dataset_version=dataset_version,
        config={
            "seed": seed,
            "metric": {"name": "normalized_match"},
            "iterations": iterations,
            "budget": {"max_calls": max_search_calls + 2 * test_rows},
        },
        actor=benchmark_actor(),
        enqueue=False,
    )
    started = time.monotonic()
    finished = run_execute(run_id=run.pk)
    wall = time.monotonic() - started
    if finished is None:
        raise SystemExit(f"run {run.pk} was claimed by someone else")
    report = finished.report
    search_usage = (finished.checkpoint or {}).get("usage", {})
    return {
        "task": task,
        "seed": seed,
        "status": finished.status,
        "stop_reason": finished.stop_reason,
        "baseline_test": _mean(report["baseline"]["test"]),
        "optimized_test": _mean(report["winner"]["test"]),
        "baseline_validation": _mean(report["baseline"]["validation"]),
        "optimized_validation": _mean(report["winner"]["validation"]),
        "test_difference": report["test_difference"],
        "improved": report["winner"]["improved"],
        "search_calls": search_usage.get("calls"),
        "total_calls": finished.calls,
        "cached_calls": finished.cached_calls,
        "search_seconds": round(search_usage.get("seconds", 0.0), 1),
        "wall_seconds": round(wall, 1),
        "iterations": report["iterations"],
        "winner": report["winner"]["content"],
    }


def summary(results: list[dict[str, Any]]) -> str:
    from workflows.stats import mean_with_interval

    rows = []
    for task in dict.fromkeys(result["task"] for result in results):
        mine = [result for result in results if result["task"] == task]
        baseline = [result["baseline_test"] for result in mine]
        optimized = [result["optimized_test"] for result in mine]

        def interval(values: list[float]) -> str:
            if len(values) < 2:
                return f"{values[0]:.2f}"
            estimate = mean_with_interval(values, seed=0)
            return f"{estimate.mean:.2f} ({estimate.low:.2f} to {estimate.high:.2f})"

        rows.append(
            [
                task,
                len(mine),
                interval(baseline),
                interval(optimized),
                " / ".join(f"{value:.2f}" for value in optimized),
                int(statistics.median(result["search_calls"] for result in mine)),
                max(result["search_calls"] for result in mine),
                int(statistics.median(result["total_calls"] for result in mine)),
                f"{statistics.median(result['search_seconds'] for result in mine):.0f}",
                f"{statistics.median(result['wall_seconds'] for result in mine):.0f}",
            ]
        )
    headers = [
        "task",
        "seeds",
        "baseline test (mean, CI over seeds)",
        "optimized test",
        "optimized per seed",
        "search calls (median)",
        "search calls (max)",
        "all calls incl. test (median)",
        "search s (median)",
        "wall s (median)",
    ]
    return table(headers, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--max-search-calls", type=int, default=480)
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--results", type=Path, default=Path("bench/results/optimization_quality.jsonl"))
    parser.add_argument("--fresh", action="store_true", help="Start a new results file instead of continuing.")
    args = parser.parse_args()

    args.results.parent.mkdir(parents=True, exist_ok=True)
    if args.fresh and args.results.exists():
        args.results.unlink()
    done = []
    if args.results.exists():
        done = [json.loads(line) for line in args.results.read_text(encoding="utf-8").splitlines() if line.strip()]
    print(machine_header(invocation()))
    with tempfile.TemporaryDirectory(prefix="promptopt-bench-") as folder:
        django_setup(Path(folder))
        for task in args.tasks.split(","):
            for seed in (int(value) for value in args.seeds.split(",")):
                if any(result["task"] == task and result["seed"] == seed for result in done):
                    continue
                result = run_one(task, seed, max_search_calls=args.max_search_calls, iterations=args.iterations)
                done.append(result)
                with args.results.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(result) + "\n")
                print(
                    f"{task} seed {seed}: baseline {result['baseline_test']:.2f} -> {result['optimized_test']:.2f} "
                    f"({result['search_calls']} search calls, {result['wall_seconds']:.0f} s, {result['stop_reason']})",
                    flush=True,
                )
    wanted = [result for result in done if result["task"] in args.tasks.split(",")]
    print(summary(wanted))


if __name__ == "__main__":
    main()
