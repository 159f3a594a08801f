"""On the real embedded model: the same config and seed give the same winner and the same scores."""

from __future__ import annotations

import pytest

from accounts.actors import Actor
from accounts.services import team_create
from prompts.content import PromptContent
from prompts.importers import ImportOptions
from prompts.services import dataset_version_import, prompt_create
from workflows.models import JobStatus
from workflows.run_runner import run_execute
from workflows.services import run_create

# transaction=True: the run's heartbeat thread uses its own connection and must see the committed run.
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REVIEWS = [
    ("A warm, funny and moving film.", "positive"),
    ("Dull, slow and far too long.", "negative"),
    ("The best thing I have seen this year.", "positive"),
    ("A waste of a talented cast.", "negative"),
    ("Charming from start to finish.", "positive"),
    ("I walked out after twenty minutes.", "negative"),
    ("Beautifully shot and well acted.", "positive"),
    ("The plot makes no sense at all.", "negative"),
    ("A delight for the whole family.", "positive"),
    ("Boring characters and a lazy script.", "negative"),
    ("Clever, tense and surprising.", "positive"),
    ("An ugly, joyless mess.", "negative"),
    ("I laughed all the way through.", "positive"),
    ("Painfully predictable.", "negative"),
    ("A small masterpiece.", "positive"),
    ("The worst sequel yet.", "negative"),
    ("Smart writing and a great ending.", "positive"),
    ("Loud, empty and tiresome.", "negative"),
    ("Heartfelt and beautifully made.", "positive"),
    ("Nothing works in this film.", "negative"),
    ("A joy to watch.", "positive"),
    ("Flat jokes and wooden acting.", "negative"),
    ("Gripping and wonderfully acted.", "positive"),
    ("A tedious, forgettable film.", "negative"),
]


def _optimize(editor, name: str):
    team = team_create(name=name, actor=Actor.for_user(editor))
    prompt = prompt_create(
        team=team,
        name="Sentiment",
        actor=Actor.for_user(editor),
        first_version=PromptContent(
            system_instruction="Classify the sentiment of the review as positive or negative.",
            template="{{text}}",
            max_tokens=16,
        ),
    )
    splits = ["train"] * 10 + ["validation"] * 8 + ["test"] * 6
    lines = ["text,target,split"] + [
        f'"{text}",{label},{split}' for (text, label), split in zip(REVIEWS, splits, strict=True)
    ]
    dataset_version = dataset_version_import(
        team=team,
        dataset_name="Reviews",
        file_name="reviews.csv",
        content=("\n".join(lines) + "\n").encode(),
        options=ImportOptions(),
        actor=Actor.for_user(editor),
    ).version
    run = run_create(
        team=team,
        version=prompt.versions.get(),
        dataset_version=dataset_version,
        config={
            "seed": 7,
            "iterations": 2,
            "patience": 5,
            "minibatch_size": 4,
            "candidates_per_iteration": 3,
            "survivors": 1,
        },
        actor=Actor.for_user(editor),
        enqueue=False,
    )
    return run_execute(run_id=run.pk)


def test_the_same_config_and_seed_give_the_same_winner_and_scores(editor):
    # Two teams, so the second run shares no cached answer with the first: every call is made again.
    first = _optimize(editor, "First team")
    second = _optimize(editor, "Second team")
    assert first.status == second.status == JobStatus.SUCCEEDED
    assert second.cached_calls == first.cached_calls
    assert second.calls == first.calls > 0
    assert first.report["winner"]["content"] == second.report["winner"]["content"]
    assert first.report["baseline"] == second.report["baseline"]
    assert first.report["winner"]["test"] == second.report["winner"]["test"]
    assert first.report["test_difference"] == second.report["test_difference"]
