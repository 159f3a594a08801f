"""The bake-off's tables and charts from its results file: per task and system, over the seeds run, test
accuracy with a 95 % interval, the paired difference against each baseline and the best DSPy optimizer
(paired bootstrap interval and exact McNemar p over every seed's test rows), calls, prompt tokens, time.

Two times: optimizing (DSPy's compile; PromptOpt's search) and wall (the whole run: DSPy's also tests its
program on the test rows, PromptOpt's also tests the baseline as saved and the winner, which is how it proves
the winner before promoting it)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from _support import table

PLAIN, STATED = "baseline_plain", "baseline_stated"
PROMPTOPT = ("promptopt_hf", "promptopt_local", "promptopt_hf_matched")


def write_report(results: list[dict[str, Any]], *, results_path: Path) -> None:
    """Print one table per task and the average over tasks, and draw one chart per task beside the results."""
    results = latest_runs(results)
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        by_task[result["task"]].append(result)
    print("\n### Average over tasks\n")
    print(average_table(by_task))
    for system in PROMPTOPT:
        if any(row["system"] == system for rows in by_task.values() for row in rows):
            print(f"\n### The goal, for {system}\n")
            print(goal_summary(by_task, system))
    for task, rows in by_task.items():
        print(f"\n### {task}\n")
        print(task_table(rows))
        chart = results_path.parent / f"{results_path.stem}-{task}.png"
        draw_chart(task, rows, chart)
        print(f"\n![{task}: test accuracy against task calls]({chart.name})")


def latest_runs(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last run of each task, seed and system (a rerun with --again replaces the earlier one), in order."""
    latest = {(row["task"], row["seed"], row["system"]): row for row in results}
    return list(latest.values())


def average_table(by_task: dict[str, list[dict[str, Any]]]) -> str:
    """Per system, over the tasks it ran on: the mean of its per-task test accuracy, calls and wall time."""
    systems = list(dict.fromkeys(row["system"] for rows in by_task.values() for row in rows))
    lines = []
    for system in systems:
        per_task = [[row for row in rows if row["system"] == system] for rows in by_task.values()]
        per_task = [mine for mine in per_task if mine]
        accuracy = [
            statistics.mean(sum(row["test_scores"]) / len(row["test_scores"]) for row in mine) for mine in per_task
        ]
        lines.append(
            [
                system,
                len(per_task),
                f"{statistics.mean(accuracy):.3f}",
                int(_mean_of_medians(per_task, "optimize_calls")),
                f"{_mean_of_medians(per_task, 'optimize_seconds'):.0f}",
                f"{_mean_of_medians(per_task, 'wall_seconds'):.0f}",
            ]
        )
    headers = ["system", "tasks", "mean test accuracy", "mean task calls", "mean optimizing s", "mean wall s"]
    return table(headers, lines)


def goal_summary(by_task: dict[str, list[dict[str, Any]]], system: str) -> str:
    """The issue's goal, checked task by task against the best DSPy optimizer on each task (the one with the
    highest mean test accuracy there, so the bar is each task's strongest DSPy row): the accuracy difference
    (paired over the seeds both ran), calls and wall time; then whether the four conditions hold."""
    from workflows.stats import compare_paired

    lines, differences, worse, more_calls, ours_wall, theirs_wall, mixed_cpus = [], [], [], [], [], [], []
    for task, rows in by_task.items():
        best_dspy = _best_dspy(rows)
        common = sorted(set(_seeds(rows, system)) & set(_seeds(rows, best_dspy or "")))
        if best_dspy is None or not common:
            continue
        mine = [row for row in rows if row["system"] == system and row["seed"] in common]
        theirs = [row for row in rows if row["system"] == best_dspy and row["seed"] in common]
        comparison = compare_paired(_pooled(rows, best_dspy, common), _pooled(rows, system, common))
        difference = comparison.difference
        differences.append(difference.mean)
        if difference.high < 0:
            worse.append(task)
        calls = (
            statistics.median(r["optimize_calls"] for r in mine),
            statistics.median(r["optimize_calls"] for r in theirs),
        )
        if calls[0] > calls[1]:
            more_calls.append(task)
        walls = (
            statistics.median(r["wall_seconds"] for r in mine),
            statistics.median(r["wall_seconds"] for r in theirs),
        )
        ours_wall.append(walls[0])
        theirs_wall.append(walls[1])
        if _cpus(mine) != _cpus(theirs):
            mixed_cpus.append(task)
        p = f", p={comparison.mcnemar_p:.3g}" if comparison.mcnemar_p is not None else ""
        lines.append(
            [
                task,
                best_dspy,
                len(common),
                f"{comparison.baseline.mean:.3f}",
                f"{comparison.candidate.mean:.3f}",
                f"{difference.mean:+.3f} ({difference.low:+.3f} to {difference.high:+.3f}){p}",
                f"{int(calls[0])} / {int(calls[1])}",
                f"{walls[0]:.0f} / {walls[1]:.0f}",
            ]
        )
    headers = [
        "task",
        "best DSPy there",
        "seeds",
        "DSPy test",
        f"{system} test",
        "difference (95% CI)",
        "task calls (ours / DSPy)",
        "wall s (ours / DSPy)",
    ]
    if not lines:
        return "no task with both rows yet"
    average = statistics.mean(differences)
    verdict = [
        f"- mean difference over {len(lines)} tasks: {average:+.3f} "
        f"({'above' if average > 0 else 'not above'} DSPy's best)",
        f"- tasks with more task calls than DSPy's best: {', '.join(more_calls) or 'none'}",
        f"- wall time, summed over tasks: {sum(ours_wall):.0f} s against {sum(theirs_wall):.0f} s "
        f"({'less' if sum(ours_wall) < sum(theirs_wall) else 'not less'})",
        f"- tasks significantly worse (interval below zero): {', '.join(worse) or 'none'}",
    ]
    if mixed_cpus:
        verdict.append(f"- wall times measured on different CPUs (not comparable): {', '.join(mixed_cpus)}")
    return table(headers, lines) + "\n\n" + "\n".join(verdict)


def task_table(rows: list[dict[str, Any]]) -> str:
    from workflows.stats import compare_paired, mean_with_interval

    systems = list(dict.fromkeys(row["system"] for row in rows))
    best_dspy = _best_dspy(rows)
    lines = []
    for system in systems:
        scores = _pooled(rows, system)
        seeds = _seeds(rows, system)
        estimate = mean_with_interval(scores)
        cells = [
            system,
            len(seeds),
            f"{estimate.mean:.3f} ({estimate.low:.3f} to {estimate.high:.3f})",
        ]
        for reference in (PLAIN, STATED, best_dspy):
            common = sorted(set(seeds) & set(_seeds(rows, reference or "")))
            if reference is None or reference == system or not common:
                cells.append("")
                continue
            comparison = compare_paired(_pooled(rows, reference, common), _pooled(rows, system, common))
            p = f"p={comparison.mcnemar_p:.3g}" if comparison.mcnemar_p is not None else ""
            difference = comparison.difference
            cells.append(f"{difference.mean:+.3f} ({difference.low:+.3f} to {difference.high:+.3f}) {p}")
        mine = [row for row in rows if row["system"] == system]
        cells += [
            int(statistics.median(row["optimize_calls"] for row in mine)),
            int(statistics.median(row.get("optimizer_model_calls", 0) for row in mine)),
            int(statistics.median(row["prompt_tokens"] for row in mine)),
            f"{statistics.median(row['optimize_seconds'] for row in mine):.0f}",
            f"{statistics.median(row['wall_seconds'] for row in mine):.0f}",
            sum(bool(row.get("failure")) for row in mine),  # crashed: the starting program was tested
        ]
        lines.append(cells)
    headers = [
        "system",
        "seeds",
        "test accuracy (95% CI)",
        "vs plain baseline",
        "vs stated baseline",
        f"vs best DSPy ({best_dspy or 'none'})",
        "uncached task calls (median)",
        "optimizer-model calls",
        "final prompt tokens",
        "optimizing s (median)",
        "wall s (median)",
        "runs that crashed",
    ]
    return table(headers, lines)


def draw_chart(task: str, rows: list[dict[str, Any]], path: Path) -> None:
    """Test accuracy (mean over seeds) against uncached optimization calls (median), one point per system."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for system in dict.fromkeys(row["system"] for row in rows):
        mine = [row for row in rows if row["system"] == system]
        calls = statistics.median(row["optimize_calls"] for row in mine)
        accuracy = statistics.mean(sum(row["test_scores"]) / len(row["test_scores"]) for row in mine)
        axes.scatter([calls], [accuracy], label=system)
    axes.set_xlabel("uncached task calls spent optimizing (median over seeds)")
    axes.set_ylabel("test accuracy (mean over seeds)")
    axes.set_title(task)
    axes.set_ylim(0, 1)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="best")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _best_dspy(rows: list[dict[str, Any]]) -> str | None:
    """The DSPy system with the highest mean test accuracy on this task."""
    dspy_systems = {row["system"] for row in rows if row["system"].startswith("dspy_")}
    if not dspy_systems:
        return None
    return max(sorted(dspy_systems), key=lambda system: statistics.mean(_pooled(rows, system)))


def _cpus(rows: list[dict[str, Any]]) -> set[str]:
    """The CPUs the rows ran on (rows from before the harness recorded it: unknown)."""
    return {row.get("cpu", "unknown") for row in rows}


def _seeds(rows: list[dict[str, Any]], system: str) -> list[int]:
    return sorted(row["seed"] for row in rows if row["system"] == system)


def _pooled(rows: list[dict[str, Any]], system: str, seeds: list[int] | None = None) -> list[float]:
    """Every test row's score over the seeds, seed by seed in order, so two systems' lists pair row by row."""
    wanted = seeds if seeds is not None else _seeds(rows, system)
    by_seed = {row["seed"]: row for row in rows if row["system"] == system}
    return [score for seed in wanted for score in by_seed[seed]["test_scores"]]


def _mean_of_medians(per_task: list[list[dict[str, Any]]], field: str) -> float:
    """The mean over tasks of each task's median over seeds."""
    return statistics.mean(statistics.median(row[field] for row in mine) for mine in per_task)
