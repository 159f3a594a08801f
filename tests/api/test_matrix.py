"""Every API route against every kind of caller, with the status each must get.

Callers: nobody, an expired token, a revoked key, a member of another team only, a viewer, an editor, an
owner, and a read-only key. Routes are classed by what they need: reading the team, writing to it, owning
it, or being a person (keys cannot issue keys or create teams).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.actors import Actor
from accounts.models import ApiKeyScope, Role
from accounts.services import api_key_create
from prompts.content import PromptContent
from prompts.importers import ImportOptions
from prompts.services import dataset_version_import, label_move, prompt_create
from prompts.splits import Split
from tests.api.support import API, client_as_user, client_with_key, issue_key
from tests.engine.engine_support import SentimentProvider
from tests.factories import SYSTEM_ACTOR, MembershipFactory, UserFactory
from tests.workflows.test_optimization import _rows
from workflows.services import evaluation_create, run_create

CSV = b"text,target\ngreat,positive\nawful,negative\nfine,positive\n"


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # {run}, {evaluation}, {key} are filled in from the fixture
    needs: str  # "read", "write", "owner", "person" (a signed-in person with the write role), "any" (any actor)
    success: int
    body: object = None
    multipart: bool = False


P = "teams/acme/prompts/sentiment"
D = "teams/acme/datasets/reviews"
ROUTES = [
    Route("get", "teams/", "any", 200),
    Route("post", "teams/", "person-any", 201, {"name": "New team"}),
    Route("get", "teams/acme/", "read", 200),
    Route("patch", "teams/acme/", "owner", 200, {"name": "Acme Inc"}),
    Route("delete", "teams/acme/", "owner", 204),
    Route("get", "teams/acme/members/", "read", 200),
    Route("get", "teams/acme/members/olivia/", "read", 200),
    Route("post", "teams/acme/members/", "owner", 201, {"username": "newcomer", "role": "viewer"}),
    Route("patch", "teams/acme/members/vera/", "owner", 200, {"role": "editor"}),
    Route("delete", "teams/acme/members/newcomer2/", "owner", 204),
    Route("get", "teams/acme/api-keys/", "read", 200),
    Route("get", "teams/acme/api-keys/{key}/", "read", 200),
    Route("post", "teams/acme/api-keys/", "person", 201, {"name": "deploy"}),
    Route("delete", "teams/acme/api-keys/{key}/", "person", 204),
    Route("get", "teams/acme/audit-events/", "owner", 200),
    Route("get", "teams/acme/audit-events/?action=label.move&surface=command", "owner", 200),
    Route("get", "teams/acme/prompts/", "read", 200),
    Route("post", "teams/acme/prompts/", "write", 201, {"name": "Other", "first_version": {"template": "{{text}}"}}),
    Route("get", f"{P}/", "read", 200),
    Route("patch", f"{P}/", "write", 200, {"description": "Reviews"}),
    Route("delete", f"{P}/", "write", 204),
    Route("get", f"{P}/resolve/?label=production", "read", 200),
    Route("get", f"{P}/versions/", "read", 200),
    Route("post", f"{P}/versions/", "write", 201, {"template": "Review: {{text}}", "max_tokens": 4}),
    Route("get", f"{P}/versions/1/", "read", 200),
    Route("get", f"{P}/versions/1/diff/1/", "read", 200),
    Route("post", f"{P}/versions/1/render/", "read", 200, {"variables": {"text": "ok"}}),
    Route("get", f"{P}/labels/", "read", 200),
    Route("get", f"{P}/labels/production/", "read", 200),
    Route("put", f"{P}/labels/staging/", "write", 200, {"version": 1}),
    Route("delete", f"{P}/labels/production/", "write", 204),
    Route("get", "teams/acme/datasets/", "read", 200),
    Route("post", "teams/acme/datasets/", "write", 201, {"name": "Uploaded"}, multipart=True),
    Route("get", f"{D}/", "read", 200),
    Route("patch", f"{D}/", "write", 200, {"archived": True}),
    Route("delete", f"{D}/", "write", 204),
    Route("get", f"{D}/versions/", "read", 200),
    Route("post", f"{D}/versions/", "write", 201, {}, multipart=True),
    Route("get", f"{D}/versions/1/", "read", 200),
    Route("get", f"{D}/versions/1/examples/?split=train", "read", 200),
    Route("get", "teams/acme/runs/", "read", 200),
    Route("post", "teams/acme/runs/", "write", 201, {"prompt": "sentiment", "dataset": "reviews"}),
    Route("get", "teams/acme/runs/{run}/", "read", 200),
    Route("get", "teams/acme/runs/{run}/progress/", "read", 200),
    Route("get", "teams/acme/runs/{run}/iterations/", "read", 200),
    Route("get", "teams/acme/runs/{run}/candidates/", "read", 200),
    Route("get", "teams/acme/runs/{run}/predictions/", "read", 200),
    Route("get", "teams/acme/runs/{run}/report/", "read", 409),  # queued: no report yet, for those who may see it
    Route("post", "teams/acme/runs/{run}/cancel/", "write", 200),
    Route("get", "teams/acme/evaluations/", "read", 200),
    Route(
        "post", "teams/acme/evaluations/", "write", 201, {"prompt": "sentiment", "dataset": "reviews", "split": "test"}
    ),
    Route("get", "teams/acme/evaluations/{evaluation}/", "read", 200),
    Route("get", "teams/acme/evaluations/{evaluation}/predictions/", "read", 200),
    Route("post", "teams/acme/evaluations/{evaluation}/cancel/", "write", 200),
    Route("get", "teams/acme/compare/?a={evaluation}&b={evaluation}", "read", 409),  # queued evaluations
]

CALLERS = ("anonymous", "expired_token", "revoked_key", "outsider", "viewer", "editor", "owner", "read_key")


def expected_status(route: Route, caller: str) -> int:
    if caller in ("anonymous", "expired_token", "revoked_key"):
        return 401
    if route.needs == "any":
        return route.success
    if route.needs == "person-any":
        return 403 if caller == "read_key" else route.success
    if caller == "outsider":
        return 404  # another team's objects do not exist for them
    allowed = {
        "read": {"viewer", "editor", "owner", "read_key"},
        "write": {"editor", "owner"},
        "person": {"editor", "owner"},
        "owner": {"owner"},
    }[route.needs]
    return route.success if caller in allowed else 403


@pytest.fixture
def world(team, other_team, owner, editor, viewer, monkeypatch):
    scripted = SentimentProvider()
    monkeypatch.setattr("workflows.services.provider_build", lambda **kwargs: scripted)
    MembershipFactory(team=other_team, user=UserFactory(username="outsider"), role=Role.OWNER)
    for username in ("newcomer", "newcomer2"):
        user = UserFactory(username=username)
        if username == "newcomer2":
            MembershipFactory(team=team, user=user, role=Role.VIEWER)
    actor = Actor.for_user(owner)
    prompt = prompt_create(
        team=team, name="Sentiment", actor=actor, first_version=PromptContent(template="Review: {{text}}")
    )
    label_move(prompt=prompt, name="production", version=prompt.versions.get(), actor=actor)
    dataset_version = dataset_version_import(
        team=team,
        dataset_name="Reviews",
        file_name="reviews.csv",
        content=_rows().encode(),
        options=ImportOptions(),
        actor=actor,
    ).version
    version = prompt.versions.get()
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
    target_key = api_key_create(team=team, name="target", scope=ApiKeyScope.READ, actor=SYSTEM_ACTOR).api_key
    return {"run": run.pk, "evaluation": evaluation.pk, "key": target_key.prefix}


def _client(caller: str, team, users) -> APIClient:
    if caller == "anonymous":
        return APIClient()
    if caller == "expired_token":
        token = AccessToken.for_user(users["owner"])
        token.set_exp(lifetime=-timedelta(minutes=1))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client
    if caller == "revoked_key":
        return client_with_key(issue_key(team, scope=ApiKeyScope.WRITE, name="revoked", revoked=True))
    if caller == "read_key":
        return client_with_key(issue_key(team, scope=ApiKeyScope.READ, name="reader"))
    return client_as_user(users[caller])


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", ROUTES, ids=[f"{r.method.upper()} {r.path}" for r in ROUTES])
def test_every_route_answers_every_caller_as_expected(route, caller, world, team, owner, editor, viewer):
    users = {"owner": owner, "editor": editor, "viewer": viewer}
    users["outsider"] = UserFactory(username="outsider")
    client = _client(caller, team, users)
    path = f"{API}/{route.path.format(**world)}"
    if route.multipart:
        data = {"file": SimpleUploadedFile("more.csv", CSV), **(route.body or {})}  # type: ignore[dict-item]
        response = client.post(path, data, format="multipart")
    elif route.body is not None:
        response = getattr(client, route.method)(path, route.body, format="json")
    else:
        response = getattr(client, route.method)(path)

    assert response.status_code == expected_status(route, caller), response.content[:500]


def test_the_matrix_covers_every_team_route_the_api_serves():
    from django.urls import resolve

    from promptopt.api.urls import router

    served = {url.name for url in router.urls} | {"compare"}
    covered = {
        resolve(f"{API}/" + route.path.split("?")[0].format(run=1, evaluation=1, key="abc")).url_name
        for route in ROUTES
    }

    assert served - covered == set()
