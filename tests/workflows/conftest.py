"""Fixtures for the workflow tests that run the scripted model server over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.workflows.fault_servers import ModelServer, serving


@pytest.fixture(scope="module")
def scripted_server() -> Iterator[ModelServer]:
    with serving(ModelServer()) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def provider_settings(settings, scripted_server):
    settings.HF_BASE_URL = scripted_server.url
    settings.HF_TOKEN = None
    settings.ALLOW_PRIVATE_BASE_URLS = True
    settings.HF_MAX_CONCURRENCY = 1
    return settings
