"""The API's plumbing: the scoped base viewset cannot be bypassed, versions, errors as problem details, limits."""

from __future__ import annotations

import pytest
from django.db.models import QuerySet
from django.test import override_settings
from rest_framework.test import APIClient

from promptopt.api.viewsets import TeamScopedViewSet
from prompts.models import Prompt
from tests.api.support import API, client_as_user, client_with_key, issue_key
from tests.factories import PromptFactory


def test_a_viewset_that_overrides_get_queryset_is_refused_when_defined():
    with pytest.raises(TypeError, match="defines get_queryset"):

        class Leaky(TeamScopedViewSet):
            scoped_model = Prompt

            def get_queryset(self) -> QuerySet[Prompt]:
                return Prompt.objects.all()

    with pytest.raises(TypeError, match="defines queryset"):

        class AlsoLeaky(TeamScopedViewSet):
            scoped_model = Prompt
            queryset = Prompt.objects.all()


def _problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert "Traceback" not in response.content.decode()
    return body


def test_an_unknown_api_version_or_path_is_a_problem_details_404(db):
    assert "Invalid version" in _problem(APIClient().get("/api/v2/teams/"), 404)["detail"]
    assert "/api/v1/" in _problem(APIClient().get("/api/whatever/"), 404)["detail"]


def test_no_credentials_is_a_401_and_a_bad_key_too(team):
    _problem(APIClient().get(f"{API}/teams/"), 401)
    body = _problem(client_with_key("po_0123456789_nope").get(f"{API}/teams/"), 401)
    assert "not valid" in body["detail"]


def test_a_revoked_key_is_refused(team):
    raw = issue_key(team, revoked=True)
    _problem(client_with_key(raw).get(f"{API}/teams/acme/prompts/"), 401)


def test_another_teams_objects_answer_404_like_missing_ones(team, other_team, editor):
    PromptFactory(team=other_team, slug="secret")
    client = client_as_user(editor)

    _problem(client.get(f"{API}/teams/globex/prompts/"), 404)
    _problem(client.get(f"{API}/teams/globex/prompts/secret/"), 404)
    _problem(client.get(f"{API}/teams/acme/prompts/secret/"), 404)


def test_wrong_content_type_is_415_and_wrong_method_405(team, editor):
    client = client_as_user(editor)

    _problem(client.post(f"{API}/teams/acme/prompts/", "name=x", content_type="text/plain"), 415)
    _problem(client.put(f"{API}/teams/acme/prompts/", {}, format="json"), 405)


def test_an_oversized_json_body_is_413(team, editor, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = '{"name": "' + "x" * 5000 + '"}'

    _problem(client_as_user(editor).post(f"{API}/teams/acme/prompts/", body, content_type="application/json"), 413)


def test_validation_errors_name_each_field(team, editor):
    response = client_as_user(editor).post(
        f"{API}/teams/acme/prompts/",
        {"name": "Intent", "first_version": {"template": "Hi {{ user.name }}"}},
        format="json",
    )

    body = _problem(response, 400)
    assert "is not a placeholder" in body["errors"]["template"][0]


def test_rate_limits_answer_429_with_retry_after(team, editor, settings):
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, "read": "2/m"}
    client = client_as_user(editor)

    statuses = [client.get(f"{API}/teams/").status_code for _ in range(3)]
    limited = client.get(f"{API}/teams/")

    assert statuses[:2] == [200, 200]
    _problem(limited, 429)
    assert 0 < int(limited["Retry-After"]) <= 60


def test_a_429_in_the_last_second_of_a_window_still_says_when_to_retry(team, editor, monkeypatch):
    # django-ratelimit reports 0 seconds left in a window's last second; DRF sends no Retry-After for 0.
    limited_now = {"count": 3, "limit": 2, "should_limit": True, "time_left": 0}
    monkeypatch.setattr("promptopt.api.throttling.get_usage", lambda *args, **kwargs: limited_now)

    limited = client_as_user(editor).get(f"{API}/teams/")

    _problem(limited, 429)
    assert limited["Retry-After"] == "1"


def test_rate_limits_count_each_actor_separately(team, editor, owner, settings):
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, "read": "1/m"}

    assert client_as_user(editor).get(f"{API}/teams/").status_code == 200
    assert client_as_user(owner).get(f"{API}/teams/").status_code == 200
    assert client_as_user(editor).get(f"{API}/teams/").status_code == 429


@override_settings(DEBUG_PROPAGATE_EXCEPTIONS=False)
def test_an_unexpected_error_is_a_500_problem_without_a_trace(team, editor, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("prompts.api.PromptViewSet.narrow", explode)

    body = _problem(client_as_user(editor).get(f"{API}/teams/acme/prompts/"), 500)
    assert "secret internals" not in str(body)
