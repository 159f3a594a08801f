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
