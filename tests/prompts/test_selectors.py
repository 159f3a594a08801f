"""Tenant isolation and reference resolution in the prompt and dataset selectors."""

from __future__ import annotations

import pytest

from accounts.actors import Actor
from promptopt.errors import NotFoundError
from prompts.content import PromptContent
from prompts.selectors import dataset_list_visible_to, prompt_list_visible_to, version_resolve
from prompts.services import label_move, prompt_create, version_create
from tests.factories import SYSTEM_ACTOR, DatasetFactory, PromptFactory


def test_it_shows_a_user_only_their_teams_prompts_and_datasets(team, other_team, viewer, superuser):
    mine, theirs = PromptFactory(team=team), PromptFactory(team=other_team)
    my_data, their_data = DatasetFactory(team=team), DatasetFactory(team=other_team)

    assert list(prompt_list_visible_to(actor=Actor.for_user(viewer))) == [mine]
    assert list(dataset_list_visible_to(actor=Actor.for_user(viewer))) == [my_data]
    assert set(prompt_list_visible_to(actor=Actor.for_user(superuser))) == {mine, theirs}
    assert set(dataset_list_visible_to(actor=Actor.for_user(superuser))) == {my_data, their_data}


def test_it_resolves_latest_numbered_and_labelled_versions(team, editor):
    prompt = prompt_create(
        team=team, name="Intent", actor=Actor.for_user(editor), first_version=PromptContent(template="{{q}}")
    )
    v1 = prompt.versions.get()
    v2 = version_create(prompt=prompt, draft=PromptContent(template="Q: {{q}}"), actor=Actor.for_user(editor))
    label_move(prompt=prompt, name="production", version=v1, actor=Actor.for_user(editor))

    assert version_resolve(actor=SYSTEM_ACTOR, team=team, reference="intent") == v2
    assert version_resolve(actor=SYSTEM_ACTOR, team=team, reference="intent@1") == v1
    assert version_resolve(actor=SYSTEM_ACTOR, team=team, reference="intent:production") == v1


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("intent@9", "no version 9"),
        ("intent:staging", "no label 'staging'"),
        ("nope", "no prompt 'nope'"),
        ("a b", "not a prompt reference"),
    ],
)
def test_it_explains_unresolvable_references(team, editor, reference, message):
    prompt_create(team=team, name="Intent", actor=Actor.for_user(editor), first_version=PromptContent(template="{{q}}"))

    with pytest.raises(NotFoundError, match=message):
        version_resolve(actor=SYSTEM_ACTOR, team=team, reference=reference)


def test_it_does_not_resolve_another_teams_prompt(team, other_team, editor):
    PromptFactory(team=other_team, slug="secret")

    with pytest.raises(NotFoundError):
        version_resolve(actor=SYSTEM_ACTOR, team=team, reference="secret")
