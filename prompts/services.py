"""Writes for prompts, versions, labels and datasets; views, admin, commands and tasks all call these."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.text import slugify

from accounts.actors import Actor, ensure_can_write
from accounts.audit import audit_record
from accounts.models import AuditAction, Team
from promptopt.errors import ConflictError, InvalidInputError
from promptopt.input_limits import MAX_NAME_CHARS, MAX_TEXT_CHARS, check_seed, text_problem
from prompts.content import PromptContent
from prompts.importers import ImportOptions, parse_dataset_file
from prompts.models import (
    Dataset,
    DatasetVersion,
    Example,
    Prompt,
    PromptLabel,
    PromptLabelMove,
    PromptVersion,
    VersionSource,
)
from prompts.resolve_cache import resolved_forget
from prompts.splits import DEFAULT_RATIOS, Split, SplitRequest, assign_splits, row_content_key
from prompts.version_validation import validate_version_content

MAX_COMMIT_MESSAGE_CHARS = 500  # PromptVersion.commit_message's length


def _check_texts(**fields: str | None) -> None:
    """Names, descriptions and messages obey the same character and size limits as every other text."""
    errors: dict[str, list[str]] = {}
    for name, value in fields.items():
        if value is None:
            continue
        limit = {"description": MAX_TEXT_CHARS, "commit_message": MAX_COMMIT_MESSAGE_CHARS}.get(name, MAX_NAME_CHARS)
        problem = text_problem(value, max_chars=limit)
        if problem is not None:
            errors[name] = [problem]
    if errors:
        raise ValidationError(errors)


def content_from_input(data: Mapping[str, Any]) -> PromptContent:
    """Content from user input in its dict form (a form, an API body): checked first, so malformed parts
    (a demonstration without an output, nesting where text belongs) are field-named errors, not crashes."""
    complete = {**PromptContent(template="").to_dict(), **data}
    errors = validate_version_content(complete)
    if errors:
        raise ValidationError(errors)
    return PromptContent.from_dict(complete)


def _slug_for(model: type[Prompt] | type[Dataset], *, team: Team, name: str, slug: str | None) -> str:
    """The requested slug, or one derived from the name; refused when the team already uses it.

    No silent `-2` suffix: commands and API clients address these by slug, so a second "Sentiment"
    must be a conscious choice of another name or slug, not a surprise.
    """
    chosen = slug or slugify(name)
    if not chosen:
        raise ValidationError({"name": "needs at least one letter or digit to make a slug from"})
    if model.objects.filter(team=team, slug=chosen).exists():
        kind = model._meta.verbose_name
        field = "slug" if slug else "name"
        raise ValidationError(
            {field: f"the team already has a {kind} with the slug {chosen!r}; choose another {field}"}
        )
    return chosen


@transaction.atomic
def prompt_create(
    *,
    team: Team,
    name: str,
    slug: str | None = None,
    description: str = "",
    actor: Actor,
    first_version: PromptContent | None = None,
    commit_message: str = "Initial version",
) -> Prompt:
    """Create a prompt and, when a draft is given, its version 1 in the same transaction."""
    ensure_can_write(actor, team)
    _check_texts(name=name, slug=slug, description=description)
    prompt = Prompt(
        team=team,
        name=name.strip(),
        slug=_slug_for(Prompt, team=team, name=name, slug=slug),
        description=description,
        created_by=actor.audit_user,
        created_by_api_key=actor.audit_api_key,
    )
    prompt.full_clean()
    prompt.save()
    if first_version is not None:
        version_create(prompt=prompt, draft=first_version, commit_message=commit_message, actor=actor)
    return prompt


def _catalog_entry_update(
    entry: Prompt | Dataset, *, name: str | None, description: str | None, archived: bool | None
) -> None:
    _check_texts(name=name, description=description)
    changed = ["updated_at"]
    for field_name, value in (("name", name), ("description", description), ("archived", archived)):
        if value is not None:
            setattr(entry, field_name, value.strip() if isinstance(value, str) else value)
            changed.append(field_name)
    entry.full_clean()
    entry.save(update_fields=changed)


@transaction.atomic
def prompt_update(
    *,
    prompt: Prompt,
    actor: Actor,
    name: str | None = None,
    description: str | None = None,
    archived: bool | None = None,
) -> Prompt:
    """Change a prompt's descriptive fields; its content only changes through new versions."""
    ensure_can_write(actor, prompt.team)
    _catalog_entry_update(prompt, name=name, description=description, archived=archived)
    return prompt


@transaction.atomic
def prompt_delete(*, prompt: Prompt, actor: Actor) -> None:
    """Delete a prompt with its versions, labels, label history and runs. Archiving keeps them instead."""
    ensure_can_write(actor, prompt.team)
    resolved_forget(
        team_id=prompt.team_id, prompt_slug=prompt.slug, labels=prompt.labels.values_list("name", flat=True)
    )
    prompt.delete()


def _version_from_draft(prompt: Prompt, draft: PromptContent, *, number: int = 0) -> PromptVersion:
    """An unsaved version holding the draft's content (its content hash is what identifies it).

    The content is checked first: hashing serialises it, which must not meet an unbounded value.
    """
    content = draft.to_dict()
    errors = validate_version_content(content)
    if errors:
        raise ValidationError(errors)
    version = PromptVersion(prompt=prompt, number=number, **content)
    version.content_hash = version.compute_content_hash()
    return version


def version_find_identical(*, prompt: Prompt, draft: PromptContent) -> PromptVersion | None:
    """The prompt's existing version with exactly this content, if any (versions are unique by content)."""
    content = _version_from_draft(prompt, draft).content_hash
    return PromptVersion.objects.filter(prompt=prompt, content_hash=content).first()


@transaction.atomic
def version_create(
    *,
    prompt: Prompt,
    draft: PromptContent,
    actor: Actor,
    parent: PromptVersion | None = None,
    source: VersionSource = VersionSource.MANUAL,
    commit_message: str = "",
) -> PromptVersion:
    """Save a new immutable version numbered after the latest; refuse content identical to an existing one.

    The parent defaults to the latest version, so history forms a chain unless a caller branches. Not
    durable: prompt_create and a run's final bookkeeping call it inside their own transactions.
    """
    ensure_can_write(actor, prompt.team)
    _check_texts(commit_message=commit_message)
    # Lock the prompt row: two concurrent creations must not both pick the same next number.
    Prompt.objects.select_for_update().filter(pk=prompt.pk).first()
    latest = PromptVersion.objects.filter(prompt=prompt).aggregate(latest=Max("number"))["latest"] or 0
    if parent is None and latest:
        parent = PromptVersion.objects.get(prompt=prompt, number=latest)
    version = _version_from_draft(prompt, draft, number=latest + 1)
    version.parent = parent
    version.source = source
    version.commit_message = commit_message
    version.created_by = actor.audit_user
    version.created_by_api_key = actor.audit_api_key
    duplicate = PromptVersion.objects.filter(prompt=prompt, content_hash=version.content_hash).first()
    if duplicate is not None:
        raise ValidationError(f"nothing changed: this content is identical to version {duplicate.number}")
    version.full_clean(exclude=["content_hash"])
    version.save()
    audit_record(
        team=prompt.team,
        action=AuditAction.VERSION_CREATE,
        actor=actor,
        target=f"{prompt.slug} v{version.number}",
        details={
            "prompt": prompt.slug,
            "version": version.number,
            "parent": parent.number if parent is not None else None,
            "source": version.source,
        },
    )
    return version


# For label_move's `expected_number`: the caller expects the label not to exist yet.
LABEL_ABSENT = 0


@transaction.atomic
def label_move(
    *,
    prompt: Prompt,
    name: str,
    version: PromptVersion,
    actor: Actor,
    expected_number: int | None = None,
) -> PromptLabel:
    """Point a label at a version (creating the label if needed) and record the move.

    `expected_number` makes the move conditional: the version number the caller last saw the label on
    (LABEL_ABSENT: no label yet). If someone moved it since, ConflictError, and nothing changes.
    """
    ensure_can_write(actor, prompt.team)
    if version.prompt_id != prompt.pk:
        raise ValidationError({"version": f"version {version.number} belongs to another prompt"})
    # Lock the prompt, not just the label: when the label does not exist yet there is no row to lock,
    # and two first moves would both try to create it.
    Prompt.objects.select_for_update().filter(pk=prompt.pk).first()
    label = PromptLabel.objects.filter(prompt=prompt, name=name).select_related("version").first()
    previous = label.version if label else None
    if expected_number is not None:
        current = previous.number if previous is not None else LABEL_ABSENT
        if current != expected_number:
            where = f"on version {current}" if previous is not None else "not set"
            raise ConflictError(f"label {name!r} is {where} now, not on version {expected_number}; reload and retry")
    if label is None:
        label = PromptLabel(prompt=prompt, name=name, version=version)
    elif previous == version:
        return label
    label.version = version
    label.updated_by = actor.audit_user
    label.updated_by_api_key = actor.audit_api_key
    label.full_clean()
    label.save()
    resolved_forget(team_id=prompt.team_id, prompt_slug=prompt.slug, labels=[name])
    PromptLabelMove.objects.create(
        prompt=prompt,
        label_name=name,
        from_version=previous,
        to_version=version,
        moved_by=actor.audit_user,
        moved_by_api_key=actor.audit_api_key,
    )
    audit_record(
        team=prompt.team,
        action=AuditAction.LABEL_MOVE,
        actor=actor,
        target=f"{prompt.slug}: {name} → v{version.number}"
        + (f" (was v{previous.number})" if previous is not None else ""),
        details={
            "prompt": prompt.slug,
            "label": name,
            "version": version.number,
            "previous_version": previous.number if previous is not None else None,
        },
    )
    return label


@transaction.atomic
def dataset_create(*, team: Team, name: str, slug: str | None = None, description: str = "", actor: Actor) -> Dataset:
    ensure_can_write(actor, team)
    _check_texts(name=name, slug=slug, description=description)
    dataset = Dataset(
        team=team,
        name=name.strip(),
        slug=_slug_for(Dataset, team=team, name=name, slug=slug),
        description=description,
        created_by=actor.audit_user,
        created_by_api_key=actor.audit_api_key,
    )
    dataset.full_clean()
    dataset.save()
    return dataset


@transaction.atomic
def label_delete(*, label: PromptLabel, actor: Actor) -> None:
    """Remove a label; clients resolving it get "not found" instead of a stale version."""
    ensure_can_write(actor, label.prompt.team)
    resolved_forget(team_id=label.prompt.team_id, prompt_slug=label.prompt.slug, labels=[label.name])
    PromptLabelMove.objects.create(
        prompt=label.prompt,
        label_name=label.name,
        from_version=label.version,
        to_version=None,
        moved_by=actor.audit_user,
        moved_by_api_key=actor.audit_api_key,
    )
    audit_record(
        team=label.prompt.team,
        action=AuditAction.LABEL_DELETE,
        actor=actor,
        target=f"{label.prompt.slug}: {label.name} (was v{label.version.number})",
        details={"prompt": label.prompt.slug, "label": label.name, "previous_version": label.version.number},
    )
    label.delete()


@transaction.atomic
def dataset_update(
    *,
    dataset: Dataset,
    actor: Actor,
    name: str | None = None,
    description: str | None = None,
    archived: bool | None = None,
) -> Dataset:
    """Change a dataset's descriptive fields; its content only changes through new versions."""
    ensure_can_write(actor, dataset.team)
    _catalog_entry_update(dataset, name=name, description=description, archived=archived)
    return dataset


@transaction.atomic
def dataset_delete(*, dataset: Dataset, actor: Actor) -> None:
    """Delete a dataset with its versions, examples and the runs that used them. Archiving keeps them."""
    ensure_can_write(actor, dataset.team)
    dataset.delete()


@dataclass(frozen=True)
class DatasetImport:
    version: DatasetVersion
    created: bool  # False when an identical version already existed and was returned instead
    dropped_duplicates: tuple[tuple[int, int], ...] = ()  # (line dropped, line it repeats), when asked to drop


@dataclass(frozen=True)
class SplitSettings:
    """How rows are placed in train / validation / test; refused at once when the values make no sense."""

    seed: int = 0
    ratios: Mapping[Split, float] = field(default_factory=lambda: dict(DEFAULT_RATIOS))

    def __post_init__(self) -> None:
        check_seed(self.seed, field="seed")
        values = [self.ratios.get(split, 0.0) for split in Split]
        # NaN fails every comparison and infinity swallows every other weight: both would put all rows in one split.
        if not all(isinstance(v, int | float) and math.isfinite(v) and v >= 0 for v in values) or sum(values) <= 0:
            shown = ",".join(str(v) for v in values)
            raise InvalidInputError(
                f"split ratios: {shown} must be three finite, non-negative numbers (train,validation,test) "
                "that are not all zero"
            )


def _dataset_content_hash(rows: Sequence[tuple[str, Sequence[str], Split]]) -> str:
    digest = hashlib.sha256()
    for content_key, answers, split in rows:
        digest.update(json.dumps([content_key, list(answers), split.value], ensure_ascii=False).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def dataset_version_import(
    *,
    team: Team,
    dataset_name: str,
    file_name: str,
    content: bytes,
    options: ImportOptions,
    split_settings: SplitSettings | None = None,
    actor: Actor,
    dataset: Dataset | None = None,
) -> DatasetImport:
    """Parse and validate a whole file, then write a new dataset version with all its examples, or nothing.

    The version goes to `dataset` when given (it must be the team's); otherwise to the team's dataset with this
    exact name, or the one whose slug the name makes, and the dataset is created on first import (so a renamed
    dataset still gets its next version, not a twin). Importing content identical to an existing version
    (same rows, same splits) returns that version rather than a duplicate. Parsing happens before the
    transaction opens: on SQLite a long write transaction would stall every worker's heartbeat.
    """
    ensure_can_write(actor, team)
    _check_texts(name=dataset_name)
    split_settings = split_settings or SplitSettings()
    parsed = parse_dataset_file(file_name=file_name, content=content, options=options)
    keys = [row_content_key(row.inputs, row.expected_output) for row in parsed.rows]
    splits = assign_splits(
        [SplitRequest(content_key=key, allowed=row.allowed_splits) for key, row in zip(keys, parsed.rows, strict=True)],
        seed=split_settings.seed,
        ratios=split_settings.ratios,
    )
    digest = _dataset_content_hash(
        [(key, row.accepted_answers, split) for key, row, split in zip(keys, parsed.rows, splits, strict=True)]
    )
    examples = [
        Example(
            position=position,
            inputs=row.inputs,
            expected_output=row.expected_output,
            accepted_answers=list(row.accepted_answers),
            split=split.value,
        )
        for position, (row, split) in enumerate(zip(parsed.rows, splits, strict=True))
    ]
    if dataset is not None and dataset.team_id != team.pk:
        raise ValidationError({"dataset": "belongs to another team"})
    with transaction.atomic(durable=True):
        slug = slugify(dataset_name)
        # Lock the team row: the dataset may not exist yet, and two first imports must not both create it.
        Team.objects.select_for_update().filter(pk=team.pk).first()
        if dataset is None:
            dataset = (
                Dataset.objects.filter(team=team, name=dataset_name.strip()).first()
                or Dataset.objects.filter(team=team, slug=slug).first()
            )
        if dataset is None:
            dataset = dataset_create(team=team, name=dataset_name, slug=slug, actor=actor)
        existing = DatasetVersion.objects.filter(dataset=dataset, content_hash=digest).first()
        if existing is not None:
            return DatasetImport(version=existing, created=False, dropped_duplicates=parsed.dropped_duplicates)

        number = (DatasetVersion.objects.filter(dataset=dataset).aggregate(n=Max("number"))["n"] or 0) + 1
        version = DatasetVersion(
            dataset=dataset,
            number=number,
            content_hash=digest,
            row_count=len(parsed.rows),
            input_fields=list(parsed.input_fields),
            split_counts={split.value: splits.count(split) for split in Split},
            split_seed=split_settings.seed,
            source_name=file_name[-255:],
            created_by=actor.audit_user,
            created_by_api_key=actor.audit_api_key,
        )
        version.full_clean()
        try:
            version.save()
        except IntegrityError as error:  # a concurrent import of the same content won the race
            raise ValidationError("an identical dataset version was imported at the same time; retry") from error
        for example in examples:
            example.version = version
        Example.objects.bulk_create(examples, batch_size=1000)
    return DatasetImport(version=version, created=True, dropped_duplicates=parsed.dropped_duplicates)
