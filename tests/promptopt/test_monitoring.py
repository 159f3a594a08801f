"""What monitoring reads: /healthz checks the database, the cache and the broker (503 naming what failed), and
/metrics gives Prometheus the job, call, failure and queue counts that the database and the broker hold."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from django_q.brokers import get_broker
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import EvaluationRunFactory, OptimizationRunFactory

pytestmark = pytest.mark.django_db

TOKEN = "a-scraper-token-of-some-length"


def test_health_checks_the_database_the_cache_and_the_broker():
    response = Client().get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker"}
    assert all(check["ok"] for check in body["checks"].values())
    assert {check["detail"] for check in body["checks"].values()} == {"answered"}
    assert response["Cache-Control"].startswith("max-age=0")


def test_health_answers_503_naming_the_failed_service_without_its_address(monkeypatch):
    def refused(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to 10.0.0.7:6379. Connection refused.")

    monkeypatch.setattr(cache, "set", refused)

    response = Client().get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["cache"] == {"ok": False, "ms": body["checks"]["cache"]["ms"], "detail": "ConnectionError"}
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]
    assert b"10.0.0.7" not in response.content


def test_metrics_do_not_exist_without_a_token_and_need_it_when_set(settings):
    settings.METRICS_TOKEN = None
    assert Client().get("/metrics").status_code == 404

    settings.METRICS_TOKEN = TOKEN
    missing = Client().get("/metrics")
    wrong = Client().get("/metrics", headers={"Authorization": "Bearer not-the-token-at-all"})
    right = Client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert missing["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert right["Content-Type"].startswith("text/plain; version=")


def _scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = Client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_metrics_count_jobs_calls_failures_and_the_queue(settings):
    settings.METRICS_TOKEN = TOKEN
    OptimizationRunFactory(status="succeeded", calls=120, cached_calls=30, input_tokens=5000, output_tokens=400)
    OptimizationRunFactory(status="succeeded", calls=80)
    OptimizationRunFactory(status="failed", calls=7)
    EvaluationRunFactory(status="running", calls=12, retries=5, failed_calls=2)
    broker = get_broker()
    before = _scrape()[("promptopt_task_queue_depth", ())]

    payload = "monitoring-test-task"
    broker.enqueue(payload)
    try:
        seen = _scrape()
    finally:
        if hasattr(broker, "connection") and hasattr(
            broker.connection, "lrem"
        ):  # Redis: outside the test's transaction
            broker.connection.lrem(broker.list_key, 0, payload)

    assert seen[("promptopt_jobs", (("kind", "optimization"), ("status", "succeeded")))] == 2
    assert seen[("promptopt_jobs", (("kind", "optimization"), ("status", "failed")))] == 1
    assert seen[("promptopt_jobs", (("kind", "optimization"), ("status", "queued")))] == 0
    assert seen[("promptopt_jobs", (("kind", "evaluation"), ("status", "running")))] == 1
    assert seen[("promptopt_provider_calls_total", (("source", "optimization"),))] == 207
    assert seen[("promptopt_provider_calls_total", (("source", "evaluation"),))] == 12
    assert seen[("promptopt_cached_calls_total", (("source", "optimization"),))] == 30
    assert seen[("promptopt_tokens_total", (("direction", "input"), ("source", "optimization")))] == 5000
    assert seen[("promptopt_failed_calls_total", (("source", "evaluation"),))] == 2
    assert seen[("promptopt_failed_calls_total", (("source", "optimization"),))] == 0
    assert seen[("promptopt_retries_total", (("source", "evaluation"),))] == 5
    assert seen[("promptopt_task_queue_depth", ())] == before + 1
