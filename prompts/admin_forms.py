"""Admin forms for prompts, versions, labels and datasets: they collect input; services do the writing."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.helpers import ActionForm
from django.db.models import QuerySet

from accounts.models import Team
from promptopt.form_fields import LimitedJSONField
from prompts.content import CONTENT_FIELDS, PromptContent
from prompts.form_fields import ChoicesField, SplitMapField, parse_choices
from prompts.importers import ImportOptions
from prompts.models import (
    Dataset,
    OutputType,
    Prompt,
    PromptLabel,
    PromptVersion,
)
from prompts.services import content_from_input

DEFAULT_LABEL = "production"


class PromptAddForm(forms.ModelForm[Prompt]):
    """A prompt together with its version 1, created in one transaction by `prompt_create`."""

    slug = forms.SlugField(max_length=100, required=False, help_text="Leave blank to derive it from the name.")
    template = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}), help_text="Version 1's user message, with {{variable}} placeholders."
    )
    system_instruction = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    output_choices = ChoicesField(
        help_text="Optional comma-separated answers, e.g. positive, negative; version 1 then answers with one of them."
    )

    class Meta:
        model = Prompt
        fields = ("team", "name", "slug", "description")

    def first_version(self) -> PromptContent:
        data = self.cleaned_data
        choices: list[str] = data["output_choices"]
        return PromptContent(
            template=data["template"],
            system_instruction=data["system_instruction"],
            output_type=OutputType.CHOICE if choices else OutputType.TEXT,
            output_choices=tuple(choices),
        )


class PromptChangeForm(forms.ModelForm[Prompt]):
    """Only descriptive fields: what a prompt does changes through new versions."""

    class Meta:
        model = Prompt
        fields = ("name", "description", "archived")


class PromptVersionAddForm(forms.ModelForm[PromptVersion]):
    """A new immutable version; `version_create` numbers it and refuses content identical to an earlier one."""

    output_choices = ChoicesField(help_text="Comma-separated answers, for the 'one of fixed choices' output type.")

    class Meta:
        model = PromptVersion
        # Every content field, so a new one cannot be left out of the form by accident.
        fields = ("prompt", "parent", *CONTENT_FIELDS, "commit_message")
        field_classes = {
            "demonstrations": LimitedJSONField,
            "output_schema": LimitedJSONField,
            "stop": LimitedJSONField,
        }
        help_texts = {"parent": "Leave blank to continue from the prompt's latest version."}

    def clean_demonstrations(self) -> Any:
        # An emptied JSON box arrives as None; "no demonstrations" is an empty list.
        return self.cleaned_data["demonstrations"] or []

    def clean_stop(self) -> Any:
        return self.cleaned_data["stop"] or []

    def draft(self) -> PromptContent:
        """The content, checked by the version rules first (raises ValidationError naming each field)."""
        return content_from_input({name: self.cleaned_data[name] for name in CONTENT_FIELDS})


class PromptLabelForm(forms.ModelForm[PromptLabel]):
    class Meta:
        model = PromptLabel
        fields = ("prompt", "name", "version")
        help_texts = {"name": "E.g. production or staging; client applications resolve PROMPT:LABEL."}


class DatasetAddForm(forms.ModelForm[Dataset]):
    slug = forms.SlugField(max_length=100, required=False, help_text="Leave blank to derive it from the name.")

    class Meta:
        model = Dataset
        fields = ("team", "name", "slug", "description")


class DatasetImportForm(forms.Form):
    """Upload a CSV/JSONL file as a new dataset version; the same options as `manage.py import_dataset`."""

    team = forms.ModelChoiceField(queryset=Team.objects.none())
    name = forms.CharField(
        max_length=200, help_text="Dataset name: created on the first import, otherwise the file becomes a new version."
    )
    file = forms.FileField(help_text="A .csv or .jsonl file; every row is checked before anything is saved.")
    target_field = forms.CharField(initial="target", help_text="The column holding the expected output.")
    input_fields = forms.CharField(
        required=False, help_text="Comma-separated columns that become template variables; blank: every other column."
    )
    split_field = forms.CharField(
        required=False, help_text="Column with train/validation/test (JSONL: a dotted path such as meta.split)."
    )
    split_map = SplitMapField(
        help_text="Map uploaded split values, e.g. induce=train+validation,execute=test; null=… maps rows without one."
    )
    drop_duplicates = forms.BooleanField(
        required=False, help_text="Keep only the first of identical rows instead of refusing the file."
    )
    seed = forms.IntegerField(initial=0, help_text="Seed of the deterministic train/validation/test assignment.")

    def __init__(self, *args: Any, teams: QuerySet[Team], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        team_field = self.fields["team"]
        assert isinstance(team_field, forms.ModelChoiceField)  # noqa: S101 - narrows the type for mypy
        team_field.queryset = teams

    def import_options(self, *, max_bytes: int, max_rows: int) -> ImportOptions:
        data = self.cleaned_data
        return ImportOptions(
            input_fields=tuple(parse_choices(data["input_fields"])),
            target_field=data["target_field"].strip(),
            split_field=data["split_field"].strip() or None,
            split_map=data["split_map"],
            drop_duplicates=data["drop_duplicates"],
            max_bytes=max_bytes,
            max_rows=max_rows,
        )


class LabelMoveActionForm(ActionForm):
    """The changelist's action bar with the label name the "move a label" action should move."""

    label_name = forms.CharField(
        max_length=50, required=False, initial=DEFAULT_LABEL, label="Label", help_text="e.g. production, staging"
    )
