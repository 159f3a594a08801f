"""Helpers for API tests: clients that authenticate as a person (a real JWT) or as an API key."""

from __future__ import annotations

from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.actors import Actor
from accounts.models import ApiKeyScope
from accounts.services import api_key_create, api_key_revoke
from tests.factories import SYSTEM_ACTOR

API = "/api/v1"


def client_as_user(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def issue_key(team, *, scope: ApiKeyScope = ApiKeyScope.READ, name: str = "ci", revoked: bool = False) -> str:
    issued = api_key_create(team=team, name=name, scope=scope, actor=SYSTEM_ACTOR)
    if revoked:
        api_key_revoke(api_key=issued.api_key, actor=SYSTEM_ACTOR)
    return issued.raw_key


def client_with_key(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw_key)
    return client


def as_actor(user) -> Actor:
    return Actor.for_user(user)
