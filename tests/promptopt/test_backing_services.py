"""The configured database, cache and task broker are the real ones: SQLite/WAL or PostgreSQL, Redis or memory."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from promptopt.env import BASE_DIR

USING_POSTGRES = bool(os.environ.get("DATABASE_URL", "").startswith("postgres"))
USING_REDIS = bool(os.environ.get("REDIS_URL"))


@pytest.mark.django_db
def test_it_talks_to_the_database_the_environment_names():
    assert connection.vendor == ("postgresql" if USING_POSTGRES else "sqlite")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_it_runs_the_embedded_sqlite_database_in_wal_mode(tmp_path):
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    environment["DATA_DIR"] = str(tmp_path)
    code = "from django.db import connection; print(connection.cursor().execute('PRAGMA journal_mode').fetchone()[0])"
    result = subprocess.run(  # noqa: S603 - fixed argument list
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "wal"
    assert (tmp_path / "promptopt.sqlite3").exists()


def test_it_round_trips_values_through_the_configured_cache():
    expected_backend = "RedisCache" if USING_REDIS else "LocMemCache"
    assert settings.CACHES["default"]["BACKEND"].endswith(expected_backend)

    cache.set("promptopt:test", {"answer": 42}, timeout=30)

    assert cache.get("promptopt:test") == {"answer": 42}


@pytest.mark.django_db
def test_it_reaches_the_configured_task_broker():
    from django_q.brokers import get_broker

    broker = get_broker()

    assert type(broker).__name__ == ("Redis" if USING_REDIS else "ORM")
    assert broker.ping() is True
