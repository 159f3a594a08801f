"""The admin for runs and what they record: read-only pages, team scoping and the cancel actions."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from tests.factories import EvaluationRunFactory, ExampleFactory, OptimizationRunFactory
from workflows.models import (
    Candidate,
    Iteration,
    IterationStep,
    JobStatus,
    LLMCallCache,
    Prediction,
    StepKind,
)

pytestmark = pytest.mark.django_db


def _messages(response) -> list[tuple[str, str]]:
    return [(message.level_tag, str(message)) for message in get_messages(response.wsgi_request)]


def _graph(team):
    """A run with one iteration's records, an evaluation with a prediction, and a cache entry, for one team."""
    run = OptimizationRunFactory(baseline_version__prompt__team=team)
    example = ExampleFactory(version=run.dataset_version)
    iteration = Iteration.objects.create(run=run, index=0)
    step = IterationStep.objects.create(iteration=iteration, kind=StepKind.PRIMARY_INFERENCE, summary={"score": 0.5})
    candidate = Candidate.objects.create(iteration=iteration, content={"template": "{{text}}"}, strategy="rewrite")
    step_prediction = Prediction.objects.create(
        step=step, version=run.baseline_version, example=example, output="positive", score=1.0
    )
    evaluation = EvaluationRunFactory(version=run.baseline_version, dataset_version=run.dataset_version)
    evaluation_prediction = Prediction.objects.create(
        evaluation=evaluation, version=run.baseline_version, example=example, output="negative", score=0.0
    )
    cache = LLMCallCache.objects.create(
        team=team, key=f"{run.pk:064x}", provider="local", model_name="smollm2", response={"text": "positive"}
    )
    return {
        "optimizationrun": run,
        "iteration": iteration,
        "iterationstep": step,
        "candidate": candidate,
        "evaluationrun": evaluation,
        "prediction": step_prediction,
        "evaluation_prediction": evaluation_prediction,
        "llmcallcache": cache,
    }


@pytest.fixture
def own(team):
    return _graph(team)


@pytest.fixture
def foreign(other_team):
    return _graph(other_team)


MODELS = ["optimizationrun", "iteration", "iterationstep", "candidate", "evaluationrun", "prediction", "llmcallcache"]


@pytest.mark.parametrize("model_name", MODELS)
def test_it_renders_every_workflows_admin_page_read_only(client, signed_in, own, model_name):
    obj = own[model_name]
    change_url = reverse(f"admin:workflows_{model_name}_change", args=[obj.pk])

    changelist = client.get(reverse(f"admin:workflows_{model_name}_changelist"))
    change = client.get(change_url)
    add = client.get(reverse(f"admin:workflows_{model_name}_add"))
    post = client.post(change_url, {})

    assert (changelist.status_code, change.status_code) == (200, 200)
    assert obj.pk in [row.pk for row in changelist.context["cl"].result_list]
    assert 'name="_save"' not in change.content.decode()
    assert (add.status_code, post.status_code) == (403, 403)


@pytest.mark.parametrize("model_name", [*MODELS, "evaluation_prediction"])
def test_it_hides_other_teams_records_from_team_staff(client, staff_editor, own, foreign, model_name):
    client.force_login(staff_editor)
    admin_name = "prediction" if model_name == "evaluation_prediction" else model_name

    changelist = client.get(reverse(f"admin:workflows_{admin_name}_changelist"))
    change = client.get(reverse(f"admin:workflows_{admin_name}_change", args=[foreign[model_name].pk]))

    listed = [row.pk for row in changelist.context["cl"].result_list]
    assert own[model_name].pk in listed
    assert foreign[model_name].pk not in listed
    assert change.status_code == 302
    assert change.url == reverse("admin:index")


def test_it_lists_predictions_of_both_owners_once(client, staff_editor, own, foreign):
    client.force_login(staff_editor)

    response = client.get(reverse("admin:workflows_prediction_changelist"))

    assert sorted(row.pk for row in response.context["cl"].result_list) == sorted(
        [own["prediction"].pk, own["evaluation_prediction"].pk]
    )


def test_it_shows_iterations_with_their_steps_and_candidates(client, staff_editor, own):
    client.force_login(staff_editor)

    response = client.get(reverse("admin:workflows_iteration_change", args=[own["iteration"].pk]))

    formsets = {formset.opts.model.__name__: formset.formset for formset in response.context["inline_admin_formsets"]}
    assert [form.instance for form in formsets["IterationStep"].forms] == [own["iterationstep"]]
    assert [form.instance for form in formsets["Candidate"].forms] == [own["candidate"]]


def _cancel(client, admin_name, action, ids):
    return client.post(
        reverse(f"admin:workflows_{admin_name}_changelist"), {"action": action, "_selected_action": ids, "index": 0}
    )


def test_it_cancels_a_queued_run_and_reports_a_finished_one(client, staff_editor, own, team):
    queued = own["optimizationrun"]
    finished = OptimizationRunFactory(
        baseline_version__prompt__team=team, status=JobStatus.SUCCEEDED, finished_at=timezone.now()
    )
    client.force_login(staff_editor)

    response = _cancel(client, "optimizationrun", "cancel_runs", [queued.pk, finished.pk])

    queued.refresh_from_db()
    finished.refresh_from_db()
    assert response.status_code == 302
    assert (queued.status, finished.status) == (JobStatus.CANCELLED, JobStatus.SUCCEEDED)
    assert queued.cancel_requested_at is not None
    assert sorted(_messages(response)) == [
        ("success", "Cancelled 1 queued run."),
        ("warning", f"{finished} has already finished (succeeded); nothing to cancel"),
    ]


def test_it_asks_a_running_run_to_stop(client, staff_editor, own):
    run = own["optimizationrun"]
    run.status = JobStatus.RUNNING
    run.save(update_fields=["status"])
    client.force_login(staff_editor)

    response = _cancel(client, "optimizationrun", "cancel_runs", [run.pk])

    run.refresh_from_db()
    assert run.status == JobStatus.RUNNING
    assert run.cancel_requested_at is not None
    assert _messages(response) == [("success", "Asked 1 running run to stop at the next checkpoint.")]


def test_it_cancels_a_queued_evaluation(client, staff_editor, own):
    evaluation = own["evaluationrun"]
    client.force_login(staff_editor)

    response = _cancel(client, "evaluationrun", "cancel_evaluations", [evaluation.pk])

    evaluation.refresh_from_db()
    assert evaluation.status == JobStatus.CANCELLED
    assert _messages(response) == [("success", "Cancelled 1 queued run.")]


def test_it_does_not_offer_cancelling_to_a_viewer(client, staff_viewer, own):
    run = own["optimizationrun"]
    client.force_login(staff_viewer)

    changelist = client.get(reverse("admin:workflows_optimizationrun_changelist"))
    response = _cancel(client, "optimizationrun", "cancel_runs", [run.pk])

    run.refresh_from_db()
    assert changelist.status_code == 200
    assert "cancel_runs" not in changelist.content.decode()
    assert response.status_code == 200  # Django re-renders the list with "No action selected."
    assert run.status == JobStatus.QUEUED
