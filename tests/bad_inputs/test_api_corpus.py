"""Every bad API request of the corpus gets its status and clear error, in bounded time, and writes nothing."""

from __future__ import annotations

import re

import pytest

from accounts.actors import Actor
from prompts.content import PromptContent
from prompts.importers import ImportOptions
from prompts.services import dataset_version_import, label_move, prompt_create
from tests.api.support import API, client_as_user
from tests.bad_inputs.api_corpus import API_CASES, BadRequest
from tests.bad_inputs.test_corpus import row_counts
from tests.bounded_time import within_seconds
from tests.factories import SYSTEM_ACTOR

pytestmark = pytest.mark.django_db

REVIEWS = "text,target,split\n" + "\n".join(
    f"review {i},{'yes' if i % 2 else 'no'},{split}"
    for i, split in enumerate(["train"] * 4 + ["validation"] * 4 + ["test"] * 4)
)


@pytest.fixture
def teams(team, other_team, owner, monkeypatch):
    """Acme (the caller's team) with a prompt "base" labelled production and a dataset "reviews"; Globex with a
    prompt "secret" and a dataset "vault" that Acme's owner must never reach."""
    from tests.engine.engine_support import SentimentProvider

    scripted = SentimentProvider()  # run and evaluation creation probe the provider; no call is made
    monkeypatch.setattr("workflows.services.provider_build", lambda **kwargs: scripted)
    for where, prompt_name, dataset_name in ((team, "Base", "Reviews"), (other_team, "Secret", "Vault")):
        prompt = prompt_create(
            team=where, name=prompt_name, actor=SYSTEM_ACTOR, first_version=PromptContent(template="Review: {{text}}")
        )
        label_move(prompt=prompt, name="production", version=prompt.versions.get(), actor=SYSTEM_ACTOR)
        dataset_version_import(
            team=where,
            dataset_name=dataset_name,
            file_name="r.csv",
            content=(REVIEWS + "\n").encode(),
            options=ImportOptions(),
            actor=Actor.system("corpus"),
        )


def _send(case: BadRequest, client):
    path = f"{API}/{case.path}" if case.path.startswith("teams/") else f"{API}/teams/acme/{case.path}"
    method = getattr(client, case.method)
    if case.raw is not None:
        return method(path, case.raw(), content_type=case.content_type)
    if case.body is not None:
        return method(path, case.body, format="json")
    return method(path)


@pytest.mark.parametrize("case", API_CASES, ids=[case.name for case in API_CASES])
def test_it_refuses_each_bad_request_clearly_and_writes_nothing(case, teams, owner):
    client = client_as_user(owner)
    before = row_counts()

    response = within_seconds(lambda: _send(case, client))

    body = response.content.decode(errors="replace")
    assert response.status_code == case.status, body[:2000]
    assert re.search(case.error, body, re.IGNORECASE | re.DOTALL), f"expected /{case.error}/ in:\n{body[:2000]}"
    assert row_counts() == before


def test_the_api_corpus_is_large_and_its_cases_are_distinct():
    assert len(API_CASES) >= 30
    assert len({case.name for case in API_CASES}) == len(API_CASES)
