"""Tokens, teams, members and API keys over the API."""

from __future__ import annotations

import jwt
import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import ApiKey, ApiKeyScope, Membership, Role
from tests.api.support import API, client_as_user, client_with_key, issue_key
from tests.factories import MembershipFactory, UserFactory

PASSWORD = "correct horse battery staple"


@pytest.fixture
def person(team):
    user = UserFactory(username="pat")
    user.set_password(PASSWORD)
    user.save()
    MembershipFactory(team=team, user=user, role=Role.EDITOR)
    return user


def obtain(username: str, password: str):
    return APIClient().post(f"{API}/auth/token/", {"username": username, "password": password}, format="json")


def test_it_issues_short_lived_tokens_for_the_right_password(person):
    response = obtain("pat", PASSWORD)

    assert response.status_code == 200
    access = AccessToken(response.json()["access"])
    lifetime = access["exp"] - access["iat"]
    assert lifetime <= 5 * 60
    assert (access["aud"], access["iss"]) == ("promptopt-api", "promptopt")
    assert obtain("pat", "wrong").status_code == 401


def test_a_token_for_another_audience_or_issuer_is_refused(person):
    good = AccessToken(obtain("pat", PASSWORD).json()["access"])
    for claim, value in (("aud", "someone-else"), ("iss", "evil")):
        payload = dict(good.payload) | {claim: value}
        forged = jwt.encode(payload, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")

        assert client.get(f"{API}/teams/").status_code == 401


def test_an_unsigned_or_wrongly_signed_token_is_refused(person):
    good = AccessToken(obtain("pat", PASSWORD).json()["access"])
    payload = dict(good.payload)
    unsigned = jwt.encode(payload, key=None, algorithm="none")  # "alg": "none", no signature at all
    other_key = jwt.encode(payload, "another key that is long enough for HS256", algorithm="HS256")
    other_algorithm = jwt.encode(payload, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS512")

    for forged in (unsigned, other_key, other_algorithm, str(good)[:-2]):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
        assert client.get(f"{API}/teams/").status_code == 401, jwt.get_unverified_header(forged)
    control = APIClient()
    control.credentials(HTTP_AUTHORIZATION=f"Bearer {good}")
    assert control.get(f"{API}/teams/").status_code == 200


def test_refresh_rotates_and_logout_blacklists(person):
    refresh = obtain("pat", PASSWORD).json()["refresh"]
    client = APIClient()

    rotated = client.post(f"{API}/auth/token/refresh/", {"refresh": refresh}, format="json")
    reused = client.post(f"{API}/auth/token/refresh/", {"refresh": refresh}, format="json")
    new_refresh = rotated.json()["refresh"]
    logout = client.post(f"{API}/auth/token/logout/", {"refresh": new_refresh}, format="json")
    after_logout = client.post(f"{API}/auth/token/refresh/", {"refresh": new_refresh}, format="json")

    assert rotated.status_code == 200 and new_refresh != refresh
    assert reused.status_code == 401  # a refresh token works once
    assert logout.status_code == 200 and after_logout.status_code == 401
    verify = client.post(f"{API}/auth/token/verify/", {"token": rotated.json()["access"]}, format="json")
    assert verify.status_code == 200


def test_token_requests_are_throttled_per_address(person, settings):
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, "tokens": "3/m"}

    statuses = [obtain("pat", PASSWORD).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]


def test_failed_sign_ins_lock_the_account_for_tokens_too(person, settings):
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        obtain("pat", f"guess-{attempt}")

    locked = obtain("pat", PASSWORD)

    assert locked.status_code == 429
    assert "failed sign-ins" in locked.json()["detail"]
    assert int(locked["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()


def test_an_api_key_works_in_either_header_and_records_its_use(team):
    raw = issue_key(team)
    by_header = client_with_key(raw).get(f"{API}/teams/acme/prompts/")
    authorization = APIClient()
    authorization.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")

    assert by_header.status_code == 200
    assert authorization.get(f"{API}/teams/acme/prompts/").status_code == 200
    assert ApiKey.objects.get().last_used_at is not None


def test_a_key_sees_only_its_own_team(team, other_team):
    raw = issue_key(team)

    teams = client_with_key(raw).get(f"{API}/teams/").json()["results"]

    assert [t["slug"] for t in teams] == ["acme"]
    assert client_with_key(raw).get(f"{API}/teams/globex/prompts/").status_code == 404


def test_people_create_teams_and_become_their_owners(editor):
    response = client_as_user(editor).post(f"{API}/teams/", {"name": "Research"}, format="json")

    assert response.status_code == 201 and response.json()["slug"] == "research"
    assert Membership.objects.get(team__slug="research").role == Role.OWNER


def test_only_owners_manage_members(team, owner, editor):
    newcomer = UserFactory(username="newcomer")
    url = f"{API}/teams/acme/members/"

    refused = client_as_user(editor).post(url, {"username": "newcomer", "role": "viewer"}, format="json")
    added = client_as_user(owner).post(url, {"username": "newcomer", "role": "viewer"}, format="json")
    promoted = client_as_user(owner).patch(f"{url}newcomer/", {"role": "editor"}, format="json")
    left = client_as_user(newcomer).delete(f"{url}newcomer/")

    assert refused.status_code == 403
    assert added.status_code == 201 and promoted.json()["role"] == "editor"
    assert left.status_code == 204
    assert not Membership.objects.filter(user=newcomer).exists()


def test_a_team_keeps_its_last_owner(team, owner):
    response = client_as_user(owner).patch(f"{API}/teams/acme/members/olivia/", {"role": "viewer"}, format="json")

    assert response.status_code == 409


def test_a_new_key_is_shown_once_and_revoked_with_delete(team, editor):
    client = client_as_user(editor)

    created = client.post(f"{API}/teams/acme/api-keys/", {"name": "deploy", "scope": "write"}, format="json")
    listed = client.get(f"{API}/teams/acme/api-keys/").json()["results"]
    prefix = created.json()["prefix"]
    revoked = client.delete(f"{API}/teams/acme/api-keys/{prefix}/")

    assert created.status_code == 201 and created.json()["key"].startswith(f"po_{prefix}_")
    assert "key" not in listed[0]
    assert revoked.status_code == 204
    assert client_with_key(created.json()["key"]).get(f"{API}/teams/").status_code == 401
    assert ApiKey.objects.get(prefix=prefix).scope == ApiKeyScope.WRITE


def test_a_key_cannot_mint_keys(team):
    raw = issue_key(team, scope=ApiKeyScope.WRITE)

    response = client_with_key(raw).post(f"{API}/teams/acme/api-keys/", {"name": "minted"}, format="json")

    assert response.status_code == 403
