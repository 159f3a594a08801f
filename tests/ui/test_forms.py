"""Every web UI form answers bad input with a clear message on the form and writes nothing."""

from __future__ import annotations

import html
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts.models import ApiKey
from prompts.models import Dataset, DatasetVersion, Prompt, PromptLabel, PromptVersion
from tests.ui.conftest import signed_in
from workflows.models import EvaluationRun, OptimizationRun

pytestmark = pytest.mark.django_db


def _errors(response) -> str:
    """The text of every error list on the page."""
    body = html.unescape(response.content.decode())
    return " ".join(
        re.sub(r"<[^>]+>", " ", found)
        for found in re.findall(r'class="errorlist[^"]*"[^>]*>(.*?)</(?:ul|p)>', body, re.S)
    )


def _counts():
    return (
        Prompt.objects.count(),
        PromptVersion.objects.count(),
        PromptLabel.objects.count(),
        Dataset.objects.count(),
        DatasetVersion.objects.count(),
        OptimizationRun.objects.count(),
        EvaluationRun.objects.count(),
        ApiKey.objects.count(),
    )


@pytest.fixture
def editor_client(editor):
    return signed_in(editor)


def test_sign_in_with_a_wrong_password_says_so(editor):
    response = Client().post(reverse("ui:sign_in"), {"username": "eddie", "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in _errors(response)


def test_password_change_with_a_wrong_old_password_says_so(editor_client):
    response = editor_client.post(
        reverse("ui:password_change"),
        {"old_password": "nope", "new_password1": "a much longer secret 1", "new_password2": "a much longer secret 1"},
    )
    assert "Your old password was entered incorrectly" in _errors(response)


def test_a_new_prompt_names_the_bad_field(editor_client):
    before = _counts()
    missing = editor_client.post(reverse("ui:prompt_new", args=["acme"]), {"name": "", "template": ""})
    assert "This field is required" in _errors(missing)
    bad = editor_client.post(
        reverse("ui:prompt_new", args=["acme"]),
        {
            "name": "Greeter",
            "template": "Hello {{name}}",
            "system_instruction": "Be nice to {{name}}",
            "layout": "chat",
            "output_type": "text",
            "provider": "local",
            "temperature": "0",
            "max_tokens": "64",
            "commit_message": "first",
        },
    )
    assert "system_instruction" in bad.content.decode() and "template" in _errors(bad).lower()
    assert _counts() == before


def test_a_new_version_identical_to_an_old_one_is_refused(catalog, editor_client):
    before = _counts()
    version = catalog["version"]
    fields = {
        "template": version.template,
        "system_instruction": version.system_instruction,
        "demonstrations": "[]",
        "layout": version.layout,
        "output_type": version.output_type,
        "output_choices": "",
        "output_schema": "",
        "provider": version.provider,
        "model_name": "",
        "temperature": "0.0",
        "max_tokens": str(version.max_tokens),
        "commit_message": "no change",
    }
    response = editor_client.post(reverse("ui:version_new", args=["acme", "sentiment"]), fields)
    assert "nothing changed: this content is identical to version 1" in _errors(response)
    nested = editor_client.post(
        reverse("ui:version_new", args=["acme", "sentiment"]), {**fields, "demonstrations": '[{"inputs": 5}]'}
    )
    assert "demonstrations" in _errors(nested).lower() or "demonstration" in nested.content.decode()
    assert _counts() == before


def test_moving_a_label_to_a_missing_version_says_which(catalog, editor_client):
    response = editor_client.post(
        reverse("ui:label_move", args=["acme", "sentiment"]), {"name": "production", "version": 99}
    )
    assert "this prompt has no version 99" in _errors(response)
    confirm = editor_client.post(
        reverse("ui:label_move", args=["acme", "sentiment"]), {"name": "production", "version": 1}
    )
    assert "Yes, move production to v1" in confirm.content.decode()
    assert not PromptLabel.objects.exists()  # asked, not yet moved
    editor_client.post(
        reverse("ui:label_move", args=["acme", "sentiment"]),
        {"name": "production", "version": 1, "expected": 0, "confirmed": "on"},
    )
    assert PromptLabel.objects.get().version.number == 1
    stale = editor_client.post(
        reverse("ui:label_move", args=["acme", "sentiment"]),
        {"name": "production", "version": 1, "expected": 0, "confirmed": "on"},
    )
    assert "is on version 1 now, not on version 0" in _errors(stale)


def test_an_upload_lists_every_bad_row_and_saves_nothing(editor_client, tmp_path, settings):
    settings.UPLOAD_STAGING_DIR = tmp_path
    before = _counts()
    wrong_kind = editor_client.post(
        reverse("ui:dataset_upload", args=["acme"]),
        {"name": "Notes", "delimiter": ",", "file": SimpleUploadedFile("notes.txt", b"hello")},
    )
    assert "cannot tell the format of 'notes.txt'" in _errors(wrong_kind)

    rows = b"question,answer\nWhat is 2+2?,4\nWhat is 3+3?,\nWhat is 5+5?,10\n"
    staged = editor_client.post(
        reverse("ui:dataset_upload", args=["acme"]),
        {"name": "Maths", "delimiter": ",", "file": SimpleUploadedFile("maths.csv", rows)},
    )
    assert staged.status_code == 302
    preview = editor_client.get(staged["Location"]).content.decode()
    assert "What is 3+3?" in preview and '<option value="answer" selected>' in preview
    refused = editor_client.post(
        staged["Location"].split("?")[0],
        {"target_field": "answer", "train": 1, "validation": 1, "test": 1, "seed": 0, "delimiter": ","},
    )
    body = refused.content.decode()
    assert "Nothing was saved" in body and "line 3" in body
    zero = editor_client.post(
        staged["Location"].split("?")[0],
        {"target_field": "answer", "train": 0, "validation": 0, "test": 0, "seed": 0, "delimiter": ","},
    )
    assert "not all zero" in _errors(zero)
    assert _counts() == before


def test_a_good_upload_maps_columns_and_imports(editor_client, tmp_path, settings):
    settings.UPLOAD_STAGING_DIR = tmp_path
    rows = "".join(f"q{i},a{i},{'test' if i < 3 else 'train'}\n" for i in range(12))
    staged = editor_client.post(
        reverse("ui:dataset_upload", args=["acme"]),
        {
            "name": "Pairs",
            "delimiter": ",",
            "file": SimpleUploadedFile("pairs.csv", ("prompt,reply,part\n" + rows).encode()),
        },
    )
    done = editor_client.post(
        staged["Location"].split("?")[0],
        {
            "target_field": "reply",
            "input_fields": ["prompt"],
            "split_field": "part",
            "split_map": "",
            "train": 0.5,
            "validation": 0.5,
            "test": 0,
            "seed": 0,
            "delimiter": ",",
        },
    )
    version = DatasetVersion.objects.get(dataset__name="Pairs")
    assert done["Location"] == reverse("ui:dataset_version", args=["acme", "pairs", 1])
    assert version.input_fields == ["prompt"] and version.split_counts["test"] == 3
    assert not list(tmp_path.iterdir())  # the staged file is gone once imported
    again = editor_client.get(staged["Location"])
    assert again.status_code == 302  # the token is spent


def test_a_new_run_shows_its_estimate_before_it_starts_and_refuses_a_budget_too_small(
    catalog, editor_client, scripted_provider
):
    base = {"version": catalog["version"].pk, "dataset_version": catalog["dataset_version"].pk}
    before = _counts()
    small = editor_client.post(reverse("ui:run_new", args=["acme"]), {**base, "max_calls": 10, "confirm": "estimate"})
    assert "budget.max_calls: 10 leaves nothing for the search" in _errors(small)
    estimate = editor_client.post(
        reverse("ui:run_new", args=["acme"]), {**base, "iterations": 2, "confirm": "estimate"}
    )
    assert "Before you start: at most" in estimate.content.decode() and "Start the run" in estimate.content.decode()
    assert _counts() == before and scripted_provider.calls == 0
    started = editor_client.post(reverse("ui:run_new", args=["acme"]), {**base, "iterations": 2, "confirm": "start"})
    run = OptimizationRun.objects.get()
    assert started["Location"] == reverse("ui:run", args=["acme", run.pk]) and run.config["iterations"] == 2


def test_a_new_evaluation_names_an_unknown_metric(catalog, editor_client, scripted_provider):
    before = _counts()
    response = editor_client.post(
        reverse("ui:evaluation_new", args=["acme"]),
        {
            "version": catalog["version"].pk,
            "dataset_version": catalog["dataset_version"].pk,
            "split": "test",
            "metric": "telepathy",
        },
    )
    assert "telepathy" in _errors(response)
    assert _counts() == before


def test_an_api_key_needs_a_name(editor_client):
    before = _counts()
    response = editor_client.post(reverse("ui:api_keys", args=["acme"]), {"name": "", "scope": "read"})
    assert "This field is required" in _errors(response)
    assert _counts() == before


def test_compare_needs_two_evaluations(finished_run, editor_client):
    one = EvaluationRun.objects.filter(optimization_run=finished_run).first()
    response = editor_client.get(reverse("ui:compare", args=["acme"]), {"evaluations": [one.pk]})
    assert "Choose at least two evaluations of this team." in _errors(response)
    versions = editor_client.get(reverse("ui:compare", args=["acme"]), {"versions": [one.version_id]})
    assert "choose between 2 and 4 versions" in _errors(versions)


def test_the_playground_says_when_a_provider_is_not_configured(catalog, editor_client):
    response = editor_client.post(
        reverse("ui:playground", args=["acme", "sentiment", 1]),
        {"action": "run", "var_text": "fine", "provider": "vertex"},
    )
    assert "provider 'vertex' needs VERTEX_PROJECT" in _errors(response)
