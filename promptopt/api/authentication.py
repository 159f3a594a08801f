"""API authentication: team API keys for machines, JWT (simplejwt) and the session for people."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.models import ApiKey
from accounts.services import api_key_authenticate

API_KEY_SCHEME = "Api-Key"
API_KEY_HEADER = "HTTP_X_API_KEY"


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Api-Key po_…` or `X-API-Key: po_…`. A wrong or revoked key is a 401, never a fallback
    to anonymous: a client that sent a key meant to use it."""

    def _raw_key(self, request: Request) -> str | None:
        header = str(request.META.get("HTTP_AUTHORIZATION", ""))
        scheme, _, value = header.partition(" ")
        if scheme.lower() == API_KEY_SCHEME.lower():
            return value.strip()
        explicit = request.META.get(API_KEY_HEADER)
        return str(explicit).strip() if explicit else None

    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        raw_key = self._raw_key(request)
        if raw_key is None:
            return None
        api_key = api_key_authenticate(raw_key=raw_key)
        if api_key is None:
            raise AuthenticationFailed("The API key is not valid, or it was revoked.")
        # The key, not a user, is the actor (promptopt.api.actors); DRF still wants a user object.
        return AnonymousUser(), api_key

    def authenticate_header(self, request: Request) -> str:
        return API_KEY_SCHEME


class CsrfSessionAuthentication(SessionAuthentication):
    """The web UI's own calls: the signed-in session, with Django's CSRF check (DRF enforces it)."""


class ApiKeyScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "promptopt.api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "Or `Authorization: Api-Key <key>`.",
        }


class CsrfSessionScheme(SessionScheme):  # type: ignore[no-untyped-call]
    target_class = "promptopt.api.authentication.CsrfSessionAuthentication"
