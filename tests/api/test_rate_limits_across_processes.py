"""Rate limits and sign-in lockouts hold across server processes: two gunicorn servers sharing PostgreSQL and
Redis count one client's requests together, so spreading them over the servers buys nothing.

Real processes, real HTTP: the limits are counted in Redis (django-ratelimit through the cache) and sign-in
failures in the database (django-axes), which is what several web processes on several machines share."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from itertools import cycle

import pytest
from django.conf import global_settings
from rest_framework_simplejwt.tokens import RefreshToken

from promptopt.env import BASE_DIR
from tests.factories import MembershipFactory, TeamFactory, UserFactory
from tests.workflows.worker_processes import database_url, needs_postgres_and_redis, wait_for

pytestmark = [needs_postgres_and_redis, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long and unguessable password 7"
# Hourly windows: django-ratelimit counts in fixed windows, and a minute's edge could fall inside a test.
LIMITS = {"API_RATE_READ": "6/h", "API_RATE_TOKENS": "4/h", "SIGN_IN_FAILURE_LIMIT": "3"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _server() -> Iterator[str]:
    port = _free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
    env = {**os.environ, "DATABASE_URL": database_url(), "ALLOWED_HOSTS": "127.0.0.1", **LIMITS}
    process = subprocess.Popen(  # noqa: S603 - fixed argument list
        [sys.executable, "-m", "gunicorn", "promptopt.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def output() -> str:
        log.seek(0)
        return log.read().decode(errors="replace")[-4000:]

    try:
        wait_for(lambda: _status(f"{url}/healthz") == 200, timeout=60, what=f"gunicorn on {port}", details=output)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _request(url: str, *, data: dict[str, str] | None = None, json_body: object = None, headers=None):
    body = None
    headers = dict(headers or {})
    if json_body is not None:
        body, headers["Content-Type"] = json.dumps(json_body).encode(), "application/json"
    elif data is not None:
        body, headers["Content-Type"] = urllib.parse.urlencode(data).encode(), "application/x-www-form-urlencoded"
    request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310 - local test servers
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def _status(url: str) -> int | None:
    try:
        return _request(url)[0]
    except OSError:
        return None


@pytest.fixture(scope="module")
def servers(django_db_setup, django_db_blocker) -> Iterator[tuple[str, str]]:
    """Started once for the module (the test database exists by then); each test's data is committed."""
    with django_db_blocker.unblock(), _server() as first, _server() as second:
        yield first, second


@pytest.fixture
def person(settings):
    # The servers check passwords with the production hashers, not the tests' fast one.
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    user = UserFactory(username="pat")
    user.set_password(PASSWORD)
    user.save()
    MembershipFactory(team=TeamFactory(slug="acme"), user=user)
    return user


def test_the_read_limit_is_shared_by_both_servers(servers, person):
    headers = {"Authorization": f"Bearer {RefreshToken.for_user(person).access_token}"}

    answers = [_request(f"{url}/api/v1/teams/", headers=headers) for url, _ in zip(cycle(servers), range(8))]

    assert [status for status, _ in answers] == [200] * 6 + [429] * 2
    assert all(int(headers["Retry-After"]) >= 1 for _, headers in answers[6:])


def test_the_token_limit_is_shared_by_both_servers(servers, person):
    credentials = {"username": "pat", "password": PASSWORD}

    answers = [_request(f"{url}/api/v1/auth/token/", json_body=credentials) for url, _ in zip(cycle(servers), range(6))]

    assert [status for status, _ in answers] == [200] * 4 + [429] * 2
    assert all(int(headers["Retry-After"]) >= 1 for _, headers in answers[4:])


def test_a_lockout_earned_on_one_server_holds_on_the_other(servers, person):
    first, second = servers
    for url in (first, second, first):  # three failures, spread over both servers
        _request(f"{url}/api/v1/auth/token/", json_body={"username": "pat", "password": "wrong guess"})

    status, _ = _request(f"{second}/api/v1/auth/token/", json_body={"username": "pat", "password": PASSWORD})

    assert status == 429  # the right password no longer helps, on either server
