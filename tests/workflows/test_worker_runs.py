"""Optimization runs on real django-q2 worker processes with the embedded model: several runs over two
workers each execute exactly once, and a run whose worker is SIGKILLed resumes on another worker from its last
checkpoint and ends exactly like an uninterrupted run."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter

import pytest
from django.db.models import Count
from django.utils import timezone
from django_q.models import Schedule, Success

from accounts.actors import Actor
from accounts.models import Role
from prompts.content import PromptContent
from prompts.importers import ImportOptions
from prompts.models import Layout, OutputType, PromptVersion
from prompts.services import dataset_version_import, prompt_create
from tests.factories import MembershipFactory
from tests.workflows.run_checks import predictions_per_step
from tests.workflows.worker_processes import WorkerProcess, needs_postgres_and_redis, wait_for, worker_process
from workflows.engine.state import STEP_ORDER
from workflows.models import (
    EvaluationRun,
    Iteration,
    IterationStep,
    JobStatus,
    LLMCallCache,
    OptimizationRun,
    Prediction,
)
from workflows.services import run_create
from workflows.tasks import jobs_reap_task

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    needs_postgres_and_redis,
]

CONFIG = {
    "seed": 1,
    "iterations": 2,
    "patience": 5,
    "minibatch_size": 4,
    "candidates_per_iteration": 3,
    "survivors": 1,
}
# One worker process per cluster and one llama.cpp thread each: the machines have two cores and the embedded
# model busy-waits its threads, so more of either only makes everything slower.
WORKER_ENV = {"WORKERS": "1", "LOCAL_THREADS": "1"}
# Minutes, not seconds: a run takes a few tens of seconds alone but shares two cores with the other worker.
RUN_TIMEOUT = 1200
TASK = "workflows.tasks.optimization_run_task"
REAPER_TASK = "workflows.tasks.jobs_reap_task"

REVIEWS = {
    "train": [
        ("A warm, funny and moving film", "positive"),
        ("Dull plot and wooden acting", "negative"),
        ("I loved every minute of it", "positive"),
        ("A waste of two hours", "negative"),
        ("Beautifully shot and well acted", "positive"),
        ("The worst film I have seen this year", "negative"),
        ("Charming story with a great cast", "positive"),
        ("Boring, slow and far too long", "negative"),
        ("A delightful surprise from start to finish", "positive"),
        ("The jokes fall flat and the ending is a mess", "negative"),
        ("Gripping and brilliantly directed", "positive"),
        ("I walked out halfway through", "negative"),
    ],
    "validation": [
        ("An absolute joy to watch", "positive"),
        ("Terrible script and awful pacing", "negative"),
        ("Smart, touching and very funny", "positive"),
        ("A tedious and forgettable mess", "negative"),
        ("One of the best films of the decade", "positive"),
        ("Painfully bad from the first scene", "negative"),
        ("The cast is wonderful", "positive"),
        ("I regret buying a ticket", "negative"),
        ("A lovely, heartfelt story", "positive"),
        ("Confusing and badly edited", "negative"),
    ],
    "test": [
        ("A masterpiece I will watch again", "positive"),
        ("Dreadful acting all round", "negative"),
        ("Great fun for the whole family", "positive"),
        ("Dull, predictable and lifeless", "negative"),
        ("A moving and beautiful film", "positive"),
        ("The plot makes no sense at all", "negative"),
        ("Clever, fresh and exciting", "positive"),
        ("A complete disaster", "negative"),
    ],
}


def _csv() -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["text", "target", "split"])
    writer.writerows((text, target, split) for split, rows in REVIEWS.items() for text, target in rows)
    return buffer.getvalue().encode()


def _setup(team, user) -> dict[str, object]:
    """A plain baseline (chat layout, free text) and the reviews, in one team."""
    prompt = prompt_create(
        team=team,
        name="Sentiment",
        actor=Actor.for_user(user),
        # Free text, capped: the model answers in a short sentence, and 256 tokens of rambling per call would
        # make the runs minutes long on two cores without testing anything more.
        first_version=PromptContent(
            template="Review: {{text}}\nSentiment:", layout=Layout.CHAT, output_type=OutputType.TEXT, max_tokens=12
        ),
    )
    dataset_version = dataset_version_import(
        team=team,
        dataset_name="Reviews",
        file_name="reviews.csv",
        content=_csv(),
        options=ImportOptions(),
        actor=Actor.for_user(user),
    ).version
    return {"team": team, "user": user, "version": prompt.versions.get(), "dataset_version": dataset_version}


def _submit(setup, **config) -> OptimizationRun:
    """A run queued the way the API queues one: enqueued on django-q2 when run_create's transaction commits."""
    return run_create(
        team=setup["team"],
        version=setup["version"],
        dataset_version=setup["dataset_version"],
        config={**CONFIG, **config},
        actor=Actor.for_user(setup["user"]),
        enqueue=True,
    )


def _finished(*runs: OptimizationRun) -> bool:
    return not OptimizationRun.objects.filter(pk__in=[run.pk for run in runs], finished_at__isnull=True).exists()


def _logs(*workers: WorkerProcess) -> str:
    return "\n\n".join(worker.tail() for worker in workers)


def _assert_complete_search(run: OptimizationRun) -> None:
    """Every iteration once (1..n, no gap), five finished steps each, and no prediction written twice."""
    iterations = CONFIG["iterations"]
    assert run.stop_reason == f"completed {iterations} iterations"
    assert list(Iteration.objects.filter(run=run).order_by("index").values_list("index", "status")) == [
        (index, "succeeded") for index in range(1, iterations + 1)
    ]
    steps = IterationStep.objects.filter(iteration__run=run)
    per_iteration = Counter(steps.values_list("iteration__index", flat=True))
    assert per_iteration == {index: len(STEP_ORDER) for index in range(1, iterations + 1)}
    assert set(steps.values_list("kind", flat=True)) == set(STEP_ORDER)
    assert set(steps.values_list("status", flat=True)) <= {"succeeded", "skipped"}
    assert not steps.filter(finished_at__isnull=True).exists()
    # The database's partial unique constraints already forbid duplicates; counting the groups also shows the
    # search wrote some predictions at all, so the assertion can fail.
    predictions = Prediction.objects.filter(step__iteration__run=run)
    assert predictions.exists()
    duplicated = (
        predictions.values("step", "version", "candidate", "example").annotate(rows=Count("pk")).filter(rows__gt=1)
    )
    assert not duplicated.exists()
    # The held-out split: one evaluation per prompt (baseline, and the winner if it differs), one row per example.
    test_size = len(REVIEWS["test"])
    evaluations = EvaluationRun.objects.filter(optimization_run=run)
    assert evaluations.count() == (1 if run.best_version_id == run.baseline_version_id else 2)
    for evaluation in evaluations:
        assert evaluation.status == JobStatus.SUCCEEDED
        assert evaluation.predictions.count() == test_size
        assert evaluation.predictions.values("example").distinct().count() == test_size


def _processed_by(worker: WorkerProcess, run: OptimizationRun) -> int:
    """How many times this worker started the run's task (django-q2 logs each task it takes)."""
    return len(re.findall(rf" processing optimization-run-{run.pk} '{re.escape(TASK)}'", worker.output()))


def test_two_workers_execute_each_of_several_runs_exactly_once(team, editor):
    setup = _setup(team, editor)
    with worker_process(name="a", **WORKER_ENV) as first, worker_process(name="b", **WORKER_ENV) as second:
        workers = [first, second]
        for worker in workers:
            worker.wait_until_running()
        # Three different searches (the seed picks minibatches), queued one after another as one user would.
        runs = [_submit(setup, seed=seed) for seed in (1, 2, 3)]
        wait_for(
            lambda: _finished(*runs),
            timeout=RUN_TIMEOUT,
            what="three runs to finish",
            details=lambda: _logs(*workers),
        )
        # django-q2's monitor saves a task's result after the task returns: wait for all three records.
        wait_for(
            lambda: Success.objects.filter(func=TASK).count() >= len(runs),
            timeout=60,
            what="django-q2 to record three finished tasks",
        )

    logs = _logs(*workers)
    for run in runs:
        run.refresh_from_db()
        assert run.status == JobStatus.SUCCEEDED, f"{run.error_message}\n{logs}"
        assert run.attempts == 1, logs
        assert run.best_version is not None and run.report["test_complete"] is True
        _assert_complete_search(run)
    # Each task was delivered once, to exactly one of the two workers, and both workers did some of the work.
    tasks = Success.objects.filter(func=TASK)
    assert sorted(task.name for task in tasks) == sorted(f"optimization-run-{run.pk}" for run in runs)
    assert not Success.objects.filter(func=TASK, success=False).exists()
    handled = {run.pk: [_processed_by(worker, run) for worker in workers] for run in runs}
    assert all(sorted(counts) == [0, 1] for counts in handled.values()), (handled, logs)
    assert {counts.index(1) for counts in handled.values()} == {0, 1}, (handled, logs)


def test_a_run_whose_worker_is_killed_resumes_and_ends_like_an_uninterrupted_run(team, other_team, editor):
    # The call cache is per team: the uninterrupted reference runs in another team, so the run to be killed
    # makes real model calls (slow enough to kill it mid-search) instead of replaying the reference's answers.
    MembershipFactory(team=other_team, user=editor, role=Role.EDITOR)
    reference_setup = _setup(other_team, editor)
    setup = _setup(team, editor)
    # The handover is the test's to make (below), not the every-minute schedule's, so its timing is known.
    Schedule.objects.filter(func=REAPER_TASK).delete()
    short_lease = {**WORKER_ENV, "JOB_LEASE_SECONDS": "6"}

    with worker_process(name="first", **short_lease) as first:
        first.wait_until_running()
        reference = _submit(reference_setup)
        wait_for(
            lambda: _finished(reference), timeout=RUN_TIMEOUT, what="the reference run to finish", details=first.tail
        )
        run = _submit(setup)

        def calls_since_last_checkpoint() -> int:
            """Model calls the step in progress has answered (each one leaves a row in the team's cache)."""
            finished = IterationStep.objects.filter(iteration__run=run, finished_at__isnull=False)
            if finished.count() < 3:
                return 0
            last_checkpoint = finished.latest("finished_at").finished_at
            return LLMCallCache.objects.filter(team=team, created_at__gt=last_checkpoint).count()

        def in_the_middle_of_a_step() -> bool:
            assert not _finished(run), "the run finished before it could be killed"
            return calls_since_last_checkpoint() >= 5

        # Killed well into a step, not between two: that step's finished calls are lost with the worker.
        wait_for(
            in_the_middle_of_a_step,
            timeout=RUN_TIMEOUT,
            interval=0.1,
            what="three steps and five calls more",
            details=first.tail,
        )
        first.kill()  # SIGKILL to the whole process group: no clean-up code runs, like a lost machine

    run.refresh_from_db()
    reference.refresh_from_db()
    assert reference.status == JobStatus.SUCCEEDED, f"{reference.error_message}\n{_logs(first)}"
    assert run.status == JobStatus.RUNNING and run.attempts == 1, _logs(first)
    finished_before = {
        (step.iteration.index, step.kind): step.finished_at
        for step in IterationStep.objects.filter(iteration__run=run, finished_at__isnull=False).select_related(
            "iteration"
        )
    }
    assert len(finished_before) >= 3
    answered_before_the_kill = calls_since_last_checkpoint()  # a call in flight at the kill is not among them
    assert answered_before_the_kill >= 5

    with worker_process(name="second", **short_lease) as second:
        second.wait_until_running()
        # Nobody renews the dead worker's lease; until it lapses no one may take the run.
        wait_for(
            lambda: OptimizationRun.objects.filter(pk=run.pk, lease_expires_at__lt=timezone.now()).exists(),
            timeout=60,
            what="the dead worker's lease to lapse",
        )
        run.refresh_from_db()
        assert run.status == JobStatus.RUNNING and run.attempts == 1  # the new worker did not take it by itself
        assert jobs_reap_task() == {"failed": 0, "resent": 1}  # enqueued on Redis for the new worker
        wait_for(lambda: _finished(run), timeout=RUN_TIMEOUT, what="the resumed run to finish", details=second.tail)

    run.refresh_from_db()
    logs = _logs(first, second)
    assert run.status == JobStatus.SUCCEEDED, f"{run.error_message}\n{logs}"
    assert run.attempts == 2
    # The first worker took the task run_create queued; the second the one the reaper queued, and only that.
    assert _processed_by(first, run) == 1 and _processed_by(second, run) == 0
    assert len(re.findall(rf" processing \S+-{run.pk}-resume '{re.escape(TASK)}'", second.output())) == 1, logs
    _assert_complete_search(run)
    _assert_complete_search(reference)
    # Ends like the uninterrupted run: the same winner, the same scores, the same paired test difference.
    assert isinstance(run.best_version, PromptVersion) and isinstance(reference.best_version, PromptVersion)
    # (The search does find a better prompt here, so "the same winner" compares two new versions.)
    assert reference.best_version.content() != reference_setup["version"].content()
    assert run.best_version.content() == reference.best_version.content()
    assert (run.baseline_score, run.best_score) == (reference.baseline_score, reference.best_score)
    assert (run.baseline_test_score, run.best_test_score) == (
        reference.baseline_test_score,
        reference.best_test_score,
    )
    assert run.report["test_difference"] == reference.report["test_difference"]
    # Steps finished before the kill were kept as they were, not run again.
    for step in IterationStep.objects.filter(iteration__run=run).select_related("iteration"):
        key = (step.iteration.index, step.kind)
        if key in finished_before:
            assert step.finished_at == finished_before[key], key
    # The step the kill interrupted was done again, with the calls it had answered replayed from the team's
    # cache: the model answered no request twice. Only a call in flight at the kill (counted when it was sent,
    # never answered) was made again.
    assert run.cached_calls == reference.cached_calls + answered_before_the_kill
    assert run.calls - reference.calls in (0, 1)
    # The same predictions per step as the uninterrupted run: the redone step replaced nothing twice.
    assert predictions_per_step(run) == predictions_per_step(reference)
