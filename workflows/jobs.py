"""Claiming and holding background jobs (runs, evaluations) through their own status rows, not the queue."""

from __future__ import annotations

from datetime import timedelta
from typing import TypeVar

from django.db.models import F, Q
from django.utils import timezone

from workflows.models import EvaluationRun, JobStatus, OptimizationRun

Job = TypeVar("Job", OptimizationRun, EvaluationRun)

LEASE_SECONDS = 120
MAX_ATTEMPTS = 3


def job_claim(model: type[Job], *, job_id: int) -> Job | None:
    """Take a queued job, or one whose worker died (lease lapsed), with one conditional UPDATE.

    Zero rows updated means another worker holds it, it finished, or it has used all its attempts:
    django-q2 may deliver a task more than once, and this is what makes that harmless.
    """
    now = timezone.now()
    claimable = Q(status=JobStatus.QUEUED) | Q(status=JobStatus.RUNNING, lease_expires_at__lt=now)
    updated = model.objects.filter(claimable, pk=job_id, attempts__lt=MAX_ATTEMPTS).update(
        status=JobStatus.RUNNING,
        attempts=F("attempts") + 1,
        lease_expires_at=now + timedelta(seconds=LEASE_SECONDS),
    )
    if not updated:
        return None
    job = model.objects.get(pk=job_id)
    if job.started_at is None:
        model.objects.filter(pk=job_id).update(started_at=now)
        job.started_at = now
    return job


def job_heartbeat(job: Job, *, progress: float | None = None, message: str | None = None) -> bool:
    """Renew the lease (and record progress); False when the job was cancelled or taken away."""
    fields: dict[str, object] = {"lease_expires_at": timezone.now() + timedelta(seconds=LEASE_SECONDS)}
    if progress is not None:
        fields["progress"] = max(0.0, min(1.0, progress))
    if message is not None:
        fields["progress_message"] = message[:200]
    updated = type(job).objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(**fields)
    job.refresh_from_db(fields=["cancel_requested_at", "status"])
    return bool(updated) and job.cancel_requested_at is None
