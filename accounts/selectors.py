"""Reads about teams, roles and API keys, always scoped to what the asking user may see."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from accounts.models import WRITER_ROLES, ApiKey, Membership, Role, Team

AnyUser = User | AnonymousUser


def team_list_for_user(*, user: AnyUser) -> QuerySet[Team]:
    """Teams the user belongs to; superusers see every team."""
    if not user.is_authenticated or not user.is_active:
        return Team.objects.none()
    if getattr(user, "is_superuser", False):
        return Team.objects.all()
    return Team.objects.filter(memberships__user=user).distinct()


def writable_team_list_for_user(*, user: AnyUser) -> QuerySet[Team]:
    if not user.is_authenticated or not user.is_active:
        return Team.objects.none()
    if getattr(user, "is_superuser", False):
        return Team.objects.all()
    return Team.objects.filter(memberships__user=user, memberships__role__in=WRITER_ROLES).distinct()


def membership_role(*, user: AnyUser, team: Team) -> Role | None:
    if not user.is_authenticated:
        return None
    role = Membership.objects.filter(user=user, team=team).values_list("role", flat=True).first()
    return Role(role) if role else None


def user_can_write(*, user: AnyUser, team: Team) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if getattr(user, "is_superuser", False):
        return True
    return membership_role(user=user, team=team) in WRITER_ROLES


def team_get_by_slug(*, slug: str) -> Team | None:
    return Team.objects.filter(slug=slug).first()


def api_key_list(*, team: Team, include_revoked: bool = False) -> QuerySet[ApiKey]:
    keys = ApiKey.objects.filter(team=team).select_related("team")
    return keys if include_revoked else keys.active()
