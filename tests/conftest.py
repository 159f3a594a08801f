"""Fixtures shared by every test: users in roles on teams, and a clean cache per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache

from accounts.models import Role
from tests.factories import MembershipFactory, TeamFactory, UserFactory


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def team(db):
    return TeamFactory(name="Acme", slug="acme")


@pytest.fixture
def other_team(db):
    return TeamFactory(name="Globex", slug="globex")


@pytest.fixture
def owner(team):
    return MembershipFactory(team=team, user=UserFactory(username="olivia"), role=Role.OWNER).user


@pytest.fixture
def editor(team):
    return MembershipFactory(team=team, user=UserFactory(username="eddie"), role=Role.EDITOR).user


@pytest.fixture
def viewer(team):
    return MembershipFactory(team=team, user=UserFactory(username="vera"), role=Role.VIEWER).user


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def _make_staff(user):
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


@pytest.fixture
def staff_owner(owner):
    """The team owner, allowed into the admin."""
    return _make_staff(owner)


@pytest.fixture
def staff_editor(editor):
    return _make_staff(editor)


@pytest.fixture
def staff_viewer(viewer):
    return _make_staff(viewer)


@pytest.fixture(params=["superuser", "staff_editor"])
def signed_in(request, client, superuser, staff_editor):
    """Runs an admin test once as a superuser and once as a team's staff editor, logged in."""
    user = superuser if request.param == "superuser" else staff_editor
    client.force_login(user)
    return user


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The default PBKDF2 hasher spends ~0.3 s per password on purpose; tests create hundreds of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
