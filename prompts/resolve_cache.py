"""A short-lived cache of `resolve` answers (label → version content), the API's hottest read.

Client applications resolve `production` on every start and poll it; the answer changes only when a label
moves or goes. It is kept only in a cache that every web process shares (Redis): with the embedded default,
a per-process local-memory cache, one process could keep serving a label another process just moved. The
services forget an entry when its label moves or is removed, or its prompt is deleted, both at once and after
the commit; a reader that raced the move can keep the old answer for at most TTL_SECONDS.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

TTL_SECONDS = 10
_SHARED_BACKENDS = ("django.core.cache.backends.redis.RedisCache",)


def enabled() -> bool:
    return str(settings.CACHES["default"]["BACKEND"]) in _SHARED_BACKENDS


def _key(team_id: int, prompt_slug: str, label: str) -> str:
    # The label comes from the query string as the client sent it (any length, control characters, non-ASCII):
    # its digest keeps the key short and of safe characters whatever was asked, before it is known to exist.
    digest = hashlib.sha256(label.encode("utf-8", "surrogatepass")).hexdigest()
    return f"promptopt:resolve:{team_id}:{prompt_slug}:{digest}"


def resolved_get(*, team_id: int, prompt_slug: str, label: str) -> dict[str, Any] | None:
    if not enabled():
        return None
    found: dict[str, Any] | None = cache.get(_key(team_id, prompt_slug, label))
    return found


def resolved_put(*, team_id: int, prompt_slug: str, label: str, answer: dict[str, Any]) -> None:
    if enabled():
        cache.set(_key(team_id, prompt_slug, label), answer, TTL_SECONDS)


def resolved_forget(*, team_id: int, prompt_slug: str, labels: Iterable[str]) -> None:
    """Forget the answers for these labels now and again once the surrounding transaction commits."""
    if not enabled():
        return
    keys = [_key(team_id, prompt_slug, label) for label in labels]
    if not keys:
        return
    cache.delete_many(keys)
    transaction.on_commit(lambda: cache.delete_many(keys))
