"""What a review of the web UI found, each fixed and kept fixed: promoting a run without a winner, the
upload's delimiter between its two steps, a bad dataset name at the first step, the reference version of a
comparison, polls after the session ended, the evaluation poll keeping its filter, and the diff of long lines."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from prompts.diff import side_by_side
from prompts.models import DatasetVersion, PromptLabel
from tests.bounded_time import within_seconds
from tests.ui.conftest import signed_in
from workflows.models import EvaluationRun, JobStatus, OptimizationRun

pytestmark = pytest.mark.django_db


def test_a_run_that_found_nothing_has_nothing_to_promote(finished_run, editor):
    OptimizationRun.objects.filter(pk=finished_run.pk).update(best_version=finished_run.baseline_version)
    client = signed_in(editor)
    page = client.get(reverse("ui:run", args=["acme", finished_run.pk])).content.decode()
    assert "Promote" not in page
    refused = client.post(reverse("ui:run_promote", args=["acme", finished_run.pk]), {"expected": 0}, follow=True)
    assert "This run has no winner to promote" in refused.content.decode()
    assert not PromptLabel.objects.exists()


def test_the_upload_keeps_its_delimiter_between_the_steps(editor, tmp_path, settings):
    settings.UPLOAD_STAGING_DIR = tmp_path
    client = signed_in(editor)
    rows = "".join(f"q{i};a{i}\n" for i in range(12))
    staged = client.post(
        reverse("ui:dataset_upload", args=["acme"]),
        {
            "name": "Semicolons",
            "delimiter": ";",
            "file": SimpleUploadedFile("s.csv", ("text;target\n" + rows).encode()),
        },
    )
    preview = client.get(staged["Location"]).content.decode()
    assert '<th scope="col">text</th>' in preview and '<th scope="col">target</th>' in preview
    client.post(staged["Location"], {"target_field": "target", "train": 1, "validation": 1, "test": 1, "seed": 0})
    assert DatasetVersion.objects.get(dataset__name="Semicolons").input_fields == ["text"]


def test_a_dataset_name_without_letters_is_refused_at_the_first_step(editor, tmp_path, settings):
    settings.UPLOAD_STAGING_DIR = tmp_path
    response = signed_in(editor).post(
        reverse("ui:dataset_upload", args=["acme"]),
        {"name": "!!!", "delimiter": ",", "file": SimpleUploadedFile("a.csv", b"text,target\na,b\n")},
    )
    assert "needs at least one letter or digit" in response.content.decode()
    assert not list(tmp_path.iterdir())


def test_comparing_versions_takes_the_oldest_as_the_reference(finished_run, editor):
    tests = {e.version.number: e for e in EvaluationRun.objects.filter(optimization_run=finished_run)}
    response = signed_in(editor).get(
        reverse("ui:compare", args=["acme"]),
        # The newest first, as the list shows them.
        {
            "versions": [tests[2].version_id, tests[1].version_id],
            "dataset_version": tests[1].dataset_version_id,
            "split": "test",
        },
    )
    assert response["Location"].endswith(f"evaluations={tests[1].pk}&evaluations={tests[2].pk}")


def test_a_poll_after_the_session_ended_sends_the_whole_page_to_sign_in(finished_run, editor):
    client = signed_in(editor)
    client.logout()
    run_page = reverse("ui:run", args=["acme", finished_run.pk])
    response = client.get(
        reverse("ui:run_live", args=["acme", finished_run.pk]),
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver{run_page}",
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == f"{reverse('ui:sign_in')}?next={run_page}"


def test_the_evaluation_poll_keeps_the_chosen_filter_and_page(finished_run, editor):
    evaluation = EvaluationRun.objects.filter(optimization_run=finished_run).first()
    EvaluationRun.objects.filter(pk=evaluation.pk).update(status=JobStatus.RUNNING)
    body = (
        signed_in(editor)
        .get(reverse("ui:evaluation", args=["acme", evaluation.pk]), {"show": "failures", "page": 1})
        .content.decode()
    )
    assert "?show=failures&amp;page=1&amp;was=active" in body


def test_the_diff_of_very_long_lines_is_bounded():
    before = {"template": " ".join(f"word{i}" for i in range(25_000))}
    after = {"template": " ".join(f"word{i}" if i % 2 else f"other{i}" for i in range(25_000))}
    rows = within_seconds(lambda: side_by_side(before, after), seconds=10)
    changed = [row for row in rows if row.kind == "changed"]
    assert len(changed) == 1 and changed[0].after[0].changed


def test_a_viewer_moving_a_label_is_told_why_not(finished_run, viewer):
    response = signed_in(viewer).post(
        reverse("ui:label_move", args=["acme", "sentiment"]), {"name": "production", "version": 2, "confirmed": "on"}
    )
    assert response.status_code == 403 and not PromptLabel.objects.exists()
