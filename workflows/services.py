"""Writes for optimization and evaluation runs: creating (validated, enqueued on commit) and cancelling."""

from __future__ import annotations

from typing import TypeVar

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from accounts.models import Team
from accounts.services import ensure_can_write
from promptopt.errors import ConflictError, InvalidInputError
from prompts.models import DatasetVersion, Example, PromptVersion
from prompts.placeholders import template_variables
from prompts.splits import Split
from workflows.evaluation_config import evaluation_config_parse
from workflows.models import EvaluationRun, JobStatus, OptimizationRun
from workflows.provider_factory import provider_build

Job = TypeVar("Job", OptimizationRun, EvaluationRun)


def _job_cancel(job: Job, *, cancelled_by: User | None) -> Job:
    """A queued job is cancelled at once; a running one is asked to stop at its next checkpoint.

    The conditional updates make this safe against a worker claiming the job at the same moment:
    exactly one of "claim" and "cancel" wins the row.
    """
    ensure_can_write(user=cancelled_by, team=job.team)
    model = type(job)
    now = timezone.now()
    cancelled_queued = model.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED, cancel_requested_at=now, finished_at=now
    )
    if not cancelled_queued:
        flagged_running = model.objects.filter(
            pk=job.pk, status=JobStatus.RUNNING, cancel_requested_at__isnull=True
        ).update(cancel_requested_at=now)
        if not flagged_running:
            job.refresh_from_db()
            if job.cancel_requested_at is None or job.is_finished:
                raise ConflictError(f"{job} has already finished ({job.status}); nothing to cancel")
    job.refresh_from_db()
    return job


@transaction.atomic
def run_cancel(*, run: OptimizationRun, cancelled_by: User | None) -> OptimizationRun:
    return _job_cancel(run, cancelled_by=cancelled_by)


@transaction.atomic
def evaluation_cancel(*, evaluation: EvaluationRun, cancelled_by: User | None) -> EvaluationRun:
    return _job_cancel(evaluation, cancelled_by=cancelled_by)


def _enqueue_evaluation(evaluation_id: int) -> None:
    from django_q.tasks import async_task

    # Ids only: tasks are pickled and may be delivered twice; the claim makes a second delivery a no-op.
    async_task(
        "workflows.tasks.evaluation_run_task", evaluation_id, q_options={"task_name": f"evaluation-{evaluation_id}"}
    )


@transaction.atomic
def evaluation_create(
    *,
    team: Team,
    version: PromptVersion,
    dataset_version: DatasetVersion,
    split: Split,
    config: dict[str, object],
    created_by: User | None,
    enqueue: bool = True,
) -> EvaluationRun:
    """Validate everything an evaluation needs before any model call, then queue it (after commit).

    `enqueue=False` leaves it queued for a foreground runner (the `evaluate` command) to claim.
    """
    ensure_can_write(user=created_by, team=team)
    if version.prompt.team_id != team.pk or dataset_version.dataset.team_id != team.pk:
        raise InvalidInputError("the prompt version and the dataset version must belong to the team")
    parsed = evaluation_config_parse(dict(config))
    provider_build(name=parsed.provider or version.provider, model=parsed.model or version.model_name, probe=True)
    missing = [name for name in template_variables(version.template) if name not in dataset_version.input_fields]
    if missing:
        raise InvalidInputError(
            f"template: {', '.join(repr(m) for m in missing)} not among the dataset's inputs "
            f"({', '.join(dataset_version.input_fields)})"
        )
    if not Example.objects.filter(version=dataset_version, split=split).exists():
        raise InvalidInputError(f"split: {dataset_version} has no {split} examples")
    evaluation = EvaluationRun(
        team=team,
        version=version,
        dataset_version=dataset_version,
        split=split,
        config=parsed.model_dump(mode="json"),
        created_by=created_by,
    )
    evaluation.full_clean()
    evaluation.save()
    if enqueue:
        transaction.on_commit(lambda: _enqueue_evaluation(evaluation.pk))
    return evaluation
