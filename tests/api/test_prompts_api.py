"""Prompts, versions, diffs, labels, resolve and render; datasets, uploads and examples over the API."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import ApiKeyScope
from prompts.models import Dataset, DatasetVersion, Example, Prompt, PromptLabelMove, PromptVersion
from tests.api.support import API, client_as_user, client_with_key, issue_key

PROMPTS = f"{API}/teams/acme/prompts"
DATASETS = f"{API}/teams/acme/datasets"
FIRST = {"template": "Review: {{text}}\nSentiment:", "layout": "completion", "max_tokens": 8}


@pytest.fixture
def editing(team, editor):
    client = client_as_user(editor)
    created = client.post(PROMPTS + "/", {"name": "Sentiment", "first_version": FIRST}, format="json")
    assert created.status_code == 201, created.content
    return client


def test_it_creates_a_prompt_with_its_first_version(editing):
    prompt = editing.get(f"{PROMPTS}/sentiment/").json()
    version = editing.get(f"{PROMPTS}/sentiment/versions/1/").json()

    assert (prompt["latest_version"], prompt["labels"]) == (1, {})
    assert (version["template"], version["layout"], version["max_tokens"]) == (FIRST["template"], "completion", 8)
    assert version["created_by"] == "eddie"


def test_versions_are_added_never_changed_and_diffed(editing):
    added = editing.post(
        f"{PROMPTS}/sentiment/versions/",
        {**FIRST, "system_instruction": "Answer positive or negative.", "commit_message": "say the labels"},
        format="json",
    )
    same_again = editing.post(f"{PROMPTS}/sentiment/versions/", FIRST, format="json")
    diff = editing.get(f"{PROMPTS}/sentiment/versions/1/diff/2/").json()

    assert added.status_code == 201 and added.json()["number"] == 2 and added.json()["parent"] == 1
    assert same_again.status_code == 400 and "identical to version 1" in str(same_again.json())
    assert editing.put(f"{PROMPTS}/sentiment/versions/1/", FIRST, format="json").status_code == 405
    assert [change["field"] for change in diff["changes"]] == ["system_instruction"]
    assert "+system instruction:" in diff["text"]


def test_a_version_carries_its_stop_sequences_and_bad_ones_name_the_field(editing):
    added = editing.post(f"{PROMPTS}/sentiment/versions/", {**FIRST, "stop": ["\n"]}, format="json")
    refused = editing.post(f"{PROMPTS}/sentiment/versions/", {**FIRST, "stop": ["x" * 33]}, format="json")
    diff = editing.get(f"{PROMPTS}/sentiment/versions/1/diff/2/").json()

    assert added.status_code == 201 and added.json()["stop"] == ["\n"]
    assert editing.get(f"{PROMPTS}/sentiment/versions/1/").json()["stop"] == []
    assert refused.status_code == 400 and "stop" in refused.json()["errors"], refused.json()
    assert [change["field"] for change in diff["changes"]] == ["stop"]
    assert "+stop: '\\n'" in diff["text"]


def test_labels_move_conditionally_and_resolve_with_etags(editing):
    editing.post(f"{PROMPTS}/sentiment/versions/", {**FIRST, "max_tokens": 4}, format="json")
    label_url = f"{PROMPTS}/sentiment/labels/production/"

    created = editing.put(label_url, {"version": 1, "expected_version": 0}, format="json")
    first = editing.get(f"{PROMPTS}/sentiment/resolve/?label=production")
    etag = first["ETag"]
    unchanged = editing.get(f"{PROMPTS}/sentiment/resolve/?label=production", HTTP_IF_NONE_MATCH=etag)
    stale_move = editing.put(label_url, {"version": 2, "expected_version": 2}, format="json")
    moved = editing.put(label_url, {"version": 2, "expected_version": 1}, format="json")
    after_move = editing.get(f"{PROMPTS}/sentiment/resolve/?label=production", HTTP_IF_NONE_MATCH=etag)

    assert created.status_code == 200 and created.json()["version"] == 1
    assert first.status_code == 200 and first.json()["version"]["number"] == 1
    assert unchanged.status_code == 304 and unchanged["ETag"] == etag
    assert stale_move.status_code == 409
    assert moved.json()["version"] == 2
    assert after_move.status_code == 200 and after_move.json()["version"]["number"] == 2
    assert PromptLabelMove.objects.count() == 2
    assert editing.get(f"{PROMPTS}/sentiment/resolve/?label=staging").status_code == 404


def test_it_renders_a_version_for_given_variables(editing):
    rendered = editing.post(f"{PROMPTS}/sentiment/versions/1/render/", {"variables": {"text": "Great."}}, format="json")
    missing = editing.post(f"{PROMPTS}/sentiment/versions/1/render/", {"variables": {}}, format="json")

    assert rendered.json()["completion_text"] == "Review: Great.\nSentiment:"
    assert rendered.json()["messages"] == [{"role": "user", "content": "Review: Great.\nSentiment:"}]
    assert missing.status_code == 400 and "missing input 'text'" in str(missing.json())


def test_a_read_key_reads_and_cannot_write(team, editing):
    client = client_with_key(issue_key(team, scope=ApiKeyScope.READ))

    assert client.get(f"{PROMPTS}/sentiment/resolve/?label=production").status_code == 404  # no label yet
    assert client.get(f"{PROMPTS}/sentiment/versions/").status_code == 200
    assert client.post(f"{PROMPTS}/sentiment/versions/", {**FIRST, "max_tokens": 3}, format="json").status_code == 403


def test_a_write_key_writes_and_is_recorded(team, editing):
    client = client_with_key(issue_key(team, scope=ApiKeyScope.WRITE, name="deploy"))

    created = client.post(f"{PROMPTS}/sentiment/versions/", {**FIRST, "max_tokens": 3}, format="json")

    version = PromptVersion.objects.get(number=2)
    assert created.status_code == 201
    assert version.created_by is None and version.created_by_api_key.name == "deploy"
    assert created.json()["created_by"] == f"API key {version.created_by_api_key.prefix}"


def test_a_viewer_reads_and_cannot_write(team, viewer, editing):
    client = client_as_user(viewer)

    assert client.get(f"{PROMPTS}/").status_code == 200
    assert client.patch(f"{PROMPTS}/sentiment/", {"archived": True}, format="json").status_code == 403
    assert not Prompt.objects.get().archived


def _count_queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def test_lists_take_the_same_number_of_queries_for_one_item_or_many(editing):
    one_prompt = _count_queries(editing, f"{PROMPTS}/")
    one_version = _count_queries(editing, f"{PROMPTS}/sentiment/versions/")
    for number in range(2, 8):
        editing.post(f"{PROMPTS}/", {"name": f"Other {number}", "first_version": FIRST}, format="json")
        editing.post(f"{PROMPTS}/sentiment/versions/", {**FIRST, "max_tokens": number}, format="json")
        editing.put(f"{PROMPTS}/other-{number}/labels/production/", {"version": 1}, format="json")

    assert _count_queries(editing, f"{PROMPTS}/") == one_prompt
    assert _count_queries(editing, f"{PROMPTS}/sentiment/versions/") == one_version


CSV = b"text,target\ngreat,positive\nawful,negative\nfine,positive\nbad,negative\nlovely,positive\n"


def _upload(client, content, url=DATASETS + "/", **fields):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = {"file": SimpleUploadedFile("reviews.csv", content), "name": "Reviews", **fields}
    return client.post(url, data, format="multipart")


def test_it_uploads_a_dataset_and_browses_its_examples(team, editor):
    client = client_as_user(editor)

    created = _upload(client, CSV, split_ratios=["1", "0", "0"])
    again = _upload(client, CSV, split_ratios=["1", "0", "0"])
    examples = client.get(f"{DATASETS}/reviews/versions/1/examples/?split=train").json()

    assert created.status_code == 201
    version = created.json()["version"]
    assert (version["row_count"], version["split_counts"]["train"], version["input_fields"]) == (5, 5, ["text"])
    assert again.status_code == 200 and again.json()["created"] is False
    assert [example["position"] for example in examples["results"]] == [0, 1, 2, 3, 4]
    assert client.get(f"{DATASETS}/reviews/versions/1/examples/?split=test").json()["count"] == 0


def test_a_bad_upload_names_the_lines_and_writes_nothing(team, editor):
    response = _upload(client_as_user(editor), b"text,target\ngreat,positive\n,negative\n")

    assert response.status_code == 400
    assert any("line 3" in problem and "'text'" in problem for problem in response.json()["errors"]["file"])
    assert (Dataset.objects.count(), DatasetVersion.objects.count(), Example.objects.count()) == (0, 0, 0)


def test_an_oversized_upload_is_413_before_it_is_read(team, editor, settings):
    settings.DATASET_MAX_BYTES = 10

    response = _upload(client_as_user(editor), CSV)

    assert response.status_code == 413
    assert Dataset.objects.count() == 0


def test_a_new_dataset_version_is_uploaded_to_the_dataset(team, editor):
    client = client_as_user(editor)
    _upload(client, CSV)

    second = _upload(client, CSV + b"superb,positive\n", url=f"{DATASETS}/reviews/versions/")

    assert second.status_code == 201 and second.json()["version"]["number"] == 2
    assert client.get(f"{DATASETS}/reviews/").json()["latest_version"] == 2


def test_resolve_is_served_from_the_shared_cache_until_the_label_moves(editing, monkeypatch):
    monkeypatch.setattr("prompts.resolve_cache.enabled", lambda: True)
    editing.post(f"{PROMPTS}/sentiment/versions/", {**FIRST, "max_tokens": 4}, format="json")
    editing.put(f"{PROMPTS}/sentiment/labels/production/", {"version": 1}, format="json")
    url = f"{PROMPTS}/sentiment/resolve/?label=production"

    first = editing.get(url)
    with CaptureQueriesContext(connection) as cached_queries:
        cached = editing.get(url)
    editing.put(f"{PROMPTS}/sentiment/labels/production/", {"version": 2}, format="json")
    moved = editing.get(url)
    editing.delete(f"{PROMPTS}/sentiment/")
    deleted = editing.get(url)

    assert cached.json() == first.json() and cached["ETag"] == first["ETag"]
    assert not any("prompts_promptlabel" in query["sql"] for query in cached_queries)
    assert moved.json()["version"]["number"] == 2 and moved["ETag"] != first["ETag"]
    assert deleted.status_code == 404


def test_resolve_with_any_label_text_answers_4xx_with_the_shared_cache_on(editing, monkeypatch):
    # Found by the schema fuzzer: a label with control characters made the cache key invalid (a 500).
    monkeypatch.setattr("prompts.resolve_cache.enabled", lambda: True)
    editing.post(f"{PROMPTS}/sentiment/versions/", FIRST, format="json")
    editing.put(f"{PROMPTS}/sentiment/labels/production/", {"version": 1}, format="json")

    for label in ("\x81\U00074f4dd\x19Â\x11 )", "x" * 300, "production "):
        response = editing.get(f"{PROMPTS}/sentiment/resolve/", {"label": label})
        assert 400 <= response.status_code < 500, (label, response.status_code)
    assert editing.get(f"{PROMPTS}/sentiment/resolve/?label=production").status_code == 200
