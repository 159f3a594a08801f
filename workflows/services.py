"""Writes for optimization and evaluation runs that sit outside the engine (cancelling, for now)."""

from __future__ import annotations

from typing import TypeVar

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from accounts.services import ensure_can_write
from promptopt.errors import ConflictError
from workflows.models import EvaluationRun, JobStatus, OptimizationRun

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
