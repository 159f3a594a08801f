"""The API end to end, over HTTP against a live server and a real worker process with the embedded model:
sign in, upload (part of) a benchmark dataset, create a prompt, start an optimization, poll it to the end,
read the report, compare baseline and winner, move `production` to the winner, resolve it, and see the same
through an API key."""

from __future__ import annotations

import httpx
import pytest

from accounts.models import Role
from tests.factories import MembershipFactory, UserFactory
from tests.shared_data import ape_sentiment_sample, needs_ape_sentiment
from tests.workflows.worker_processes import needs_postgres_and_redis, wait_for, worker_process

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    needs_postgres_and_redis,
    needs_ape_sentiment,
]

PASSWORD = "a long enough secret"
# One worker process and one llama.cpp thread: the live server shares the machine's two cores.
WORKER_ENV = {"WORKERS": "1", "LOCAL_THREADS": "1"}


def test_a_client_optimizes_compares_promotes_and_resolves_a_prompt_over_http(live_server, team):
    person = UserFactory(username="ada")
    person.set_password(PASSWORD)
    person.save()
    MembershipFactory(team=team, user=person, role=Role.OWNER)
    api = httpx.Client(base_url=f"{live_server.url}/api/v1/teams/acme", timeout=60)

    token = httpx.post(f"{live_server.url}/api/v1/auth/token/", json={"username": "ada", "password": PASSWORD}).json()[
        "access"
    ]
    api.headers["Authorization"] = f"Bearer {token}"

    uploaded = api.post(
        "/datasets/",
        data={"name": "APE sentiment", "split_map": "induce=train+validation,execute=test"},
        files={"file": ("ape__sentiment.jsonl", ape_sentiment_sample())},
    )
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["version"]["split_counts"]["test"] == 12

    first_version = {
        "system_instruction": "Classify the sentiment of the sentence as positive or negative.",
        "template": "{{input}}",
        "max_tokens": 16,
    }
    created = api.post("/prompts/", json={"name": "Sentiment draft", "first_version": first_version})
    assert created.status_code == 201, created.text

    config = {"seed": 0, "iterations": 1, "minibatch_size": 4, "candidates_per_iteration": 4, "survivors": 1}
    config["budget"] = {"max_calls": 160}
    with worker_process(name="e2e", **WORKER_ENV) as worker:
        worker.wait_until_running()
        started = api.post("/runs/", json={"prompt": "sentiment-draft", "dataset": "ape-sentiment", "config": config})
        assert started.status_code == 201, started.text
        run_id = started.json()["id"]

        progress = wait_for(
            lambda: (body := api.get(f"/runs/{run_id}/progress/").json())["finished"] and body,
            timeout=900,
            interval=2,
            what=f"run {run_id} to finish",
            details=worker.tail,
        )
    assert progress["status"] in ("succeeded", "budget_exhausted"), progress
    assert progress["usage"]["calls"] <= 160

    report = api.get(f"/runs/{run_id}/report/").json()
    winner = report["winner"]
    assert report["test_examples"] == 12 and report["baseline"]["test"]["n"] == 12
    assert winner["improved"], report["stop_reason"]
    assert api.get(f"/runs/{run_id}/iterations/").json()[0]["steps"][4]["kind"] == "second_evaluation"

    comparison = api.get(
        "/compare/", params={"prompt": "sentiment-draft", "a": 1, "b": winner["version"], "dataset": "ape-sentiment"}
    ).json()
    assert comparison["paired_examples"] == 12
    assert comparison["difference"]["mean"] == pytest.approx(report["test_difference"]["mean"])

    promoted = api.put(
        "/prompts/sentiment-draft/labels/production/", json={"version": winner["version"], "expected_version": 0}
    )
    assert promoted.status_code == 200, promoted.text
    resolved = api.get("/prompts/sentiment-draft/resolve/", params={"label": "production"})
    assert resolved.json()["version"]["number"] == winner["version"]

    issued = api.post("/api-keys/", json={"name": "production app", "scope": "read"}).json()
    as_key = httpx.Client(base_url=api.base_url, headers={"X-API-Key": issued["key"]}, timeout=60)
    by_key = as_key.get("/prompts/sentiment-draft/resolve/", params={"label": "production"})
    assert by_key.json()["version"] == resolved.json()["version"]
    assert as_key.get(f"/runs/{run_id}/").json()["best_version"] == winner["version"]
    not_modified = as_key.get(
        "/prompts/sentiment-draft/resolve/",
        params={"label": "production"},
        headers={"If-None-Match": by_key.headers["ETag"]},
    )
    assert not_modified.status_code == 304


def test_the_admin_and_the_command_line_start_work_that_a_worker_finishes(client, team, staff_owner):
    from django.core.management import call_command
    from django.urls import reverse

    from accounts.actors import Actor
    from prompts.content import PromptContent
    from prompts.importers import ImportOptions, parse_split_map
    from prompts.services import dataset_version_import, prompt_create
    from workflows.models import EvaluationRun, JobStatus

    actor = Actor.for_user(staff_owner)
    prompt = prompt_create(
        team=team,
        name="Sentiment",
        actor=actor,
        first_version=PromptContent(template="Sentence: {{input}}\nSentiment:", layout="completion", max_tokens=4),
    )
    dataset_version = dataset_version_import(
        team=team,
        dataset_name="APE sentiment",
        file_name="ape__sentiment.jsonl",
        content=ape_sentiment_sample(),
        options=ImportOptions(split_map=parse_split_map("induce=train+validation,execute=test")),
        actor=actor,
    ).version
    client.force_login(staff_owner)

    with worker_process(name="surfaces", **WORKER_ENV) as worker:
        worker.wait_until_running()
        started = client.post(
            reverse("admin:workflows_evaluationrun_start"),
            {"version": prompt.versions.get().pk, "dataset_version": dataset_version.pk, "split": "test"},
        )
        assert started.status_code == 302, started.content[:500]
        call_command(
            "evaluate",
            "--team",
            "acme",
            "--prompt",
            "sentiment",
            "--dataset",
            "ape-sentiment",
            "--split",
            "validation",
            "--background",
        )
        finished = wait_for(
            lambda: EvaluationRun.objects.filter(status=JobStatus.SUCCEEDED).count() == 2,
            timeout=600,
            interval=2,
            what="both evaluations to finish",
            details=worker.tail,
        )
    assert finished
    assert sorted(EvaluationRun.objects.values_list("split", flat=True)) == ["test", "validation"]
    assert all(evaluation.scored_count == evaluation.example_count for evaluation in EvaluationRun.objects.all())
