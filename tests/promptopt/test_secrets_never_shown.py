"""Configured secrets never appear in a response, a log line, an admin page or an error page — even when a
provider's server echoes the credential back in its error message, which then travels through the gateway
into predictions, the job's error, the API, the web UI and the admin.

The test configures distinctive values, runs an evaluation against a local server that answers every call
with 401 quoting the Authorization header it received, reads every place that shows the outcome, and scans
what came back and every captured log record for the secrets."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from accounts.actors import Actor
from prompts.content import PromptContent
from prompts.importers import ImportOptions
from prompts.services import dataset_version_import, prompt_create
from prompts.splits import Split
from tests.api.support import API, client_as_user
from tests.ui.conftest import reviews_csv, signed_in
from workflows.evaluation_runner import evaluation_execute
from workflows.models import Prediction
from workflows.services import evaluation_create

pytestmark = pytest.mark.django_db

HF_TOKEN = "hf_CANARY_token_5b1f0c2e9d"
METRICS_TOKEN = "metrics-CANARY-token-77aa31"


def _echoing_server(httpserver) -> None:
    """A misbehaving inference server: its 401 quotes the credential it was sent."""
    from werkzeug import Response

    def handler(request):
        echoed = request.headers.get("Authorization", "")
        return Response(
            f'{{"error": {{"message": "invalid credentials: {echoed}"}}}}', 401, mimetype="application/json"
        )

    for path in ("/v1/chat/completions", "/v1/completions"):
        httpserver.expect_request(path, method="POST").respond_with_handler(handler)


@pytest.fixture
def failed_evaluation(settings, httpserver, team, owner, caplog):
    caplog.set_level(logging.DEBUG)
    settings.HF_TOKEN = HF_TOKEN
    settings.HF_BASE_URL = httpserver.url_for("/")
    settings.ALLOW_PRIVATE_BASE_URLS = True
    settings.METRICS_TOKEN = METRICS_TOKEN
    _echoing_server(httpserver)
    actor = Actor.for_user(owner)
    prompt = prompt_create(
        team=team,
        name="Sentiment",
        actor=actor,
        first_version=PromptContent(template="Review: {{text}}", provider="huggingface", model_name=""),
    )
    dataset_version = dataset_version_import(
        team=team,
        dataset_name="Reviews",
        file_name="r.csv",
        content=reviews_csv(),
        options=ImportOptions(),
        actor=actor,
    ).version
    evaluation = evaluation_create(
        team=team,
        version=prompt.versions.get(),
        dataset_version=dataset_version,
        split=Split.TEST,
        config={},
        actor=actor,
        enqueue=False,
    )
    return evaluation_execute(evaluation_id=evaluation.pk).evaluation


def _secrets() -> dict[str, str]:
    return {
        "HF_TOKEN": HF_TOKEN,
        "METRICS_TOKEN": METRICS_TOKEN,
        "SECRET_KEY": django_settings.SECRET_KEY,
        "JWT_SIGNING_KEY": django_settings.SIMPLE_JWT["SIGNING_KEY"],
        "API_KEY_PEPPER": django_settings.API_KEY_PEPPER,
    }


def test_no_configured_secret_reaches_a_response_or_a_log_line(failed_evaluation, owner, caplog, client):
    evaluation = failed_evaluation
    assert Prediction.objects.filter(evaluation=evaluation).exclude(error="").exists(), "the calls should have failed"
    assert "invalid credentials" in Prediction.objects.filter(evaluation=evaluation).first().error  # the echo arrived
    owner.is_staff = True
    owner.save(update_fields=["is_staff"])
    client.force_login(owner)
    prediction = Prediction.objects.filter(evaluation=evaluation).first()
    pages = {
        "api evaluation": client_as_user(owner).get(f"{API}/teams/acme/evaluations/{evaluation.pk}/"),
        "api predictions": client_as_user(owner).get(f"{API}/teams/acme/evaluations/{evaluation.pk}/predictions/"),
        "ui evaluation": signed_in(owner).get(reverse("ui:evaluation", args=["acme", evaluation.pk])),
        "admin evaluation": client.get(reverse("admin:workflows_evaluationrun_change", args=[evaluation.pk])),
        "admin prediction": client.get(reverse("admin:workflows_prediction_change", args=[prediction.pk])),
        "admin predictions": client.get(reverse("admin:workflows_prediction_changelist")),
        "not found page": Client().get("/t/acme/no-such-page/"),
        "health": Client().get("/healthz"),
        "metrics": Client().get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}),
    }

    for where, response in pages.items():
        assert response.status_code in (200, 302, 404), (where, response.status_code)
        text = response.content.decode()
        for name, value in _secrets().items():
            assert value not in text, f"{name} shown in {where}"
    records = caplog.get_records("setup") + caplog.records  # the evaluation ran in the fixture
    assert records, "the run should have logged something"
    logged = "\n".join(record.getMessage() for record in records)
    for name, value in _secrets().items():
        assert value not in logged, f"{name} logged"


def test_a_log_line_quoting_a_secret_is_redacted_for_every_handler(settings, caplog):
    settings.HF_TOKEN = HF_TOKEN
    caplog.set_level(logging.INFO)

    secret_key = settings.SECRET_KEY
    logging.getLogger("promptopt.anything").warning("server said: %s; key %s", f"Bearer {HF_TOKEN}", secret_key)
    logging.getLogger("some.library").info(f"raw text with {HF_TOKEN} inside")

    assert [record.getMessage() for record in caplog.records] == [
        "server said: Bearer [redacted]; key [redacted]",
        "raw text with [redacted] inside",
    ]
