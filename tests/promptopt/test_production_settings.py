"""With production settings (HTTPS, debug off, real host names and secrets) `manage.py check --deploy` finds
nothing, and what the server answers carries the security headers and cookies that only travel over TLS."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from promptopt.env import BASE_DIR, EnvSettings

HOST = "promptopt.example.com"

# Run in a fresh process with production settings: signs a person in over HTTPS and reports what came back.
SIGN_IN_SCRIPT = """
import json
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

call_command("migrate", verbosity=0)
User.objects.create_user("pat", password="a long enough password 1")
client = Client(HTTP_HOST="%(host)s")
page = client.get("/sign-in/", secure=True)
signed_in = client.post(
    "/sign-in/", {"username": "pat", "password": "a long enough password 1"}, secure=True, HTTP_HOST="%(host)s"
)
plain = Client(HTTP_HOST="%(host)s").get("/sign-in/")
health = Client(HTTP_HOST="%(host)s").get("/healthz")

def cookies(response):
    return {name: {"secure": bool(c["secure"]), "httponly": bool(c["httponly"]), "samesite": c["samesite"]}
            for name, c in response.cookies.items()}

print(json.dumps({
    "page_status": page.status_code,
    "headers": dict(page.headers),
    "sign_in_status": signed_in.status_code,
    "cookies": cookies(page) | cookies(signed_in),
    "plain_http": [plain.status_code, plain.headers.get("Location", "")],
    "health_over_http": health.status_code,
}))
"""


@pytest.fixture
def production(tmp_path: Path) -> dict[str, str]:
    """The process environment of a production deployment (nothing inherited from the test run's own)."""
    inherited = {name: value for name, value in os.environ.items() if name not in EnvSettings.model_fields}
    return inherited | {
        "DEBUG": "false",
        "HTTPS": "true",
        "ALLOWED_HOSTS": HOST,
        "CSRF_TRUSTED_ORIGINS": f"https://{HOST}",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "JWT_SIGNING_KEY": secrets.token_urlsafe(50),
        "API_KEY_PEPPER": secrets.token_urlsafe(50),
        "DATA_DIR": str(tmp_path),
        # Explicit, so a developer's .env (which manage.py also reads) cannot point this at a real database.
        "DATABASE_URL": f"sqlite:///{tmp_path}/production.sqlite3",
        "LOG_LEVEL": "WARNING",
    }


def _manage(environment: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argument list
        [sys.executable, "manage.py", *arguments], cwd=BASE_DIR, env=environment, capture_output=True, text=True
    )


def test_check_deploy_finds_nothing_with_production_settings(production):
    result = _manage(production, "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_would_catch_debug_left_on(production):
    result = _manage(production | {"DEBUG": "true"}, "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode != 0
    assert "security.W018" in result.stderr  # DEBUG in deployment


def test_answers_carry_the_security_headers_and_cookies_travel_only_over_tls(production):
    result = _manage(production, "shell", "--no-imports", "-c", SIGN_IN_SCRIPT % {"host": HOST})
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])

    headers = seen["headers"]
    assert seen["page_status"] == 200 and seen["sign_in_status"] == 302
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert {name for name in seen["cookies"]} >= {"csrftoken", "sessionid"}
    for name, flags in seen["cookies"].items():
        assert flags["secure"] and flags["httponly"], (name, flags)
        assert flags["samesite"] == "Lax", (name, flags)
    assert seen["plain_http"] == [301, f"https://{HOST}/sign-in/"]  # plain HTTP is sent to HTTPS
    assert seen["health_over_http"] == 200  # …except the load balancer's health check
