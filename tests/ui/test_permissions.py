"""Who may do what in the web UI: the anonymous are sent to sign in, another team's pages do not exist
(404), and a viewer sees everything of the team with no write control, and cannot write by posting."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import ApiKey
from prompts.models import Dataset, Prompt, PromptLabel, PromptVersion
from tests.ui.conftest import reviews_csv, signed_in
from workflows.models import EvaluationRun, OptimizationRun

pytestmark = pytest.mark.django_db


def _team_pages(run: OptimizationRun) -> list[str]:
    evaluation = EvaluationRun.objects.filter(optimization_run=run).first()
    candidate = run.iterations.first().candidates.first()
    pages = [
        ("ui:dashboard", []),
        ("ui:prompts", []),
        ("ui:prompt_new", []),
        ("ui:prompt", ["sentiment"]),
        ("ui:version", ["sentiment", 1]),
        ("ui:version_new", ["sentiment"]),
        ("ui:version_diff", ["sentiment"]),
        ("ui:playground", ["sentiment", 1]),
        ("ui:datasets", []),
        ("ui:dataset_upload", []),
        ("ui:dataset", ["reviews"]),
        ("ui:dataset_version", ["reviews", 1]),
        ("ui:runs", []),
        ("ui:run_new", []),
        ("ui:run", [run.pk]),
        ("ui:run_live", [run.pk]),
        ("ui:run_examples", [run.pk]),
        ("ui:run_candidate", [run.pk, candidate.pk]),
        ("ui:evaluations", []),
        ("ui:evaluation_new", []),
        ("ui:evaluation", [evaluation.pk]),
        ("ui:evaluation_live", [evaluation.pk]),
        ("ui:compare", []),
        ("ui:api_keys", []),
    ]
    return [reverse(name, args=["acme", *args]) for name, args in pages]


def test_the_anonymous_are_sent_to_sign_in_from_every_page(finished_run):
    client = Client()
    for url in [*_team_pages(finished_run), reverse("ui:home"), reverse("ui:password_change")]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("ui:sign_in") + "?next="), url


def test_another_teams_member_gets_404_everywhere(finished_run, other_team):
    from accounts.models import Role
    from tests.factories import MembershipFactory, UserFactory

    stranger = MembershipFactory(team=other_team, user=UserFactory(username="sam"), role=Role.OWNER).user
    client = signed_in(stranger)
    for url in _team_pages(finished_run):
        assert client.get(url).status_code == 404, url
    for name, args in (("ui:run_promote", [finished_run.pk]), ("ui:run_cancel", [finished_run.pk])):
        assert client.post(reverse(name, args=["acme", *args])).status_code == 404
    assert not PromptLabel.objects.filter(prompt__team__slug="acme").exists()


WRITE_CONTROLS = (
    ">New prompt<",
    ">New version<",
    ">Promote v",
    ">Upload a",
    ">New run<",
    ">New evaluation<",
    ">Optimize<",
    ">Evaluate<",
    ">Edit as new version<",
    ">Move…<",
    ">Create key<",
    ">Run once<",
    ">Revoke<",
)


def test_a_viewer_sees_every_page_without_write_controls(finished_run, viewer):
    client = signed_in(viewer)
    for url in _team_pages(finished_run):
        response = client.get(url)
        if url.endswith(("/new/", "/edit/", "/upload/")):
            assert response.status_code == 403, url  # pages that exist only to write say why not
            assert "can see everything but change nothing" in response.content.decode()
            continue
        if response.status_code == 302:  # a dataset's page is its latest version's
            response = client.get(response["Location"])
        assert response.status_code == 200, url
        body = response.content.decode()
        for control in WRITE_CONTROLS:
            assert control not in body, (url, control)
        if "/playground/" not in url:  # the playground's form only renders for a viewer
            assert 'method="post"' not in body.replace('method="post" action="/sign-out/"', ""), url


def test_a_viewer_cannot_write_by_posting(finished_run, viewer):
    client = signed_in(viewer)
    before = (Prompt.objects.count(), PromptVersion.objects.count(), Dataset.objects.count(), ApiKey.objects.count())
    runs = OptimizationRun.objects.count()
    assert client.post(reverse("ui:prompt_new", args=["acme"]), {"name": "x", "template": "{{a}}"}).status_code == 403
    assert client.post(reverse("ui:version_new", args=["acme", "sentiment"]), {"template": "x"}).status_code == 403
    upload = client.post(reverse("ui:dataset_upload", args=["acme"]), {"name": "d", "file": _file(), "delimiter": ","})
    assert upload.status_code == 403
    assert client.post(reverse("ui:run_new", args=["acme"]), {}).status_code == 403
    client.post(
        reverse("ui:label_move", args=["acme", "sentiment"]), {"name": "production", "version": 2, "confirmed": "on"}
    )
    client.post(reverse("ui:run_promote", args=["acme", finished_run.pk]), {"expected": 0})
    client.post(reverse("ui:run_retry", args=["acme", finished_run.pk]))
    client.post(reverse("ui:api_keys", args=["acme"]), {"name": "mine", "scope": "write"})
    assert not PromptLabel.objects.exists()
    assert OptimizationRun.objects.count() == runs
    after = (Prompt.objects.count(), PromptVersion.objects.count(), Dataset.objects.count(), ApiKey.objects.count())
    assert after == before
    OptimizationRun.objects.filter(pk=finished_run.pk).update(status="running")
    cancelled = client.post(reverse("ui:run_cancel", args=["acme", finished_run.pk]), follow=True)
    assert "needs the owner or editor role" in cancelled.content.decode()
    assert OptimizationRun.objects.get(pk=finished_run.pk).cancel_requested_at is None


def _file():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("reviews.csv", reviews_csv(), content_type="text/csv")
