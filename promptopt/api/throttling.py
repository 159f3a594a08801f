"""Rate limits for the API, counted by django-ratelimit in the shared cache (Redis when configured).

Counted per actor (API key or user) and per kind of request: reads, writes, run and evaluation creation
(they spend provider money) and token requests (counted per client address, as they carry no actor yet).
With the embedded default cache (local memory) each web process counts on its own.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django_ratelimit.core import get_usage
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from accounts.models import ApiKey

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _identity(request: Request) -> str:
    if isinstance(request.auth, ApiKey):
        return f"key:{request.auth.pk}"
    user = request.user
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"address:{request.META.get('REMOTE_ADDR', '')}"


def rate_scope(request: Request, view: Any) -> str:
    """The view's scope for this action (`rate_scopes = {"create": "runs"}`), else read or write by method."""
    scopes: dict[str, str] = getattr(view, "rate_scopes", {})
    action = getattr(view, "action", None)
    if action in scopes:
        return scopes[action]
    explicit: str | None = getattr(view, "rate_scope", None)
    if explicit:
        return explicit
    return "read" if request.method in SAFE_METHODS else "write"


class ActorRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        scope = rate_scope(request, view)
        identity = _identity(request)
        usage = get_usage(
            request._request,
            group=f"api:{scope}",
            key=lambda _group, _request: identity,
            rate=settings.API_RATE_LIMITS[scope],
            increment=True,
        )
        if usage is None:  # rate limiting switched off (RATELIMIT_ENABLE = False)
            return True
        # At least a second: in the window's last second time_left is 0, and DRF sends no Retry-After for 0.
        self._wait = max(1.0, float(usage["time_left"]))
        return not usage["should_limit"]

    def wait(self) -> float | None:
        return self._wait
