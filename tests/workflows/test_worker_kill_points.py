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
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import pytest
from django.db import connection
from django_q.models import Schedule

from prompts.models import PromptVersion
from tests.workflows.fault_servers import ModelServer
from tests.workflows.run_checks import predictions_per_step, run_result
from tests.workflows.scripted_runs import (
    REAPER_TASK,
    SEARCH_STEPS,
    TIMEOUT,
    Reference,
    Step,
    queue_run,
    reference_run,
    resume_and_finish,
    worker_environment,
)
from tests.workflows.worker_processes import (
    WorkerProcess,
    database_url,
    needs_postgres_and_redis,
    wait_for,
    worker_process,
)
from workflows.models import Candidate, EvaluationRun, IterationStep, JobStatus, OptimizationRun, Prediction

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), needs_postgres_and_redis]


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
    point, team, editor, scripted_server, provider_settings
):
    reference = reference_run(editor, scripted_server)
    # The handover is the test's to make (below), not the every-minute schedule's, so its timing is known.
    Schedule.objects.filter(func=REAPER_TASK).delete()
    environment = worker_environment(scripted_server)
    queued: list[OptimizationRun] = []

    with worker_process(name="first", **environment) as first:
        first.wait_until_running()
        _kill_at(point, reference, scripted_server, first, lambda: queued.append(queue_run(team, editor, enqueue=True)))
    run = queued[0]
    run.refresh_from_db()
    assert run.status == JobStatus.RUNNING and run.attempts == 1, first.tail()
    _assert_killed_at(point.interrupted_step(reference), run)
    # Every request the server received is on the run's books already, the one left unanswered included.
    assert run.calls == scripted_server.calls

    with worker_process(name="second", **environment) as second:
        second.wait_until_running()
        run = resume_and_finish(run, second)

    assert run.status == JobStatus.SUCCEEDED and run.attempts == 2, f"{run.error_message}\n{second.tail()}"
    assert run_result(run) == reference.result
    assert predictions_per_step(run) == reference.predictions
    assert EvaluationRun.objects.filter(optimization_run=run).count() == 2  # baseline and winner, once each
    # Exact spend across the crash: the run reports the requests the server received. Those answered before
    # the kill came back from the team's cache; only the one left unanswered was sent again.
    assert run.calls == scripted_server.calls == reference.calls + (0 if point.lock else 1)
    assert run.cached_calls >= reference.cached_calls
    assert run.report["usage"]["calls"] == run.calls
