"""The audit log: services record label moves, version creation, key issue and revocation, run start and cancel,
and membership changes here, inside their own transaction; team owners read it (UI, API, admin)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.actors import Actor, ensure_owner
from accounts.models import AuditAction, AuditEvent, Team
from accounts.scope import visible_to
from promptopt.surface import current_surface

_TARGET_LENGTH = AuditEvent._meta.get_field("target").max_length or 300


def audit_record(
    *, team: Team, action: AuditAction, actor: Actor, target: str, details: dict[str, Any] | None = None
) -> AuditEvent:
    """Record a change the caller is making. Call it inside the change's transaction, so a change that rolls
    back leaves no line and a line never describes a change that did not happen."""
    return AuditEvent.objects.create(
        team=team,
        action=action,
        surface=current_surface(),
        actor=str(actor)[:200],
        actor_user=actor.user,
        actor_api_key=actor.api_key,
        target=target[:_TARGET_LENGTH],
        details=details or {},
    )


def audit_event_list(*, actor: Actor, team: Team) -> QuerySet[AuditEvent]:
    """The team's audit log, newest first; for its owners (and superusers) only: it names every member's
    actions, which editors and viewers have no need to see."""
    ensure_owner(actor, team)
    return visible_to(AuditEvent, actor).filter(team=team).select_related("actor_user", "actor_api_key")
