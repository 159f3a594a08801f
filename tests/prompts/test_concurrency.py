"""Concurrent first writes (a new label, a new dataset) serialise instead of failing (PostgreSQL only)."""

from __future__ import annotations

import os
import threading

import pytest
from django.db import connection

from prompts.content import PromptContent
from prompts.importers import ImportOptions
from prompts.models import Dataset, PromptLabel, PromptLabelMove
from prompts.services import dataset_version_import, label_move, prompt_create, version_create
from tests.factories import SYSTEM_ACTOR

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="row locks need PostgreSQL"
    ),
]


def _run_together(*calls):
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call):
        try:
            barrier.wait()
            call()
        except BaseException as error:  # reported to the test below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_it_creates_a_new_label_once_when_two_moves_race(team):
    prompt = prompt_create(team=team, name="P", actor=SYSTEM_ACTOR, first_version=PromptContent(template="{{x}}"))
    v1 = prompt.versions.get()
    v2 = version_create(prompt=prompt, draft=PromptContent(template="X: {{x}}"), actor=SYSTEM_ACTOR)

    errors = _run_together(
        lambda: label_move(prompt=prompt, name="production", version=v1, actor=SYSTEM_ACTOR),
        lambda: label_move(prompt=prompt, name="production", version=v2, actor=SYSTEM_ACTOR),
    )

    assert errors == []
    assert PromptLabel.objects.filter(prompt=prompt, name="production").count() == 1
    assert PromptLabelMove.objects.filter(prompt=prompt).count() == 2


def test_it_creates_a_new_dataset_once_when_two_first_imports_race(team):
    def import_rows(text):
        return lambda: dataset_version_import(
            team=team,
            dataset_name="Reviews",
            file_name="r.csv",
            content=f"text,target\n{text},positive\n".encode(),
            options=ImportOptions(),
            actor=SYSTEM_ACTOR,
        )

    errors = _run_together(import_rows("great"), import_rows("superb"))

    assert errors == []
    dataset = Dataset.objects.get(team=team, slug="reviews")
    assert sorted(dataset.versions.values_list("number", flat=True)) == [1, 2]
