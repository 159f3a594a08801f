"""django-q2 tasks: thin wrappers that take ids, claim the job through its row, and run it (what they change is
audited as done by a worker)."""

from __future__ import annotations

from promptopt.surface import Surface, acting_from
from workflows.evaluation_runner import evaluation_execute
from workflows.jobs import jobs_reap
from workflows.models import EvaluationRun, OptimizationRun
from workflows.run_runner import run_execute


def evaluation_run_task(evaluation_id: int) -> None:
    # The claim inside evaluation_execute makes repeated deliveries harmless.
    with acting_from(Surface.WORKER):
        evaluation_execute(evaluation_id=evaluation_id)


def optimization_run_task(run_id: int) -> None:
    # Ids only: the run row holds the config and the checkpoint; a second delivery finds it claimed.
    with acting_from(Surface.WORKER):
        run_execute(run_id=run_id)


def _enqueue(model: type[OptimizationRun] | type[EvaluationRun], job_id: int) -> None:
    from django_q.tasks import async_task

    task = (
        "workflows.tasks.optimization_run_task" if model is OptimizationRun else "workflows.tasks.evaluation_run_task"
    )
    kind = "optimization-run" if model is OptimizationRun else "evaluation"
    async_task(task, job_id, q_options={"task_name": f"{kind}-{job_id}-resume"})


def jobs_reap_task() -> dict[str, int]:
    """Scheduled every minute (see the workflows migration that creates the schedule)."""
    return jobs_reap(enqueue=_enqueue)
