"""Optimization runs end to end on the database: validation, checkpoints, the winner, the locked test split,
resumes after a killed worker, the attempt limit, cancelling, and the `optimize` command."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from accounts.actors import Actor
from promptopt.errors import InvalidInputError, PermissionDeniedError
from prompts.content import PromptContent
from prompts.importers import ImportOptions
from prompts.models import PromptVersion, VersionSource
from prompts.services import dataset_version_import, prompt_create
from tests.engine.engine_support import TEST_MARKER, SentimentProvider, WorkerKilled
from tests.factories import SYSTEM_ACTOR
from workflows.engine.scoring import CHUNK_SIZE
from workflows.jobs import jobs_reap
from workflows.models import (
    Candidate,
    EvaluationRun,
    Iteration,
    IterationStep,
    JobStatus,
    OptimizationRun,
    Prediction,
)
from workflows.run_recorder import RunRecorder
from workflows.run_runner import run_execute
from workflows.services import run_cancel, run_create


def _rows() -> str:
    lines = ["text,target,split"]
    for split, count in (("train", 30), ("validation", 24), ("test", 20)):
        for index in range(count):
            positive = index % 2 == 0
            marker = f" {TEST_MARKER}" if split == "test" else ""
            word = "good" if positive else "bad"
            lines.append(
                f"{split} review {index}: a {word} film{marker},{'positive' if positive else 'negative'},{split}"
            )
    return "\n".join(lines) + "\n"


@pytest.fixture
def setup(team, editor):
    prompt = prompt_create(
        team=team,
        name="Sentiment",
        actor=Actor.for_user(editor),
        first_version=PromptContent(template="Classify the sentiment of this review: {{text}}"),
    )
    dataset_version = dataset_version_import(
        team=team,
        dataset_name="Reviews",
        file_name="reviews.csv",
        content=_rows().encode(),
        options=ImportOptions(),
        actor=Actor.for_user(editor),
    ).version
    return {"team": team, "editor": editor, "version": prompt.versions.get(), "dataset_version": dataset_version}


@pytest.fixture
def provider(monkeypatch):
    scripted = SentimentProvider()
    monkeypatch.setattr("workflows.run_runner.provider_build", lambda **kwargs: scripted)
    monkeypatch.setattr("workflows.services.provider_build", lambda **kwargs: scripted)
    return scripted


def _create(setup, **config):
    return run_create(
        team=setup["team"],
        version=setup["version"],
        dataset_version=setup["dataset_version"],
        config={"seed": 1, "iterations": 2, "patience": 5, **config},
        actor=Actor.for_user(setup["editor"]),
        enqueue=False,
    )


def test_it_refuses_a_bad_config_before_any_call(setup, provider):
    with pytest.raises(InvalidInputError, match=r"iterations: Input should be greater than or equal to 1"):
        _create(setup, iterations=0)
    with pytest.raises(InvalidInputError, match="unknown strategy 'gradient'"):
        _create(setup, strategies=["gradient"])
    with pytest.raises(InvalidInputError, match="needs an optimizer model"):
        _create(setup, strategies=["critique"])
    with pytest.raises(InvalidInputError, match=r"budget\.max_calls: 40 leaves nothing for the search"):
        _create(setup, budget={"max_calls": 40})
    with pytest.raises(InvalidInputError, match="colour"):
        _create(setup, colour="blue")
    with pytest.raises(InvalidInputError, match=r"prefer: Input should be 'best' or 'shorter'"):
        _create(setup, prefer="cheapest")
    assert provider.calls == 0
    assert not OptimizationRun.objects.exists()


def test_it_refuses_a_dataset_of_another_team_and_a_viewer(setup, provider, other_team, viewer):
    with pytest.raises(InvalidInputError, match="must belong to the team"):
        run_create(
            team=other_team,
            version=setup["version"],
            dataset_version=setup["dataset_version"],
            config={},
            actor=SYSTEM_ACTOR,
            enqueue=False,
        )
    with pytest.raises(PermissionDeniedError):
        run_create(
            team=setup["team"],
            version=setup["version"],
            dataset_version=setup["dataset_version"],
            config={},
            actor=Actor.for_user(viewer),
            enqueue=False,
        )


def test_it_estimates_the_most_calls_before_the_start(setup, provider):
    run = _create(setup)
    assert run.estimate["test_calls"] == 40
    assert run.estimate["calls"] >= 40 + 24
    assert run.status == JobStatus.QUEUED


def test_a_run_finds_a_better_version_saves_it_and_proves_it_on_the_test_split(setup, provider):
    run = run_execute(run_id=_create(setup).pk)

    assert run.status == JobStatus.SUCCEEDED, run.error_message
    assert run.baseline_score == pytest.approx(0.5) and run.best_score == pytest.approx(1.0)
    assert run.baseline_test_score == pytest.approx(0.5) and run.best_test_score == pytest.approx(1.0)
    winner = run.best_version
    assert winner.source == VersionSource.OPTIMIZER
    assert winner.parent == setup["version"] and winner.number == 2
    assert winner.output_type == "choice"
    # One-word labels: the winner keeps the bound it was searched under (a few tokens, ending at a line break),
    # and the report shows it as saved.
    assert winner.stop == ["\n"] and winner.max_tokens < setup["version"].max_tokens
    assert run.report["winner"]["content"] == winner.content()
    # The step that made it: iteration, strategy, rationale and the validation gain with its interval.
    assert winner.commit_message.startswith(f"Optimization run {run.pk}, iteration 1 (mutations): ")
    assert "Validation 1.000, gain +0.500 (CI +" in winner.commit_message
    report = run.report
    assert report["test_difference"]["mean"] == pytest.approx(0.5)
    assert report["test_difference"]["low"] > 0
    assert report["test_difference"]["mcnemar_p"] < 0.01
    assert "+output: choice" in report["diff"]
    # Two evaluation runs hold the test predictions, one per prompt.
    evaluations = EvaluationRun.objects.filter(optimization_run=run).order_by("pk")
    assert [evaluation.version for evaluation in evaluations] == [setup["version"], winner]
    assert [evaluation.predictions.count() for evaluation in evaluations] == [20, 20]
    # Five visible steps per iteration, each with its checkpoint.
    assert Iteration.objects.filter(run=run).count() == 2
    steps = IterationStep.objects.filter(iteration__run=run)
    assert steps.count() == 10 and set(steps.values_list("status", flat=True)) <= {"succeeded", "skipped"}
    assert Candidate.objects.filter(iteration__run=run, accepted=True).count() == 1
    assert run.calls == provider.calls


def test_no_search_step_ever_touched_a_test_row(setup, provider):
    run = run_execute(run_id=_create(setup, iterations=3).pk)
    assert run.status == JobStatus.SUCCEEDED
    search_predictions = Prediction.objects.filter(step__iteration__run=run)
    assert search_predictions.exists()
    assert not search_predictions.filter(example__split="test").exists()
    test_prompts = [text for text in provider.seen if TEST_MARKER in text]
    # The held-out rows were sent exactly twice each (baseline and winner), all after the search.
    assert len(test_prompts) == 40
    first_test_call = next(index for index, text in enumerate(provider.seen) if TEST_MARKER in text)
    assert all(TEST_MARKER in text for text in provider.seen[first_test_call:])
    for candidate in Candidate.objects.filter(iteration__run=run):
        assert TEST_MARKER not in json.dumps(candidate.content)


def _crash_after(monkeypatch, steps: int) -> None:
    original = RunRecorder.step_finished
    finished = {"count": 0}

    def step_finished(self, record, state):
        original(self, record, state)
        finished["count"] += 1
        if finished["count"] == steps:
            raise WorkerKilled

    monkeypatch.setattr(RunRecorder, "step_finished", step_finished)


def _lapse(run: OptimizationRun) -> None:
    OptimizationRun.objects.filter(pk=run.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))


@pytest.mark.parametrize("crash_after", [2, 5, 8])
def test_a_killed_worker_s_run_resumes_from_its_checkpoint_and_ends_like_an_uninterrupted_one(
    setup, provider, monkeypatch, crash_after
):
    reference = run_execute(run_id=_create(setup).pk)
    reference_calls = provider.calls

    run = _create(setup, seed=1)
    with monkeypatch.context() as patch:
        _crash_after(patch, crash_after)
        with pytest.raises(WorkerKilled):
            run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.RUNNING and run.attempts == 1
    finished_before = {
        (step.iteration.index, step.kind): step.finished_at
        for step in IterationStep.objects.filter(iteration__run=run, status="succeeded")
    }
    assert len(finished_before) == crash_after

    assert run_execute(run_id=run.pk) is None  # the lease still stands: nobody may take it yet
    _lapse(run)
    resumed = run_execute(run_id=run.pk)

    assert resumed.status == JobStatus.SUCCEEDED and resumed.attempts == 2
    assert resumed.best_version == reference.best_version
    assert resumed.best_test_score == reference.best_test_score
    assert resumed.report["test_difference"] == reference.report["test_difference"]
    steps = IterationStep.objects.filter(iteration__run=run)
    assert steps.count() == 10  # no step row duplicated
    for step in steps.filter(status="succeeded"):
        key = (step.iteration.index, step.kind)
        if key in finished_before:
            assert step.finished_at == finished_before[key]  # finished steps were not run again
    # Same predictions as the uninterrupted run, none duplicated.
    assert (
        Prediction.objects.filter(step__iteration__run=run).count()
        == Prediction.objects.filter(step__iteration__run=reference).count()
    )
    # Everything answered before the crash came from the team's cache: the second run made no new calls.
    assert provider.calls == reference_calls


class KilledAtCall(SentimentProvider):
    """Counts every request it receives; the `kill_at`-th kills the worker while the provider works on it
    (received and paid for, never answered), as a SIGKILL in the middle of a step does."""

    def __init__(self, kill_at: int) -> None:
        super().__init__()
        self.kill_at: int | None = kill_at
        self.received = 0

    def generate(self, requests):
        self.received += len(requests)
        if self.kill_at is not None and self.received >= self.kill_at:
            self.kill_at = None
            raise WorkerKilled
        return super().generate(requests)


def _provider(monkeypatch, provider) -> None:
    monkeypatch.setattr("workflows.run_runner.provider_build", lambda **kwargs: provider)
    monkeypatch.setattr("workflows.services.provider_build", lambda **kwargs: provider)


@pytest.mark.parametrize("kill_at", [7, 40, 75])
def test_a_run_killed_in_the_middle_of_a_step_counts_every_call_the_provider_received(setup, monkeypatch, kill_at):
    provider = KilledAtCall(kill_at)
    _provider(monkeypatch, provider)
    run = _create(setup)
    with pytest.raises(WorkerKilled):
        run_execute(run_id=run.pk)
    run.refresh_from_db()
    # Killed inside a step: the step was started and never checkpointed, and its calls were all counted.
    assert IterationStep.objects.filter(iteration__run=run, status="running").count() == 1
    assert run.calls == provider.received == kill_at
    _lapse(run)

    resumed = run_execute(run_id=run.pk)

    assert resumed.status == JobStatus.SUCCEEDED and resumed.attempts == 2
    # Across both attempts the run reports exactly the requests the provider received: the interrupted
    # step's answered calls were replayed from the cache (counted as cached, not again as calls).
    assert resumed.calls == provider.received
    assert resumed.report["usage"]["calls"] == resumed.calls
    assert resumed.input_tokens == 20 * (provider.received - 1)  # the killed call's tokens were never known


def test_a_call_budget_holds_across_a_worker_killed_in_the_middle_of_a_step(setup, monkeypatch):
    provider = KilledAtCall(kill_at=70)
    _provider(monkeypatch, provider)
    run = _create(setup, iterations=5, budget={"max_calls": 120})
    with pytest.raises(WorkerKilled):
        run_execute(run_id=run.pk)
    _lapse(run)

    resumed = run_execute(run_id=run.pk)

    assert resumed.attempts == 2 and resumed.report["test_complete"] is True
    # The resumed attempt's budget started from the calls the first one made, not from its last checkpoint.
    assert provider.received == resumed.calls <= 120


def test_a_run_that_keeps_killing_its_worker_fails_after_the_attempt_limit(setup, provider, monkeypatch, settings):
    settings.JOB_MAX_ATTEMPTS = 2
    run = _create(setup)
    for _attempt in range(2):
        with monkeypatch.context() as patch:
            _crash_after(patch, 1)
            with pytest.raises(WorkerKilled):
                run_execute(run_id=run.pk)
        _lapse(run)
    resent = []
    counts = jobs_reap(enqueue=lambda model, job_id: resent.append((model, job_id)))
    run.refresh_from_db()
    assert counts["failed"] == 1 and resent == []
    assert run.status == JobStatus.FAILED
    assert "giving up after 2 attempts" in run.error_message
    assert run_execute(run_id=run.pk) is None


def test_the_reaper_hands_a_lapsed_run_to_a_new_worker(setup, provider, monkeypatch):
    run = _create(setup)
    with monkeypatch.context() as patch:
        _crash_after(patch, 1)
        with pytest.raises(WorkerKilled):
            run_execute(run_id=run.pk)
    resent = []
    assert jobs_reap(enqueue=lambda model, job_id: resent.append((model, job_id))) == {"failed": 0, "resent": 0}
    _lapse(run)
    jobs_reap(enqueue=lambda model, job_id: resent.append((model, job_id)))
    assert resent == [(OptimizationRun, run.pk)]


def test_a_cancel_takes_effect_within_one_step_and_keeps_what_was_done(setup, provider, monkeypatch, editor):
    run = _create(setup)
    original = RunRecorder.step_finished

    def step_finished(self, record, state):
        original(self, record, state)
        if record.step == "evaluation":
            run_cancel(run=run, actor=Actor.for_user(editor))

    monkeypatch.setattr(RunRecorder, "step_finished", step_finished)
    finished = run_execute(run_id=run.pk)
    assert finished.status == JobStatus.CANCELLED
    assert list(IterationStep.objects.filter(iteration__run=run).values_list("kind", "status")) == [
        ("primary_inference", "succeeded"),
        ("evaluation", "succeeded"),
    ]
    assert not EvaluationRun.objects.filter(optimization_run=run).exists()


def test_a_call_budget_is_planned_so_the_run_ends_its_iterations_within_it(setup, provider):
    run = run_execute(run_id=_create(setup, iterations=5, budget={"max_calls": 120}).pk)
    plan = run.estimate["plan"]
    assert run.status == JobStatus.SUCCEEDED and plan["iterations"] < 5
    # The search spends the budget: it stops only when what is left cannot pay for another iteration, not even
    # a leaner one than planned.
    stopped = re.fullmatch(
        r"the (\d+) calls left cannot pay for another iteration \(\d+ planned per iteration, (\d+) for the leanest\)",
        run.stop_reason,
    )
    left, leanest = int(stopped.group(1)), int(stopped.group(2))
    assert left < leanest <= plan["calls_per_iteration"]
    assert run.iterations.count() >= plan["iterations"]
    assert run.calls <= 120
    assert run.report["test_complete"] is True


def test_a_budget_stop_still_tests_and_reports_the_best_so_far(setup, provider):
    # Tokens cannot be planned exactly (their count per call is not known in advance): this one stops the search.
    run = run_execute(run_id=_create(setup, iterations=5, budget={"max_tokens": 6000}).pk)
    assert run.status == JobStatus.BUDGET_EXHAUSTED
    assert "max_tokens" in run.stop_reason
    # Tokens are known only when calls return: the chunk in flight when the limit is reached may overshoot it.
    assert run.input_tokens + run.output_tokens <= 6000 + CHUNK_SIZE * 21  # a call here is 20 + 1 tokens
    assert run.report["baseline"]["test"] is not None and run.baseline_test_score is not None
    # The iteration the budget cut short is closed, not left running forever.
    assert not Iteration.objects.filter(run=run, status__in=["pending", "running"]).exists()
    assert not IterationStep.objects.filter(iteration__run=run, status__in=["pending", "running"]).exists()


def test_a_budget_too_small_for_one_iteration_is_refused_before_any_call_with_the_budget_needed(setup, provider):
    options = ["--team", setup["team"].slug, "--prompt", setup["version"].prompt.slug, "--seed", "1"]
    options += ["--dataset", setup["dataset_version"].dataset.slug]
    with pytest.raises(CommandError, match=r"budget\.max_calls: 60 calls cannot pay for one iteration") as refused:
        call_command("optimize", *options, "--max-calls", "60")
    needed = int(re.search(r"give at least (\d+) calls", str(refused.value)).group(1))
    assert provider.calls == 0
    assert not OptimizationRun.objects.exists()
    # The budget it names is enough: that run is planned (one iteration at least) and accepted.
    run = _create(setup, budget={"max_calls": needed})
    assert run.estimate["plan"]["iterations"] >= 1
    assert run.estimate["task_calls"] <= needed
    with pytest.raises(InvalidInputError, match="cannot pay for one iteration"):
        _create(setup, budget={"max_calls": needed - 1})


def _optimize_command(setup, *options: str) -> None:
    """`manage.py optimize` on the fixture's prompt and dataset, with these options."""
    team, prompt, dataset = setup["team"].slug, setup["version"].prompt.slug, setup["dataset_version"].dataset.slug
    call_command("optimize", "--team", team, "--prompt", prompt, "--dataset", dataset, *options)


def test_the_optimize_command_prints_the_report_and_writes_json(setup, provider, tmp_path, capsys):
    output = tmp_path / "report.json"
    _optimize_command(setup, "--iterations", "2", "--seed", "1", "--json", str(output))
    printed = capsys.readouterr().out
    assert "estimate before the start" in printed
    assert "test difference (winner - baseline): +0.500" in printed
    assert "McNemar p" in printed
    assert "+output: choice" in printed
    data = json.loads(output.read_text())
    assert data["status"] == "succeeded"
    assert data["winner"]["content"]["output_type"] == "choice"
    assert PromptVersion.objects.filter(prompt=setup["version"].prompt).count() == 2


def test_ctrl_c_on_the_optimize_command_cancels_the_run_instead_of_leaving_it_to_a_worker(setup, provider, monkeypatch):
    from django.core.management.base import CommandError

    from workflows.jobs import job_claim

    def interrupted(*, run_id, progress=None):
        job_claim(OptimizationRun, job_id=run_id)
        raise KeyboardInterrupt

    monkeypatch.setattr("workflows.management.commands.optimize.run_execute", interrupted)
    with pytest.raises(CommandError, match="interrupted; its completed steps are kept"):
        call_command(
            "optimize",
            "--team",
            setup["team"].slug,
            "--prompt",
            setup["version"].prompt.slug,
            "--dataset",
            setup["dataset_version"].dataset.slug,
        )
    run = OptimizationRun.objects.get()
    assert run.status == JobStatus.CANCELLED
    assert run.error_message == "interrupted from the command line; completed steps are kept"
