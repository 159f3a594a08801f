"""Options the workflow commands share: metric configs and dataset versions given on the command line."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser

from accounts.models import Team
from prompts.models import DatasetVersion
from prompts.selectors import dataset_get, dataset_version_latest


def metric_option(text: str | None) -> dict[str, Any] | None:
    """`--metric exact_match` or a JSON config such as `--metric '{"name": "regex", "pattern": "..."}'`."""
    if not text:
        return None
    if text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise CommandError(f"--metric: not valid JSON ({error.msg} at character {error.pos})") from None
        if not isinstance(value, dict):
            raise CommandError("--metric: a JSON metric config must be an object")
        return value
    return {"name": text}


def dataset_version_option(team: Team, slug: str, number: int | None) -> DatasetVersion:
    """`--dataset SLUG [--dataset-version N]`: that version, or the dataset's latest."""
    dataset = dataset_get(team=team, slug=slug)
    dataset_version = (
        dataset.versions.filter(number=number).first() if number else dataset_version_latest(dataset=dataset)
    )
    if dataset_version is None:
        raise CommandError(f"--dataset: {dataset.slug} has no such version")
    return dataset_version


def add_version_and_dataset_arguments(parser: CommandParser) -> None:
    """`--team`, `--prompt REF` and `--dataset SLUG [--dataset-version N]`, as evaluate and optimize take them."""
    parser.add_argument("--team", required=True, help="Team slug.")
    parser.add_argument("--prompt", required=True, help="SLUG (latest), SLUG@NUMBER or SLUG:LABEL.")
    parser.add_argument("--dataset", required=True, help="Dataset slug (its latest version is used).")
    parser.add_argument("--dataset-version", type=int, help="A specific dataset version number.")
