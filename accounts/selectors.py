"""Reads about teams, memberships and API keys, always scoped to what the acting user or key may see."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.actors import Actor
from accounts.models import ApiKey, Team
from accounts.scope import visible_to, writable_by
from promptopt.errors import NotFoundError


def team_list_visible_to(*, actor: Actor) -> QuerySet[Team]:
    """Teams the actor belongs to (a key: its own team); the system and superusers see every team."""
    return visible_to(Team, actor)


def team_list_writable_by(*, actor: Actor) -> QuerySet[Team]:
    return writable_by(Team, actor)


def team_get(*, actor: Actor, slug: str) -> Team:
    """The team with this slug, if the actor may see it; another team answers as if it did not exist."""
    team = team_list_visible_to(actor=actor).filter(slug=slug).first()
    if team is None:
        raise NotFoundError(f"no team {slug!r}")
    return team


def team_get_by_slug(*, slug: str) -> Team | None:
    """Unscoped: for operator commands, which act as the system and name the team on the command line."""
    return Team.objects.filter(slug=slug).first()


def api_key_list(*, actor: Actor, team: Team, include_revoked: bool = False) -> QuerySet[ApiKey]:
    keys = visible_to(ApiKey, actor).filter(team=team).select_related("team")
    return keys if include_revoked else keys.filter(revoked_at__isnull=True)
