"""`optimize --background` and `evaluate --background`: validated like foreground runs, queued for the
workers, the id printed alone on stdout for scripts."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.actors import Actor
from prompts.content import PromptContent
from prompts.importers import ImportOptions
from prompts.services import dataset_version_import, prompt_create
from tests.engine.engine_support import SentimentProvider
from tests.workflows.test_optimization import _rows
from workflows.models import EvaluationRun, JobStatus, OptimizationRun

TARGET = ("--team", "acme", "--prompt", "sentiment", "--dataset", "reviews")


@pytest.fixture
def target(team, editor, monkeypatch):
    scripted = SentimentProvider()
    monkeypatch.setattr("workflows.services.provider_build", lambda **kwargs: scripted)
    actor = Actor.for_user(editor)
    prompt_create(team=team, name="Sentiment", actor=actor, first_version=PromptContent(template="{{text}}"))
    dataset_version_import(
        team=team,
        dataset_name="Reviews",
        file_name="r.csv",
        content=_rows().encode(),
        options=ImportOptions(),
        actor=actor,
    )
    return scripted


def _run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_optimize_background_queues_the_run_and_prints_its_id(target, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr("workflows.services._enqueue_run", queued.append)

    with django_capture_on_commit_callbacks(execute=True):
        out, err = _run("optimize", *TARGET, "--background", "--max-calls", "300", "--as", "eddie")

    run = OptimizationRun.objects.get()
    assert out.strip() == str(run.pk) and f"Queued run {run.pk}" in err
    assert queued == [run.pk] and run.status == JobStatus.QUEUED
    assert run.config["budget"]["max_calls"] == 300 and run.created_by.username == "eddie"
    assert target.calls == 0


def test_evaluate_background_queues_the_evaluation(target, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr("workflows.services._enqueue_evaluation", queued.append)

    with django_capture_on_commit_callbacks(execute=True):
        out, _err = _run("evaluate", *TARGET, "--split", "validation", "--background")

    evaluation = EvaluationRun.objects.get()
    assert out.strip() == str(evaluation.pk) and queued == [evaluation.pk]
    assert evaluation.created_by is None  # the system acted: no --as


def test_background_runs_cannot_write_a_report_file(target, tmp_path):
    with pytest.raises(CommandError, match="--json writes the report of a foreground run"):
        _run("optimize", *TARGET, "--background", "--json", str(tmp_path / "r.json"))
    assert not OptimizationRun.objects.exists()


def test_a_viewer_cannot_start_a_run_from_the_command_line(target, viewer):
    with pytest.raises(CommandError, match="may not change team 'acme'"):
        _run("optimize", *TARGET, "--background", "--as", "vera")
