"""Uploading a dataset file in the admin: a new version on success; on failure every problem and nothing saved."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from prompts.models import Dataset, DatasetVersion, Example

pytestmark = pytest.mark.django_db

IMPORT_URL = "admin:prompts_dataset_import"


def _post(client, team, content: bytes, name="Reviews.csv", **fields):
    data = {
        "team": team.pk,
        "name": "Reviews",
        "file": SimpleUploadedFile(name, content),
        "target_field": "label",
        "seed": 0,
        **fields,
    }
    return client.post(reverse(IMPORT_URL), data, follow=True)


def test_it_imports_an_uploaded_csv_as_a_new_dataset_version(client, staff_editor, team):
    client.force_login(staff_editor)

    response = _post(client, team, b"text,label\ngreat,positive\nawful,negative\nfine,positive\n")

    version = DatasetVersion.objects.get()
    assert response.redirect_chain[-1][0] == reverse("admin:prompts_datasetversion_change", args=[version.pk])
    assert (version.dataset.team, version.dataset.name, version.row_count) == (team, "Reviews", 3)
    assert version.created_by == staff_editor
    assert any("Imported 3 rows" in str(m) for m in response.context["messages"])


def test_it_lists_each_problem_and_saves_nothing_for_a_bad_file(client, staff_editor, team):
    client.force_login(staff_editor)

    response = _post(client, team, b"text,label\ngreat,positive\n,negative\ngreat,positive\n")

    errors = response.context["form"].errors["file"]
    assert response.status_code == 200
    assert errors[0] == "Nothing was saved:"
    assert any("line 3" in e and "'text'" in e for e in errors)
    assert any("line 4" in e and "duplicates line 2" in e for e in errors)
    assert (Dataset.objects.count(), Example.objects.count()) == (0, 0)


def test_it_names_a_bad_split_map(client, staff_editor, team):
    client.force_login(staff_editor)

    response = _post(client, team, b"text,label\na,b\n", split_map="induce=training+bogus")

    assert "split_map" in response.context["form"].errors
    assert Dataset.objects.count() == 0


def test_it_offers_only_teams_the_user_may_write_to(client, staff_editor, team, other_team):
    client.force_login(staff_editor)

    response = client.get(reverse(IMPORT_URL))
    refused = _post(client, other_team, b"text,label\na,b\n")

    assert list(response.context["form"].fields["team"].queryset) == [team]
    assert "team" in refused.context["form"].errors
    assert Dataset.objects.count() == 0


def test_it_refuses_the_import_page_to_a_viewer(client, staff_viewer):
    client.force_login(staff_viewer)

    assert client.get(reverse(IMPORT_URL)).status_code == 403


def test_it_prefills_team_and_name_from_a_dataset_page(client, staff_editor, team):
    client.force_login(staff_editor)
    _post(client, team, b"text,label\ngreat,positive\n")
    dataset = Dataset.objects.get()

    change_page = client.get(reverse("admin:prompts_dataset_change", args=[dataset.pk]))
    form = client.get(reverse(IMPORT_URL), {"dataset": dataset.pk}).context["form"]

    assert f"?dataset={dataset.pk}" in change_page.content.decode()
    assert (form.initial["team"], form.initial["name"]) == (team.pk, "Reviews")
