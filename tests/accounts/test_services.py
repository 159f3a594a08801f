"""Teams, memberships and API keys: hashing, authentication, revocation and role rules."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection

from accounts.actors import Actor
from accounts.keys import hash_key, prefix_of
from accounts.models import ApiKey, ApiKeyScope, Membership, Role
from accounts.services import (
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
    membership_remove,
    membership_set,
    team_create,
    team_delete,
    team_update,
    user_create,
)
from promptopt.errors import ConflictError, PermissionDeniedError
from tests.factories import SYSTEM_ACTOR, UserFactory


def test_it_stores_only_a_prefix_and_a_peppered_hash_of_a_new_key(team, editor, settings):
    issued = api_key_create(team=team, name="ci", scope=ApiKeyScope.WRITE, actor=Actor.for_user(editor))

    stored = ApiKey.objects.get(pk=issued.api_key.pk)
    assert issued.raw_key.startswith(f"po_{stored.prefix}_")
    assert stored.key_hash == hash_key(issued.raw_key, pepper=settings.API_KEY_PEPPER)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apikey")
        row_text = " ".join(str(value) for value in cursor.fetchone())
    secret_part = issued.raw_key.split("_", 2)[2]
    assert secret_part not in row_text


def test_it_authenticates_a_valid_key_and_records_last_use(team, editor):
    issued = api_key_create(team=team, name="ci", actor=Actor.for_user(editor))

    found = api_key_authenticate(raw_key=issued.raw_key)

    assert found is not None and found.pk == issued.api_key.pk
    assert ApiKey.objects.get(pk=found.pk).last_used_at is not None


@pytest.mark.parametrize("mangle", [lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"), lambda k: "po_x_y", str.upper])
def test_it_rejects_a_wrong_or_malformed_key(team, editor, mangle):
    issued = api_key_create(team=team, name="ci", actor=Actor.for_user(editor))

    assert api_key_authenticate(raw_key=mangle(issued.raw_key)) is None


def test_it_rejects_a_key_hashed_with_another_pepper(team, editor, settings):
    issued = api_key_create(team=team, name="ci", actor=Actor.for_user(editor))
    settings.API_KEY_PEPPER = "a-different-pepper-that-is-long-enough-000"

    assert api_key_authenticate(raw_key=issued.raw_key) is None


def test_it_stops_authenticating_a_revoked_key(team, editor, owner):
    issued = api_key_create(team=team, name="ci", actor=Actor.for_user(editor))

    api_key_revoke(api_key=issued.api_key, actor=Actor.for_user(owner))

    assert api_key_authenticate(raw_key=issued.raw_key) is None
    revoked = ApiKey.objects.get(pk=issued.api_key.pk)
    assert revoked.revoked_at is not None and revoked.revoked_by == owner


def test_it_allows_reusing_the_name_of_a_revoked_key_but_not_an_active_one(team, editor):
    first = api_key_create(team=team, name="ci", actor=Actor.for_user(editor))
    with pytest.raises(ValidationError, match="already has an active API key with this name"):
        api_key_create(team=team, name="ci", actor=Actor.for_user(editor))
    api_key_revoke(api_key=first.api_key, actor=Actor.for_user(editor))

    second = api_key_create(team=team, name="ci", actor=Actor.for_user(editor))

    assert second.api_key.pk != first.api_key.pk


def test_it_refuses_key_creation_by_a_viewer_or_an_outsider(team, viewer, other_team):
    outsider = UserFactory()
    with pytest.raises(PermissionDeniedError):
        api_key_create(team=team, name="ci", actor=Actor.for_user(viewer))
    with pytest.raises(PermissionDeniedError):
        api_key_create(team=team, name="ci", actor=Actor.for_user(outsider))
    assert ApiKey.objects.count() == 0


def test_it_parses_only_well_formed_key_prefixes():
    assert prefix_of("po_0123456789_secret") == "0123456789"
    assert prefix_of("po_short_secret") is None
    assert prefix_of("xx_0123456789_secret") is None
    assert prefix_of("po_0123456789_") is None


def test_it_makes_the_creator_owner_of_a_new_team(db):
    user = UserFactory()

    team = team_create(name="Research Lab", actor=Actor.for_user(user))

    assert team.slug == "research-lab"
    assert Membership.objects.get(team=team, user=user).role == Role.OWNER


def test_it_never_removes_the_last_owner(team, owner):
    with pytest.raises(ConflictError, match="last owner"):
        membership_set(team=team, user=owner, role=Role.VIEWER, actor=Actor.for_user(owner))
    assert Membership.objects.get(team=team, user=owner).role == Role.OWNER


def test_it_lets_only_owners_change_memberships(team, owner, editor):
    newcomer = UserFactory()
    with pytest.raises(PermissionDeniedError):
        membership_set(team=team, user=newcomer, role=Role.VIEWER, actor=Actor.for_user(editor))

    membership = membership_set(team=team, user=newcomer, role=Role.EDITOR, actor=Actor.for_user(owner))

    assert membership.role == Role.EDITOR


def test_it_enforces_one_membership_per_user_and_team_in_the_database(team, editor):
    with pytest.raises(IntegrityError):
        Membership.objects.create(team=team, user=editor, role=Role.VIEWER)


def test_it_enforces_valid_roles_in_the_database(team):
    with pytest.raises(IntegrityError):
        Membership.objects.create(team=team, user=UserFactory(), role="emperor")


def test_it_renames_a_team_but_keeps_its_slug(team, owner, editor):
    with pytest.raises(PermissionDeniedError):
        team_update(team=team, name="Nope", actor=Actor.for_user(editor))

    renamed = team_update(team=team, name="Acme Research", actor=Actor.for_user(owner))

    assert (renamed.name, renamed.slug) == ("Acme Research", "acme")


def test_it_removes_members_but_not_the_last_owner(team, owner, editor, viewer):
    with pytest.raises(PermissionDeniedError):
        membership_remove(team=team, user=viewer, actor=Actor.for_user(editor))
    membership_remove(team=team, user=viewer, actor=Actor.for_user(owner))
    membership_remove(team=team, user=editor, actor=Actor.for_user(editor))  # leaving by oneself is allowed
    with pytest.raises(ConflictError, match="last owner"):
        membership_remove(team=team, user=owner, actor=Actor.for_user(owner))

    assert list(Membership.objects.filter(team=team).values_list("user__username", flat=True)) == ["olivia"]


def test_it_lets_only_an_owner_delete_a_team(team, owner, editor):
    with pytest.raises(PermissionDeniedError):
        team_delete(team=team, actor=Actor.for_user(editor))

    team_delete(team=team, actor=Actor.for_user(owner))

    assert not Membership.objects.filter(team_id=team.pk).exists()


def test_it_creates_a_user_with_a_hashed_password_or_none(db):
    user = user_create(
        username=" ada ", password="a long enough secret", email="ada@example.com", is_staff=True, actor=SYSTEM_ACTOR
    )
    service = user_create(username="ci-bot", password=None, actor=SYSTEM_ACTOR)

    assert (user.username, user.is_staff, user.check_password("a long enough secret")) == ("ada", True, True)
    assert "a long enough secret" not in user.password
    assert not service.has_usable_password()


def test_only_the_system_and_superusers_create_users(editor, superuser):
    with pytest.raises(PermissionDeniedError, match="may not create users"):
        user_create(username="mallory", password=None, actor=Actor.for_user(editor))

    assert user_create(username="grace", password=None, actor=Actor.for_user(superuser)).username == "grace"


def test_a_key_cannot_issue_keys_but_can_revoke_itself(team, owner):
    write_key = api_key_create(team=team, name="ci", scope=ApiKeyScope.WRITE, actor=Actor.for_user(owner)).api_key
    other_key = api_key_create(team=team, name="other", actor=Actor.for_user(owner)).api_key
    as_key = Actor.for_api_key(write_key)

    with pytest.raises(PermissionDeniedError, match="cannot issue API keys"):
        api_key_create(team=team, name="minted", actor=as_key)
    with pytest.raises(PermissionDeniedError, match="can only revoke itself"):
        api_key_revoke(api_key=other_key, actor=as_key)
    assert api_key_revoke(api_key=write_key, actor=as_key).revoked_at is not None
