"""Web UI forms for prompts, versions, labels and dataset uploads: they collect input; services write."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.text import slugify

from promptopt.form_fields import LimitedJSONField
from promptopt.input_limits import MAX_NAME_CHARS, MAX_SEED, text_problem
from prompts.content import CONTENT_FIELDS, PromptContent
from prompts.form_fields import ChoicesField, SplitMapField
from prompts.importers import FilePreview, ImportOptions
from prompts.models import PromptVersion
from prompts.services import SplitSettings, content_from_input
from prompts.splits import DEFAULT_RATIOS, Split

DETECT = ""


class VersionForm(forms.ModelForm[PromptVersion]):
    """Every content field of a version and a commit message; `version_create` numbers and saves it."""

    output_choices = ChoicesField(help_text="Comma-separated answers, for the “one of fixed choices” output type.")
    commit_message = forms.CharField(
        max_length=500, help_text="What changed and why, as in a commit message.", label="Commit message"
    )

    class Meta:
        model = PromptVersion
        fields = (*CONTENT_FIELDS, "commit_message")
        field_classes = {
            "demonstrations": LimitedJSONField,
            "output_schema": LimitedJSONField,
            "stop": LimitedJSONField,
        }
        widgets = {
            "stop": forms.TextInput(),
            "system_instruction": forms.Textarea(attrs={"rows": 3}),
            "template": forms.Textarea(attrs={"rows": 8}),
            "demonstrations": forms.Textarea(attrs={"rows": 4}),
            "output_schema": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {
            "demonstrations": 'Optional JSON list: [{"inputs": {"input": "…"}, "output": "…"}].',
            "output_schema": "A JSON Schema, for the JSON output type.",
            "stop": 'Optional JSON list of texts that end the answer, e.g. ["\\n"] for a one-line answer.',
        }

    def clean_stop(self) -> Any:
        return self.cleaned_data["stop"] or []

    def clean_demonstrations(self) -> Any:
        return self.cleaned_data["demonstrations"] or []

    def draft(self) -> PromptContent:
        """The content, checked by the version rules (ValidationError naming each field)."""
        return content_from_input({name: self.cleaned_data[name] for name in CONTENT_FIELDS})


class PromptNewForm(VersionForm):
    """A new prompt with its version 1."""

    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    field_order = ["name", "description", *CONTENT_FIELDS, "commit_message"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["commit_message"].initial = "Initial version"


class LabelMoveForm(forms.Form):
    name = forms.SlugField(max_length=50, initial="production", label="Label")
    version = forms.IntegerField(min_value=1, label="Version number")
    # The version the label pointed at when the page was shown (0: no such label): a move someone else made
    # meanwhile is refused rather than overwritten.
    expected = forms.IntegerField(min_value=0, required=False, widget=forms.HiddenInput)
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)


class DatasetUploadForm(forms.Form):
    """Step one: the file and the dataset it goes to (created on the first upload)."""

    name = forms.CharField(max_length=200, label="Dataset name", help_text="An existing dataset gets a new version.")
    file = forms.FileField(help_text="A .csv or .jsonl file (UTF-8).")
    delimiter = forms.CharField(max_length=1, initial=",", strip=False, help_text="CSV only.")

    def clean_name(self) -> str:
        # Checked here, not only at the import: the mapping step has no name to correct.
        name: str = self.cleaned_data["name"].strip()
        problem = text_problem(name, max_chars=MAX_NAME_CHARS)
        if problem is not None:
            raise forms.ValidationError(problem)
        if not slugify(name):
            raise forms.ValidationError("needs at least one letter or digit (the dataset's slug is made from it)")
        return name


def _column_choices(columns: tuple[str, ...], blank: str) -> list[tuple[str, str]]:
    return [(DETECT, blank), *((column, column) for column in columns)]


class DatasetMappingForm(forms.Form):
    """Step two: which columns are inputs, target, split and accepted answers; how rows are split."""

    target_field = forms.ChoiceField(label="Expected output column")
    input_fields = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Input columns",
        help_text="They become the template's {{variables}}. None ticked: every column not used otherwise.",
    )
    split_field = forms.ChoiceField(required=False, label="Split column")
    answers_field = forms.ChoiceField(required=False, label="Accepted answers column")
    split_map = SplitMapField(help_text="Map the file's split values, e.g. induce=train+validation,execute=test.")
    train = forms.FloatField(min_value=0, initial=DEFAULT_RATIOS[Split.TRAIN], label="Train share")
    validation = forms.FloatField(min_value=0, initial=DEFAULT_RATIOS[Split.VALIDATION], label="Validation share")
    test = forms.FloatField(min_value=0, initial=DEFAULT_RATIOS[Split.TEST], label="Test share")
    seed = forms.IntegerField(min_value=0, max_value=MAX_SEED, initial=0, help_text="Seed of the split assignment.")
    drop_duplicates = forms.BooleanField(required=False, help_text="Keep the first of identical rows.")

    def __init__(self, *args: Any, preview: FilePreview, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        columns = preview.columns
        self.fields["target_field"].choices = [(column, column) for column in columns]  # type: ignore[attr-defined]
        self.fields["input_fields"].choices = [(column, column) for column in columns]  # type: ignore[attr-defined]
        detect = "Detect (JSONL: meta.split or split)" if preview.file_format == "jsonl" else "None"
        self.fields["split_field"].choices = _column_choices(columns, detect)  # type: ignore[attr-defined]
        answers = "Detect (JSONL: meta.answers)" if preview.file_format == "jsonl" else "None"
        self.fields["answers_field"].choices = _column_choices(columns, answers)  # type: ignore[attr-defined]
        for guess in ("target", "output", "answer", "label", "expected_output"):
            if guess in columns:
                self.fields["target_field"].initial = guess
                break
        else:
            self.fields["target_field"].initial = columns[-1] if columns else None

    def import_options(self, *, delimiter: str, max_bytes: int, max_rows: int) -> ImportOptions:
        data = self.cleaned_data
        return ImportOptions(
            input_fields=tuple(data["input_fields"]),
            target_field=data["target_field"],
            split_field=data["split_field"] or None,
            answers_field=data["answers_field"] or None,
            split_map=data["split_map"],
            delimiter=delimiter,
            drop_duplicates=data["drop_duplicates"],
            max_bytes=max_bytes,
            max_rows=max_rows,
        )

    def split_settings(self) -> SplitSettings:
        data = self.cleaned_data
        return SplitSettings(seed=data["seed"], ratios={split: data[split.value] for split in Split})
