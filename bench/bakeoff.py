"""The bake-off: PromptOpt against DSPy's optimizers on the same task model, rows and scorer (issue 12).

One task model for every system: SmolLM2-135M-Instruct served by llama.cpp's OpenAI-compatible server on
127.0.0.1 (or the server `--base-url` names, e.g. a GPU inference server with a larger model), reached by
every system through a counting proxy, so uncached task calls are counted where they arrive. Per task and
seed, in order: the two baselines, DSPy's optimizers with both adapters, then PromptOpt with a call budget no
larger than the smallest DSPy optimizer's count (through its `huggingface` provider at the proxy, and in a
second row with its in-process `local` provider). Each run appends one line to the results file as it ends,
so an interrupted bake-off continues where it stopped; `--report` prints the tables and draws the charts.

    .venv/bin/pip install -r bench/requirements-bakeoff.txt
    .venv/bin/python bench/bakeoff.py [--tasks report|development|t1,t2] [--seeds 0,1,2] [--systems ...]
        [--base-url http://gpu-host:8000] [--results bench/results/bakeoff.jsonl] [--report]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from _support import PROJECT_ROOT, cpu_model, django_setup, machine_header
from bakeoff_kit.server import CONTEXT_TOKENS, CallCounter, counting_proxy, llama_server
from bakeoff_kit.tasks import DEVELOPMENT_TASKS, REPORT_TASKS, task_splits

BASELINES = ("baseline_plain", "baseline_stated")
DSPY_SYSTEMS = tuple(
    f"dspy_{optimizer}_{adapter}"
    for optimizer in ("bootstrap_rs", "mipro_light", "gepa_light")
    for adapter in ("chat", "completion")
)
# The rule: a budget no larger than the smallest count of the DSPy optimizers that finished. A DSPy
# optimizer that barely searched (GEPA whose 135M reflection model proposes nothing usable stops after a few
# hundred uncached calls) then sets it; `promptopt_hf_matched` also runs with the count of the DSPy optimizer
# that scored best on validation (chosen as a user would, before any test row), the goal's "no more task calls
# than DSPy's best optimizer".
PROMPTOPT_SYSTEMS = ("promptopt_hf", "promptopt_local", "promptopt_hf_matched")
SYSTEMS = (*BASELINES, *DSPY_SYSTEMS, *PROMPTOPT_SYSTEMS)
DEFAULT_RESULTS = PROJECT_ROOT / "bench" / "results" / "bakeoff.jsonl"
SMOKE_RESULTS = PROJECT_ROOT / "bench" / "results" / "bakeoff-smoke.jsonl"
SMOKE_ROWS = 8
# PromptOpt's search budget when no DSPy optimizer has run on the task and seed yet.
DEFAULT_SEARCH_CALLS = 400


def run_unit(
    task: str,
    seed: int,
    system: str,
    *,
    base_url: str,
    counter: CallCounter,
    results: list[dict[str, Any]],
    limit: int | None = None,
    promptopt_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from bakeoff_kit.dspy_runs import run_dspy
    from bakeoff_kit.promptopt_runs import run_baseline, run_promptopt

    splits = task_splits(task, seed, limit=limit)
    # Wall times are compared across systems: the load says whether something else shared the machine.
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    if system in BASELINES:
        outcome = run_baseline(splits, stated=system == "baseline_stated", counter=counter)
    elif system in DSPY_SYSTEMS:
        _prefix, rest = system.split("_", 1)
        optimizer, adapter = rest.rsplit("_", 1)
        outcome = run_dspy(splits, optimizer=optimizer, adapter=adapter, base_url=base_url, counter=counter)
    else:
        budget = search_budget(results, task=task, seed=seed, matched=system == "promptopt_hf_matched")
        provider = "local" if system == "promptopt_local" else "huggingface"
        outcome = run_promptopt(
            splits, provider=provider, max_search_calls=budget, counter=counter, config=promptopt_config or {}
        )
        outcome["search_budget"] = budget
        if promptopt_config:
            outcome["promptopt_config"] = promptopt_config
    wall = round(time.monotonic() - started, 1)
    # The machine too: sessions run on different CPUs, and only rows of one CPU compare in wall time.
    where = {"load_1m_before": round(load_before, 2), "load_1m_after": round(os.getloadavg()[0], 2), "cpu": cpu_model()}
    return {"task": task, "seed": seed, "system": system, "wall_seconds": wall} | outcome | where


def search_budget(results: list[dict[str, Any]], *, task: str, seed: int, matched: bool = False) -> int:
    """The smallest uncached task-call count of the DSPy optimizers that finished on this task and seed (a
    crashed optimizer's few calls bought nothing and say nothing about what the search is worth); `matched`:
    the count of the finished one with the best validation score (ties: the fewer calls)."""
    from bakeoff_kit.report import latest_runs

    finished = [
        result
        for result in latest_runs(results)
        if result["task"] == task
        and result["seed"] == seed
        and result["system"] in DSPY_SYSTEMS
        and not result.get("failure")
    ]
    if not finished:
        return DEFAULT_SEARCH_CALLS
    if matched:
        best = max(finished, key=lambda result: (result.get("winner_validation") or 0.0, -result["optimize_calls"]))
        return int(best["optimize_calls"])
    return min(result["optimize_calls"] for result in finished)


def load_results(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _tasks(value: str) -> tuple[str, ...]:
    named = {"report": REPORT_TASKS, "development": DEVELOPMENT_TASKS}
    return named.get(value) or tuple(task.strip() for task in value.split(",") if task.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="report", help="report, development, or a comma-separated list")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--base-url", default="", help="a running OpenAI-compatible server (default: start one)")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--report", action="store_true", help="only print the tables and draw the charts")
    parser.add_argument(
        "--again",
        action="store_true",
        help="run the chosen systems again even where the results file has them (the report takes the last run)",
    )
    parser.add_argument(
        "--promptopt-config",
        type=json.loads,
        default={},
        help='JSON laid over PromptOpt\'s run config, for ablations (e.g. \'{"parents": "incumbent"}\'); with it, '
        "write to another --results file and take the budget from the main one with --budget-from",
    )
    parser.add_argument(
        "--budget-from",
        type=Path,
        default=None,
        help="the results file whose DSPy rows set PromptOpt's budget (default: --results)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"{SMOKE_ROWS} rows per split, results in {SMOKE_RESULTS.name}: checks the harness, measures nothing",
    )
    args = parser.parse_args()
    if args.smoke and args.results == DEFAULT_RESULTS:
        args.results = SMOKE_RESULTS

    if args.report:
        from bakeoff_kit.report import write_report

        write_report(load_results(args.results), results_path=args.results)
        return
    wanted = {system.strip() for system in args.systems.split(",") if system.strip()}
    unknown = sorted(wanted - set(SYSTEMS))
    if unknown:
        raise SystemExit(f"--systems: unknown {', '.join(unknown)}; known: {', '.join(SYSTEMS)}")
    # Always in SYSTEMS order: PromptOpt's budget needs the DSPy optimizers' counts first.
    systems = [system for system in SYSTEMS if system in wanted]
    seeds = [int(seed) for seed in args.seeds.split(",")]
    args.results.parent.mkdir(parents=True, exist_ok=True)
    print(machine_header("bench/bakeoff.py"))

    commit = _commit()
    data_dir = Path(tempfile.mkdtemp(prefix="promptopt-bakeoff-"))
    counter = CallCounter()
    with _task_model(args.base_url) as upstream, counting_proxy(upstream, counter) as proxy:
        os.environ["HF_BASE_URL"] = proxy
        os.environ["ALLOW_PRIVATE_BASE_URLS"] = "true"  # the proxy is on 127.0.0.1
        os.environ["LOCAL_CONTEXT_TOKENS"] = str(CONTEXT_TOKENS)  # promptopt_local: the server's context
        django_setup(data_dir)
        rerun: set[tuple[str, int, str]] = set()  # what this invocation ran, so --again runs each once
        for task in _tasks(args.tasks):
            for seed in seeds:
                for system in systems:
                    results = load_results(args.results)
                    budget_rows = load_results(args.budget_from) if args.budget_from else results
                    done = any(r["task"] == task and r["seed"] == seed and r["system"] == system for r in results)
                    if done and not (args.again and (task, seed, system) not in rerun):
                        continue
                    rerun.add((task, seed, system))
                    print(f"{task} seed {seed} {system} ...", flush=True)
                    try:
                        result = run_unit(
                            task,
                            seed,
                            system,
                            base_url=proxy,
                            counter=counter,
                            results=budget_rows,
                            limit=SMOKE_ROWS if args.smoke else None,
                            promptopt_config=args.promptopt_config,
                        )
                    except Exception:
                        traceback.print_exc()
                        continue
                    result["commit"] = commit
                    result["context_tokens"] = None if args.base_url else CONTEXT_TOKENS  # a given server: its own
                    with args.results.open("a", encoding="utf-8") as out:
                        out.write(json.dumps(result) + "\n")
                    mean = sum(result["test_scores"]) / len(result["test_scores"])
                    print(
                        f"  test {mean:.3f}, {result['optimize_calls']} optimize calls, {result['wall_seconds']:.0f} s",
                        flush=True,
                    )


def _commit() -> str:
    """The code each result was measured with: the commit, marked "+changes" when the tree differs from it
    (results files aside: a run in progress writes them)."""
    import subprocess

    def git(*arguments: str) -> str:
        completed = subprocess.run(["git", *arguments], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)  # noqa: S603, S607
        return completed.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench/results")
    return head + ("+changes" if changed else "")


def _task_model(base_url: str) -> Any:
    from contextlib import nullcontext

    if base_url:
        return nullcontext(base_url.rstrip("/"))
    from workflows.gateway.providers.local import default_model_path

    return llama_server(default_model_path())


if __name__ == "__main__":
    main()
