"""Optimization runs on the `huggingface` provider against the scripted model server, for the tests that
interrupt runs (worker kills, database and broker outages) and compare them with an uninterrupted reference."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Role
from prompts.content import PromptContent
from prompts.importers import ImportOptions
from prompts.services import dataset_version_import, prompt_create
from tests.factories import MembershipFactory, TeamFactory
from tests.ui.conftest import reviews_csv
from tests.workflows.fault_servers import ModelServer
from tests.workflows.run_checks import predictions_per_step, run_result
from tests.workflows.worker_processes import WorkerProcess, wait_for
from workflows.engine.state import STEP_ORDER, StepName
from workflows.models import IterationStep, JobStatus, OptimizationRun
from workflows.run_runner import run_execute
from workflows.services import run_create
from workflows.tasks import jobs_reap_task

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


def queue_run(team, user, *, enqueue: bool) -> OptimizationRun:
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


REFERENCES: list[Reference] = []  # computed once per test session


def reference_run(user, server: ModelServer) -> Reference:
    """Run once per session, in this process and a team of its own (the call cache is per team)."""
    if not REFERENCES:
        team = TeamFactory(name="Reference", slug="reference")
        MembershipFactory(team=team, user=user, role=Role.EDITOR)
        server.on_request = None
        with server.lock:
            server.calls = 0
        run = run_execute(run_id=queue_run(team, user, enqueue=False).pk)
        assert run is not None and run.status == JobStatus.SUCCEEDED, run and run.error_message
        assert run.best_version != run.baseline_version  # so "saving the winner" saves something
        assert run.calls == server.calls
        steps = IterationStep.objects.filter(iteration__run=run).select_related("iteration")
        REFERENCES.append(
            Reference(
                result=run_result(run),
                predictions=predictions_per_step(run),
                calls=run.calls,
                cached_calls=run.cached_calls,
                calls_after={(step.iteration.index, step.kind): step.summary["calls_after"] for step in steps},
            )
        )
    return REFERENCES[0]


def worker_environment(server: ModelServer, **extra: str) -> dict[str, str]:
    """A cluster's settings: the scripted server as its provider, short leases, one worker process."""
    return {**PROVIDER, "HF_BASE_URL": server.url, "JOB_LEASE_SECONDS": str(LEASE_SECONDS), "WORKERS": "1", **extra}


def resume_and_finish(run: OptimizationRun, worker: WorkerProcess) -> OptimizationRun:
    """Once the dead (or failed) attempt's lease lapses, the reaper hands the run to `worker`; wait for its end."""
    wait_for(
        lambda: OptimizationRun.objects.filter(pk=run.pk, lease_expires_at__lt=timezone.now()).exists(),
        timeout=60,
        what="the interrupted attempt's lease to lapse",
    )
    assert jobs_reap_task() == {"failed": 0, "resent": 1}
    return wait_until_finished(run, worker, what="the resumed run to finish")


def wait_until_finished(run: OptimizationRun, worker: WorkerProcess, *, what: str) -> OptimizationRun:
    wait_for(
        lambda: OptimizationRun.objects.filter(pk=run.pk, finished_at__isnull=False).exists(),
        timeout=TIMEOUT,
        what=what,
        details=worker.tail,
    )
    run.refresh_from_db()
    return run
