"""What an actor may see and change: users their own teams, superusers and the system all, inactive users and
revoked keys nothing, keys their own team (writes only with the write scope)."""

from __future__ import annotations

import pytest

from accounts.actors import Actor
from accounts.models import ApiKeyScope, Role
from accounts.scope import visible_to, writable_by
from accounts.selectors import team_get, team_list_visible_to, team_list_writable_by
from accounts.services import api_key_create, api_key_revoke
from promptopt.errors import NotFoundError
from prompts.models import Prompt
from tests.factories import SYSTEM_ACTOR, MembershipFactory, PromptFactory


def test_it_lists_only_the_users_own_teams(team, other_team, editor):
    assert list(team_list_visible_to(actor=Actor.for_user(editor))) == [team]


def test_it_lists_every_team_for_a_superuser_and_the_system(team, other_team, superuser):
    assert set(team_list_visible_to(actor=Actor.for_user(superuser))) == {team, other_team}
    assert set(team_list_visible_to(actor=SYSTEM_ACTOR)) == {team, other_team}


def test_it_lists_nothing_for_an_inactive_user(team, editor):
    editor.is_active = False
    editor.save()
    assert list(team_list_visible_to(actor=Actor.for_user(editor))) == []


def test_it_separates_readable_from_writable_teams(team, other_team, viewer):
    MembershipFactory(team=other_team, user=viewer, role=Role.EDITOR)
    actor = Actor.for_user(viewer)

    assert set(team_list_visible_to(actor=actor)) == {team, other_team}
    assert list(team_list_writable_by(actor=actor)) == [other_team]
    assert not actor.can_write(team)
    assert actor.can_write(other_team)


def test_it_answers_another_teams_slug_as_not_found(team, other_team, editor):
    assert team_get(actor=Actor.for_user(editor), slug="acme") == team
    with pytest.raises(NotFoundError, match="no team 'globex'"):
        team_get(actor=Actor.for_user(editor), slug="globex")


@pytest.mark.parametrize(("scope", "writes"), [(ApiKeyScope.READ, False), (ApiKeyScope.WRITE, True)])
def test_a_key_sees_its_own_team_and_writes_only_with_the_write_scope(team, other_team, owner, scope, writes):
    mine, _theirs = PromptFactory(team=team), PromptFactory(team=other_team)
    key = api_key_create(team=team, name="ci", scope=scope, actor=Actor.for_user(owner)).api_key
    actor = Actor.for_api_key(key)

    assert list(visible_to(Prompt, actor)) == [mine]
    assert list(writable_by(Prompt, actor)) == ([mine] if writes else [])


def test_a_revoked_key_sees_nothing(team, owner):
    PromptFactory(team=team)
    key = api_key_create(team=team, name="ci", scope=ApiKeyScope.WRITE, actor=Actor.for_user(owner)).api_key
    api_key_revoke(api_key=key, actor=Actor.for_user(owner))

    assert list(visible_to(Prompt, Actor.for_api_key(key))) == []


def test_an_actor_is_exactly_one_kind(editor):
    with pytest.raises(ValueError, match="exactly one"):
        Actor()
    with pytest.raises(ValueError, match="for a reason"):
        Actor.system("")
