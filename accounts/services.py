"""Writes for teams, memberships and API keys; every change to these goes through here."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts import keys
from accounts.actors import Actor, ensure_can_write, ensure_owner
from accounts.audit import audit_record
from accounts.models import ApiKey, ApiKeyScope, AuditAction, Membership, Role, Team
from promptopt.errors import ConflictError, PermissionDeniedError

# last_used_at is for humans ("is this key still used?"); writing it on every request would be waste.
LAST_USED_RESOLUTION_SECONDS = 60


def _ensure_user_admin(actor: Actor) -> None:
    """Creating logins is for the system (a command) and superusers, not for team roles or keys."""
    if not (actor.is_system or (actor.user is not None and actor.user.is_active and actor.user.is_superuser)):
        raise PermissionDeniedError(f"{actor} may not create users")


@transaction.atomic
def user_create(*, username: str, password: str | None, email: str = "", is_staff: bool = False, actor: Actor) -> User:
    """A new login. `is_staff` lets the user into the admin, where their team roles decide what they see."""
    _ensure_user_admin(actor)
    user = User(username=username.strip(), email=email.strip(), is_staff=is_staff)
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.full_clean()
    user.save()
    return user


@transaction.atomic
def team_create(*, name: str, slug: str | None = None, actor: Actor, owner: User | None = None) -> Team:
    """A new team; its owner is the user who creates it (the system may name one, or none)."""
    if not actor.is_system:
        if actor.user is None or not actor.user.is_active:
            raise PermissionDeniedError(f"{actor} may not create teams; sign in as a person")
        owner = actor.user
    team = Team(name=name.strip(), slug=slug or slugify(name))
    team.full_clean()
    team.save()
    if owner is not None:
        membership = Membership(team=team, user=owner, role=Role.OWNER)
        membership.full_clean()
        membership.save()
        _audit_membership(membership, previous_role=None, actor=actor)
    return team


@transaction.atomic
def team_update(*, team: Team, name: str, actor: Actor) -> Team:
    """Rename a team; its slug stays, because API clients and commands refer to teams by slug."""
    ensure_owner(actor, team)
    team.name = name.strip()
    team.full_clean()
    team.save(update_fields=["name"])
    return team


@transaction.atomic
def team_delete(*, team: Team, actor: Actor) -> None:
    """Delete a team with everything it owns (prompts, datasets, runs, keys); owners and superusers only."""
    ensure_owner(actor, team)
    team.delete()


@transaction.atomic
def membership_set(*, team: Team, user: User, role: Role, actor: Actor) -> Membership:
    """Add a user to a team or change their role; a team never loses its last owner."""
    ensure_owner(actor, team)
    # Lock the team's memberships so two concurrent demotions cannot both see "another owner exists".
    existing = list(Membership.objects.select_for_update().filter(team=team))
    current = next((m for m in existing if m.user_id == user.pk), None)
    owners = sum(1 for m in existing if m.role == Role.OWNER)
    if current is not None and current.role == Role.OWNER and role != Role.OWNER and owners == 1:
        raise ConflictError(f"{user} is the last owner of {team.slug!r}; make someone else owner first")
    previous_role = current.role if current is not None else None
    if current is None:
        current = Membership(team=team, user=user, role=role)
    current.role = role
    current.full_clean()
    current.save()
    if previous_role != role:
        _audit_membership(current, previous_role=previous_role, actor=actor)
    return current


def _audit_membership(membership: Membership, *, previous_role: str | None, actor: Actor) -> None:
    username = membership.user.get_username()
    change = f"{previous_role} → {membership.role}" if previous_role else f"added as {membership.role}"
    audit_record(
        team=membership.team,
        action=AuditAction.MEMBERSHIP_SET,
        actor=actor,
        target=f"{username}: {change}",
        details={"username": username, "role": membership.role, "previous_role": previous_role},
    )


@transaction.atomic
def membership_remove(*, team: Team, user: User, actor: Actor) -> None:
    """Take a user out of a team; the last owner cannot be removed."""
    if actor.is_system or actor.user is None or actor.user.pk != user.pk:  # anyone may leave a team themselves
        ensure_owner(actor, team)
    memberships = list(Membership.objects.select_for_update().filter(team=team))
    current = next((m for m in memberships if m.user_id == user.pk), None)
    if current is None:
        return
    if current.role == Role.OWNER and sum(1 for m in memberships if m.role == Role.OWNER) == 1:
        raise ConflictError(f"{user} is the last owner of {team.slug!r}; make someone else owner first")
    current.delete()
    audit_record(
        team=team,
        action=AuditAction.MEMBERSHIP_REMOVE,
        actor=actor,
        target=f"{user.get_username()} (was {current.role})",
        details={"username": user.get_username(), "previous_role": current.role},
    )


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    raw_key: str  # shown to the user once; never stored


@transaction.atomic
def api_key_create(*, team: Team, name: str, scope: ApiKeyScope = ApiKeyScope.READ, actor: Actor) -> IssuedApiKey:
    """A new key; only people (owners and editors) issue keys, so a leaked key cannot mint more."""
    if actor.api_key is not None and not actor.is_system:
        raise PermissionDeniedError("an API key cannot issue API keys; sign in as a person")
    ensure_can_write(actor, team)
    generated = keys.generate_key()
    api_key = ApiKey(
        team=team,
        name=name.strip(),
        scope=scope,
        prefix=generated.prefix,
        key_hash=keys.hash_key(generated.raw_key, pepper=settings.API_KEY_PEPPER),
        created_by=actor.audit_user,
    )
    api_key.full_clean()
    api_key.save()
    audit_record(
        team=team,
        action=AuditAction.API_KEY_CREATE,
        actor=actor,
        target=f"{api_key.name} ({api_key.prefix}…, {api_key.scope})",
        details={"prefix": api_key.prefix, "name": api_key.name, "scope": api_key.scope},
    )
    return IssuedApiKey(api_key=api_key, raw_key=generated.raw_key)


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: Actor) -> ApiKey:
    """Revoke a key; a key may revoke itself (a leaked key can be killed with itself), not others."""
    if actor.api_key is not None and not actor.is_system and actor.api_key.pk != api_key.pk:
        raise PermissionDeniedError("an API key can only revoke itself")
    if actor.api_key is None or actor.is_system:
        ensure_can_write(actor, api_key.team)
    now = timezone.now()
    # Conditional, so two revocations at once change the key (and write the audit line) exactly once.
    revoked = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=actor.audit_user
    )
    api_key.refresh_from_db(fields=["revoked_at", "revoked_by"])
    if not revoked:
        return api_key
    audit_record(
        team=api_key.team,
        action=AuditAction.API_KEY_REVOKE,
        actor=actor,
        target=f"{api_key.name} ({api_key.prefix}…)",
        details={"prefix": api_key.prefix, "name": api_key.name},
    )
    return api_key


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    """The active key matching `raw_key`, or None; compares hashes in constant time."""
    prefix = keys.prefix_of(raw_key)
    if prefix is None:
        return None
    # order_by(): the prefix is unique, and the model's ordering would join the team only to sort one row.
    api_key = ApiKey.objects.active().select_related("team").filter(prefix=prefix).order_by().first()
    if api_key is None or not keys.key_matches(raw_key, api_key.key_hash, pepper=settings.API_KEY_PEPPER):
        return None
    now = timezone.now()
    if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
