"""Every web UI page renders for a team member with what it promises: the run page's stepper, charts,
candidates, per-example table, confusion matrix and report; the diff word by word; the live partial that
stops polling when the run ends."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from tests.ui.conftest import signed_in
from workflows.models import Candidate, EvaluationRun, JobStatus, OptimizationRun, PlaygroundCall

pytestmark = pytest.mark.django_db


def _chart(body: str, element_id: str) -> dict:
    found = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', body, re.S)
    assert found, f"no chart data {element_id}"
    return json.loads(found.group(1))


def test_the_run_page_shows_the_steps_charts_candidates_examples_and_report(finished_run, editor):
    client = signed_in(editor)
    body = client.get(reverse("ui:run", args=["acme", finished_run.pk])).content.decode()

    assert body.count('data-step="') == 5 and body.count('data-status="succeeded"') == 5
    scores = _chart(body, "run-scores")
    iterations = finished_run.iterations.count()
    assert scores["data"]["labels"] == [f"iteration {index}" for index in range(1, iterations + 1)]
    best_so_far = scores["data"]["datasets"][3]["data"]
    assert best_so_far[-1] == pytest.approx(finished_run.best_score)
    calls = _chart(body, "run-calls")["data"]["datasets"][0]["data"]
    first_step = finished_run.iterations.get(index=1).steps.get(kind="primary_inference").summary["calls_after"]
    assert calls[0] == {"x": first_step, "y": finished_run.baseline_score} and first_step > 0
    assert calls[-1]["x"] <= finished_run.calls and calls[-1]["y"] == pytest.approx(finished_run.best_score)

    accepted = Candidate.objects.get(iteration__run=finished_run, accepted=True)
    assert reverse("ui:run_candidate", args=["acme", finished_run.pk, accepted.pk]) in body
    assert "Promote v2 to production" in body
    assert "Winner minus baseline: <strong>+0.500</strong>" in body
    # The winner answers with one of the labels: its confusion matrix has every test row on the diagonal.
    assert "expected ↓ / given →" in body and body.count('class="num diagonal">5<') == 2

    examples = client.get(
        reverse("ui:run_examples", args=["acme", finished_run.pk]), {"show": "improvements"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert examples.count('<tr class="better">') == 5  # the negative reviews the baseline got wrong
    regressions = client.get(reverse("ui:run_examples", args=["acme", finished_run.pk]), {"show": "regressions"})
    assert "No regressions examples here." in regressions.content.decode()


def test_the_live_partial_polls_while_the_run_works_and_asks_for_a_reload_when_it_ends(finished_run, editor):
    client = signed_in(editor)
    live = reverse("ui:run_live", args=["acme", finished_run.pk])
    finished = client.get(live, {"was": "active"})
    assert finished["HX-Refresh"] == "true" and 'hx-trigger="every 2s"' not in finished.content.decode()

    OptimizationRun.objects.filter(pk=finished_run.pk).update(status=JobStatus.RUNNING)
    running = client.get(live)
    assert 'hx-trigger="every 2s"' in running.content.decode() and "HX-Refresh" not in running


def test_the_diff_marks_changed_words_side_by_side(finished_run, editor):
    body = signed_in(editor).get(reverse("ui:version_diff", args=["acme", "sentiment"]), {"a": 1, "b": 2})
    text = body.content.decode()
    assert '<tr class="row-changed">' in text or '<tr class="row-added">' in text
    assert "<ins>" in text and "output_type" in text


def test_compare_shows_scores_with_intervals_and_the_examples_side_by_side(finished_run, editor):
    tests = list(EvaluationRun.objects.filter(optimization_run=finished_run).order_by("pk"))
    client = signed_in(editor)
    body = client.get(reverse("ui:compare", args=["acme"]), {"evaluations": [e.pk for e in tests]}).content.decode()
    assert "+0.500" in body and "reference" in body
    assert _chart(body, "compare-distribution")["type"] == "bar"
    wins = client.get(reverse("ui:compare", args=["acme"]), {"evaluations": [e.pk for e in tests], "show": "wins"})
    assert wins.content.decode().count('<tr class="win">') == 5

    by_versions = client.get(
        reverse("ui:compare", args=["acme"]),
        {
            "versions": [tests[0].version_id, tests[1].version_id],
            "dataset_version": tests[0].dataset_version_id,
            "split": "test",
        },
    )
    assert by_versions.status_code == 302 and f"evaluations={tests[0].pk}" in by_versions["Location"]


@pytest.mark.parametrize(
    "name, args",
    [
        ("ui:dashboard", []),
        ("ui:prompts", []),
        ("ui:prompt_new", []),
        ("ui:prompt", ["sentiment"]),
        ("ui:version", ["sentiment", 2]),
        ("ui:version_new", ["sentiment"]),
        ("ui:playground", ["sentiment", 1]),
        ("ui:datasets", []),
        ("ui:dataset_upload", []),
        ("ui:dataset_version", ["reviews", 1]),
        ("ui:runs", []),
        ("ui:run_new", []),
        ("ui:evaluations", []),
        ("ui:evaluation_new", []),
        ("ui:compare", []),
        ("ui:api_keys", []),
    ],
)
def test_every_page_has_a_title_saying_where_you_are(finished_run, editor, name, args):
    response = signed_in(editor).get(reverse(name, args=["acme", *args]))
    assert response.status_code == 200
    html = response.content.decode()
    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
    assert title.endswith("· Acme · PromptOpt") and len(title) > len("· Acme · PromptOpt")
    # A template comment or tag written wrongly (a `{# #}` over two lines) shows up as text on the page.
    assert not re.search(r"\{[#%]|[#%]\}", html), "template syntax leaked into the page"


def test_the_dashboard_features_the_latest_finished_run_with_its_report_and_charts(finished_run, editor):
    body = signed_in(editor).get(reverse("ui:dashboard", args=["acme"])).content.decode()
    assert f"run {finished_run.pk}</a> of Sentiment" in body
    assert _chart(body, "dash-scores")["type"] == "line"
    assert f">{finished_run.calls}<" in body  # this month's calls


def test_the_playground_renders_and_runs_a_version_once(catalog, editor, scripted_provider):
    client = signed_in(editor)
    url = reverse("ui:playground", args=["acme", "sentiment", 1])
    shown = client.post(url, {"action": "render", "var_text": "a good film"}).content.decode()
    assert "Classify the sentiment of this review: a good film" in shown and scripted_provider.calls == 0
    ran = client.post(url, {"action": "run", "var_text": "a good film"}, HTTP_HX_REQUEST="true").content.decode()
    assert scripted_provider.calls == 1 and '<pre class="answer">positive</pre>' in ran
    again = client.post(url, {"action": "run", "var_text": "a good film"}, HTTP_HX_REQUEST="true").content.decode()
    assert scripted_provider.calls == 1 and "from the team's cache" in again


def test_playground_calls_count_in_the_month_usage(catalog, editor, scripted_provider):
    client = signed_in(editor)
    url = reverse("ui:playground", args=["acme", "sentiment", 1])
    for _ in range(2):  # one provider call, then one answered by the cache
        client.post(url, {"action": "run", "var_text": "a good film"}, HTTP_HX_REQUEST="true")

    recorded = list(PlaygroundCall.objects.order_by("pk").values_list("cached", "created_by", "version"))
    assert recorded == [(False, editor.pk, catalog["version"].pk), (True, editor.pk, catalog["version"].pk)]
    body = signed_in(editor).get(reverse("ui:dashboard", args=["acme"])).content.decode()
    assert '<div class="stat">1</div><div class="muted">1 more answered by the cache' in body
    assert "2 playground calls" in body


def test_the_example_browser_searches_and_filters_by_split(catalog, editor):
    client = signed_in(editor)
    url = reverse("ui:dataset_version", args=["acme", "reviews", 1])
    body = client.get(url, {"split": "test", "q": "review 3:"}).content.decode()
    assert "test review 3: a bad film" in body and "train review 3" not in body
    assert "1 in all" not in body  # one page only: no pager
