"""Optimization runs, evaluations and comparisons over the API (a scripted provider stands in for the model)."""

from __future__ import annotations

import pytest

from accounts.actors import Actor
from accounts.models import ApiKeyScope
from prompts.content import PromptContent
from prompts.importers import ImportOptions
from prompts.services import dataset_version_import, prompt_create
from tests.api.support import API, client_as_user, client_with_key, issue_key
from tests.engine.engine_support import SentimentProvider
from tests.workflows.test_optimization import _rows
from workflows.evaluation_runner import evaluation_execute
from workflows.models import EvaluationRun, IdempotencyRecord, JobStatus, OptimizationRun
from workflows.run_outputs import RunReport
from workflows.run_runner import run_execute

RUNS = f"{API}/teams/acme/runs"
EVALUATIONS = f"{API}/teams/acme/evaluations"
RUN_BODY = {"prompt": "sentiment", "dataset": "reviews", "config": {"seed": 1, "iterations": 2, "patience": 5}}


@pytest.fixture
def setup(team, editor, monkeypatch):
    actor = Actor.for_user(editor)
    prompt_create(
        team=team,
        name="Sentiment",
        actor=actor,
        first_version=PromptContent(template="Classify the sentiment of this review: {{text}}"),
    )
    dataset_version_import(
        team=team,
        dataset_name="Reviews",
        file_name="reviews.csv",
        content=_rows().encode(),
        options=ImportOptions(),
        actor=actor,
    )
    scripted = SentimentProvider()
    for module in ("workflows.run_runner", "workflows.services", "workflows.evaluation_runner"):
        monkeypatch.setattr(f"{module}.provider_build", lambda **kwargs: scripted)
    return scripted


def test_it_creates_a_run_with_its_estimate_and_queues_it_for_the_workers(
    setup, editor, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr("workflows.services._enqueue_run", queued.append)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_as_user(editor).post(RUNS + "/", RUN_BODY, format="json")

    body = response.json()
    assert response.status_code == 201
    assert body["status"] == "queued" and body["progress"]["status"] == "queued"
    assert body["estimate"]["test_calls"] == 40 and body["estimate"]["calls"] >= 40
    assert (body["prompt"], body["baseline_version"], body["dataset"]) == ("sentiment", 1, "reviews")
    assert queued == [body["id"]]
    assert setup.calls == 0


def test_a_bad_config_is_refused_by_field_with_nothing_written(setup, editor):
    response = client_as_user(editor).post(RUNS + "/", {**RUN_BODY, "config": {"iterations": 0}}, format="json")

    assert response.status_code == 400
    assert "iterations: Input should be greater than or equal to 1" in str(response.json())
    assert not OptimizationRun.objects.exists()


def test_a_retried_creation_with_the_same_idempotency_key_creates_one_run(setup, team):
    client = client_with_key(issue_key(team, scope=ApiKeyScope.WRITE))

    first = client.post(RUNS + "/", RUN_BODY, format="json", HTTP_IDEMPOTENCY_KEY="nightly-42")
    retry = client.post(RUNS + "/", RUN_BODY, format="json", HTTP_IDEMPOTENCY_KEY="nightly-42")
    reused = client.post(
        RUNS + "/", {**RUN_BODY, "config": {"seed": 2}}, format="json", HTTP_IDEMPOTENCY_KEY="nightly-42"
    )

    assert first.status_code == retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"] and retry["Idempotent-Replayed"] == "true"
    assert reused.status_code == 409
    assert OptimizationRun.objects.count() == 1 and IdempotencyRecord.objects.count() == 1


def test_a_refused_creation_frees_its_idempotency_key(setup, editor):
    client = client_as_user(editor)
    bad = client.post(RUNS + "/", {**RUN_BODY, "config": {"iterations": 0}}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    good = client.post(RUNS + "/", RUN_BODY, format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert (bad.status_code, good.status_code) == (400, 201)


def test_a_read_key_cannot_start_runs(setup, team):
    response = client_with_key(issue_key(team)).post(RUNS + "/", RUN_BODY, format="json")

    assert response.status_code == 403
    assert not OptimizationRun.objects.exists()


def test_a_finished_run_shows_its_steps_candidates_predictions_and_report(setup, editor):
    client = client_as_user(editor)
    run_id = client.post(RUNS + "/", RUN_BODY, format="json").json()["id"]
    run_execute(run_id=run_id)

    detail = client.get(f"{RUNS}/{run_id}/").json()
    progress = client.get(f"{RUNS}/{run_id}/progress/").json()
    iterations = client.get(f"{RUNS}/{run_id}/iterations/").json()
    candidates = client.get(f"{RUNS}/{run_id}/candidates/").json()
    failures = client.get(f"{RUNS}/{run_id}/predictions/?failures=true").json()
    report = RunReport.model_validate(client.get(f"{RUNS}/{run_id}/report/").json())

    assert detail["status"] == JobStatus.SUCCEEDED and detail["best_version"] == 2
    assert progress["finished"] and progress["progress"] == 1.0 and progress["usage"]["calls"] > 0
    assert [step["kind"] for step in iterations[0]["steps"]] == [
        "primary_inference",
        "evaluation",
        "proposal",
        "refined_inference",
        "second_evaluation",
    ]
    assert candidates["count"] > 0 and any(candidate["accepted"] for candidate in candidates["results"])
    # The candidate that won points at the version it became.
    assert {candidate["version"] for candidate in candidates["results"] if candidate["version"]} == {2}
    assert all(prediction["score"] != 1.0 for prediction in failures["results"])
    assert report.winner.improved and report.winner.version == 2 and report.test_difference is not None


def test_the_report_of_an_unfinished_run_is_a_conflict(setup, editor):
    client = client_as_user(editor)
    run_id = client.post(RUNS + "/", RUN_BODY, format="json").json()["id"]

    assert client.get(f"{RUNS}/{run_id}/report/").status_code == 409


def test_a_queued_run_is_cancelled_at_once(setup, editor):
    client = client_as_user(editor)
    run_id = client.post(RUNS + "/", RUN_BODY, format="json").json()["id"]

    cancelled = client.post(f"{RUNS}/{run_id}/cancel/")
    again = client.post(f"{RUNS}/{run_id}/cancel/")

    assert cancelled.json()["status"] == "cancelled"
    assert again.status_code == 409


def test_evaluations_run_compare_and_show_what_regressed(setup, editor):
    client = client_as_user(editor)
    run_id = client.post(RUNS + "/", RUN_BODY, format="json").json()["id"]
    run_execute(run_id=run_id)
    # The same metric as the run's final test, so that the two can be compared.
    metric = {"name": "normalized_match"}
    body = {"prompt": "sentiment@1", "dataset": "reviews", "split": "test", "config": {"metric": metric}}
    created = client.post(EVALUATIONS + "/", body, format="json")
    evaluation_execute(evaluation_id=created.json()["id"])

    evaluation = client.get(f"{EVALUATIONS}/{created.json()['id']}/").json()
    by_versions = client.get(f"{API}/teams/acme/compare/?prompt=sentiment&a=1&b=2&dataset=reviews&split=test").json()
    winner_test = EvaluationRun.objects.get(optimization_run_id=run_id, version__number=2)
    by_ids = client.get(f"{API}/teams/acme/compare/?a={created.json()['id']}&b={winner_test.pk}").json()

    assert created.status_code == 201 and evaluation["status"] == "succeeded"
    assert evaluation["example_count"] == 20 and evaluation["score"] is not None
    assert by_versions["paired_examples"] == 20 and by_versions["b"]["version"] == 2
    assert by_versions["wins"] + by_versions["losses"] + by_versions["ties"] == 20
    assert by_versions["difference"]["mean"] == pytest.approx(
        by_versions["b"]["score"]["mean"] - by_versions["a"]["score"]["mean"]
    )
    assert by_ids["b"]["evaluation"] == winner_test.pk and by_ids["paired_examples"] == 20
    assert len(by_versions["regressions"]) == by_versions["regressions_total"] == by_versions["losses"]


def test_comparing_versions_without_an_evaluation_says_how_to_get_one(setup, editor):
    response = client_as_user(editor).get(f"{API}/teams/acme/compare/?prompt=sentiment&a=1&b=1&dataset=reviews")

    assert response.status_code == 409 and "evaluate it there first" in response.json()["detail"]


def test_lists_of_runs_never_load_checkpoints(setup, editor):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_as_user(editor)
    run_execute(run_id=client.post(RUNS + "/", RUN_BODY, format="json").json()["id"])

    with CaptureQueriesContext(connection) as captured:
        assert client.get(RUNS + "/").status_code == 200
    run_selects = [query["sql"] for query in captured if 'FROM "workflows_optimizationrun"' in query["sql"]]
    assert run_selects and all('"checkpoint"' not in sql for sql in run_selects)


def test_evaluations_scored_with_different_metrics_are_not_compared(setup, editor):
    client = client_as_user(editor)
    ids = []
    for metric in ("exact_match", "contains"):
        body = {"prompt": "sentiment", "dataset": "reviews", "config": {"metric": {"name": metric}}}
        evaluation_id = client.post(EVALUATIONS + "/", body, format="json").json()["id"]
        evaluation_execute(evaluation_id=evaluation_id)
        ids.append(evaluation_id)

    response = client.get(f"{API}/teams/acme/compare/?a={ids[0]}&b={ids[1]}")

    assert response.status_code == 400 and "different metrics" in str(response.json())


def test_an_unknown_filter_value_is_refused_rather_than_ignored(setup, editor):
    response = client_as_user(editor).get(RUNS + "/?status=finished")

    assert response.status_code == 400 and "use one of" in str(response.json()["errors"]["status"])
