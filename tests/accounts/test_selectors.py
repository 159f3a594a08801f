"""Team visibility: users see their own teams, superusers all, and inactive users none."""

from __future__ import annotations

from accounts.models import Role
from accounts.selectors import team_list_for_user, user_can_write, writable_team_list_for_user
from tests.factories import MembershipFactory


def test_it_lists_only_the_users_own_teams(team, other_team, editor):
    assert list(team_list_for_user(user=editor)) == [team]


def test_it_lists_every_team_for_a_superuser(team, other_team, superuser):
    assert set(team_list_for_user(user=superuser)) == {team, other_team}


def test_it_lists_nothing_for_an_inactive_user(team, editor):
    editor.is_active = False
    editor.save()
    assert list(team_list_for_user(user=editor)) == []


def test_it_separates_readable_from_writable_teams(team, other_team, viewer):
    MembershipFactory(team=other_team, user=viewer, role=Role.EDITOR)

    assert set(team_list_for_user(user=viewer)) == {team, other_team}
    assert list(writable_team_list_for_user(user=viewer)) == [other_team]
    assert not user_can_write(user=viewer, team=team)
    assert user_can_write(user=viewer, team=other_team)
