"""Checks that a prompt version's content is usable before it is saved (plain Python, field-named errors)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import SchemaError
from jsonschema.validators import validator_for

from prompts.placeholders import malformed_placeholders, template_variables

FieldErrors = dict[str, list[str]]


def _check_template(template: str, errors: FieldErrors) -> None:
    if not template.strip():
        errors.setdefault("template", []).append("must not be empty")
    for fragment in malformed_placeholders(template):
        errors.setdefault("template", []).append(
            f"{fragment!r} is not a placeholder; use {{{{name}}}} with a plain variable name"
        )


def _check_demonstrations(demonstrations: Any, variables: list[str], errors: FieldErrors) -> None:
    if not isinstance(demonstrations, list):
        errors.setdefault("demonstrations", []).append("must be a list of {inputs, output} objects")
        return
    for index, demo in enumerate(demonstrations, start=1):
        if not isinstance(demo, Mapping) or set(demo) != {"inputs", "output"}:
            errors.setdefault("demonstrations", []).append(
                f"demonstration {index}: must be an object with exactly 'inputs' and 'output'"
            )
            continue
        inputs, output = demo["inputs"], demo["output"]
        if not isinstance(inputs, Mapping) or not all(isinstance(v, str) for v in inputs.values()):
            errors.setdefault("demonstrations", []).append(
                f"demonstration {index}: 'inputs' must map variable names to text"
            )
            continue
        missing = [name for name in variables if name not in inputs]
        if missing:
            errors.setdefault("demonstrations", []).append(
                f"demonstration {index}: missing input {', '.join(repr(m) for m in missing)}"
            )
        if not isinstance(output, str) or not output.strip():
            errors.setdefault("demonstrations", []).append(f"demonstration {index}: 'output' must be non-empty text")


def _check_output(content: Mapping[str, Any], errors: FieldErrors) -> None:
    output_type, choices, schema = content["output_type"], content["output_choices"], content["output_schema"]
    if output_type == "choice":
        if not isinstance(choices, list) or not all(isinstance(c, str) and c.strip() for c in choices):
            errors.setdefault("output_choices", []).append("must be a list of non-empty labels")
        elif len(choices) < 2:
            errors.setdefault("output_choices", []).append("a choice output needs at least two choices")
        elif len(set(choices)) != len(choices):
            errors.setdefault("output_choices", []).append("choices must be distinct")
    elif choices:
        errors.setdefault("output_choices", []).append("only a choice output has choices")
    if output_type == "json":
        if not isinstance(schema, dict):
            errors.setdefault("output_schema", []).append("a JSON output needs a JSON Schema object")
        else:
            try:
                validator_for(schema).check_schema(schema)
            except SchemaError as error:
                errors.setdefault("output_schema", []).append(f"not a valid JSON Schema: {error.message}")
    elif schema is not None:
        errors.setdefault("output_schema", []).append("only a JSON output has a schema")


def validate_version_content(content: Mapping[str, Any]) -> FieldErrors:
    errors: FieldErrors = {}
    template = content["template"] or ""
    _check_template(template, errors)
    _check_demonstrations(content["demonstrations"], template_variables(template), errors)
    _check_output(content, errors)
    return errors
