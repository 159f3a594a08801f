"""Claiming, holding and reaping background jobs (runs, evaluations) through their own status rows, not the queue.

django-q2 alone is not enough: on the ORM broker it redelivers a task whose worker died forever, on Redis it
loses it. The job row is the source of truth: a worker claims it with a conditional UPDATE, holds it with a
lease its heartbeat renews, and `jobs_reap` (scheduled every minute) hands a lapsed job to a new worker or,
after `JOB_MAX_ATTEMPTS` claims, fails it with the reason.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from types import TracebackType
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import F, Q
from django.utils import timezone

from workflows.models import EvaluationRun, JobStatus, OptimizationRun

logger = logging.getLogger("promptopt.jobs")

Job = TypeVar("Job", OptimizationRun, EvaluationRun)

# A queued job this old with no worker on it lost its task (a Redis broker restarted, a worker died before
# acknowledging): the reaper enqueues it again; a duplicate delivery is harmless because of the claim.
QUEUED_RESEND_AFTER = timedelta(minutes=5)


def lease_seconds() -> int:
    return int(settings.JOB_LEASE_SECONDS)


def max_attempts() -> int:
    return int(settings.JOB_MAX_ATTEMPTS)


def job_claim(model: type[Job], *, job_id: int) -> Job | None:
    """Take a queued job, or one whose worker died (lease lapsed), with one conditional UPDATE.

    Zero rows updated means another worker holds it, it finished, or it has used all its attempts:
    django-q2 may deliver a task more than once, and this is what makes that harmless.
    """
    now = timezone.now()
    claimable = Q(status=JobStatus.QUEUED) | Q(status=JobStatus.RUNNING, lease_expires_at__lt=now)
    updated = model.objects.filter(claimable, pk=job_id, attempts__lt=max_attempts()).update(
        status=JobStatus.RUNNING,
        attempts=F("attempts") + 1,
        lease_expires_at=now + timedelta(seconds=lease_seconds()),
    )
    if not updated:
        return None
    job = model.objects.get(pk=job_id)
    if job.started_at is None:
        model.objects.filter(pk=job_id).update(started_at=now)
        job.started_at = now
    return job


def _held_by_me(job: OptimizationRun | EvaluationRun) -> Q:
    # `attempts` identifies the claim: a worker whose lease lapsed and was taken over holds an older number.
    return Q(pk=job.pk, status=JobStatus.RUNNING, attempts=job.attempts)


def job_heartbeat(job: Job, *, progress: float | None = None, message: str | None = None) -> bool:
    """Renew the lease (and record progress); False when the job was cancelled or taken away."""
    fields: dict[str, object] = {"lease_expires_at": timezone.now() + timedelta(seconds=lease_seconds())}
    if progress is not None:
        fields["progress"] = max(0.0, min(1.0, progress))
    if message is not None:
        fields["progress_message"] = message[:200]
    updated = type(job).objects.filter(_held_by_me(job)).update(**fields)
    job.refresh_from_db(fields=["cancel_requested_at", "status"])
    return bool(updated) and job.cancel_requested_at is None


def job_still_held(job: Job) -> bool:
    """True while this worker's claim stands; checked inside the transaction that writes a checkpoint."""
    return type(job).objects.select_for_update().filter(_held_by_me(job)).exists()


class LeaseHeartbeat:
    """Renews a job's lease from a background thread, so one long model call cannot let the lease lapse.

    The engine polls `should_stop()` between chunks of calls; it turns true when the job was cancelled or
    another worker took it over (this one was presumed dead), and the worker then stops without writing.
    """

    def __init__(self, job: OptimizationRun | EvaluationRun, *, interval: float | None = None) -> None:
        self._job: OptimizationRun | EvaluationRun = job
        # Not str(job): that reads related rows, which this thread's own connection may not see.
        self._label = f"{type(job).__name__} {job.pk}"
        self._interval = interval if interval is not None else lease_seconds() / 4
        self._stop = threading.Event()
        self.cancelled = False
        self.lost = False
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job.pk}", daemon=True)

    def __enter__(self) -> LeaseHeartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def should_stop(self) -> bool:
        return self.cancelled or self.lost

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self._interval):
                try:
                    held = self._renew()
                except DatabaseError:
                    # A busy SQLite file or a dropped connection: try again next beat rather than let the
                    # thread die and the lease lapse under a worker that is still working.
                    logger.warning("%s: could not renew the lease this time", self._label, exc_info=True)
                    continue
                if not held:
                    self.lost = True
                    logger.warning("%s: the lease was taken over; stopping at the next chunk", self._label)
                    return
        finally:
            # This thread has its own database connection; leaving it open would leak one per job.
            connection.close()

    def _renew(self) -> bool:
        model = type(self._job)
        updated = model.objects.filter(_held_by_me(self._job)).update(
            lease_expires_at=timezone.now() + timedelta(seconds=lease_seconds())
        )
        if updated and model.objects.filter(pk=self._job.pk, cancel_requested_at__isnull=False).exists():
            self.cancelled = True
        return bool(updated)


EnqueueCallback = Callable[[type[OptimizationRun] | type[EvaluationRun], int], None]


def jobs_reap(*, enqueue: EnqueueCallback) -> dict[str, int]:
    """Fail jobs that used up their attempts; hand lapsed and lost ones to a worker again."""
    now = timezone.now()
    counts = {"failed": 0, "resent": 0}
    for model in (OptimizationRun, EvaluationRun):
        lapsed = model.objects.filter(status=JobStatus.RUNNING, lease_expires_at__lt=now)
        worn_out = lapsed.filter(attempts__gte=max_attempts())
        for job_id, attempts in worn_out.values_list("pk", "attempts"):
            reason = (
                f"the worker stopped without finishing {attempts} times (killed, out of memory or machine lost); "
                f"giving up after {max_attempts()} attempts"
            )
            # Conditional: a worker that was only slow may have renewed its lease meanwhile.
            counts["failed"] += model.objects.filter(
                pk=job_id, status=JobStatus.RUNNING, lease_expires_at__lt=now
            ).update(status=JobStatus.FAILED, error_message=reason, finished_at=now, lease_expires_at=None)
            logger.error("%s %s failed: %s", model.__name__, job_id, reason)
        lost = Q(status=JobStatus.RUNNING, lease_expires_at__lt=now, attempts__lt=max_attempts()) | Q(
            status=JobStatus.QUEUED, created_at__lt=now - QUEUED_RESEND_AFTER
        )
        for job_id in model.objects.filter(lost).values_list("pk", flat=True):
            enqueue(model, job_id)
            counts["resent"] += 1
    return counts
