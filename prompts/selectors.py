"""Reads of prompts, versions, labels and datasets, scoped to what the acting user or key may see."""

from __future__ import annotations

import re

from django.db.models import QuerySet

from accounts.actors import Actor
from accounts.models import Team
from accounts.scope import visible_to
from promptopt.errors import NotFoundError
from prompts.models import Dataset, DatasetVersion, Example, Prompt, PromptLabel, PromptVersion
from prompts.splits import Split

# SLUG, SLUG@3 (version number) or SLUG:production (label).
PROMPT_REFERENCE = re.compile(r"^(?P<slug>[-a-zA-Z0-9_]+)(?:@(?P<number>\d+)|:(?P<label>[-a-zA-Z0-9_]+))?$")


def prompt_list_visible_to(*, actor: Actor) -> QuerySet[Prompt]:
    return visible_to(Prompt, actor).select_related("team")


def prompt_get(*, actor: Actor, team: Team, slug: str) -> Prompt:
    prompt = visible_to(Prompt, actor).filter(team=team, slug=slug).first()
    if prompt is None:
        raise NotFoundError(f"team {team.slug!r} has no prompt {slug!r}")
    return prompt


def version_latest(*, prompt: Prompt) -> PromptVersion | None:
    return PromptVersion.objects.filter(prompt=prompt).order_by("-number").first()


def version_resolve(*, actor: Actor, team: Team, reference: str) -> PromptVersion:
    """Resolve `slug`, `slug@N` or `slug:label` to a version; a bare slug means the latest version."""
    match = PROMPT_REFERENCE.match(reference.strip())
    if match is None:
        raise NotFoundError(f"{reference!r} is not a prompt reference (use SLUG, SLUG@NUMBER or SLUG:LABEL)")
    prompt = prompt_get(actor=actor, team=team, slug=match["slug"])
    version: PromptVersion | None
    if match["number"]:
        version = PromptVersion.objects.filter(prompt=prompt, number=int(match["number"])).first()
        what = f"version {match['number']}"
    elif match["label"]:
        label = PromptLabel.objects.filter(prompt=prompt, name=match["label"]).select_related("version").first()
        version = label.version if label else None
        what = f"label {match['label']!r}"
    else:
        version = version_latest(prompt=prompt)
        what = "any version"
    if version is None:
        raise NotFoundError(f"prompt {prompt.slug!r} has no {what}")
    return version


def label_list(*, prompt: Prompt) -> QuerySet[PromptLabel]:
    return PromptLabel.objects.filter(prompt=prompt).select_related("version")


def dataset_list_visible_to(*, actor: Actor) -> QuerySet[Dataset]:
    return visible_to(Dataset, actor).select_related("team")


def dataset_get(*, actor: Actor, team: Team, slug: str) -> Dataset:
    dataset = visible_to(Dataset, actor).filter(team=team, slug=slug).first()
    if dataset is None:
        raise NotFoundError(f"team {team.slug!r} has no dataset {slug!r}")
    return dataset


def dataset_version_latest(*, dataset: Dataset) -> DatasetVersion | None:
    return DatasetVersion.objects.filter(dataset=dataset).order_by("-number").first()


def example_list(*, version: DatasetVersion, split: Split | None = None) -> QuerySet[Example]:
    examples = Example.objects.filter(version=version)
    return examples.filter(split=split) if split is not None else examples
