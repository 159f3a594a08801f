"""Form fields for prompt and dataset input, shared by the admin's forms and the web UI's."""

from __future__ import annotations

from typing import Any

from django import forms

from prompts.importers import DatasetFileError, parse_split_map
from prompts.splits import Split


def parse_choices(text: str) -> list[str]:
    """`positive, negative` → ["positive", "negative"]; blanks between commas are dropped."""
    return [choice.strip() for choice in text.split(",") if choice.strip()]


class ChoicesField(forms.CharField):
    """Output choices typed as one comma-separated line."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "Comma-separated answers, e.g. positive, negative.")
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(str(choice) for choice in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        return parse_choices(super().to_python(value) or "")


class SplitMapField(forms.CharField):
    """The file's split values mapped to ours, typed as `induce=train+validation,execute=test`."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 2000)
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> dict[str, tuple[Split, ...]]:  # type: ignore[override]
        text = super().to_python(value) or ""
        try:
            return parse_split_map(text) if text.strip() else {}
        except DatasetFileError as error:
            raise forms.ValidationError([str(problem) for problem in error.problems]) from error
