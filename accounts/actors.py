"""Who acts: a signed-in user, a team's API key, or the system itself; and what each may see and change.

Every service takes an Actor. There is no "no actor" value that skips the checks: a command or a worker acts
as `Actor.system(...)`, which says so in audit logs, and a request acts as its user or its API key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth.models import AnonymousUser, User

from accounts.models import WRITER_ROLES, ApiKey, Membership, Role, Team
from promptopt.errors import PermissionDeniedError

if TYPE_CHECKING:
    from django.db.models import QuerySet


@dataclass(frozen=True, eq=False)
class Actor:
    """A user, an API key, or the system (with a reason); build one with the class methods.

    The system may act on behalf of a user or key (a worker saving the winner of a run someone started):
    then they are recorded in audit fields, but the permission is the system's.
    """

    user: User | None = None
    api_key: ApiKey | None = None
    system_reason: str = ""

    def __post_init__(self) -> None:
        if not self.system_reason and (self.user is None) == (self.api_key is None):
            raise ValueError("an Actor is exactly one of a user, an API key or the system (with a reason)")

    @classmethod
    def for_user(cls, user: User | AnonymousUser) -> Actor:
        if not isinstance(user, User):
            raise PermissionDeniedError("sign in first")
        return cls(user=user)

    @classmethod
    def for_api_key(cls, api_key: ApiKey) -> Actor:
        return cls(api_key=api_key)

    @classmethod
    def system(
        cls, reason: str, *, on_behalf_of_user: User | None = None, on_behalf_of_key: ApiKey | None = None
    ) -> Actor:
        """The platform itself: a management command run by an operator, or a worker finishing a run."""
        if not reason:
            raise ValueError("the system acts for a reason; say which")
        return cls(user=on_behalf_of_user, api_key=on_behalf_of_key, system_reason=reason)

    @property
    def is_system(self) -> bool:
        return bool(self.system_reason)

    @property
    def audit_user(self) -> User | None:
        """The user to record in `created_by`-style fields."""
        return self.user

    @property
    def audit_api_key(self) -> ApiKey | None:
        """The API key to record beside it (`created_by_api_key`-style fields)."""
        return self.api_key

    def __str__(self) -> str:
        if self.is_system:
            return f"system ({self.system_reason})"
        if self.user is not None:
            return self.user.get_username()
        return f"API key {self.api_key}"

    # --- what the actor may do -------------------------------------------------------------------------

    def _active_user(self) -> User | None:
        user = self.user
        return user if user is not None and user.is_active else None

    def visible_teams(self) -> QuerySet[Team] | None:
        """The teams whose objects the actor may read; None means every team (the system, superusers)."""
        if self.is_system:
            return None
        if self.api_key is not None:
            if self.api_key.revoked_at is not None:
                return Team.objects.none()
            return Team.objects.filter(pk=self.api_key.team_id)
        user = self._active_user()
        if user is None:
            return Team.objects.none()
        if user.is_superuser:
            return None
        return Team.objects.filter(memberships__user=user)

    def writable_teams(self) -> QuerySet[Team] | None:
        """The teams the actor may change; None means every team."""
        if self.is_system:
            return None
        if self.api_key is not None:
            if self.api_key.revoked_at is not None or not self.api_key.can_write:
                return Team.objects.none()
            return Team.objects.filter(pk=self.api_key.team_id)
        user = self._active_user()
        if user is None:
            return Team.objects.none()
        if user.is_superuser:
            return None
        return Team.objects.filter(memberships__user=user, memberships__role__in=WRITER_ROLES)

    def role_in(self, team: Team) -> Role | None:
        user = self._active_user()
        if user is None:
            return None
        role = Membership.objects.filter(user=user, team=team).values_list("role", flat=True).first()
        return Role(role) if role else None

    def can_read(self, team: Team) -> bool:
        teams = self.visible_teams()
        return teams is None or teams.filter(pk=team.pk).exists()

    def can_write(self, team: Team) -> bool:
        teams = self.writable_teams()
        return teams is None or teams.filter(pk=team.pk).exists()

    def is_owner_of(self, team: Team) -> bool:
        if self.is_system:
            return True
        user = self._active_user()
        if user is None:
            return False
        return user.is_superuser or self.role_in(team) == Role.OWNER


def ensure_can_write(actor: Actor, team: Team) -> None:
    """Refuse a change unless the actor is an owner or editor of the team, or a write key of it."""
    if not actor.can_write(team):
        if actor.api_key is not None:
            raise PermissionDeniedError(f"{actor} may not change team {team.slug!r} (it needs a write key)")
        raise PermissionDeniedError(f"{actor} may not change team {team.slug!r} (needs the owner or editor role)")


def ensure_owner(actor: Actor, team: Team) -> None:
    if not actor.is_owner_of(team):
        raise PermissionDeniedError(f"only an owner of {team.slug!r} can do this")
