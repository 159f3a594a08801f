"""The actor of an API request: its API key, or its signed-in user (JWT or session)."""

from __future__ import annotations

from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request

from accounts.actors import Actor
from accounts.models import ApiKey


def request_actor(request: Request) -> Actor:
    """Who the request acts as; 401 when it carries no valid credentials."""
    cached: Actor | None = getattr(request, "_promptopt_actor", None)
    if cached is not None:
        return cached
    if isinstance(request.auth, ApiKey):
        actor = Actor.for_api_key(request.auth)
    elif request.user is not None and request.user.is_authenticated and request.user.is_active:
        actor = Actor.for_user(request.user)
    else:
        raise NotAuthenticated()
    request._promptopt_actor = actor  # type: ignore[attr-defined]  # one actor per request, asked for often
    return actor
