"""Provider faults: a run whose provider answers 30 % of calls with 429, 5xx, timeouts or garbled bodies ends
exactly as it does without faults, with the retries counted and shown; when every call fails, the run ends
failed with a clear reason and keeps what it had completed.

Real HTTP end to end: the `huggingface` provider (as configured for a self-hosted TGI / vLLM / llama.cpp
server) talks to a fault-injecting proxy in front of a scripted OpenAI-compatible model server."""

from __future__ import annotations

import pytest

from accounts.actors import Actor
from prompts.content import PromptContent
from prompts.importers import ImportOptions
from prompts.services import dataset_version_import, prompt_create
from tests.ui.conftest import reviews_csv
from tests.workflows.fault_servers import FAULTS, FaultProxy, ModelServer, serving
from tests.workflows.run_checks import run_result
from workflows.models import JobStatus, OptimizationRun, Prediction
from workflows.run_runner import run_execute
from workflows.services import run_create

pytestmark = pytest.mark.django_db

# Every fault but the slow one, for the run where every call fails (timeouts there only add minutes).
QUICK_FAULTS = tuple(fault for fault in FAULTS if fault != "timeout")
CONFIG = {"seed": 3, "iterations": 2, "patience": 5, "fresh": True}


@pytest.fixture
def model_server():
    with serving(ModelServer()) as server:
        yield server


@pytest.fixture
def fast_retries(settings):
    settings.ALLOW_PRIVATE_BASE_URLS = True
    settings.HF_TOKEN = None
    settings.PROVIDER_TIMEOUT_SECONDS = 2.0  # the proxy's timeout fault answers after 2.5 s
    settings.PROVIDER_RETRY_ATTEMPTS = 4
    settings.PROVIDER_RETRY_FIRST_WAIT_SECONDS = 0.02
    settings.PROVIDER_RETRY_TOTAL_WAIT_SECONDS = 60
    # The lease heartbeat runs on its own database connection, which cannot see this test's uncommitted run
    # on PostgreSQL: a heartbeat within the run would find no row and report the lease lost.
    settings.JOB_LEASE_SECONDS = 3600
    return settings


def _run(team, editor, settings, base_url: str) -> OptimizationRun:
    settings.HF_BASE_URL = base_url
    actor = Actor.for_user(editor)
    prompt = prompt_create(
        team=team,
        name=f"Sentiment {OptimizationRun.objects.count()}",
        actor=actor,
        first_version=PromptContent(template="What do you think of this review? {{text}}", provider="huggingface"),
    )
    dataset_version = dataset_version_import(
        team=team,
        dataset_name=f"Reviews {OptimizationRun.objects.count()}",
        file_name="r.csv",
        content=reviews_csv(),
        options=ImportOptions(),
        actor=actor,
    ).version
    run = run_create(
        team=team, version=prompt.versions.get(), dataset_version=dataset_version, config=CONFIG, actor=actor
    )
    return run_execute(run_id=run.pk)


def _outcome(run: OptimizationRun) -> dict[str, object]:
    return {**run_result(run), "calls": run.calls, "failed_calls": run.failed_calls}


def test_a_run_through_30_percent_faults_ends_as_it_does_without_them(team, editor, model_server, fast_retries):
    clean = _run(team, editor, fast_retries, model_server.url)
    with serving(FaultProxy(model_server.url, rate=0.3, seed=7, timeout_seconds=2.5)) as proxy:
        faulty = _run(team, editor, fast_retries, proxy.url)

    assert clean.status == JobStatus.SUCCEEDED, clean.error_message
    assert clean.best_test_score > clean.baseline_test_score  # the search found something, on real HTTP
    assert _outcome(faulty) == _outcome(clean)
    assert set(proxy.faults) == set(FAULTS), proxy.faults  # every kind of fault was served
    injected = sum(proxy.faults.values())
    assert injected > 0.2 * (injected + proxy.forwarded)
    # Every fault cost a retry and each was counted (a busy machine may add a genuine timeout of its own).
    assert faulty.retries >= injected > clean.retries
    assert faulty.report["usage"]["retries"] == faulty.retries


def test_when_every_call_fails_the_run_fails_with_the_reason_and_keeps_its_work(
    team, editor, model_server, fast_retries
):
    fast_retries.PROVIDER_RETRY_ATTEMPTS = 2
    with serving(FaultProxy(model_server.url, rate=1.0, seed=1, faults=QUICK_FAULTS)) as proxy:
        run = _run(team, editor, fast_retries, proxy.url)

    assert run.status == JobStatus.FAILED, (run.status, run.stop_reason, run.error_message)
    assert "failed" in run.error_message and "huggingface" in run.error_message, run.error_message
    assert run.failed_calls > 0 and run.retries > 0
    kept = Prediction.objects.filter(step__iteration__run=run)
    assert kept.exists() and all(kept.values_list("error", flat=True))  # the failed calls are on record
    assert not run.iterations.filter(status__in=["pending", "running"]).exists()
