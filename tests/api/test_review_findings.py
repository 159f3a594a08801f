"""Cases a review of the API found: each once answered wrongly (a 500, a write to the wrong dataset, a leak of
which usernames exist, a list of a missing parent answering 200, an idempotency key stuck for a day)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, Role
from prompts.models import Dataset
from tests.api.support import API, client_as_user
from tests.factories import MembershipFactory, UserFactory
from workflows.models import IdempotencyRecord

CSV = b"text,target\ngreat,positive\nawful,negative\nfine,positive\n"


def _upload(client, url, content=CSV, **fields):
    return client.post(url, {"file": SimpleUploadedFile("d.csv", content), **fields}, format="multipart")


def test_a_new_version_goes_to_the_dataset_in_the_url_even_after_a_rename(team, editor):
    client = client_as_user(editor)
    _upload(client, f"{API}/teams/acme/datasets/", name="Reviews")
    client.patch(f"{API}/teams/acme/datasets/reviews/", {"name": "Support tickets"}, format="json")

    response = _upload(client, f"{API}/teams/acme/datasets/reviews/versions/", content=CSV + b"ok,positive\n")

    assert response.status_code == 201
    assert (response.json()["version"]["dataset"], response.json()["version"]["number"]) == ("reviews", 2)
    assert Dataset.objects.count() == 1


@pytest.mark.parametrize("value", ["²", "1" * 30, "-1", "1.5"])
def test_ids_that_are_not_plain_numbers_are_refused_not_crashed_on(team, editor, value):
    client = client_as_user(editor)

    compare = client.get(f"{API}/teams/acme/compare/", {"a": value, "b": "1"})

    assert compare.status_code == 400 and "a whole number" in str(compare.json()["errors"]["a"])


def test_a_deep_or_repeated_key_json_body_is_a_400(team, editor):
    client = client_as_user(editor)

    deep = client.post(f"{API}/teams/acme/prompts/", "[" * 100_000, content_type="application/json")
    repeated = client.post(
        f"{API}/teams/acme/prompts/", '{"name": "A", "name": "Dup"}', content_type="application/json"
    )

    assert deep.status_code == 400 and "nested deeper" in deep.json()["detail"]
    assert repeated.status_code == 400 and "appears twice" in repeated.json()["detail"]


def test_only_owners_learn_whether_a_username_exists(team, viewer, owner):
    UserFactory(username="stranger")
    client = client_as_user(viewer)

    unknown = client.post(f"{API}/teams/acme/members/", {"username": "nobody", "role": "viewer"}, format="json")
    existing = client.post(f"{API}/teams/acme/members/", {"username": "stranger", "role": "viewer"}, format="json")
    as_owner = client_as_user(owner).post(
        f"{API}/teams/acme/members/", {"username": "nobody", "role": "viewer"}, format="json"
    )

    assert (unknown.status_code, existing.status_code, as_owner.status_code) == (403, 403, 404)


def test_a_username_with_a_dot_can_leave_its_team(team):
    member = MembershipFactory(team=team, user=UserFactory(username="john.doe"), role=Role.VIEWER).user

    response = client_as_user(member).delete(f"{API}/teams/acme/members/john.doe/")

    assert response.status_code == 204 and not Membership.objects.filter(user=member).exists()


def test_lists_under_a_missing_parent_are_404s(team, editor):
    client = client_as_user(editor)

    assert client.get(f"{API}/teams/acme/prompts/nope/versions/").status_code == 404
    assert client.get(f"{API}/teams/acme/prompts/nope/labels/").status_code == 404
    assert client.get(f"{API}/teams/acme/datasets/nope/versions/").status_code == 404
    assert client.get(f"{API}/teams/acme/datasets/nope/versions/1/examples/").status_code == 404


def test_an_abandoned_idempotency_key_is_taken_over_and_old_ones_are_purged(team):
    from workflows.idempotency import _claim

    stale = IdempotencyRecord.objects.create(team=team, actor="user:1", key="k", fingerprint="old")
    expired = IdempotencyRecord.objects.create(team=team, actor="user:2", key="k", fingerprint="x", status_code=201)
    IdempotencyRecord.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    IdempotencyRecord.objects.filter(pk=expired.pk).update(created_at=timezone.now() - timedelta(days=2))

    record, first = _claim(team=team, actor="user:1", key="k", fingerprint="new")

    assert first and record.pk == stale.pk and record.fingerprint == "new"
    assert not IdempotencyRecord.objects.filter(pk=expired.pk).exists()


@pytest.mark.parametrize("url", ["admin:workflows_optimizationrun_start", "admin:prompts_promptversion_add"])
def test_admin_pages_ignore_ids_that_are_not_plain_numbers(client, staff_editor, url):
    client.force_login(staff_editor)

    response = client.get(reverse(url), {"version": "²", "from_version": "²"})

    assert response.status_code == 200
