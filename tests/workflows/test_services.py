"""Run services: cancelling (queued runs stop at once, running ones are flagged, finished ones refuse), and
refusing a baseline that breaks the version rules."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from accounts.actors import Actor
from promptopt.errors import ConflictError, InvalidInputError, PermissionDeniedError
from tests.factories import (
    SYSTEM_ACTOR,
    DatasetVersionFactory,
    EvaluationRunFactory,
    MembershipFactory,
    OptimizationRunFactory,
    PromptVersionFactory,
)
from workflows.models import JobStatus, OptimizationRun
from workflows.services import evaluation_cancel, run_cancel, run_create


@pytest.fixture
def run(db):
    return OptimizationRunFactory()


def test_it_cancels_a_queued_run_at_once(run):
    cancelled = run_cancel(run=run, actor=SYSTEM_ACTOR)

    assert cancelled.status == JobStatus.CANCELLED
    assert cancelled.finished_at is not None and cancelled.cancel_requested_at is not None


def test_it_asks_a_running_run_to_stop_without_finishing_it(run):
    OptimizationRun.objects.filter(pk=run.pk).update(status=JobStatus.RUNNING)

    flagged = run_cancel(run=run, actor=SYSTEM_ACTOR)
    again = run_cancel(run=flagged, actor=SYSTEM_ACTOR)

    assert flagged.status == JobStatus.RUNNING and flagged.cancel_requested_at is not None
    assert again.cancel_requested_at == flagged.cancel_requested_at


def test_it_refuses_to_cancel_a_finished_run(run):
    OptimizationRun.objects.filter(pk=run.pk).update(status=JobStatus.SUCCEEDED)

    with pytest.raises(ConflictError, match="already finished"):
        run_cancel(run=run, actor=SYSTEM_ACTOR)


def test_it_refuses_cancelling_by_a_viewer(run):
    viewer = MembershipFactory(team=run.team, role="viewer").user

    with pytest.raises(PermissionDeniedError):
        run_cancel(run=run, actor=Actor.for_user(viewer))
    run.refresh_from_db()
    assert run.status == JobStatus.QUEUED


def test_it_cancels_a_queued_evaluation(db):
    evaluation = EvaluationRunFactory()

    assert evaluation_cancel(evaluation=evaluation, actor=SYSTEM_ACTOR).status == JobStatus.CANCELLED


def test_it_enforces_known_statuses_in_the_database(run):
    with pytest.raises(IntegrityError), transaction.atomic():
        OptimizationRun.objects.filter(pk=run.pk).update(status="exploded")


def test_it_enforces_progress_between_zero_and_one_in_the_database(run):
    with pytest.raises(IntegrityError), transaction.atomic():
        OptimizationRun.objects.filter(pk=run.pk).update(progress=1.5)


def test_it_refuses_to_optimize_a_version_saved_before_a_rule_it_breaks(db):
    # Saved directly, as a version from before the rule was: the instruction carries a placeholder.
    version = PromptVersionFactory(system_instruction="Classify {{text}}")
    dataset_version = DatasetVersionFactory(dataset__team=version.prompt.team)

    with pytest.raises(InvalidInputError, match="system_instruction: '\\{\\{text\\}\\}' looks like template syntax"):
        run_create(
            team=version.prompt.team,
            version=version,
            dataset_version=dataset_version,
            config={},
            actor=SYSTEM_ACTOR,
            enqueue=False,
        )
    assert OptimizationRun.objects.count() == 0
