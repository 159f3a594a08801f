"""PromptOpt on a task through its public services, as a user would run it: a team of its own (a cold call
cache), the task's rows imported as a dataset, the plain prompt, then `optimize` with a call budget.

Also the two baselines, evaluated through the same services: the plain instruction as a user first writes it
(chat layout, the input as the message), and the same instruction in the completion layout with the label
set stated (the best a user gets without optimizing on this model)."""

from __future__ import annotations

import json
import time
from typing import Any

from bakeoff_kit.server import MODEL_ALIAS, CallCounter
from bakeoff_kit.tasks import Row, TaskSplits, test_score

# Every system gets the same output cap (DSPy's LM is configured with the same number).
MAX_TOKENS = 64


def plain_content(splits: TaskSplits, *, provider: str) -> Any:
    from prompts.content import PromptContent

    return PromptContent(
        system_instruction=splits.instruction,
        template="{{input}}",
        layout="chat",
        provider=provider,
        model_name=MODEL_ALIAS if provider == "huggingface" else "",
        max_tokens=MAX_TOKENS,
    )


def stated_content(splits: TaskSplits, *, provider: str) -> Any:
    labels = splits.labels()
    stated = f" Answer with one of: {', '.join(labels)}." if labels else ""
    return plain_content(splits, provider=provider).edit(
        system_instruction=splits.instruction + stated, template="Input: {{input}}\nOutput:", layout="completion"
    )


def run_promptopt(
    splits: TaskSplits, *, provider: str, max_search_calls: int, counter: CallCounter, config: dict[str, Any]
) -> dict[str, Any]:
    """One optimization run (`config` laid over the defaults, for ablations); the winner's test outputs rescored by
    the bake-off's scorer."""
    from workflows.models import EvaluationRun
    from workflows.run_runner import run_execute
    from workflows.services import run_create

    team, dataset_version = _team_with_dataset(splits)
    prompt = _prompt(team, splits, plain_content(splits, provider=provider))
    run = run_create(
        team=team,
        version=prompt.versions.get(),
        dataset_version=dataset_version,
        config={
            **config,
            "seed": splits.seed,
            "metric": {"name": "normalized_match"},
            "budget": {"max_calls": max_search_calls + 2 * len(splits.test)},
        },
        actor=_actor(),
        enqueue=False,
    )
    started, calls_before = time.monotonic(), counter.calls
    finished = run_execute(run_id=run.pk)
    seconds = time.monotonic() - started
    if finished is None:
        raise SystemExit(f"run {run.pk} was claimed by someone else")
    winner_version = finished.best_version
    evaluation = EvaluationRun.objects.filter(optimization_run=finished, version=winner_version).get()
    outputs, test_calls, prompt_tokens = _outputs(evaluation, splits.test)
    total_calls = counter.calls - calls_before if provider == "huggingface" else finished.calls
    search_usage = (finished.checkpoint or {}).get("usage", {})
    return {
        "optimize_calls": total_calls - test_calls - _baseline_test_calls(finished, winner_version),
        "optimizer_model_calls": 0,
        "optimize_seconds": round(search_usage.get("seconds", seconds), 1),
        "wall_seconds": round(seconds, 1),
        "test_calls": test_calls,
        "test_scores": [test_score(output, row) for output, row in zip(outputs, splits.test, strict=True)],
        "test_outputs": outputs,
        "prompt_tokens": prompt_tokens,
        "winner": finished.report["winner"]["content"],
        # Validation scores: what engine changes are judged by on development tasks (never the test column).
        "baseline_validation": finished.baseline_score,
        "winner_validation": finished.best_score,
        "best_prompt_tokens": (finished.report.get("best") or {}).get("prompt_tokens"),
        "cheapest_within_noise": finished.report.get("cheapest_within_noise"),
        "stop_reason": finished.stop_reason,
        "counted_at": "proxy" if provider == "huggingface" else "promptopt's gateway (in-process model)",
        "search_steps": _search_steps(finished),
    }


def _search_steps(run: Any) -> dict[str, Any]:
    """How the search went, for judging engine changes on validation: its iterations, the ones that proposed from
    a beam prompt or ran leaner than planned, and each accepted step (strategy and validation score)."""
    from workflows.models import IterationStep

    checkpoint = run.checkpoint or {}
    steps = IterationStep.objects.filter(iteration__run=run, kind="primary_inference").order_by("iteration__index")
    primaries = [step.summary or {} for step in steps]
    return {
        "iterations": len(primaries),
        "beam_parent_iterations": sum("parent" in summary for summary in primaries),
        "lean_iterations": sum("lean_shape" in summary for summary in primaries),
        "accepted": [
            {"iteration": step["iteration"], "strategy": step["strategy"], "validation": step["validation_score"]}
            for step in checkpoint.get("acceptances", [])
        ],
    }


def run_baseline(splits: TaskSplits, *, stated: bool, counter: CallCounter) -> dict[str, Any]:
    """A baseline prompt evaluated on the test rows through the evaluation service and the shared server."""
    from prompts.models import Split
    from workflows.evaluation_runner import evaluation_execute
    from workflows.services import evaluation_create

    team, dataset_version = _team_with_dataset(splits)
    content = (stated_content if stated else plain_content)(splits, provider="huggingface")
    prompt = _prompt(team, splits, content)
    evaluation = evaluation_create(
        team=team,
        version=prompt.versions.get(),
        dataset_version=dataset_version,
        split=Split.TEST,
        config={"metric": {"name": "normalized_match"}, "seed": splits.seed},
        actor=_actor(),
        enqueue=False,
    )
    started, calls_before = time.monotonic(), counter.calls
    evaluation_execute(evaluation_id=evaluation.pk)
    evaluation.refresh_from_db()
    outputs, _test_calls, prompt_tokens = _outputs(evaluation, splits.test)
    return {
        "optimize_calls": 0,
        "optimizer_model_calls": 0,
        "optimize_seconds": 0.0,
        "wall_seconds": round(time.monotonic() - started, 1),
        "test_calls": counter.calls - calls_before,
        "test_scores": [test_score(output, row) for output, row in zip(outputs, splits.test, strict=True)],
        "test_outputs": outputs,
        "prompt_tokens": prompt_tokens,
    }


def _team_with_dataset(splits: TaskSplits) -> tuple[Any, Any]:
    from accounts.services import team_create
    from prompts.importers import ImportOptions
    from prompts.services import dataset_version_import

    # A team of its own per run: the call cache is per team, so every run starts cold.
    team = team_create(name=f"bakeoff {splits.task} {splits.seed} {time.time_ns() % 10**9}", actor=_actor())
    lines = [
        json.dumps({"input": row.input, "target": row.target, "answers": list(row.answers), "split": split})
        for split, rows in (("train", splits.train), ("validation", splits.validation), ("test", splits.test))
        for row in rows
    ]
    dataset_version = dataset_version_import(
        team=team,
        dataset_name=splits.task,
        file_name=f"{splits.task}.jsonl",
        content="\n".join(lines).encode(),
        options=ImportOptions(input_fields=("input",), split_field="split", answers_field="answers"),
        actor=_actor(),
    ).version
    return team, dataset_version


def _prompt(team: Any, splits: TaskSplits, content: Any) -> Any:
    from prompts.services import prompt_create

    return prompt_create(team=team, name=splits.task, actor=_actor(), first_version=content)


def _outputs(evaluation: Any, test: tuple[Row, ...]) -> tuple[list[str], int, int]:
    """The evaluation's output for each test row in the bake-off's order, its uncached calls, and the prompt
    tokens of its first call (every test call renders the same prompt around one input)."""
    by_input = {
        prediction.example.inputs["input"]: prediction
        for prediction in evaluation.predictions.select_related("example").order_by("id")
    }
    predictions = [by_input.get(row.input) for row in test]
    failed = [prediction for prediction in predictions if prediction is None or prediction.error]
    if len(failed) > len(predictions) // 10:
        # A row from a model that could not be reached measures nothing; raising keeps it out of the results
        # file, so the next invocation runs it again.
        first_error = next((prediction.error for prediction in failed if prediction is not None), "no prediction")
        raise RuntimeError(f"{len(failed)} of {len(predictions)} test calls failed (first: {first_error})")
    outputs = [prediction.output if prediction is not None else "" for prediction in predictions]
    uncached = sum(1 for prediction in predictions if prediction is not None and not prediction.cached)
    first = next((prediction for prediction in predictions if prediction is not None), None)
    return outputs, uncached, first.input_tokens if first is not None else 0


def _baseline_test_calls(run: Any, winner_version: Any) -> int:
    """The final test's calls for the baseline (the winner's are counted apart): none if it is the winner."""
    from workflows.models import EvaluationRun

    if winner_version == run.baseline_version:
        return 0
    baseline = EvaluationRun.objects.filter(optimization_run=run, version=run.baseline_version).get()
    return baseline.predictions.filter(cached=False).count()


def _actor() -> Any:
    from _support import benchmark_actor

    return benchmark_actor()
