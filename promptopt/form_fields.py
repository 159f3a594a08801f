"""Form fields for user-supplied JSON that read it with the project's limits (admin and web UI forms)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.forms.fields import InvalidJSONInput, JSONString

from promptopt.input_limits import MAX_VERSION_CHARS, JsonInputError, json_text_problem, parse_json


class LimitedJSONField(forms.JSONField):
    """Django's JSONField, but strict: size, nesting, repeated keys, NaN and control characters are refused.

    Django's own field calls json.loads in both `to_python` and `bound_data` (to redisplay the form), so a
    deeply nested value raised RecursionError (a 500) even after validation failed; both are replaced here.
    """

    # The default bounds parsing only: the largest JSON any form takes. Services check each value's own limit.
    def __init__(self, *, max_chars: int = MAX_VERSION_CHARS, **kwargs: Any) -> None:
        self.max_chars = max_chars
        super().__init__(**kwargs)

    def _parse(self, text: str) -> Any:
        problem = json_text_problem(text, max_chars=self.max_chars)
        if problem is not None:
            raise forms.ValidationError(f"This JSON {problem}.", code="invalid")
        try:
            return parse_json(text)
        except JsonInputError as error:
            raise forms.ValidationError(f"Not accepted: {error}.", code="invalid") from None

    def to_python(self, value: Any) -> Any:
        if self.disabled or not isinstance(value, str) or isinstance(value, InvalidJSONInput | JSONString):
            return super().to_python(value)
        if value in self.empty_values:
            return None
        converted = self._parse(value)
        # As Django's field does: a JSON string stays distinguishable from text typed without quotes.
        return JSONString(converted) if isinstance(converted, str) else converted

    def bound_data(self, data: Any, initial: Any) -> Any:
        if self.disabled or data is None:
            return super().bound_data(data, initial)
        try:
            return self._parse(data)
        except forms.ValidationError:
            return InvalidJSONInput(data)

    def prepare_value(self, value: Any) -> Any:
        # An empty optional box stays empty rather than showing the word "null"; lists and objects are shown
        # indented, one item a line, so a person can edit them.
        if value is None:
            return ""
        if isinstance(value, list | dict):
            return json.dumps(value, ensure_ascii=False, indent=2, cls=self.encoder)
        return super().prepare_value(value)
