"""PostgreSQL or Redis going away in the middle of a run, as a restart looks from a worker: every connection
cut, new ones refused for a few seconds, then accepted again. The run either carries on (Redis: the run itself
never needs the broker) or fails its attempt cleanly and is resumed by the reaper once the database is back
(PostgreSQL); either way it ends exactly as the uninterrupted run does, with every request counted once.

The outage is played by a TCP proxy that only the worker processes connect through (tests/workflows/tcp_proxy.py),
so this test's own connection stays up to watch; the real servers keep running for the other tests."""

from __future__ import annotations

import os
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings as django_settings
from django_q.models import Schedule

from accounts.models import Role
from tests.factories import MembershipFactory
from tests.workflows.fault_servers import ModelServer
from tests.workflows.run_checks import predictions_per_step, run_result
from tests.workflows.scripted_runs import (
    REAPER_TASK,
    TIMEOUT,
    Reference,
    queue_run,
    reference_run,
    resume_and_finish,
    wait_until_finished,
    worker_environment,
)
from tests.workflows.tcp_proxy import TcpProxy, tcp_proxy
from tests.workflows.worker_processes import database_url, needs_postgres_and_redis, wait_for, worker_process
from workflows.models import JobStatus, OptimizationRun

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), needs_postgres_and_redis]

OUTAGE_SECONDS = 5.0


def _through(url: str, proxy: TcpProxy) -> str:
    """The same URL with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@127.0.0.1:{proxy.port}" if credentials else f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _outage_at(server: ModelServer, proxy: TcpProxy, request: int) -> threading.Event:
    """When the server receives `request`, the proxied service goes away for OUTAGE_SECONDS (the request
    itself is answered); the event is set once it is back."""
    over = threading.Event()

    def outage_ends() -> None:
        time.sleep(OUTAGE_SECONDS)
        proxy.outage_ends()
        over.set()

    def on_request(number: int) -> bool:
        if number == request:
            # Begun before the answer leaves, so the worker's first write after it is the one that fails.
            proxy.outage_begins()
            threading.Thread(target=outage_ends, daemon=True).start()
        return False

    with server.lock:
        server.calls = 0
    server.on_request = on_request
    return over


def _assert_as_uninterrupted(run: OptimizationRun, reference: Reference, server: ModelServer, *, resent: int) -> None:
    assert run_result(run) == reference.result
    assert predictions_per_step(run) == reference.predictions
    # Every request the server received is on the books, and only `resent` of the reference's were sent twice.
    assert run.calls == server.calls == reference.calls + resent


def test_a_database_outage_fails_the_attempt_cleanly_and_the_run_resumes_when_it_is_back(
    team, editor, scripted_server, provider_settings
):
    reference = reference_run(editor, scripted_server)
    Schedule.objects.filter(func=REAPER_TASK).delete()
    host, port = django_settings.DATABASES["default"]["HOST"], django_settings.DATABASES["default"]["PORT"]
    with tcp_proxy(host or "127.0.0.1", int(port or 5432)) as database:
        environment = worker_environment(scripted_server, DATABASE_URL=_through(database_url(), database))
        with worker_process(name="worker", **environment) as worker:
            worker.wait_until_running()
            first, last = reference.step_requests((1, "refined_inference"))
            back = _outage_at(scripted_server, database, (first + last) // 2)
            run = queue_run(team, editor, enqueue=True)
            wait_for(back.is_set, timeout=TIMEOUT, what="the database outage to pass", details=worker.tail)
            scripted_server.on_request = None
            assert database.cut_connections > 0

            # The attempt stopped at its first write after the cut, leaving the run to its lease; nothing
            # half-written, nothing finished.
            wait_for(
                lambda: "database error; the run will be resumed" in worker.output(),
                timeout=60,
                what="the worker to give the attempt up",
                details=worker.tail,
            )
            run.refresh_from_db()
            assert run.status == JobStatus.RUNNING and run.attempts == 1 and run.finished_at is None
            # The same worker process takes it again once the reaper hands it over.
            run = resume_and_finish(run, worker)

    assert run.status == JobStatus.SUCCEEDED and run.attempts == 2, f"{run.error_message}\n{worker.tail()}"
    # The answer that arrived as the database went away could be neither cached nor booked: the worker gave
    # the attempt up at that write, and the resumed step asked for it again.
    _assert_as_uninterrupted(run, reference, scripted_server, resent=1)


def test_a_broker_outage_does_not_disturb_a_run_and_the_workers_take_new_runs_after_it(
    team, other_team, editor, scripted_server, provider_settings
):
    MembershipFactory(team=other_team, user=editor, role=Role.EDITOR)
    reference = reference_run(editor, scripted_server)
    redis = urlsplit(os.environ["REDIS_URL"])
    with tcp_proxy(redis.hostname or "127.0.0.1", redis.port or 6379) as broker:
        environment = worker_environment(scripted_server, REDIS_URL=_through(os.environ["REDIS_URL"], broker))
        with worker_process(name="worker", **environment) as worker:
            worker.wait_until_running()
            first, last = reference.step_requests((1, "refined_inference"))
            back = _outage_at(scripted_server, broker, (first + last) // 2)
            run = queue_run(team, editor, enqueue=True)
            wait_for(back.is_set, timeout=TIMEOUT, what="the broker outage to pass", details=worker.tail)
            scripted_server.on_request = None
            assert broker.cut_connections > 0
            run = wait_until_finished(run, worker, what="the run to finish")
            assert run.status == JobStatus.SUCCEEDED and run.attempts == 1, f"{run.error_message}\n{worker.tail()}"
            _assert_as_uninterrupted(run, reference, scripted_server, resent=0)

            # The cluster reconnected: a run queued after the outage is delivered and done.
            with scripted_server.lock:
                scripted_server.calls = 0
            later = queue_run(other_team, editor, enqueue=True)
            later = wait_until_finished(later, worker, what="a run queued after the outage to finish")
    assert later.status == JobStatus.SUCCEEDED, later.error_message
