"""Sign-in throttling (per account and per client address) and the security headers every page carries."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory

PASSWORD = "correct horse battery staple"
LIMIT = settings.AXES_FAILURE_LIMIT


@pytest.fixture
def staff(db):
    user = UserFactory(username="stella", is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    return user


def sign_in(username: str, password: str, *, address: str = "203.0.113.7"):
    client = Client(REMOTE_ADDR=address)
    response = client.post(reverse("admin:login"), {"username": username, "password": password, "next": "/admin/"})
    return client, response


def is_signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_it_signs_in_with_the_right_password_and_refuses_a_wrong_one(staff):
    wrong_client, wrong = sign_in("stella", "guess")
    right_client, right = sign_in("stella", PASSWORD)

    assert wrong.status_code == 200 and not is_signed_in(wrong_client)
    assert right.status_code == 302 and is_signed_in(right_client)


def test_it_locks_an_account_after_repeated_failures_even_from_many_addresses(staff):
    for attempt in range(LIMIT):
        sign_in("stella", f"guess-{attempt}", address=f"198.51.100.{attempt + 1}")

    client, response = sign_in("stella", PASSWORD, address="192.0.2.99")

    # The right password no longer helps: an attacker who guesses it during the lockout learns nothing.
    assert response.status_code == 429
    assert not is_signed_in(client)
    assert b"Too many failed sign-ins" in response.content


def test_it_locks_an_address_that_tries_many_accounts(staff, db):
    for attempt in range(LIMIT):
        sign_in(f"someone-{attempt}", "guess", address="203.0.113.50")

    locked_client, locked = sign_in("stella", PASSWORD, address="203.0.113.50")
    other_client, other = sign_in("stella", PASSWORD, address="203.0.113.51")

    assert locked.status_code == 429 and not is_signed_in(locked_client)
    assert other.status_code == 302 and is_signed_in(other_client)


def test_it_forgets_earlier_failures_after_a_successful_sign_in(staff):
    for attempt in range(LIMIT - 1):
        sign_in("stella", f"guess-{attempt}")
    sign_in("stella", PASSWORD)
    for attempt in range(LIMIT - 1):
        sign_in("stella", f"again-{attempt}", address="203.0.113.8")

    client, response = sign_in("stella", PASSWORD, address="203.0.113.9")

    assert response.status_code == 302 and is_signed_in(client)


def test_every_page_carries_a_content_security_policy(staff):
    responses = [Client().get("/healthz"), Client().get(reverse("admin:login"))]

    for response in responses:
        policy = response.headers["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
        assert directives["default-src"] == "'self'"
        assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
        assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
