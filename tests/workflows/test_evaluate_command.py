"""`manage.py evaluate` on the real embedded model: score, interval, usage, JSON output, cache on repeat."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.actors import Actor
from prompts.content import PromptContent
from prompts.importers import ImportOptions
from prompts.models import Layout, OutputType
from prompts.services import dataset_version_import, prompt_create

pytestmark = pytest.mark.integration

ROWS = [
    ("An absolute delight from start to finish.", "positive"),
    ("Dull, slow and far too long.", "negative"),
    ("The best film I have seen this year.", "positive"),
    ("I walked out after twenty minutes.", "negative"),
    ("Warm, funny and beautifully acted.", "positive"),
    ("A boring mess with no story.", "negative"),
]


@pytest.fixture
def sentiment(team, editor):
    prompt_create(
        team=team,
        name="Sentiment",
        actor=Actor.for_user(editor),
        first_version=PromptContent(
            template="Review: {{text}}\nSentiment:",
            layout=Layout.COMPLETION,
            output_type=OutputType.CHOICE,
            output_choices=["positive", "negative"],
            demonstrations=(({"text": "Loved it."}, "positive"),),
        ),
    )
    content = ("text,target,split\n" + "\n".join(f'"{t}",{label},test' for t, label in ROWS)).encode()
    dataset_version_import(
        team=team,
        dataset_name="Reviews",
        file_name="r.csv",
        content=content,
        options=ImportOptions(),
        actor=Actor.for_user(editor),
    )


def evaluate(*args: str) -> str:
    out = StringIO()
    call_command("evaluate", "--team", "acme", "--prompt", "sentiment", "--dataset", "reviews", *args, stdout=out)
    return out.getvalue()


def test_it_evaluates_on_the_local_model_and_answers_a_repeat_from_the_cache(sentiment, tmp_path):
    report = tmp_path / "result.json"

    first = evaluate("--json", str(report))
    second = evaluate()

    result = json.loads(report.read_text())
    assert result["status"] == "succeeded" and result["examples"] == 6 and result["scored"] == 6
    assert 0.0 <= result["interval_95"][0] <= result["score"] <= result["interval_95"][1] <= 1.0
    assert result["calls"] == 6 and result["cached_calls"] == 0 and result["input_tokens"] > 0
    assert "calls 6, cached calls 0" in first
    assert "calls 0, cached calls 6" in second


def test_it_explains_an_unknown_prompt_or_metric(sentiment):
    with pytest.raises(CommandError, match="no prompt 'nope'"):
        call_command("evaluate", "--team", "acme", "--prompt", "nope", "--dataset", "reviews")
    with pytest.raises(CommandError, match="metric"):
        evaluate("--metric", '{"name": "regex", "pattern": "("}')
