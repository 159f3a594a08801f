"""The admin for teams, memberships and API keys: team scoping, role permissions, writes through services."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts import keys
from accounts.actors import Actor
from accounts.models import ApiKey, ApiKeyScope, Membership, Role, Team
from accounts.services import api_key_authenticate, api_key_create
from tests.factories import SYSTEM_ACTOR, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def api_key(team, owner):
    return api_key_create(team=team, name="CI", scope=ApiKeyScope.WRITE, actor=Actor.for_user(owner)).api_key


@pytest.fixture
def foreign_objects(other_team):
    """Another team's membership and key, which Acme's staff must never see."""
    stranger = MembershipFactory(team=other_team, user=UserFactory(username="gina"), role=Role.OWNER).user
    key = api_key_create(team=other_team, name="Globex key", actor=Actor.for_user(stranger)).api_key
    return {"team": other_team, "membership": Membership.objects.get(user=stranger), "apikey": key}


def _own_object(model_name, team, owner, api_key):
    if model_name == "team":
        return team
    if model_name == "membership":
        return Membership.objects.get(team=team, user=owner)
    return api_key


@pytest.mark.parametrize("model_name", ["team", "membership", "apikey"])
def test_it_renders_every_accounts_admin_page(client, signed_in, model_name, team, owner, api_key):
    obj = _own_object(model_name, team, owner, api_key)

    changelist = client.get(reverse(f"admin:accounts_{model_name}_changelist"))
    add = client.get(reverse(f"admin:accounts_{model_name}_add"))
    change = client.get(reverse(f"admin:accounts_{model_name}_change", args=[obj.pk]))

    assert (changelist.status_code, add.status_code, change.status_code) == (200, 200, 200)
    assert obj.pk in [row.pk for row in changelist.context["cl"].result_list]


@pytest.mark.parametrize("model_name", ["team", "membership", "apikey"])
def test_it_hides_other_teams_objects_from_team_staff(client, staff_editor, foreign_objects, model_name):
    client.force_login(staff_editor)
    foreign = foreign_objects[model_name]

    changelist = client.get(reverse(f"admin:accounts_{model_name}_changelist"))
    change = client.get(reverse(f"admin:accounts_{model_name}_change", args=[foreign.pk]))

    assert foreign.pk not in [obj.pk for obj in changelist.context["cl"].result_list]
    assert change.status_code == 302
    assert change.url == reverse("admin:index")
    assert _messages(change)[0].endswith("exist. Perhaps it was deleted?")


def test_it_shows_superusers_every_team(client, superuser, team, foreign_objects):
    client.force_login(superuser)

    response = client.get(reverse("admin:accounts_team_changelist"))

    assert sorted(obj.slug for obj in response.context["cl"].result_list) == ["acme", "globex"]


def test_it_lets_a_viewer_look_but_not_add(client, staff_viewer, team, api_key):
    client.force_login(staff_viewer)

    changelist = client.get(reverse("admin:accounts_apikey_changelist"))
    view = client.get(reverse("admin:accounts_apikey_change", args=[api_key.pk]))
    add = client.get(reverse("admin:accounts_apikey_add"))

    assert (changelist.status_code, view.status_code, add.status_code) == (200, 200, 403)
    assert 'name="_save"' not in view.content.decode()
    assert "revoke_keys" not in changelist.content.decode()  # no actions for a viewer


def test_it_keeps_non_staff_members_out_of_the_admin(client, editor):
    client.force_login(editor)

    response = client.get(reverse("admin:accounts_team_changelist"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_it_creates_a_team_through_the_service_with_the_user_as_owner(client, staff_editor):
    client.force_login(staff_editor)

    response = client.post(reverse("admin:accounts_team_add"), {"name": "Initech", "slug": ""})

    team = Team.objects.get(name="Initech")
    assert response.status_code == 302
    assert team.slug == "initech"
    assert list(Membership.objects.filter(team=team).values_list("user__username", "role")) == [("eddie", "owner")]


def test_it_shows_a_duplicate_team_slug_as_a_form_error(client, staff_editor, team):
    client.force_login(staff_editor)

    response = client.post(reverse("admin:accounts_team_add"), {"name": "Acme", "slug": ""})

    assert response.status_code == 200
    assert "slug" in response.context["adminform"].form.errors
    assert Team.objects.filter(name="Acme").count() == 1


def test_it_lets_an_owner_rename_a_team_but_only_superusers_delete_it(client, staff_owner, superuser, team):
    client.force_login(staff_owner)
    management = {f"memberships-{f}": 0 for f in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS")}
    rename = client.post(reverse("admin:accounts_team_change", args=[team.pk]), {"name": "Acme Labs", **management})
    staff_delete = client.get(reverse("admin:accounts_team_delete", args=[team.pk]))
    renamed = Team.objects.get(pk=team.pk)
    client.force_login(superuser)
    superuser_delete = client.post(reverse("admin:accounts_team_delete", args=[team.pk]), {"post": "yes"})

    assert rename.status_code == 302
    assert (renamed.name, renamed.slug) == ("Acme Labs", "acme")
    assert staff_delete.status_code == 403
    assert superuser_delete.status_code == 302
    assert not Team.objects.filter(pk=team.pk).exists()


def test_it_offers_only_writable_teams_in_dropdowns(client, staff_editor, team, other_team):
    MembershipFactory(team=other_team, user=staff_editor, role=Role.VIEWER)
    client.force_login(staff_editor)

    response = client.get(reverse("admin:accounts_apikey_add"))

    assert list(response.context["adminform"].form.fields["team"].queryset) == [team]


def test_it_changes_a_role_through_the_service(client, staff_owner, editor, team):
    client.force_login(staff_owner)
    membership = Membership.objects.get(team=team, user=editor)

    response = client.post(reverse("admin:accounts_membership_change", args=[membership.pk]), {"role": "viewer"})

    membership.refresh_from_db()
    assert response.status_code == 302
    assert membership.role == Role.VIEWER


def test_it_adds_a_member_by_username_or_email_through_the_service(client, staff_owner, team):
    newcomer = UserFactory(username="nina")
    colleague = UserFactory(username="carl", email="Carl@Example.com")
    client.force_login(staff_owner)
    url = reverse("admin:accounts_membership_add")

    by_name = client.post(url, {"team": team.pk, "member": "nina", "role": "editor"})
    by_email = client.post(url, {"team": team.pk, "member": "carl@example.com", "role": "viewer"})
    unknown = client.post(url, {"team": team.pk, "member": "nobody", "role": "viewer"})

    assert (by_name.status_code, by_email.status_code) == (302, 302)
    assert Membership.objects.get(team=team, user=newcomer).role == Role.EDITOR
    assert Membership.objects.get(team=team, user=colleague).role == Role.VIEWER
    assert unknown.context["adminform"].form.errors["member"] == ["No active user has this username or e-mail address."]


def test_it_does_not_list_the_installations_users_on_the_add_member_page(client, staff_owner, team):
    UserFactory(username="stranger-from-another-team")
    client.force_login(staff_owner)

    page = client.get(reverse("admin:accounts_membership_add")).content.decode()

    assert "stranger-from-another-team" not in page


def test_it_shows_the_services_refusal_when_an_editor_changes_roles(client, staff_editor, owner, team):
    client.force_login(staff_editor)
    membership = Membership.objects.get(team=team, user=owner)

    response = client.post(reverse("admin:accounts_membership_change", args=[membership.pk]), {"role": "viewer"})

    membership.refresh_from_db()
    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == ["only an owner of 'acme' can do this"]
    assert membership.role == Role.OWNER


def test_it_refuses_to_demote_the_last_owner(client, staff_owner, team):
    client.force_login(staff_owner)
    membership = Membership.objects.get(team=team, user=staff_owner)

    response = client.post(reverse("admin:accounts_membership_change", args=[membership.pk]), {"role": "editor"})

    membership.refresh_from_db()
    assert response.status_code == 200
    assert "last owner" in response.context["adminform"].form.non_field_errors()[0]
    assert membership.role == Role.OWNER


def test_it_shows_a_new_api_key_once_and_stores_only_its_hash(client, staff_editor, team):
    client.force_login(staff_editor)

    response = client.post(reverse("admin:accounts_apikey_add"), {"team": team.pk, "name": "Deploy", "scope": "write"})
    page = response.content.decode()
    raw_key = re.search(r"po_[0-9a-f]{10}_[A-Za-z0-9_-]+", page).group(0)
    list_page = client.get(reverse("admin:accounts_apikey_changelist")).content.decode()

    api_key = ApiKey.objects.get(name="Deploy")
    assert response.status_code == 200 and "will not be shown again" in page
    assert "no-store" in response["Cache-Control"]
    assert (api_key.team, api_key.scope, api_key.created_by) == (team, ApiKeyScope.WRITE, staff_editor)
    assert api_key.key_hash == keys.hash_key(raw_key, pepper=settings.API_KEY_PEPPER)
    assert api_key_authenticate(raw_key=raw_key) == api_key
    assert raw_key not in list_page
    secret = raw_key.split("_", 2)[2]
    assert all(secret not in value for value in response.cookies.values())  # not in the messages cookie
    for model in apps.get_models():
        for row in model._default_manager.values_list():
            assert all(secret not in str(value) for value in row), f"{model.__name__} stores the raw key"
    assert LogEntry.objects.filter(object_id=str(api_key.pk)).count() == 1


def test_it_never_shows_the_key_hash(client, superuser, api_key):
    client.force_login(superuser)

    response = client.get(reverse("admin:accounts_apikey_change", args=[api_key.pk]))

    assert api_key.key_hash not in response.content.decode()
    assert api_key.prefix in response.content.decode()


def test_it_revokes_selected_keys(client, staff_editor, api_key, team):
    other_key = api_key_create(team=team, name="Spare", actor=SYSTEM_ACTOR).api_key
    client.force_login(staff_editor)

    response = client.post(
        reverse("admin:accounts_apikey_changelist"), {"action": "revoke_keys", "_selected_action": [api_key.pk]}
    )

    api_key.refresh_from_db()
    other_key.refresh_from_db()
    assert response.status_code == 302
    assert api_key.revoked_at is not None
    assert api_key.revoked_by == staff_editor
    assert other_key.revoked_at is None
    assert "Revoked 1 API key." in _messages(response)


def test_it_does_not_let_a_viewer_revoke_keys(client, staff_viewer, api_key):
    client.force_login(staff_viewer)

    client.post(
        reverse("admin:accounts_apikey_changelist"), {"action": "revoke_keys", "_selected_action": [api_key.pk]}
    )

    api_key.refresh_from_db()
    assert api_key.revoked_at is None


def test_it_removes_a_member_through_the_service_but_never_the_last_owner(client, staff_owner, editor, team):
    client.force_login(staff_owner)
    editor_membership = Membership.objects.get(team=team, user=editor)
    owner_membership = Membership.objects.get(team=team, user=staff_owner)

    removed = client.post(reverse("admin:accounts_membership_delete", args=[editor_membership.pk]), {"post": "yes"})
    refused = client.post(
        reverse("admin:accounts_membership_delete", args=[owner_membership.pk]), {"post": "yes"}, follow=True
    )

    assert removed.status_code == 302
    assert not Membership.objects.filter(pk=editor_membership.pk).exists()
    assert Membership.objects.filter(pk=owner_membership.pk).exists()
    assert any("last owner" in str(message) for message in refused.context["messages"])


def test_it_preselects_the_only_team_a_member_can_write_to(client, staff_editor, team):
    client.force_login(staff_editor)

    form = client.get(reverse("admin:accounts_apikey_add")).context["adminform"].form

    assert form.fields["team"].initial == team.pk
