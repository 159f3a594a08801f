"""Options the workflow commands share: metric configs and dataset versions given on the command line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from accounts.actors import Actor
from accounts.models import Team
from promptopt.errors import InvalidInputError
from promptopt.input_limits import read_json_option
from prompts.models import DatasetVersion
from prompts.selectors import dataset_get, dataset_version_latest


def metric_option(text: str | None) -> dict[str, Any] | None:
    """`--metric exact_match` or a JSON config such as `--metric '{"name": "regex", "pattern": "..."}'`."""
    if text is None:
        return None
    if text.lstrip().startswith("{"):
        return json_object_option(text, "--metric")
    return {"name": text}


def json_object_option(text: str, option: str) -> dict[str, Any]:
    """A JSON object given on the command line, read with the same limits as every other user-supplied JSON."""
    try:
        value = read_json_option(text, field=option)
    except InvalidInputError as error:
        raise CommandError(str(error)) from None
    if not isinstance(value, dict):
        raise CommandError(f"{option}: must be a JSON object")
    return value


def output_file_option(path: Path | None, option: str) -> None:
    """Refuse an output file that could not be written, before any model call is made or paid for."""
    if path is None:
        return
    if path.is_dir():
        raise CommandError(f"{option}: {path} is a folder; give a file name")
    folder = path.parent if str(path.parent) else Path()
    if not folder.is_dir():
        raise CommandError(f"{option}: the folder {folder} does not exist")
    writable = os.access(path, os.W_OK) if path.exists() else os.access(folder, os.W_OK)
    if not writable:
        raise CommandError(f"{option}: {path} cannot be written (no permission)")


def dataset_version_option(actor: Actor, team: Team, slug: str, number: int | None) -> DatasetVersion:
    """`--dataset SLUG [--dataset-version N]`: that version, or the dataset's latest."""
    dataset = dataset_get(actor=actor, team=team, slug=slug)
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
