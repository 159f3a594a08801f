"""A team with a prompt, a dataset and (when asked) a finished optimization run, for the web UI's tests.

The run is real (the engine, the recorder, the final test) on a scripted provider: free text is always
"positive", constrained to labels it is right, so the search finds a winner with choice outputs.
"""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.actors import Actor
from prompts.content import PromptContent
from prompts.importers import ImportOptions
from prompts.services import dataset_version_import, prompt_create
from tests.engine.engine_support import SentimentProvider
from workflows.models import OptimizationRun
from workflows.run_runner import run_execute
from workflows.services import run_create


def reviews_csv() -> bytes:
    lines = ["text,target,split"]
    for split, count in (("train", 16), ("validation", 12), ("test", 10)):
        for index in range(count):
            word, label = ("good", "positive") if index % 2 == 0 else ("bad", "negative")
            lines.append(f"{split} review {index}: a {word} film,{label},{split}")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def scripted_provider(monkeypatch):
    scripted = SentimentProvider()
    for where in ("workflows.run_runner", "workflows.services", "workflows.playground"):
        monkeypatch.setattr(f"{where}.provider_build", lambda **kwargs: scripted)
    return scripted


@pytest.fixture
def catalog(team, editor):
    actor = Actor.for_user(editor)
    prompt = prompt_create(
        team=team,
        name="Sentiment",
        actor=actor,
        first_version=PromptContent(template="Classify the sentiment of this review: {{text}}"),
    )
    dataset_version = dataset_version_import(
        team=team,
        dataset_name="Reviews",
        file_name="reviews.csv",
        content=reviews_csv(),
        options=ImportOptions(),
        actor=actor,
    ).version
    return {"prompt": prompt, "version": prompt.versions.get(), "dataset_version": dataset_version}


@pytest.fixture
def finished_run(team, editor, catalog, scripted_provider) -> OptimizationRun:
    run = run_create(
        team=team,
        version=catalog["version"],
        dataset_version=catalog["dataset_version"],
        config={"seed": 1, "iterations": 2, "patience": 5},
        actor=Actor.for_user(editor),
        enqueue=False,
    )
    finished = run_execute(run_id=run.pk)
    assert finished.best_version is not None, finished.error_message
    return finished


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client
