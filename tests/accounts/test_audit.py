"""The audit log: every audited change leaves one line naming who, what, when and the surface it came through,
in the same transaction as the change; only the team's owners read it, in the UI, the API and the admin."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.actors import Actor
from accounts.models import ApiKeyScope, AuditAction, AuditEvent, Role
from accounts.services import api_key_create, api_key_revoke, membership_remove, membership_set
from promptopt.errors import ConflictError
from prompts.content import PromptContent
from prompts.services import label_delete, label_move, version_create
from tests.api.support import API, client_as_user, client_with_key, issue_key
from tests.factories import SYSTEM_ACTOR, MembershipFactory, UserFactory
from tests.ui.conftest import signed_in
from workflows.models import OptimizationRun
from workflows.services import run_cancel, run_create

pytestmark = pytest.mark.django_db


def _events(team, action=None) -> list[AuditEvent]:
    events = AuditEvent.objects.filter(team=team).order_by("id")
    return list(events.filter(action=action) if action else events)


def test_it_records_label_moves_and_removals_with_the_versions_involved(team, editor, catalog):
    actor = Actor.for_user(editor)
    prompt, first = catalog["prompt"], catalog["version"]
    second = version_create(prompt=prompt, draft=PromptContent(template="Review: {{text}}"), actor=actor)

    label_move(prompt=prompt, name="production", version=first, actor=actor)
    label_move(prompt=prompt, name="production", version=second, actor=actor)
    label_move(prompt=prompt, name="production", version=second, actor=actor)  # already there: no change
    label_delete(label=prompt.labels.get(name="production"), actor=actor)

    moves = _events(team, AuditAction.LABEL_MOVE)
    assert [event.target for event in moves] == ["sentiment: production → v1", "sentiment: production → v2 (was v1)"]
    assert moves[1].details == {"prompt": "sentiment", "label": "production", "version": 2, "previous_version": 1}
    assert (moves[1].actor, moves[1].actor_user, moves[1].surface) == ("eddie", editor, "command")
    [removal] = _events(team, AuditAction.LABEL_DELETE)
    assert removal.target == "sentiment: production (was v2)"


def test_it_records_every_new_version_with_its_parent(team, editor, catalog):
    version_create(
        prompt=catalog["prompt"], draft=PromptContent(template="Review: {{text}}"), actor=Actor.for_user(editor)
    )

    versions = _events(team, AuditAction.VERSION_CREATE)
    assert [event.target for event in versions] == ["sentiment v1", "sentiment v2"]  # v1 came with the prompt
    assert versions[1].details == {"prompt": "sentiment", "version": 2, "parent": 1, "source": "manual"}


def test_it_records_key_issue_and_revocation_once_and_never_the_key(team, editor):
    issued = api_key_create(team=team, name="deploy", scope=ApiKeyScope.WRITE, actor=Actor.for_user(editor))
    api_key_revoke(api_key=issued.api_key, actor=Actor.for_user(editor))
    api_key_revoke(api_key=issued.api_key, actor=Actor.for_user(editor))  # already revoked: nothing new

    events = _events(team)
    assert [event.action for event in events] == [AuditAction.API_KEY_CREATE, AuditAction.API_KEY_REVOKE]
    assert events[0].target == f"deploy ({issued.api_key.prefix}…, write)"
    assert all(issued.raw_key not in f"{event.target}{event.details}" for event in events)


def test_it_records_runs_started_and_cancelled(team, editor, catalog, scripted_provider):
    actor = Actor.for_user(editor)
    run = run_create(
        team=team, version=catalog["version"], dataset_version=catalog["dataset_version"], config={}, actor=actor
    )
    run_cancel(run=run, actor=actor)
    OptimizationRun.objects.filter(pk=run.pk).update(status="running", cancel_requested_at=None)
    run.refresh_from_db()
    run_cancel(run=run, actor=actor)  # a running run: asked to stop…
    run_cancel(run=run, actor=actor)  # …and asked again, which changes nothing

    start, cancel = _events(team, AuditAction.RUN_START), _events(team, AuditAction.RUN_CANCEL)
    assert [event.target for event in start] == [f"run {run.pk}: sentiment v1 on reviews v1"]
    assert start[0].details["run"] == run.pk
    assert [event.details for event in cancel] == [
        {"run": run.pk, "status": "cancelled"},
        {"run": run.pk, "status": "running"},
    ]


def test_it_records_membership_changes_but_not_a_role_set_to_what_it_was(team, owner):
    newcomer = UserFactory(username="nina")
    actor = Actor.for_user(owner)

    membership_set(team=team, user=newcomer, role=Role.VIEWER, actor=actor)
    membership_set(team=team, user=newcomer, role=Role.EDITOR, actor=actor)
    membership_set(team=team, user=newcomer, role=Role.EDITOR, actor=actor)
    membership_remove(team=team, user=newcomer, actor=actor)

    assert [(event.action, event.target) for event in _events(team)] == [
        (AuditAction.MEMBERSHIP_SET, "nina: added as viewer"),
        (AuditAction.MEMBERSHIP_SET, "nina: viewer → editor"),
        (AuditAction.MEMBERSHIP_REMOVE, "nina (was editor)"),
    ]


def test_a_refused_change_leaves_no_line(team, owner, editor, catalog):
    prompt, version = catalog["prompt"], catalog["version"]
    before = AuditEvent.objects.count()

    with pytest.raises(ConflictError):
        label_move(prompt=prompt, name="production", version=version, actor=Actor.for_user(editor), expected_number=3)
    with pytest.raises(ConflictError):
        membership_remove(team=team, user=owner, actor=Actor.for_user(owner))  # the last owner

    assert AuditEvent.objects.count() == before


def test_a_change_whose_line_cannot_be_written_does_not_happen(team, editor, catalog, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(AuditEvent.objects, "create", broken)

    with pytest.raises(RuntimeError):
        label_move(
            prompt=catalog["prompt"], name="production", version=catalog["version"], actor=Actor.for_user(editor)
        )

    assert not catalog["prompt"].labels.exists()


# --- surfaces ------------------------------------------------------------------------------------------


def test_it_names_the_api_the_ui_and_the_admin_as_the_surface(client, team, editor, owner, catalog):
    moved = client_as_user(editor).put(
        f"{API}/teams/acme/prompts/sentiment/labels/production/", {"version": 1}, format="json"
    )
    assert moved.status_code == 200, moved.content
    created = signed_in(editor).post(reverse("ui:api_keys", args=["acme"]), {"name": "ci", "scope": "read"})
    assert created.status_code == 200
    owner.is_staff = True
    owner.save(update_fields=["is_staff"])
    client.force_login(owner)
    added = client.post(
        reverse("admin:accounts_membership_add"),
        {"team": team.pk, "member": UserFactory(username="nina").username, "role": "viewer"},
    )
    assert added.status_code == 302

    surfaces = {event.action: (event.surface, event.actor) for event in _events(team)}
    assert surfaces[AuditAction.LABEL_MOVE] == ("api", "eddie")
    assert surfaces[AuditAction.API_KEY_CREATE] == ("ui", "eddie")
    assert surfaces[AuditAction.MEMBERSHIP_SET] == ("admin", "olivia")


def test_a_key_is_named_as_the_actor(team, catalog):
    raw = issue_key(team, scope=ApiKeyScope.WRITE, name="deployer")

    response = client_with_key(raw).put(
        f"{API}/teams/acme/prompts/sentiment/labels/staging/", {"version": 1}, format="json"
    )

    assert response.status_code == 200, response.content
    [event] = _events(team, AuditAction.LABEL_MOVE)
    assert event.actor.startswith("API key deployer (")
    assert event.actor_api_key is not None and event.actor_api_key.name == "deployer"
    assert event.actor_user is None


def test_a_worker_saving_a_runs_winner_is_named_as_the_worker(team, editor, catalog, scripted_provider):
    from workflows.tasks import optimization_run_task

    run = run_create(
        team=team,
        version=catalog["version"],
        dataset_version=catalog["dataset_version"],
        config={"seed": 1, "iterations": 2, "patience": 5},
        actor=Actor.for_user(editor),
        enqueue=False,
    )

    optimization_run_task(run.pk)

    run = OptimizationRun.objects.get(pk=run.pk)
    assert run.best_version is not None, run.error_message
    [saved] = [event for event in _events(team, AuditAction.VERSION_CREATE) if event.details["version"] != 1]
    assert saved.surface == "worker"
    assert saved.actor.startswith("system (")
    assert saved.actor_user == editor  # on behalf of the person who started the run


# --- who reads it --------------------------------------------------------------------------------------


def test_owners_read_the_log_newest_first_through_the_api_and_filter_it(team, owner, editor, catalog):
    label_move(prompt=catalog["prompt"], name="production", version=catalog["version"], actor=Actor.for_user(editor))

    everything = client_as_user(owner).get(f"{API}/teams/acme/audit-events/")
    moves = client_as_user(owner).get(f"{API}/teams/acme/audit-events/?action=label.move")
    bad_filter = client_as_user(owner).get(f"{API}/teams/acme/audit-events/?surface=fax")

    assert everything.status_code == 200
    rows = everything.json()["results"]
    assert [row["action"] for row in rows] == ["label.move", "version.create"]
    assert set(rows[0]) == {"id", "created_at", "action", "surface", "actor", "target", "details"}
    assert [row["target"] for row in moves.json()["results"]] == ["sentiment: production → v1"]
    assert bad_filter.status_code == 400
    assert "surface" in bad_filter.json()["errors"]


def test_the_log_reads_the_same_number_of_queries_however_many_lines_and_actors_it_shows(team, owner, catalog):
    def queries_to_read() -> tuple[int, int]:
        api, ui = client_as_user(owner), signed_in(owner)
        api.get(f"{API}/teams/acme/audit-events/")  # sessions, caches and the like warm up first
        ui.get(reverse("ui:audit_log", args=["acme"]))
        with CaptureQueriesContext(connection) as through_api:
            assert api.get(f"{API}/teams/acme/audit-events/").status_code == 200
        with CaptureQueriesContext(connection) as through_ui:
            assert ui.get(reverse("ui:audit_log", args=["acme"])).status_code == 200
        return len(through_api), len(through_ui)

    def change_labels_as_new_people(count: int) -> None:
        start = AuditEvent.objects.count()
        for index in range(start, start + count):
            person = MembershipFactory(team=team, user=UserFactory(username=f"e{index}"), role=Role.EDITOR).user
            label_move(
                prompt=catalog["prompt"],
                name=f"label-{index}",
                version=catalog["version"],
                actor=Actor.for_user(person),
            )

    change_labels_as_new_people(2)
    few = queries_to_read()
    change_labels_as_new_people(20)  # each line with an actor of its own
    many = queries_to_read()

    assert AuditEvent.objects.filter(team=team).count() >= 22
    assert many == few


@pytest.mark.parametrize("who", ["editor", "viewer", "write_key"])
def test_nobody_but_an_owner_reads_the_log_through_the_api(team, editor, viewer, who):
    if who == "write_key":
        client = client_with_key(issue_key(team, scope=ApiKeyScope.WRITE))
    else:
        client = client_as_user(editor if who == "editor" else viewer)

    assert client.get(f"{API}/teams/acme/audit-events/").status_code == 403


def test_owners_read_the_log_in_the_ui_and_others_do_not(team, owner, editor, other_team, catalog):
    label_move(prompt=catalog["prompt"], name="production", version=catalog["version"], actor=Actor.for_user(editor))
    stranger = MembershipFactory(team=other_team, user=UserFactory(username="sam"), role=Role.OWNER).user
    url = reverse("ui:audit_log", args=["acme"])

    page = signed_in(owner).get(url)
    filtered = signed_in(owner).get(url + "?action=membership.set")

    assert page.status_code == 200
    body = page.content.decode()
    assert "sentiment: production → v1" in body
    assert "Label moved" in body
    assert "Nothing matches these filters." in filtered.content.decode()
    assert f'href="{url}"' in body  # the owner's menu links to it
    editor_dashboard = signed_in(editor).get(reverse("ui:dashboard", args=["acme"])).content.decode()
    assert f'href="{url}"' not in editor_dashboard
    assert signed_in(editor).get(url).status_code == 403
    assert signed_in(stranger).get(url).status_code == 404
    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("ui:sign_in"))


def test_the_admin_shows_the_log_to_owners_and_superusers_only(client, team, staff_owner, staff_editor, superuser):
    api_key_create(team=team, name="deploy", actor=SYSTEM_ACTOR)
    changelist = reverse("admin:accounts_auditevent_changelist")

    client.force_login(staff_editor)
    assert client.get(changelist).status_code == 403
    client.force_login(staff_owner)
    as_owner = client.get(changelist)
    client.force_login(superuser)
    as_superuser = client.get(changelist)

    assert as_owner.status_code == 200
    assert "deploy (" in as_owner.content.decode()
    assert as_superuser.status_code == 200
    event = AuditEvent.objects.get(action=AuditAction.API_KEY_CREATE)
    client.force_login(staff_owner)
    assert client.post(reverse("admin:accounts_auditevent_change", args=[event.pk]), {}).status_code == 403
