"""Real django-q2 worker processes (`manage.py qcluster`) for integration tests: start, wait for, stop, kill."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from django.db import connection

from promptopt.env import BASE_DIR

T = TypeVar("T")

# Workers are other processes: they need a database server they can reach and a broker they share.
needs_postgres_and_redis = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"),
    reason="worker processes need PostgreSQL and Redis",
)

# What django-q2 logs once the sentinel has started the pusher, the monitor and every worker.
CLUSTER_RUNNING = re.compile(r"Q Cluster [\w-]+ (\[\S+\] )?running\.")


def database_url() -> str:
    """The test database as a DATABASE_URL, so a worker process writes where the test reads."""
    settings = connection.settings_dict
    user = settings["USER"] or "postgres"
    password = f":{settings['PASSWORD']}" if settings["PASSWORD"] else ""
    return f"postgres://{user}{password}@{settings['HOST']}:{settings['PORT'] or 5432}/{settings['NAME']}"


def wait_for(
    condition: Callable[[], T],
    *,
    timeout: float,
    interval: float = 0.5,
    what: str = "",
    details: Callable[[], str] | None = None,
) -> T:
    """Poll until `condition()` returns something truthy and return it; AssertionError after `timeout` seconds,
    with `details()` (say, the workers' logs) in its message."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            message = f"gave up after {timeout:.0f} s waiting for {what or condition}"
            raise AssertionError(f"{message}\n{details()}" if details is not None else message)
        time.sleep(interval)


class WorkerProcess:
    """One `qcluster` in its own session (process group), logging to an anonymous temporary file.

    A file, because a pipe nobody reads fills up after 64 KB of log lines and then blocks the worker; an
    anonymous one, because pytest deletes old `tmp_path` folders while other sessions run. Its own session,
    because the cluster forks a sentinel, a pusher, a monitor and workers: killing only the parent would leave
    them running, so a kill, and the last step of every stop, signals the whole group.
    """

    def __init__(self, *, name: str, env: dict[str, str]) -> None:
        self.name = name
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self._final_output: str | None = None
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        """Everything the cluster has logged so far (or, once stopped, in all)."""
        if self._final_output is not None:
            return self._final_output
        descriptor = self._log.fileno()
        return os.pread(descriptor, os.fstat(descriptor).st_size, 0).decode("utf-8", errors="replace")

    def tail(self, characters: int = 6000) -> str:
        return f"--- worker {self.name} (last {characters} characters) ---\n{self.output()[-characters:]}"

    def wait_until_running(self, *, timeout: float = 180) -> None:
        """Until django-q2 reports the cluster running: its pusher then waits on the broker for tasks."""

        def running() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"worker {self.name} exited with {self.process.returncode}\n{self.tail()}")
            return CLUSTER_RUNNING.search(self.output()) is not None

        wait_for(running, timeout=timeout, interval=0.2, what=f"worker {self.name} to start")

    def kill(self) -> None:
        """SIGKILL the whole process group, as when a machine is lost: no clean-up code runs anywhere in it."""
        with contextlib.suppress(ProcessLookupError):  # the group is already gone
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=60)

    def stop(self, *, timeout: float = 30) -> None:
        """Ask the cluster to stop, then make sure nothing of it is left; idempotent, safe after kill().

        SIGINT, because django-q2's SIGTERM shutdown can hang; a cluster still busy with a task after
        `timeout` seconds (a failing test) is killed rather than waited for.
        """
        if self._final_output is not None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        self.kill()  # also reaps any child the parent left behind
        self._final_output = self.output()
        self._log.close()


@contextlib.contextmanager
def worker_process(*, name: str, **env: str) -> Iterator[WorkerProcess]:
    """A cluster against the test database and this process's REDIS_URL (plus `env`), stopped on the way out."""
    worker = WorkerProcess(name=name, env={**os.environ, "DATABASE_URL": database_url(), **env})
    try:
        yield worker
    finally:
        worker.stop()
