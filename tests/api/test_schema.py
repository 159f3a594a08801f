"""The OpenAPI schema is valid, and the live API keeps to it: schemathesis sends generated requests to a real
server (a seeded database, a real token) and finds no server error and no answer the schema does not allow."""

from __future__ import annotations

from io import StringIO

import pytest
import schemathesis
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.actors import Actor
from accounts.models import ApiKeyScope
from accounts.services import api_key_create
from prompts.content import PromptContent
from prompts.importers import ImportOptions
from prompts.services import dataset_version_import, label_move, prompt_create
from prompts.splits import Split
from tests.engine.engine_support import SentimentProvider
from tests.workflows.test_optimization import _rows
from workflows.services import evaluation_create, run_create

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_the_schema_is_valid_and_generates_without_warnings(db):
    out = StringIO()

    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)

    assert "openapi: 3.1.0" in out.getvalue() and "/api/v1/teams/{team}/prompts/{prompt}/resolve/" in out.getvalue()


@pytest.fixture
def seeded(transactional_db, team, owner, settings, monkeypatch):
    """One of everything, reachable with the owner's token; run and evaluation creation queue nothing."""
    settings.API_RATE_LIMITS = dict.fromkeys(settings.API_RATE_LIMITS, "100000/m")
    scripted = SentimentProvider()
    monkeypatch.setattr("workflows.services.provider_build", lambda **kwargs: scripted)
    monkeypatch.setattr("workflows.services._enqueue_run", lambda run_id: None)
    monkeypatch.setattr("workflows.services._enqueue_evaluation", lambda evaluation_id: None)
    actor = Actor.for_user(owner)
    prompt = prompt_create(team=team, name="Sentiment", actor=actor, first_version=PromptContent(template="{{text}}"))
    version = prompt.versions.get()
    label_move(prompt=prompt, name="production", version=version, actor=actor)
    dataset_version = dataset_version_import(
        team=team,
        dataset_name="Reviews",
        file_name="r.csv",
        content=_rows().encode(),
        options=ImportOptions(),
        actor=actor,
    ).version
    run = run_create(team=team, version=version, dataset_version=dataset_version, config={}, actor=actor, enqueue=False)
    evaluation = evaluation_create(
        team=team,
        version=version,
        dataset_version=dataset_version,
        split=Split.TEST,
        config={},
        actor=actor,
        enqueue=False,
    )
    key = api_key_create(team=team, name="existing", scope=ApiKeyScope.READ, actor=actor).api_key
    return {
        "team": "acme",
        "prompt": "sentiment",
        "dataset": "reviews",
        "label": "production",
        "username": "olivia",
        "prefix": key.prefix,
        "number": 1,
        "other": 1,
        "id": run.pk,
        "evaluation": evaluation.pk,
        "token": str(RefreshToken.for_user(owner).access_token),
    }


@pytest.mark.integration
def test_the_live_api_keeps_to_its_schema(seeded, live_server):
    """Every operation of the schema, a bounded number of generated requests each (derandomized: the same
    requests on every run). Schemathesis' own pytest plugin does not load on this pytest, so the operations
    are driven from here, each through Hypothesis as the plugin would."""
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/schema/")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 50
    # Deletions last, the deepest first and the team's own at the very end, so that every other operation
    # meets the seeded objects rather than a 404.
    operations.sort(key=lambda operation: (operation.method == "delete", -operation.path.count("/")))

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def keeps_to_schema(case):
            # Real objects in the path, so requests reach the views rather than stopping at "no such team".
            for name in case.path_parameters or {}:
                if name == "id" and "/evaluations/" in case.path:
                    case.path_parameters[name] = seeded["evaluation"]
                elif name in seeded:
                    case.path_parameters[name] = seeded[name]
            case.call_and_validate(
                base_url=live_server.url,
                headers={"Authorization": f"Bearer {seeded['token']}"},
                checks=CHECKS,
            )

        keeps_to_schema()
