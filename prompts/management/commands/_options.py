"""Argument helpers shared by the prompts management commands."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.management.base import CommandError

from accounts.actors import Actor
from accounts.models import Team
from accounts.selectors import team_get_by_slug
from promptopt.errors import PromptOptError


def resolve_team(slug: str) -> Team:
    team = team_get_by_slug(slug=slug)
    if team is None:
        known = ", ".join(Team.objects.values_list("slug", flat=True)[:20]) or "none yet"
        raise CommandError(f"--team: no team with slug {slug!r} (teams: {known})")
    return team


def resolve_actor(username: str | None, command: str) -> Actor:
    """Who a command acts as: `--as USER` (with that user's roles), otherwise the system itself, since an
    operator at the server's console may already do anything."""
    if not username:
        return Actor.system(f"manage.py {command}")
    user: User | None = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"--as: no user named {username!r}")
    return Actor.for_user(user)


def error_messages(error: ValidationError | PromptOptError) -> list[str]:
    """Readable lines for a service error, naming the field where the error has one."""
    if isinstance(error, PromptOptError):
        return [str(error)]
    if hasattr(error, "error_dict"):
        return [
            message if field == NON_FIELD_ERRORS else f"{field}: {message}"
            for field, messages in error.message_dict.items()
            for message in messages
        ]
    return [str(message) for message in error.messages]
