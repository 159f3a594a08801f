"""A real django-q2 worker process picks up a queued evaluation and runs it on the embedded model."""

from __future__ import annotations

import os

import pytest

from accounts.actors import Actor
from prompts.content import PromptContent
from prompts.importers import ImportOptions
from prompts.models import Layout, OutputType
from prompts.services import dataset_version_import, prompt_create
from prompts.splits import Split
from tests.workflows.worker_processes import wait_for, worker_process
from workflows.models import EvaluationRun, JobStatus
from workflows.services import evaluation_create

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    # The worker is another process: it needs a database server it can reach, not SQLite in memory.
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="a worker process needs PostgreSQL"
    ),
]


def test_it_runs_a_queued_evaluation_in_a_worker_process(team, editor):
    prompt = prompt_create(
        team=team,
        name="Sentiment",
        actor=Actor.for_user(editor),
        first_version=PromptContent(
            template="Review: {{text}}\nSentiment:",
            layout=Layout.COMPLETION,
            output_type=OutputType.CHOICE,
            output_choices=["positive", "negative"],
        ),
    )
    rows = "text,target,split\nLovely film,positive,test\nTerrible film,negative,test\nGreat fun,positive,test\n"
    dataset_version = dataset_version_import(
        team=team,
        dataset_name="Reviews",
        file_name="r.csv",
        content=rows.encode(),
        options=ImportOptions(),
        actor=Actor.for_user(editor),
    ).version
    evaluation = evaluation_create(
        team=team,
        version=prompt.versions.get(),
        dataset_version=dataset_version,
        split=Split.TEST,
        config={"metric": {"name": "choice", "choices": ["positive", "negative"]}},
        actor=Actor.for_user(editor),
    )  # enqueued when this (autocommitted) transaction commits

    with worker_process(name="evaluation", WORKERS="1") as worker:
        wait_for(
            lambda: EvaluationRun.objects.get(pk=evaluation.pk).is_finished,
            timeout=90,
            what="the evaluation",
            details=worker.tail,
        )
    evaluation.refresh_from_db()
    output = worker.output()

    assert evaluation.status == JobStatus.SUCCEEDED, output[-2000:]
    assert (evaluation.example_count, evaluation.scored_count, evaluation.calls) == (3, 3, 3)
    assert f"run=evaluation-{evaluation.pk}" in output  # the worker's log lines carry the run id
    assert EvaluationRun.objects.get(pk=evaluation.pk).attempts == 1
