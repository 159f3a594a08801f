"""Prompts with immutable versions and movable labels; datasets with immutable versions of examples."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from prompts.content import CONTENT_FIELDS, PromptContent, hashed_form
from prompts.splits import SPLIT_CHOICES, Split


class ImmutableRecordError(Exception):
    """Raised when code tries to update a record that is immutable once saved."""


class ImmutableModel(models.Model):
    """A record written once. Changes are new records; a database trigger backs this up (see migrations).

    References to users from immutable records are PROTECT: they are an audit trail, and nulling them
    would be an UPDATE the trigger refuses. Deactivate users instead of deleting them.
    """

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableRecordError(f"{type(self).__name__} records are immutable; create a new one instead")
        super().save(*args, **kwargs)


class TeamCatalogEntry(models.Model):
    """What prompts and datasets share: a named, slugged, archivable entry in a team's catalogue."""

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="%(class)ss")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, help_text="How commands and API clients refer to it; never changes.")
    description = models.TextField(blank=True)
    archived = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    TEAM_PATHS = ("team",)

    class Meta:
        abstract = True
        ordering = ["team__name", "name"]
        constraints = [models.UniqueConstraint(fields=["team", "slug"], name="%(class)s_slug_unique_per_team")]

    def __str__(self) -> str:
        return self.name


class Prompt(TeamCatalogEntry):
    class Meta(TeamCatalogEntry.Meta):
        pass


class VersionSource(models.TextChoices):
    MANUAL = "manual", "Manual"
    OPTIMIZER = "optimizer", "Optimizer"
    IMPORT = "import", "Import"


class OutputType(models.TextChoices):
    TEXT = "text", "Free text"
    CHOICE = "choice", "One of fixed choices"
    JSON = "json", "JSON matching a schema"


class Layout(models.TextChoices):
    """How a version is sent to the model: chat turns, or one plain text the model continues."""

    CHAT = "chat", "Chat messages"
    COMPLETION = "completion", "Plain completion (Input/Output)"


class Provider(models.TextChoices):
    LOCAL = "local", "Embedded local model"
    VERTEX = "vertex", "Google Vertex AI"
    HUGGINGFACE = "huggingface", "Hugging Face / self-hosted server"
    TRANSFORMERS = "transformers", "Local transformers model"


def content_hash(content: dict[str, Any]) -> str:
    canonical = json.dumps(hashed_form(content), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class PromptVersion(ImmutableModel):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    system_instruction = models.TextField(blank=True)
    template = models.TextField(help_text="User message with {{variable}} placeholders.")
    demonstrations = models.JSONField(default=list, blank=True, help_text='[{"inputs": {...}, "output": "..."}]')
    layout = models.CharField(max_length=12, choices=Layout.choices, default=Layout.CHAT)
    output_type = models.CharField(max_length=8, choices=OutputType.choices, default=OutputType.TEXT)
    output_choices = models.JSONField(default=list, blank=True)
    output_schema = models.JSONField(null=True, blank=True)
    provider = models.CharField(max_length=16, choices=Provider.choices, default=Provider.LOCAL)
    model_name = models.CharField(max_length=200, blank=True, help_text="Blank: the provider's default model.")
    temperature = models.FloatField(default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)])
    max_tokens = models.PositiveIntegerField(default=256, validators=[MinValueValidator(1), MaxValueValidator(32768)])
    stop = models.JSONField(
        default=list, blank=True, help_text='Texts that end an answer where they appear, e.g. ["\\n"] for one line.'
    )
    # RESTRICT, not PROTECT: deleting a whole prompt may remove a parent and its children together.
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.RESTRICT, related_name="children")
    source = models.CharField(max_length=16, choices=VersionSource.choices, default=VersionSource.MANUAL)
    commit_message = models.CharField(max_length=500, blank=True)
    content_hash = models.CharField(max_length=64, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # RESTRICT: a key is never deleted on its own (it is revoked), but deleting its team removes both.
    created_by_api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.RESTRICT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    TEAM_PATHS = ("prompt__team",)

    class Meta:
        ordering = ["prompt", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "number"], name="prompt_version_number_unique"),
            models.UniqueConstraint(fields=["prompt", "content_hash"], name="prompt_version_content_unique"),
            models.CheckConstraint(condition=Q(number__gte=1), name="prompt_version_number_positive"),
            models.CheckConstraint(condition=Q(source__in=VersionSource.values), name="prompt_version_source_valid"),
            models.CheckConstraint(condition=Q(output_type__in=OutputType.values), name="prompt_version_output_valid"),
            models.CheckConstraint(condition=Q(provider__in=Provider.values), name="prompt_version_provider_valid"),
            models.CheckConstraint(condition=Q(layout__in=Layout.values), name="prompt_version_layout_valid"),
            models.CheckConstraint(
                condition=Q(temperature__gte=0.0, temperature__lte=2.0), name="prompt_version_temperature_range"
            ),
            models.CheckConstraint(
                condition=Q(max_tokens__gte=1, max_tokens__lte=32768), name="prompt_version_max_tokens_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prompt.name} v{self.number}"

    def content(self) -> dict[str, Any]:
        """The content's dict form (as PromptContent.to_dict gives it), straight from the columns."""
        return {name: getattr(self, name) for name in CONTENT_FIELDS}

    def stops_shown(self) -> str:
        """The stop sequences as JSON strings, so a line break reads as \\n rather than as blank space."""
        return ", ".join(json.dumps(stop, ensure_ascii=False) for stop in self.stop)

    def prompt_content(self) -> PromptContent:
        return PromptContent.from_dict(self.content())

    def compute_content_hash(self) -> str:
        return content_hash(self.content())

    def clean(self) -> None:
        # Imported here to keep the model module free of the validation helpers' details.
        from prompts.version_validation import validate_version_content

        errors = validate_version_content(self.content())
        if self.parent_id is not None and self.parent is not None and self.parent.prompt_id != self.prompt_id:
            errors.setdefault("parent", []).append("must be a version of the same prompt")
        if errors:
            raise ValidationError(errors)


class PromptLabel(models.Model):
    """A movable pointer such as `production` that client applications resolve to a version."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="labels")
    name = models.SlugField(max_length=50)
    # RESTRICT: a labelled version cannot be deleted alone, but deleting its whole prompt may remove both.
    version = models.ForeignKey(PromptVersion, on_delete=models.RESTRICT, related_name="labels")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by_api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    TEAM_PATHS = ("prompt__team",)

    class Meta:
        ordering = ["prompt", "name"]
        constraints = [models.UniqueConstraint(fields=["prompt", "name"], name="prompt_label_name_unique")]

    def __str__(self) -> str:
        return f"{self.prompt.name}:{self.name}"

    def clean(self) -> None:
        if self.version_id is not None and self.version.prompt_id != self.prompt_id:
            raise ValidationError({"version": "must be a version of the label's prompt"})

    @property
    def moves(self) -> models.QuerySet[PromptLabelMove]:
        return PromptLabelMove.objects.filter(prompt_id=self.prompt_id, label_name=self.name)


class PromptLabelMove(ImmutableModel):
    """History of a prompt's labels: every creation, move and removal, never edited.

    Keyed by prompt and label name rather than by the label row, so removing a label keeps its history
    (and records the removal as a move to nothing).
    """

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="label_moves")
    label_name = models.SlugField(max_length=50)
    from_version = models.ForeignKey(PromptVersion, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    to_version = models.ForeignKey(
        PromptVersion,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Empty when the label was removed.",
    )
    moved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    moved_by_api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.RESTRICT, related_name="+"
    )
    moved_at = models.DateTimeField(auto_now_add=True)

    TEAM_PATHS = ("prompt__team",)

    class Meta:
        ordering = ["-moved_at", "-id"]
        indexes = [models.Index(fields=["prompt", "label_name"], name="label_move_by_label")]
        constraints = [
            models.CheckConstraint(
                condition=Q(from_version__isnull=False) | Q(to_version__isnull=False), name="label_move_not_empty"
            )
        ]

    def __str__(self) -> str:
        origin = f"v{self.from_version.number}" if self.from_version else "nothing"
        target = f"v{self.to_version.number}" if self.to_version else "removed"
        return f"{self.prompt.name}:{self.label_name}: {origin} → {target}"


class Dataset(TeamCatalogEntry):
    class Meta(TeamCatalogEntry.Meta):
        pass


class DatasetVersion(ImmutableModel):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    content_hash = models.CharField(max_length=64)
    row_count = models.PositiveIntegerField()
    input_fields = models.JSONField(default=list)
    split_counts = models.JSONField(default=dict, help_text="Examples per split, e.g. {'train': 40, …}.")
    split_seed = models.IntegerField(default=0)
    source_name = models.CharField(max_length=255, blank=True, help_text="File the version was imported from.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by_api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.RESTRICT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    TEAM_PATHS = ("dataset__team",)

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="dataset_version_number_unique"),
            models.UniqueConstraint(fields=["dataset", "content_hash"], name="dataset_version_content_unique"),
            models.CheckConstraint(condition=Q(number__gte=1), name="dataset_version_number_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.dataset.name} v{self.number}"


class Example(ImmutableModel):
    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="examples")
    position = models.PositiveIntegerField(help_text="Row order in the uploaded file, from 0.")
    inputs = models.JSONField()
    expected_output = models.TextField()
    accepted_answers = models.JSONField(default=list, blank=True)
    split = models.CharField(max_length=10, choices=SPLIT_CHOICES)

    TEAM_PATHS = ("version__dataset__team",)

    class Meta:
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "position"], name="example_position_unique"),
            models.CheckConstraint(condition=Q(split__in=[s.value for s in Split]), name="example_split_valid"),
        ]
        indexes = [models.Index(fields=["version", "split"], name="example_version_split")]

    def __str__(self) -> str:
        return f"{self.version} #{self.position} ({self.split})"
