"""Starting optimization runs and evaluations from the admin: the same services, queued for the workers."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.actors import Actor
from prompts.content import PromptContent
from prompts.importers import ImportOptions
from prompts.services import dataset_version_import, prompt_create
from tests.engine.engine_support import SentimentProvider
from tests.workflows.test_optimization import _rows
from workflows.models import EvaluationRun, JobStatus, OptimizationRun

START_RUN = "admin:workflows_optimizationrun_start"
START_EVALUATION = "admin:workflows_evaluationrun_start"


@pytest.fixture
def target(team, editor, monkeypatch):
    monkeypatch.setattr("workflows.services.provider_build", lambda **kwargs: SentimentProvider())
    actor = Actor.for_user(editor)
    prompt = prompt_create(team=team, name="Sentiment", actor=actor, first_version=PromptContent(template="{{text}}"))
    dataset_version = dataset_version_import(
        team=team,
        dataset_name="Reviews",
        file_name="r.csv",
        content=_rows().encode(),
        options=ImportOptions(),
        actor=actor,
    ).version
    return {"version": prompt.versions.get(), "dataset_version": dataset_version}


def test_a_version_page_links_to_both_start_pages(client, staff_editor, target):
    client.force_login(staff_editor)
    version = target["version"]

    page = client.get(reverse("admin:prompts_promptversion_change", args=[version.pk])).content.decode()

    assert f"{reverse(START_RUN)}?version={version.pk}" in page
    assert f"{reverse(START_EVALUATION)}?version={version.pk}" in page


def test_it_queues_a_run_for_the_workers(client, staff_editor, target, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr("workflows.services._enqueue_run", queued.append)
    client.force_login(staff_editor)
    form = {
        "version": target["version"].pk,
        "dataset_version": target["dataset_version"].pk,
        "metric": "exact_match",
        "strategies": ["mutations"],
        "iterations": 2,
        "max_calls": 300,
        "seed": 3,
        "config": '{"patience": 3}',
    }

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(START_RUN), form)

    run = OptimizationRun.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/{run.pk}/change/")
    assert queued == [run.pk] and run.status == JobStatus.QUEUED and run.created_by == staff_editor
    assert (run.config["metric"], run.config["strategies"], run.config["iterations"]) == (
        {"name": "exact_match"},
        ["mutations"],
        2,
    )
    assert (run.config["budget"]["max_calls"], run.config["seed"], run.config["patience"]) == (300, 3, 3)


def test_a_refused_run_shows_why_and_writes_nothing(client, staff_editor, target):
    client.force_login(staff_editor)
    form = {"version": target["version"].pk, "dataset_version": target["dataset_version"].pk, "max_calls": 5}

    response = client.post(reverse(START_RUN), form)

    assert response.status_code == 200
    assert "leaves nothing for the search" in str(response.context["form"].non_field_errors())
    assert not OptimizationRun.objects.exists()


def test_it_queues_an_evaluation(client, staff_editor, target, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr("workflows.services._enqueue_evaluation", queued.append)
    client.force_login(staff_editor)
    form = {"version": target["version"].pk, "dataset_version": target["dataset_version"].pk, "split": "validation"}

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(START_EVALUATION), form)

    evaluation = EvaluationRun.objects.get()
    assert response.status_code == 302 and queued == [evaluation.pk]
    assert (evaluation.split, evaluation.config["metric"]) == ("validation", {"name": "any_answer"})


def test_a_viewer_cannot_choose_the_teams_versions(client, staff_viewer, target):
    client.force_login(staff_viewer)
    form = {"version": target["version"].pk, "dataset_version": target["dataset_version"].pk}

    response = client.post(reverse(START_RUN), form)

    assert response.status_code == 200 and "version" in response.context["form"].errors
    assert not OptimizationRun.objects.exists()
