"""`Idempotency-Key` for creation requests: a client may retry a POST that timed out without starting a
second run (and paying for it twice). The first answer is stored per actor and key and replayed for a day;
the same key with a different request is refused."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.actors import Actor
from accounts.models import Team
from promptopt.errors import ConflictError, InvalidInputError
from promptopt.input_limits import text_problem
from workflows.models import IdempotencyRecord

HEADER = "Idempotency-Key"
KEEP_FOR = timedelta(days=1)
# A first request still "in progress" after this long died with its process (say, a web worker's timeout):
# a retry takes its key over rather than being told "in progress" for a day.
PENDING_FOR_AT_MOST = timedelta(minutes=2)
MAX_KEY_CHARS = 255


def _actor_key(actor: Actor) -> str:
    if actor.api_key is not None:
        return f"key:{actor.api_key.pk}"
    if actor.user is not None:
        return f"user:{actor.user.pk}"
    return "system"


def _fingerprint(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _claim(*, team: Team, actor: str, key: str, fingerprint: str) -> tuple[IdempotencyRecord, bool]:
    """The record for this key, and whether this request created it (and so must do the work)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            # Every actor's expired records go, so the table holds about a day of creations at most.
            IdempotencyRecord.objects.filter(created_at__lt=now - KEEP_FOR).delete()
            record, created = IdempotencyRecord.objects.get_or_create(
                actor=actor, key=key, defaults={"team": team, "fingerprint": fingerprint}
            )
    except IntegrityError:  # a concurrent first request with the same key won the insert
        return IdempotencyRecord.objects.get(actor=actor, key=key), False
    if created:
        return record, True
    # An abandoned first request: the conditional update lets exactly one retry take the key over.
    taken_over = IdempotencyRecord.objects.filter(
        pk=record.pk, status_code=0, created_at__lt=now - PENDING_FOR_AT_MOST
    ).update(fingerprint=fingerprint, created_at=now)
    if taken_over:
        record.refresh_from_db()
        return record, True
    return record, False


def idempotent(*, request: Request, actor: Actor, team: Team, create: Callable[[], Response]) -> Response:
    """`create()` once per Idempotency-Key (when the request has one); a repeat replays the stored answer."""
    key = request.headers.get(HEADER)
    if key is None:
        return create()
    problem = text_problem(key, max_chars=MAX_KEY_CHARS)
    if problem is not None or not key.strip():
        raise InvalidInputError(f"{HEADER}: {problem or 'is empty'}")
    fingerprint = _fingerprint(request)
    record, first = _claim(team=team, actor=_actor_key(actor), key=key, fingerprint=fingerprint)
    if not first:
        if record.fingerprint != fingerprint:
            raise ConflictError(f"{HEADER} {key!r} was used for a different request; use a new key for a new request")
        if record.status_code == 0:
            raise ConflictError(f"the first request with {HEADER} {key!r} is still being processed; retry shortly")
        return Response(record.response, status=record.status_code, headers={"Idempotent-Replayed": "true"})
    try:
        response = create()
    except BaseException:
        # Nothing was created: the key is free again, so the client can fix the request and retry.
        IdempotencyRecord.objects.filter(pk=record.pk).delete()
        raise
    IdempotencyRecord.objects.filter(pk=record.pk).update(status_code=response.status_code, response=response.data)
    return response
