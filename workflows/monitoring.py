"""What a deployment's monitoring reads: the health of the database, cache and task broker, and Prometheus
counters of jobs, provider calls, failed calls and the task queue.

The counters are read from the database at scrape time rather than kept in process memory: with several web
processes and several worker clusters on several machines, only the database knows the totals, and any web
process can answer a scrape with the same numbers. (Deleting a team's runs lowers these sums; Prometheus
reads a counter that went down as a reset, which `rate()` and `increase()` handle.)
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Q, Sum
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from workflows.models import EvaluationRun, JobStatus, OptimizationRun, PlaygroundCall

logger = logging.getLogger(__name__)

JOB_KINDS: dict[str, type[OptimizationRun] | type[EvaluationRun]] = {
    "optimization": OptimizationRun,
    "evaluation": EvaluationRun,
}


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    milliseconds: float
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "ms": round(self.milliseconds, 1), "detail": self.detail}


def _timed(name: str, probe: Callable[[], str]) -> CheckResult:
    started = time.perf_counter()
    try:
        detail = probe()
    except Exception as error:
        # The answer is public: it names the kind of failure; the message (hosts, ports) goes to the log only.
        logger.warning("health check %s failed: %s", name, error)
        return CheckResult(name, False, (time.perf_counter() - started) * 1000, type(error).__name__)
    return CheckResult(name, True, (time.perf_counter() - started) * 1000, detail)


# The answer is public: it says whether each service answered, not which versions or how many tasks wait.
def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "answered"


def _cache() -> str:
    # A real round trip: write a unique value and read it back (Redis down makes this fail, not pass).
    key, value = f"healthz:{uuid.uuid4().hex}", uuid.uuid4().hex
    cache.set(key, value, timeout=10)
    if cache.get(key) != value:
        raise RuntimeError("a value written to the cache did not come back")
    cache.delete(key)
    return "answered"


def _broker() -> str:
    from django_q.brokers import get_broker

    broker = get_broker()
    if not broker.ping():
        raise RuntimeError("the broker did not answer")
    broker.queue_size()  # a real round trip on either broker (the ORM broker's ping answers without one)
    return "answered"


def health_checks() -> list[CheckResult]:
    return [_timed("database", _database), _timed("cache", _cache), _timed("broker", _broker)]


class PromptOptCollector(Collector):
    """Prometheus metrics computed from the database (and the broker's queue) at each scrape."""

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            "promptopt_jobs", "Optimization runs and evaluations by status.", labels=["kind", "status"]
        )
        calls = CounterMetricFamily(
            "promptopt_provider_calls", "Provider calls made (not answered by the cache).", labels=["source"]
        )
        cached = CounterMetricFamily("promptopt_cached_calls", "Calls answered by the call cache.", labels=["source"])
        tokens = CounterMetricFamily("promptopt_tokens", "Tokens sent and received.", labels=["source", "direction"])
        retries = CounterMetricFamily(
            "promptopt_retries", "Provider faults absorbed by retrying a call.", labels=["source"]
        )
        failed = CounterMetricFamily(
            "promptopt_failed_calls", "Calls that failed after their retries (no output).", labels=["source"]
        )
        for kind, model in JOB_KINDS.items():
            by_status = dict(model.objects.order_by().values_list("status").annotate(n=Count("id")))
            for status in JobStatus.values:
                jobs.add_metric([kind, status], by_status.get(status, 0))
            totals = model.objects.aggregate(
                calls=Sum("calls"),
                cached=Sum("cached_calls"),
                retried=Sum("retries"),
                failed=Sum("failed_calls"),
                sent=Sum("input_tokens"),
                received=Sum("output_tokens"),
            )
            retries.add_metric([kind], totals["retried"] or 0)
            failed.add_metric([kind], totals["failed"] or 0)
            calls.add_metric([kind], totals["calls"] or 0)
            cached.add_metric([kind], totals["cached"] or 0)
            tokens.add_metric([kind, "input"], totals["sent"] or 0)
            tokens.add_metric([kind, "output"], totals["received"] or 0)
        playground = PlaygroundCall.objects.aggregate(
            calls=Count("id", filter=Q(cached=False)),
            cached=Count("id", filter=Q(cached=True)),
            sent=Sum("input_tokens"),
            received=Sum("output_tokens"),
        )
        calls.add_metric(["playground"], playground["calls"] or 0)
        cached.add_metric(["playground"], playground["cached"] or 0)
        tokens.add_metric(["playground", "input"], playground["sent"] or 0)
        tokens.add_metric(["playground", "output"], playground["received"] or 0)
        playground_failed = PlaygroundCall.objects.exclude(error_message="").count()
        failed.add_metric(["playground"], playground_failed)
        yield from (jobs, calls, cached, tokens, retries, failed)

        queue = GaugeMetricFamily("promptopt_task_queue_depth", "Tasks waiting in the broker for a worker.")
        queue.add_metric([], _queue_depth())
        yield queue


def _queue_depth() -> float:
    from django_q.brokers import get_broker

    try:
        return float(get_broker().queue_size() or 0)
    except Exception:
        return float("nan")
