"""`manage.py import_dataset FILE --team T --name N`: validate a CSV/JSONL file and store it as a dataset version."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from promptopt.errors import PromptOptError
from prompts.importers import DatasetFileError, ImportOptions, parse_split_map
from prompts.management.commands._options import error_messages, resolve_actor, resolve_team
from prompts.services import SplitSettings, dataset_version_import
from prompts.splits import ALL_SPLITS, Split


def parse_ratios(text: str) -> dict[Split, float]:
    """Three numbers; whether they make sense (finite, non-negative, not all zero) SplitSettings decides."""
    parts = text.split(",")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        raise CommandError(f"--split-ratios: {text!r} is not three numbers like 0.4,0.3,0.3") from None
    if len(values) != 3:
        raise CommandError(f"--split-ratios: {text!r} must be three numbers (train,validation,test)")
    return dict(zip(ALL_SPLITS, values, strict=True))


SHOWN_DROPPED = 10


def describe_dropped(dropped: Sequence[tuple[int, int]]) -> str:
    """'Dropped 2 duplicate rows: line 156 (same as line 28), line 228 (same as line 81)'."""
    rows = "row" if len(dropped) == 1 else "rows"
    listed = [f"line {line} (same as line {first})" for line, first in dropped[:SHOWN_DROPPED]]
    if len(dropped) > SHOWN_DROPPED:
        listed.append(f"… and {len(dropped) - SHOWN_DROPPED} more")
    return f"Dropped {len(dropped)} duplicate {rows}: {', '.join(listed)}"


class Command(BaseCommand):
    help = "Import a CSV or JSONL file as a new version of a team's dataset (all rows or nothing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--team", required=True, help="Team slug.")
        parser.add_argument("--name", required=True, help="Dataset name; created on first import.")
        parser.add_argument(
            "--input-field",
            action="append",
            default=[],
            help="Column that becomes a template variable (repeatable). Default: every other column.",
        )
        parser.add_argument("--target-field", default="target", help="Expected-output column (default: target).")
        parser.add_argument("--split-field", help="Column holding train/validation/test (JSONL: dotted path).")
        parser.add_argument("--answers-field", help="Column with accepted answers (default: meta.answers).")
        parser.add_argument(
            "--split-map",
            default="",
            help=(
                "Map uploaded split values, e.g. induce=train+validation,execute=test. The value null matches "
                "rows without one (JSON null, a missing key, an empty cell), e.g. train=train,dev=validation,"
                "null=test."
            ),
        )
        parser.add_argument(
            "--drop-duplicates",
            action="store_true",
            help="Keep only the first of rows with the same inputs and target instead of refusing the file.",
        )
        parser.add_argument("--format", choices=["csv", "jsonl"], help="Default: from the file extension.")
        parser.add_argument("--delimiter", default=",", help="CSV delimiter (default: ',').")
        parser.add_argument("--seed", type=int, default=0, help="Seed for the deterministic split assignment.")
        parser.add_argument("--split-ratios", default="0.4,0.3,0.3", help="train,validation,test fractions.")
        parser.add_argument("--as", dest="username", help="Act as this user (with their roles); default: the system.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"FILE: {path} does not exist or is not a file")
        size = path.stat().st_size
        if size > settings.DATASET_MAX_BYTES:
            raise CommandError(f"FILE: {path} is {size} bytes; the limit is {settings.DATASET_MAX_BYTES} bytes")
        team = resolve_team(options["team"])
        actor = resolve_actor(options["username"], "import_dataset")
        try:
            import_options = ImportOptions(
                input_fields=tuple(options["input_field"]),
                target_field=options["target_field"],
                split_field=options["split_field"],
                answers_field=options["answers_field"],
                split_map=parse_split_map(options["split_map"]) if options["split_map"] else {},
                file_format=options["format"],
                delimiter=options["delimiter"],
                max_bytes=settings.DATASET_MAX_BYTES,
                max_rows=settings.DATASET_MAX_ROWS,
                drop_duplicates=options["drop_duplicates"],
            )
            content = path.read_bytes()
            result = dataset_version_import(
                team=team,
                dataset_name=options["name"],
                file_name=path.name,
                content=content,
                options=import_options,
                split_settings=SplitSettings(seed=options["seed"], ratios=parse_ratios(options["split_ratios"])),
                actor=actor,
            )
        except DatasetFileError as error:
            raise CommandError(f"{path.name} was not imported; nothing was written.\n{error}") from None
        except (ValidationError, PromptOptError) as error:
            raise CommandError(f"{path.name} was not imported: {'; '.join(error_messages(error))}") from None

        version = result.version
        counts = ", ".join(f"{split} {version.split_counts.get(split, 0)}" for split in Split)
        if result.created:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Imported {version.row_count} rows into {team.slug}/{version.dataset.slug} "
                    f"version {version.number} ({counts}); inputs: {', '.join(version.input_fields)}"
                )
            )
        else:
            self.stdout.write(
                f"Unchanged: {path.name} is identical to {team.slug}/{version.dataset.slug} version {version.number}"
            )
        if result.dropped_duplicates:
            self.stdout.write(describe_dropped(result.dropped_duplicates))
