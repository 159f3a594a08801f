"""A worker SIGKILLed at ten points of a run (inside each of the five steps, in the final test, while the winner
is saved) leaves a run that resumes on another worker, ends exactly as an uninterrupted run does, and reports
exactly the requests the model server received, the unanswered one included.

Real processes end to end: django-q2 clusters (`manage.py qcluster`) on PostgreSQL and Redis, and the
`huggingface` provider talking HTTP to a scripted OpenAI-compatible server in this process, which counts the
requests. Two ways to kill at a point:
- in a step that calls the model, the server kills the worker's process group as the chosen request arrives:
  the request was received and is never answered;
- in a step that makes no call (evaluation, proposals) and while the winner is saved, the test locks the table
  that step's checkpoint (or the save) writes, waits until the worker's transaction is blocked on the lock, and
  kills it there, with half of its writes done and uncommitted.
Which request falls in which step comes from an uninterrupted reference run: each step's `calls_after`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
import pytest
from django.db import connection
from django.utils import timezone
from django_q.models import Schedule

from accounts.actors import Actor
from accounts.models import Role
from prompts.content import PromptContent
from prompts.importers import ImportOptions
from prompts.models import PromptVersion
from prompts.services import dataset_version_import, prompt_create
from tests.factories import MembershipFactory, TeamFactory
from tests.ui.conftest import reviews_csv
from tests.workflows.fault_servers import ModelServer, serving
from tests.workflows.run_checks import predictions_per_step, run_result
from tests.workflows.worker_processes import (
    WorkerProcess,
    database_url,
    needs_postgres_and_redis,
    wait_for,
    worker_process,
)
from workflows.engine.state import STEP_ORDER, StepName
from workflows.models import Candidate, EvaluationRun, IterationStep, JobStatus, OptimizationRun, Prediction
from workflows.run_runner import run_execute
from workflows.services import run_create
from workflows.tasks import jobs_reap_task

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), needs_postgres_and_redis]

CONFIG = {"seed": 3, "iterations": 2, "patience": 5}
LEASE_SECONDS = 4
TIMEOUT = 300
REAPER_TASK = "workflows.tasks.jobs_reap_task"
# One request at a time: a kill then finds exactly one request in flight, the one that pulled the trigger.
PROVIDER = {"ALLOW_PRIVATE_BASE_URLS": "true", "HF_MAX_CONCURRENCY": "1"}
Step = tuple[int, StepName]
SEARCH_STEPS: list[Step] = [(iteration, kind) for iteration in (1, 2) for kind in STEP_ORDER]


@dataclass(frozen=True)
class Reference:
    """What the uninterrupted run did: its result, and the requests each step sent."""

    result: dict[str, object]
    predictions: dict[tuple[int, str], int]
    calls: int
    cached_calls: int
    calls_after: dict[Step, int]  # requests sent when each step ended

    def step_requests(self, step: Step) -> tuple[int, int]:
        """The numbers of the first and last request the step sent."""
        index = SEARCH_STEPS.index(step)
        first = (self.calls_after[SEARCH_STEPS[index - 1]] if index else 0) + 1
        last = self.calls_after[step]
        assert first <= last, f"{step} sent no request in the reference run"
        return first, last

    def final_test_requests(self) -> tuple[int, int]:
        return self.calls_after[SEARCH_STEPS[-1]] + 1, self.calls

    def step_of(self, request: int) -> Step:
        return next(step for step in SEARCH_STEPS if request <= self.calls_after[step])


@dataclass(frozen=True)
class KillPoint:
    name: str
    request: Callable[[Reference], int]  # the request that pulls the trigger
    # The step the kill interrupts (None for the final test and the save), given or as the reference says.
    step: Step | Callable[[Reference], Step] | None
    lock: type | None = None  # a model whose table is locked at that request; the kill waits for a blocked worker

    def interrupted_step(self, reference: Reference) -> Step | None:
        return self.step(reference) if callable(self.step) else self.step


def _middle(requests: tuple[int, int]) -> int:
    return (requests[0] + requests[1]) // 2


POINTS = [
    KillPoint(
        "primary inference", lambda ref: _middle(ref.step_requests((1, "primary_inference"))), (1, "primary_inference")
    ),
    # Evaluation and proposals call nothing: the lock is taken as primary inference sends its last request.
    KillPoint(
        "evaluation",
        lambda ref: ref.step_requests((1, "primary_inference"))[1],
        (1, "evaluation"),
        lock=Prediction,  # written first by the evaluation step's checkpoint (primary inference writes none)
    ),
    KillPoint(
        "proposals",
        lambda ref: ref.step_requests((1, "primary_inference"))[1],
        (1, "proposal"),
        lock=Candidate,  # written first by the proposal step's checkpoint
    ),
    KillPoint(
        "refined inference", lambda ref: _middle(ref.step_requests((1, "refined_inference"))), (1, "refined_inference")
    ),
    KillPoint(
        "second evaluation", lambda ref: _middle(ref.step_requests((1, "second_evaluation"))), (1, "second_evaluation")
    ),
    # Iteration 2's primary inference is answered from the cache here: its first request is a later step's.
    KillPoint(
        "first request of iteration 2",
        lambda ref: ref.calls_after[(1, "second_evaluation")] + 1,
        lambda ref: ref.step_of(ref.calls_after[(1, "second_evaluation")] + 1),
    ),
    KillPoint(
        "last request of the search",
        lambda ref: ref.step_requests((2, "second_evaluation"))[1],
        (2, "second_evaluation"),
    ),
    KillPoint("final test, third request", lambda ref: ref.final_test_requests()[0] + 2, None),
    KillPoint("final test, last request", lambda ref: ref.final_test_requests()[1], None),
    KillPoint("saving the winner", lambda ref: ref.final_test_requests()[1], None, lock=PromptVersion),
]


@pytest.fixture(scope="module")
def model_server() -> Iterator[ModelServer]:
    with serving(ModelServer()) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def provider_settings(settings, model_server):
    settings.HF_BASE_URL = model_server.url
    settings.HF_TOKEN = None
    settings.ALLOW_PRIVATE_BASE_URLS = True
    settings.HF_MAX_CONCURRENCY = 1
    return settings


def _queue(team, user, *, enqueue: bool) -> OptimizationRun:
    actor = Actor.for_user(user)
    prompt = prompt_create(
        team=team,
        name="Sentiment",
        actor=actor,
        first_version=PromptContent(template="What do you think of this review? {{text}}", provider="huggingface"),
    )
    dataset_version = dataset_version_import(
        team=team,
        dataset_name="Reviews",
        file_name="r.csv",
        content=reviews_csv(),
        options=ImportOptions(),
        actor=actor,
    ).version
    return run_create(
        team=team,
        version=prompt.versions.get(),
        dataset_version=dataset_version,
        config=CONFIG,
        actor=actor,
        enqueue=enqueue,
    )


_reference: list[Reference] = []


def _reference_run(user, server: ModelServer) -> Reference:
    """Run once per session, in this process and a team of its own (the call cache is per team)."""
    if not _reference:
        team = TeamFactory(name="Reference", slug="reference")
        MembershipFactory(team=team, user=user, role=Role.EDITOR)
        server.on_request = None
        with server.lock:
            server.calls = 0
        run = run_execute(run_id=_queue(team, user, enqueue=False).pk)
        assert run is not None and run.status == JobStatus.SUCCEEDED, run and run.error_message
        assert run.best_version != run.baseline_version  # so "saving the winner" saves something
        assert run.calls == server.calls
        steps = IterationStep.objects.filter(iteration__run=run).select_related("iteration")
        _reference.append(
            Reference(
                result=run_result(run),
                predictions=predictions_per_step(run),
                calls=run.calls,
                cached_calls=run.cached_calls,
                calls_after={(step.iteration.index, step.kind): step.summary["calls_after"] for step in steps},
            )
        )
    return _reference[0]


class TableLock:
    """A SHARE lock on a table, taken on a connection of its own: reads go on, writes wait for its release."""

    def __init__(self, model: type) -> None:
        self.table = model._meta.db_table  # type: ignore[attr-defined]
        self._connection = psycopg.connect(database_url())

    def take(self) -> None:
        self._connection.execute(f'LOCK TABLE "{self.table}" IN SHARE MODE')  # opens a transaction

    def has_waiter(self) -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE relation = %s::regclass AND NOT granted", [self.table])
            return cursor.fetchone()[0] > 0

    def release(self) -> None:
        self._connection.rollback()
        self._connection.close()


def _kill_at(point: KillPoint, reference: Reference, server: ModelServer, worker: WorkerProcess, run_of) -> None:
    """Arm the trigger, queue the run (`run_of()`), and return once the worker is dead at the point."""
    trigger = point.request(reference)
    lock = TableLock(point.lock) if point.lock is not None else None
    killed = threading.Event()

    def on_request(number: int) -> bool:
        if number != trigger:
            return False
        if lock is not None:
            lock.take()
            return False
        worker.kill()
        killed.set()
        return True  # never answered: its worker is gone

    with server.lock:
        server.calls = 0
    server.on_request = on_request
    try:
        run_of()
        if lock is not None:
            wait_for(
                lock.has_waiter,
                timeout=TIMEOUT,
                interval=0.1,
                what=f"a write to {lock.table} to wait",
                details=worker.tail,
            )
            worker.kill()
        else:
            wait_for(killed.is_set, timeout=TIMEOUT, interval=0.1, what=f"request {trigger}", details=worker.tail)
    finally:
        server.on_request = None
        if lock is not None:
            lock.release()


def _assert_killed_at(step: Step | None, run: OptimizationRun) -> None:
    steps = IterationStep.objects.filter(iteration__run=run)
    finished = {
        (s.iteration.index, s.kind) for s in steps.filter(finished_at__isnull=False).select_related("iteration")
    }
    if step is not None:
        assert finished == set(SEARCH_STEPS[: SEARCH_STEPS.index(step)]), finished
        assert steps.get(iteration__index=step[0], kind=step[1]).status == "running"
    else:
        assert finished == set(SEARCH_STEPS)
    # Neither the test scores nor a version of the winner were saved: that is one transaction, at the end.
    assert not EvaluationRun.objects.filter(optimization_run=run).exists()
    assert run.best_version is None


@pytest.mark.parametrize("point", POINTS, ids=[point.name for point in POINTS])
def test_a_worker_killed_at_this_point_loses_nothing_and_its_run_ends_as_if_uninterrupted(
    point, team, editor, model_server, provider_settings
):
    reference = _reference_run(editor, model_server)
    # The handover is the test's to make (below), not the every-minute schedule's, so its timing is known.
    Schedule.objects.filter(func=REAPER_TASK).delete()
    environment = {
        **PROVIDER,
        "HF_BASE_URL": model_server.url,
        "JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "WORKERS": "1",
    }
    queued: list[OptimizationRun] = []

    with worker_process(name="first", **environment) as first:
        first.wait_until_running()
        _kill_at(point, reference, model_server, first, lambda: queued.append(_queue(team, editor, enqueue=True)))
    run = queued[0]
    run.refresh_from_db()
    assert run.status == JobStatus.RUNNING and run.attempts == 1, first.tail()
    _assert_killed_at(point.interrupted_step(reference), run)
    # Every request the server received is on the run's books already, the one left unanswered included.
    assert run.calls == model_server.calls

    with worker_process(name="second", **environment) as second:
        second.wait_until_running()
        wait_for(
            lambda: OptimizationRun.objects.filter(pk=run.pk, lease_expires_at__lt=timezone.now()).exists(),
            timeout=60,
            what="the dead worker's lease to lapse",
        )
        assert jobs_reap_task() == {"failed": 0, "resent": 1}
        wait_for(
            lambda: OptimizationRun.objects.filter(pk=run.pk, finished_at__isnull=False).exists(),
            timeout=TIMEOUT,
            what="the resumed run to finish",
            details=second.tail,
        )

    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED and run.attempts == 2, f"{run.error_message}\n{second.tail()}"
    assert run_result(run) == reference.result
    assert predictions_per_step(run) == reference.predictions
    assert EvaluationRun.objects.filter(optimization_run=run).count() == 2  # baseline and winner, once each
    # Exact spend across the crash: the run reports the requests the server received. Those answered before
    # the kill came back from the team's cache; only the one left unanswered was sent again.
    assert run.calls == model_server.calls == reference.calls + (0 if point.lock else 1)
    assert run.cached_calls >= reference.cached_calls
    assert run.report["usage"]["calls"] == run.calls
